"""Promoting a left-out article and adding one by its URL: the corrections, the page reader, the desk's answers."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from previews import FORM, csrf_of, preview_client
from servers import FeedServer, Route
from test_corrections import ISSUE, NOW, build, placed, rss
from test_edits import CLOCK, Page

from digest.config import load_config
from digest.errors import DigestError, PageError
from digest.feeds.page import read_article_page
from digest.issue import corrections, learn
from digest.issue.approve import approval_drift, approve_coming
from digest.issue.corrections import Added, Corrections
from digest.issue.edits import apply_action
from digest.issue.pipeline import finish
from digest.store import issues
from digest.store.db import State

STORY = "/2026/02/17/dockers-walk-out/"
OG_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<title>Dockers walk out | Harbour News</title>
<meta property="og:title" content="Dockers walk out over &quot;automation&quot; plans">
<meta property="og:description" content="Port workers stopped the cranes for a day. <b>Their union</b> says the
 robots are next &amp; the pay is last.">
<meta property="og:image" content="/pictures/cranes.jpg">
<meta property="og:site_name" content="Harbour News">
<meta property="article:published_time" content="2026-02-17T09:30:00+01:00">
</head><body><p>The article.</p></body></html>"""


@pytest.fixture
def capped(tmp_path: Path, write_config: Callable[..., Path]) -> Page:
    """The corrections' test issue with one article a section: the others are left out by the cap."""
    (tmp_path / "feed.xml").write_text(rss(["a", "b", "c", "d", "e", "g"]))
    return Page(write_config([{"name": "News", "url": "feed.xml"}], issue={"max_per_section": 1}), tmp_path)


@pytest.fixture
def pages() -> Iterator[FeedServer]:
    server = FeedServer()
    server.start()
    server.routes[STORY] = Route(OG_PAGE.encode(), headers={"Content-Type": "text/html; charset=utf-8"})
    yield server
    server.stop()


def post(page: Page, added: Added | None = None, **form: str) -> str:
    found = corrections.load(page.settings, ISSUE)
    changed, notice = apply_action(found, form, page.grouped, page.built.issue, added)
    corrections.save(page.settings, ISSUE, changed)
    page.built = finish(page.settings, page.grouped)
    return notice


def left_out(page: Page) -> list[str]:
    return [item.article.id for item in page.built.issue.left_out]


def test_a_left_out_article_promoted_into_a_section_and_back(capped: Page) -> None:
    left = left_out(capped)
    assert left, "the cap leaves articles out"
    chosen = left[0]
    assert post(capped, action="promote", id=chosen, section="labor") == "article promoted to Labor"
    assert capped.file == {"promote": {chosen: "labor"}}
    assert capped.section("labor")[0] == chosen and chosen not in left_out(capped)
    shown = next(p for p in capped.built.issue.articles() if p.article.id == chosen)
    assert shown.reason.startswith("promoted here by an editor (left out: over the cap")
    assert post(capped, action="move", id=chosen, section="palestine") == "article moved to Palestine"
    assert capped.file == {"promote": {chosen: "palestine"}} and capped.section("palestine")[0] == chosen
    assert post(capped, action="drop", id=chosen) == "article left out again"
    assert capped.file == {} and chosen in left_out(capped)
    with pytest.raises(DigestError, match=re.escape("no article with the id 'story-zz' left out of issue")):
        post(capped, action="promote", id="story-zz", section="labor")
    shown_id = capped.section("labor")[0]
    with pytest.raises(DigestError, match="left out of issue"):  # only a left-out article is promoted
        post(capped, action="promote", id=shown_id, section="palestine")


def test_an_added_article_is_placed_reworded_moved_and_removed_through_the_file(capped: Page) -> None:
    url = "https://harbour.example.org/2026/02/17/dockers-walk-out/"
    facts = Added(section="labor", title="Dockers walk out", teaser="Port workers stopped the cranes.", site="Harbour")
    assert post(capped, facts, action="add", url=url, section="labor") == "added “Dockers walk out” to Labor"
    assert capped.file == {
        "add": {url: {"section": "labor", "title": "Dockers walk out", "teaser": "Port workers stopped the cranes.",
                      "site": "Harbour"}}
    }  # fmt: skip
    assert capped.section("labor")[0] == url
    card = capped.built.issue.articles()
    added = next(p for p in card if p.article.id == url)
    assert added.article.feed == "Harbour" and added.reason == "added here by an editor from the article's page"
    assert post(
        capped, action="rewrite", id=url, title="Dockers stop the cranes", teaser="Port workers stopped the cranes."
    )
    assert capped.file["rewrite"] == {url: {"title": "Dockers stop the cranes"}}
    assert post(capped, action="move", id=url, section="palestine") == "article moved to Palestine"
    assert capped.file["add"][url]["section"] == "palestine" and capped.section("palestine")[0] == url
    assert post(capped, action="drop", id=url) == "added article removed"
    assert capped.file == {} and url not in [p.article.id for p in capped.built.issue.articles()]


