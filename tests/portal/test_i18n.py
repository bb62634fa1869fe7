"""Norwegian bokmål by default, English under /en/, and a language switch on every page."""

from __future__ import annotations


def test_bokmal_is_the_default_and_english_is_under_en(world, client):
    client.force_login(world.people["pi"].user)
    nb = client.get("/pi/").content.decode()
    en = client.get("/en/pi/").content.decode()
    assert (
        '<html lang="nb">' in nb
        and "<h1>Mine prosjekter</h1>" in nb
        and "Gå til hovedinnholdet" in nb
    )
    assert (
        '<html lang="en">' in en and "<h1>My projects</h1>" in en and "Skip to main content" in en
    )


def test_language_switch_links_to_the_same_page_in_the_other_language(world, client):
    client.force_login(world.people["pi"].user)
    nb = client.get("/pi/projects/nn1001k/").content.decode()
    assert 'href="/en/pi/projects/nn1001k/" hreflang="en"' in nb
    en = client.get("/en/pi/projects/nn1001k/").content.decode()
    assert 'href="/pi/projects/nn1001k/?lang=nb" hreflang="nb"' in en


def test_model_labels_are_translated(world, client):
    client.force_login(world.people["coordinator"].user)
    assert "Bekreftet" in client.get("/sector/").content.decode()
    assert "Confirmed" in client.get("/en/sector/").content.decode()
