"""A whole flow with the keyboard alone: skip link, sign-in, navigation, a form, submit."""

from __future__ import annotations

import pytest

from regnekraft.allocation.models import Review
from tests.portal.world import PASSWORD

from .walker import Walker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
MAX_TABS = 60


def _focused(page) -> dict:
    return page.evaluate(
        """() => { const e = document.activeElement;
        return {tag: e.tagName.toLowerCase(), id: e.id || '', href: e.getAttribute('href') || '',
                text: (e.innerText || e.value || '').trim(), """
        """visible_outline: getComputedStyle(e).outlineStyle}; }"""
    )


def _tab_to(page, wanted) -> dict:
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        focused = _focused(page)
        if wanted(focused):
            return focused
    raise AssertionError("could not reach the element with the Tab key")


def _enter_and_wait(page) -> None:
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state()


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_reviewer_flow_with_the_keyboard_only(
    page, live_server, axe_source, screenshots, browser_world, lang
):
    w = browser_world
    me = Walker(page, live_server.url, lang, axe_source, screenshots, "keyboard-reviewer")
    me.go("/accounts/login/")
    page.keyboard.press("Tab")
    first = _focused(page)
    assert first["href"] == "#main", "the first Tab stop is the skip link"
    assert first["visible_outline"] != "none", "focus is visible"
    _tab_to(page, lambda f: f["id"] == "id_username")
    page.keyboard.type("rev")
    page.keyboard.press("Tab")
    assert _focused(page)["id"] == "id_password"
    page.keyboard.type(PASSWORD)
    _enter_and_wait(page)
    me.check("home")
    _tab_to(page, lambda f: f["href"] == f"{me.prefix}/reviews/")
    _enter_and_wait(page)
    me.check("reviews")
    _tab_to(page, lambda f: f["href"] == f"{me.prefix}/reviews/{w.review.pk}/")
    _enter_and_wait(page)
    me.check("review-form")
    for criterion, key in (("excellence", "5"), ("impact", "6"), ("feasibility", "4")):
        _tab_to(page, lambda f, c=criterion: f["id"] == f"id_score_{c}")
        page.keyboard.type(key)
    _tab_to(page, lambda f: f["id"] == "id_comment")
    page.keyboard.type("Keyboard only.")
    _tab_to(
        page, lambda f: f["tag"] == "button" and f["text"] in ("Lagre vurderingen", "Save review")
    )
    _enter_and_wait(page)
    me.check("saved")
    review = Review.objects.get(pk=w.review.pk)
    assert review.submitted and review.scores == {"excellence": 5, "impact": 6, "feasibility": 4}
    assert review.comment == "Keyboard only."


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_coordinator_orders_and_confirms_with_the_keyboard_only(
    page, live_server, axe_source, screenshots, browser_world, lang
):
    w = browser_world
    me = Walker(page, live_server.url, lang, axe_source, screenshots, "keyboard-coordinator")
    me.go("/accounts/login/")
    _tab_to(page, lambda f: f["id"] == "id_username")
    page.keyboard.type("coord")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    _enter_and_wait(page)
    me.check("home")
    _tab_to(page, lambda f: f["href"] == f"{me.prefix}/sector/")
    _enter_and_wait(page)
    me.check("sector")
    _tab_to(page, lambda f: f["href"] == f"{me.prefix}/sector/orders/new/")
    _enter_and_wait(page)
    me.check("order-form")
    _tab_to(page, lambda f: f["id"] == "id_organisation")
    page.keyboard.type("Helsedir")  # type-ahead picks the option on a focused select
    _tab_to(page, lambda f: f["id"] == "id_year")
    page.keyboard.press("Control+A")
    page.keyboard.type("2028")
    _tab_to(page, lambda f: f["id"] == f"id_rc_{w.cpu.pk}")
    page.keyboard.type("50000")
    _enter_and_wait(page)  # Enter in a text field submits its form
    me.check("order-price")
    _tab_to(
        page,
        lambda f: (
            f["tag"] == "button" and f["text"] in ("Bekreft bestillingen", "Confirm the order")
        ),
    )
    _enter_and_wait(page)
    me.check("confirmed")
    from regnekraft.allocation.models import SectorOrder

    order = SectorOrder.objects.get(organisation=w.projects["health"].organisation, year=2028)
    assert order.status == "confirmed" and order.lines.get().amount == 50000