def test_promotions_and_additions_are_labelled_examples_for_themes_suggest(capped: Page) -> None:
    chosen = left_out(capped)[0]
    post(capped, action="promote", id=chosen, section="labor")
    url = "https://harbour.example.org/a-strike/"
    post(capped, Added(section="labor", title="Orchard pickers stop work"), action="add", url=url, section="labor")
    found = {e.article.id: e for e in learn.examples(capped.settings)}
    assert found[chosen].editor == "labor" and found[url].editor == "labor"
    assert found[url].article.title == "Orchard pickers stop work"


def test_the_page_of_an_article_gives_its_title_teaser_picture_date_and_site(
    pages: FeedServer, write_config: Callable[..., Path]
) -> None:
    settings = load_config(write_config([{"name": "News", "url": "feed.xml"}]))
    facts = read_article_page(pages.url(STORY), settings)
    assert facts.title == 'Dockers walk out over "automation" plans'
    assert (
        facts.teaser
        == "Port workers stopped the cranes for a day. Their union says the robots are next & the pay is last."
    )
    assert facts.image == pages.url("/pictures/cranes.jpg")
    assert facts.published is not None and facts.published.isoformat() == "2026-02-17T09:30:00+01:00"
    assert facts.site == "Harbour News"
    assert pages.log[-1].headers["user-agent"].startswith("digest/")
    # Without Open Graph, the page's <title> and meta description serve.
    pages.routes["/plain"] = Route(
        b'<html><head><title>A plain page</title><meta name="description" content="Its summary."></head></html>',
        headers={"Content-Type": "text/html"},
    )
    plain = read_article_page(pages.url("/plain"), settings)
    assert (plain.title, plain.teaser, plain.image, plain.site) == ("A plain page", "Its summary.", None, "127.0.0.1")


HOSTILE: dict[str, tuple[Route | None, str]] = {
    "no title": (
        Route(b"<html><head><meta property='og:type' content='article'></head><body>x</body></html>",
              headers={"Content-Type": "text/html"}),
        "gives no title (no og:title meta tag and no <title>)",
    ),
    "huge": (Route(stream_bytes=3_000_000, headers={"Content-Type": "text/html"}), "larger than 2,000,000 bytes"),
    "not html": (
        Route(b"%PDF-1.7", headers={"Content-Type": "application/pdf"}), "not a web page but 'application/pdf'"
    ),
    "redirect to a file": (
        Route(status=302, headers={"Location": "file:///etc/passwd"}),
        "HTTP 302 redirects to 'file:///etc/passwd', not an http(s) address",
    ),
    "missing": (None, "the server answered HTTP 404"),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_page_is_one_sentence_naming_its_url(
    kind: str, pages: FeedServer, write_config: Callable[..., Path]
) -> None:
    route, said = HOSTILE[kind]
    if route is not None:
        pages.routes["/hostile"] = route
    settings = load_config(write_config([{"name": "News", "url": "feed.xml"}]))
    with pytest.raises(PageError) as raised:
        read_article_page(pages.url("/hostile"), settings)
    message = str(raised.value)
    assert message.startswith(f"{pages.url('/hostile')} could not be added: ") and said in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("javascript:alert(1)", "'javascript:alert(1)' is not an http(s) address"),
        ("file:///etc/passwd", "is not an http(s) address"),
        ("/just/a/path", "is not an http(s) address"),
        ("", "give the article's address"),
        ("https://example.org/" + "a" * 3000, "give one of at most 2,000"),
    ],
)
def test_an_address_that_is_not_http_is_refused_before_anything_is_fetched(
    typed: str, said: str, write_config: Callable[..., Path]
) -> None:
    settings = load_config(write_config([{"name": "News", "url": "feed.xml"}]))
    with pytest.raises(PageError, match=re.escape(said)):
        read_article_page(typed, settings)


