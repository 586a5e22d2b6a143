"""The desk in Chromium: promote a left-out article, add one by its URL, and the controls beside the live frames.

Each test runs the real `digest preview` on 127.0.0.1; the article pages an editor adds are served by a local
HTTP server (tests/servers.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from previews import demo_copy, running_preview
from servers import FeedServer, Route
from test_preview import card_under, desktop, item, wait_for_file

from digest.issue.corrections import Corrections

ARTICLE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Nurses strike | Ward Report</title>
<meta property="og:title" content="Nurses strike for safe staffing at three hospitals">
<meta property="og:description" content="Two thousand nurses walked out on Tuesday, their union says.">
<meta property="og:site_name" content="Ward Report">
<meta property="article:published_time" content="2024-02-27T08:00:00-05:00">
</head><body><article>The story.</article></body></html>"""
# A title that would run script if anything on the way shown it as markup.
HOSTILE = """<html><head><meta property="og:title" content="Rent strike &lt;img src=x onerror=alert(1)&gt; spreads">
<meta property="og:description" content="&lt;script&gt;alert(2)&lt;/script&gt;Tenants stop paying."></head></html>"""
FRAME_WIDTH = 640


@pytest.fixture
def pages() -> Iterator[FeedServer]:
    server = FeedServer().start()
    server.routes["/nurses"] = Route(ARTICLE.encode(), headers={"Content-Type": "text/html; charset=utf-8"})
    server.routes["/rent"] = Route(HOSTILE.encode(), headers={"Content-Type": "text/html"})
    server.routes["/report.pdf"] = Route(b"%PDF-1.7", headers={"Content-Type": "application/pdf"})
    yield server
    server.stop()


def capped(tmp_path: Path) -> Path:
    """The demo with one article a section: the others are left out by the cap, for an editor to promote."""
    return demo_copy(tmp_path, issue={"window_days": 10, "lead_story": True, "max_per_section": 1})


def corrections_of(config: Path) -> Corrections:
    return Corrections.load(config.parent / "corrections" / "2024-W09.yaml")


def test_promote_and_add_by_url_in_the_page_change_the_email_and_the_corrections_file(
    page: Page, tmp_path: Path, pages: FeedServer
) -> None:
    config = capped(tmp_path)
    with running_preview("--config", str(config)) as base:
        page.goto(base + "/", wait_until="domcontentloaded")
        left = page.locator("#left-out li.article").first
        title = left.locator(".t").inner_text()
        ident = left.get_attribute("data-id")
        expect(card_under(page, "labor", title)).to_have_count(0)
        left.get_by_label("Section").select_option("labor")
        left.get_by_role("button", name="Promote").click()
        expect(card_under(page, "labor", title)).to_have_count(1)
        expect(page.locator(f'ol[data-slug="labor"] li[data-id="{ident}"] .tag')).to_have_text("promoted")
        expect(page.locator(f'#left-out li[data-id="{ident}"]')).to_have_count(0)
        assert wait_for_file(config, "promote")["promote"] == {ident: "labor"}

        page.locator("#add-url").fill(pages.url("/nurses"))
        page.locator("#add-section").select_option("palestine")
        page.locator("#add").click()
        headline = "Nurses strike for safe staffing at three hospitals"
        expect(card_under(page, "palestine", headline)).to_have_count(1)
        expect(page.frame_locator("#phone").get_by_role("link", name=headline)).to_have_count(1)
        expect(page.locator("#text")).to_contain_text(headline)
        expect(page.locator("#notice")).to_contain_text(f"added “{headline}” to Palestine")
        stored = wait_for_file(config, "add")["add"][pages.url("/nurses")]
        assert stored == {
            "section": "palestine",
            "title": headline,
            "teaser": "Two thousand nurses walked out on Tuesday, their union says.",
            "published": "2024-02-27T08:00:00-05:00",
            "site": "Ward Report",
        }
        # A move in the page changes the added article's section in the file.
        entry = item(page, pages.url("/nurses"))
        entry.get_by_label("Section").select_option("labor")
        entry.get_by_role("button", name="Move").click()
        expect(card_under(page, "labor", headline)).to_have_count(1)
        assert corrections_of(config).add[pages.url("/nurses")].section == "labor"
    assert [r.path for r in pages.log] == ["/nurses"]  # read once, when it was added


def test_a_hostile_page_is_one_message_and_its_markup_stays_text(page: Page, tmp_path: Path, pages: FeedServer) -> None:
    config = capped(tmp_path)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    with running_preview("--config", str(config)) as base:
        page.goto(base + "/", wait_until="domcontentloaded")
        page.locator("#add-url").fill(pages.url("/report.pdf"))
        page.locator("#add").click()
        expect(page.locator("#notice")).to_have_text(
            f"error: {pages.url('/report.pdf')} could not be added: it is not a web page but 'application/pdf'"
        )
        assert not (config.parent / "corrections" / "2024-W09.yaml").exists()

        page.locator("#add-url").fill(pages.url("/rent"))
        page.locator("#add-section").select_option("labor")
        page.locator("#add").click()
        expect(card_under(page, "labor", "Rent strike spreads")).to_have_count(1)
        card = desktop(page).locator("h2#labor ~ .card", has_text="Rent strike")
        expect(card).to_contain_text("Tenants stop paying.")
        expect(desktop(page).locator("img[src=x], script")).to_have_count(0)
        expect(item(page, pages.url("/rent"))).to_contain_text("Rent strike spreads")
    assert dialogs == []


def box(locator: Any) -> dict[str, float]:
    found = locator.bounding_box()
    assert found is not None, "the element is not shown"
    return dict(found)


@pytest.mark.parametrize(("width", "height"), [(1600, 1000), (1280, 800)])
def test_each_articles_controls_sit_beside_the_frames_in_the_first_viewport(
    page: Page, tmp_path: Path, width: int, height: int
) -> None:
    page.set_viewport_size({"width": width, "height": height})
    with running_preview("--config", str(demo_copy(tmp_path))) as base:
        page.goto(base + "/", wait_until="domcontentloaded")
        frame = box(page.locator("#desktop"))
        first = page.locator("ol.articles li.article").first
        controls = [box(first.get_by_role("button", name=name)) for name in ("Lead", "Drop", "Move")]
        add = box(page.locator("#add"))
        page.screenshot(path=str(tmp_path / f"desk-{width}.png"))
        assert frame["width"] == FRAME_WIDTH and frame["y"] < height / 3
        for control in [*controls, add]:
            assert control["x"] >= frame["x"] + frame["width"], (control, frame)  # beside the frame, on its right
            assert control["y"] >= 0 and control["y"] + control["height"] <= height, (control, height)  # no scrolling
            assert control["y"] < frame["y"] + frame["height"]  # level with the email, not below it
        # Scrolled down to the plain text, the list stays in view beside it.
        page.locator("#text").scroll_into_view_if_needed()
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(100)
        drop = box(first.get_by_role("button", name="Drop"))
        assert drop["y"] >= 0 and drop["y"] + drop["height"] <= height, drop
        # A click shows its effect in the frame beside it, with no scrolling.
        page.evaluate("window.scrollTo(0, 0)")
        title = first.locator(".t").inner_text()
        first.get_by_role("button", name="Drop").click()
        expect(desktop(page).get_by_role("link", name=title, exact=True)).to_have_count(0)
        assert page.evaluate("window.scrollY") == 0
