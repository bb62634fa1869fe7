"""A person walking the portal: sign in, follow links, fill forms, and on every page run
axe-core and save a screenshot."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page

BLOCKING_IMPACTS = {"serious", "critical"}
_CHECKED_ONCE: set[tuple[str, str]] = set()
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@dataclass
class Walker:
    page: Page
    base: str
    lang: str
    axe_source: str
    shots: Path
    role: str
    checked: list[str] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return "" if self.lang == "nb" else f"/{self.lang}"

    def url(self, path: str) -> str:
        return f"{self.base}{self.prefix}{path}"

    def go(self, path: str) -> None:
        response = self.page.goto(self.url(path))
        assert response is not None and response.status == 200, (
            f"{path}: {response and response.status}"
        )
        self.check(path)

    def check(self, label: str) -> None:
        """axe-core on the page as it is now: no serious or critical violation; then a screenshot.

        The sign-in page is the same for everyone, so axe checks it once per language and run."""
        page = self.page
        if label == "/accounts/login/" and (label, self.lang) in _CHECKED_ONCE:
            return
        _CHECKED_ONCE.add((label, self.lang))
        assert page.locator("html").get_attribute("lang") == self.lang
        assert page.locator("h1").count() == 1
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.add_script_tag(content=self.axe_source)
        result = page.evaluate(
            (
                "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}, "
                "resultTypes: ['violations']})"
            ),
            AXE_TAGS,
        )
        blocking = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"]
            if v.get("impact") in BLOCKING_IMPACTS
        ]
        assert not blocking, f"axe on {label} ({self.lang}):\n" + "\n".join(blocking)
        name = re.sub(
            r"[^a-z0-9]+", "-", f"{self.lang}-{self.role}-{len(self.checked):02d}-{label}".lower()
        ).strip("-")
        page.screenshot(
            path=str(self.shots / f"{name}.jpg"), full_page=True, type="jpeg", quality=80
        )
        self.checked.append(label)

    def sign_in(self, username: str, password: str) -> None:
        self.go("/accounts/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        with self.page.expect_navigation():
            self.page.locator("form button[type=submit]").first.click()
        assert self.page.locator(".account strong").inner_text() == username
        self.check("home")

    def nav(self, href: str) -> None:
        """Follow the main navigation to ``href`` (it must be offered there)."""
        with self.page.expect_navigation():
            self.page.locator(f'.main-nav a[href="{self.prefix}{href}"]').click()
        self.check(href)

    def follow(self, selector: str, label: str) -> None:
        with self.page.expect_navigation():
            self.page.locator(selector).first.click()
        self.check(label)

    def submit(self, button_selector: str, label: str) -> None:
        with self.page.expect_navigation():
            self.page.locator(button_selector).click()
        self.check(label)

    def success(self) -> str:
        return self.page.locator(".messages .success").inner_text()