def test_markup_in_a_page_is_text_and_a_script_link_is_no_picture(
    pages: FeedServer, write_config: Callable[..., Path]
) -> None:
    pages.routes["/xss"] = Route(
        b'<html><head><meta property="og:title" content="Strike wins &lt;img src=x onerror=alert(1)&gt;'
        b'<script>alert(2)</script>"><meta property="og:image" content="javascript:alert(3)"></head></html>',
        headers={"Content-Type": "text/html"},
    )
    settings = load_config(write_config([{"name": "News", "url": "feed.xml"}]))
    facts = read_article_page(pages.url("/xss"), settings)
    assert facts.title == "Strike wins" and facts.image is None


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("add: {'javascript:alert(1)': {section: labor, title: x}}", "'add': 'javascript:alert(1)' is not an absolute"),
        ("add: {'https://a.example/x': {section: labor}}", "add['https://a.example/x'] has no title"),
        ("add: {'https://a.example/x': {section: labor, title: x, image: 'data:x'}}", "is not an absolute http(s)"),
        ("add: {'https://a.example/x': {section: lab0r, title: x}}", "'lab0r' is not a section of this issue"),
        ("promote: [x]", "'promote' should be a mapping of article ids or URLs to section slugs"),
    ],
)
def test_a_hand_written_add_or_promote_that_cannot_be_used_is_one_sentence(
    text: str, said: str, tmp_path: Path, write_config: Callable[..., Path], cli: Any
) -> None:
    (tmp_path / "feed.xml").write_text(rss(["a", "b"]))
    config = write_config([{"name": "News", "url": "feed.xml"}])
    (tmp_path / "corrections").mkdir()
    (tmp_path / "corrections" / f"{ISSUE}.yaml").write_text(text + "\n")
    result = cli("build", "--config", config, "--now", NOW, "--out", tmp_path / "out")
    assert result.exit_code != 0 and said in result.output, result.output


def test_a_build_uses_the_stored_facts_of_an_added_article_and_reads_no_page(
    tmp_path: Path, write_config: Callable[..., Path], cli: Any
) -> None:
    (tmp_path / "feed.xml").write_text(rss(["a", "b"]))
    config = write_config([{"name": "News", "url": "feed.xml"}])
    url = "http://127.0.0.1:9/never-asked/"  # nothing listens there: a build that fetched it would fail or wait
    (tmp_path / "corrections").mkdir()
    (tmp_path / "corrections" / f"{ISSUE}.yaml").write_text(
        yaml.safe_dump({"add": {url: {"section": "palestine", "title": "Added by hand", "teaser": "Its teaser.",
                                      "published": "2026-02-17T10:00:00+00:00", "site": "Somewhere"}}})
    )  # fmt: skip
    manifest, _ = build(cli, config, tmp_path / "out")
    slug, article = placed(manifest)[url]
    assert slug == "palestine" and article["title"] == "Added by hand" and article["feed"] == "Somewhere"
    assert article["teaser"] == "Its teaser." and article["published"] == "2026-02-17T10:00:00+00:00"
    assert "added" in " ".join(manifest["corrections"])


def test_the_desk_adds_an_article_by_its_url_and_a_hostile_page_changes_nothing(
    pages: FeedServer, tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    (tmp_path / "feed.xml").write_text(rss(["a", "b", "c"]))
    config = write_config([{"name": "News", "url": "feed.xml"}])
    path = tmp_path / "corrections" / f"{ISSUE}.yaml"
    with preview_client(config) as (client, _guard, desk):
        desk.clock = lambda settings: CLOCK
        desk.regather()
        csrf = csrf_of(client.get("/").text)
        pages.routes["/pdf"] = Route(b"%PDF", headers={"Content-Type": "application/pdf"})
        answer = client.post("/correct", content=f"csrf={csrf}&action=add&section=labor&url={pages.url('/pdf')}",
                             headers=FORM)  # fmt: skip
        assert answer.status_code == 303 and not path.exists()
        page = client.get("/").text
        assert "could not be added: it is not a web page but &#39;application/pdf&#39;" in page
        answer = client.post("/correct", content=f"csrf={csrf}&action=add&section=labor&url={pages.url(STORY)}",
                             headers=FORM)  # fmt: skip
        assert answer.status_code == 303
        stored = Corrections.load(path).add[pages.url(STORY)]
        assert (stored.section, stored.site) == ("labor", "Harbour News")
        assert "Dockers walk out over" in client.get("/email.html").text
        before = len(pages.log)
        desk.compose()  # a re-render reads the stored facts, never the page
        assert len(pages.log) == before


def test_an_approved_issue_with_an_added_article_sends_without_a_warning_about_its_feed(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    (tmp_path / "feed.xml").write_text(rss(["a", "b"]))
    config = write_config([{"name": "News", "url": "feed.xml"}])
    (tmp_path / "corrections").mkdir()
    (tmp_path / "corrections" / f"{ISSUE}.yaml").write_text(
        "add: {'https://elsewhere.example/story/': {section: labor, title: From no feed, site: Elsewhere}}\n"
    )
    settings = load_config(config)
    with State(settings.state_path) as state:
        _approved, built = approve_coming(settings, CLOCK, state)
        assert "https://elsewhere.example/story/" in [p.article.id for p in built.issue.articles()]
        frozen = issues.latest_approved(state)
        assert frozen is not None and approval_drift(settings, frozen, CLOCK, state) == []
