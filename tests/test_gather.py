"""Gathering that survives the real web: hostile feeds, HTTP caching and redirects, caps, timeouts, encodings."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import FEEDS, REPO, load_manifest
from servers import Route

from digest.feeds.parse import parse_feed

DEMO_FEED = REPO / "digest" / "demo" / "leftvoice-sample.xml"
DEMO_NOW = "2024-03-01T12:00:00Z"
ADVERSARIAL = sorted((FEEDS / "adversarial").glob("*"))
DANGEROUS = [
    re.compile(r"<script", re.I),
    re.compile(r"<iframe", re.I),
    re.compile(r"<object", re.I),
    re.compile(r"<[^>]+\son[a-z]+\s*=", re.I),
    re.compile(r"javascript:", re.I),
    re.compile(r"""(href|src)\s*=\s*["']?\s*data:""", re.I),
]


def build(cli: Any, config: Path, out: Path, now: str = DEMO_NOW) -> Any:
    return cli("build", "--config", config, "--now", now, "--out", out)


@pytest.mark.parametrize("hostile", ADVERSARIAL, ids=lambda p: p.name)
def test_a_hostile_feed_never_reaches_the_email(cli: Any, write_config: Any, tmp_path: Path, hostile: Path) -> None:
    config = write_config(
        [{"name": "Good", "url": str(DEMO_FEED)}, {"name": f"Hostile {hostile.name}", "url": str(hostile)}],
        issue={"window_days": 10, "max_per_section": 50},
    )
    result = build(cli, config, tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "out"
    manifest = load_manifest(out)
    titles = [a["title"] for s in manifest["sections"] for a in s["articles"]]
    assert "CUNY Faculty and Staff Have Gone One Year Without a Contract — It’s Time to Strike" in titles
    html = next(out.glob("*.html")).read_text()
    text = next(out.glob("*.txt")).read_text()
    for content in (html, text, json.dumps(manifest, ensure_ascii=False)):
        for pattern in DANGEROUS:
            assert not pattern.search(content), (pattern.pattern, hostile.name)
        assert "INJECTED" not in content
    for article in (a for s in manifest["sections"] for a in s["articles"]):
        assert "©" not in (article["url"] or "")
        assert article["url"].startswith(("http://", "https://"))
    for href in re.findall(r'href="([^"]*)"', html):
        assert "©" not in href and href.startswith(("http://", "https://")), href
    hostile_report = next(f for f in manifest["feeds"] if f["name"].startswith("Hostile"))
    assert hostile_report["status"] in ("ok", "failed")
    if hostile_report["status"] == "failed":
        assert hostile_report["error"]
        assert any(hostile_report["name"] in w for w in manifest["warnings"])


def test_feeds_that_are_not_feeds_are_named_as_failed(cli: Any, write_config: Any, tmp_path: Path) -> None:
    rejected = ["nfp_not_a_feed.html", "rssp_html_document_moved.rss", "fp_illformed_empty_document.xml"]
    feeds = [{"name": "Good", "url": str(DEMO_FEED)}]
    feeds += [{"name": name, "url": str(FEEDS / "adversarial" / name)} for name in rejected]
    result = build(cli, write_config(feeds, issue={"window_days": 10}), tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    status = {f["name"]: f for f in load_manifest(tmp_path / "out")["feeds"]}
    for name in rejected:
        assert status[name]["status"] == "failed", name
    assert "HTML page" in status["nfp_not_a_feed.html"]["error"]


def test_links_come_out_exactly_as_published() -> None:
    feed = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
    <item><title>Query</title><link>https://example.org/list?page=1&copy=2&amp;b=3</link></item>
    <item><title>Amp</title><link>http://link/get?a=1&amp;b=2</link></item>
    <item><title>Tag only</title><link>tag:example.org,2026:1</link></item>
    <item><title>Script</title><link>javascript:alert(1)</link></item>
    </channel></rss>"""
    parsed = parse_feed(feed, "T", "https://example.org/feed")
    urls = {a.title: a.url for a in parsed.articles}
    assert urls["Query"] == "https://example.org/list?page=1&copy=2&b=3"
    assert urls["Amp"] == "http://link/get?a=1&b=2"
    assert "Tag only" not in urls and "Script" not in urls
    assert any("dropped" in note for note in parsed.notes)


def test_entities_declared_in_a_dtd_are_refused() -> None:
    parsed = parse_feed((FEEDS / "adversarial" / "fprs_doctype_internal_entity.xml").read_bytes(), "X", "f.xml")
    assert "INJECTED" not in json.dumps([a.title for a in parsed.articles]) + parsed.title
    assert any("entities" in note for note in parsed.notes)


def test_the_billion_laughs_is_harmless_fast_and_small(tmp_path: Path) -> None:
    script = (
        "import resource, sys, time; from pathlib import Path\n"
        "from digest.feeds.parse import parse_feed\n"
        "start = time.perf_counter()\n"
        "parse_feed(Path(sys.argv[1]).read_bytes(), 'bomb', 'bomb.xml')\n"
        "print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    bomb = FEEDS / "adversarial" / "fprs_xml_bomb_billion_laughs.xml"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script, str(bomb)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seconds, peak_kib = done.stdout.split()
    assert float(seconds) < 5 and time.perf_counter() - started < 10
    assert int(peak_kib) < 300 * 1024


def test_html_is_sanitised_and_text_fields_are_plain() -> None:
    feed = b"""<rss version="2.0"><channel><title>T</title><item>
    <title>&lt;b&gt;Bold&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;title\x08 here\xc2\x92s</title>
    <link>https://example.org/a</link>
    <description>&lt;p onclick="x()"&gt;Hello &lt;img src=x onerror=alert(1)&gt;&lt;iframe src="https://evil"&gt;&lt;/iframe&gt;world&lt;/p&gt;</description>
    </item></channel></rss>"""
    article = parse_feed(feed, "T", "https://example.org/feed").articles[0]
    assert article.title == "Bold title here’s"
    assert article.teaser == "Hello world"


def test_right_to_left_articles_are_marked(cli: Any, write_config: Any, tmp_path: Path) -> None:
    parsed = parse_feed((FEEDS / "real" / "news_bbc_urdu_rtl_rss2.xml").read_bytes(), "BBC", "https://bbc.com/f")
    assert parsed.articles and all(a.rtl for a in parsed.articles)
    config = write_config(
        [{"name": "BBC Urdu", "url": str(FEEDS / "real" / "news_bbc_urdu_rtl_rss2.xml")}], issue={"window_days": 30}
    )
    result = build(cli, config, tmp_path / "out", now="2018-01-09T00:00:00Z")
    assert result.exit_code == 0, result.stderr
    html = next((tmp_path / "out").glob("*.html")).read_text()
    assert html.count('dir="rtl"') >= 3


@pytest.mark.parametrize("feed", sorted((FEEDS / "real").glob("*")), ids=lambda p: p.name)
def test_every_real_title_decodes_to_real_letters(feed: Path) -> None:
    parsed = parse_feed(feed.read_bytes(), feed.stem, "https://example.org/feed/")
    for article in parsed.articles:
        for text in (article.title, article.teaser, article.author):
            assert "\ufffd" not in text, (feed.name, text)
            assert not re.search("Ã[\u0080-\u00bf]|â€", text), (feed.name, text)
            assert not re.search("[\u0080-\u009f]", text), (feed.name, text)


def test_declared_wrong_and_undeclared_encodings_are_read_right() -> None:
    wrong = parse_feed((FEEDS / "adversarial" / "mflux_windows1252_declared_but_utf8_bytes.xml").read_bytes(), "M", "m")
    assert wrong.title == "Euro €"
    latin = parse_feed((FEEDS / "real" / "news_lecerclepsy_fr_latin1_nodecl_rss2.xml").read_bytes(), "L", "l")
    assert any("é" in a.title or "è" in a.title for a in latin.articles)
    cyrillic = parse_feed((FEEDS / "real" / "news_oren_ru_windows-1251_rss2.xml").read_bytes(), "O", "o")
    assert all(re.search("[а-яА-Я]", a.title) for a in cyrillic.articles)


# HTTP: a real server on 127.0.0.1 with a request log.


def test_second_build_is_a_conditional_get_answered_304(
    cli: Any, write_config: Any, feed_server: Any, tmp_path: Path
) -> None:
    url = feed_server.serve_file("/feed", DEMO_FEED)
    config = write_config([{"name": "LV", "url": url}], issue={"window_days": 10})
    assert build(cli, config, tmp_path / "one").exit_code == 0
    second = build(cli, config, tmp_path / "two")
    assert second.exit_code == 0, second.stderr
    first_request, second_request = feed_server.requests_for("/feed")
    assert "if-none-match" not in first_request.headers
    assert second_request.headers["if-none-match"].startswith('"')
    assert second_request.headers["if-modified-since"].endswith(" GMT")
    assert "digest/" in second_request.headers["user-agent"]
    manifest = load_manifest(tmp_path / "two")
    assert manifest["feeds"][0]["status"] == "not-modified"
    # The cached articles still make the issue.
    assert manifest["feeds"][0]["items"] == load_manifest(tmp_path / "one")["feeds"][0]["items"] > 0
    first_titles = [a["title"] for s in load_manifest(tmp_path / "one")["sections"] for a in s["articles"]]
    assert [a["title"] for s in manifest["sections"] for a in s["articles"]] == first_titles


def test_a_permanent_redirect_is_remembered_and_a_temporary_one_is_not(
    cli: Any, write_config: Any, feed_server: Any, tmp_path: Path
) -> None:
    feed_server.serve_file("/new", DEMO_FEED, conditional=False)
    feed_server.routes["/old"] = Route(status=301, headers={"Location": "/new"})
    feed_server.serve_file("/other", DEMO_FEED, conditional=False)
    feed_server.routes["/temp"] = Route(status=302, headers={"Location": "/other"})
    config = write_config(
        [{"name": "Moved", "url": feed_server.url("/old")}, {"name": "Temp", "url": feed_server.url("/temp")}],
        issue={"window_days": 10},
    )
    first = build(cli, config, tmp_path / "one")
    assert first.exit_code == 0 and "moved permanently" in first.stderr
    assert build(cli, config, tmp_path / "two").exit_code == 0
    assert len(feed_server.requests_for("/old")) == 1
    assert len(feed_server.requests_for("/new")) == 2
    assert len(feed_server.requests_for("/temp")) == 2
    assert len(feed_server.requests_for("/other")) == 2


def test_gone_feeds_are_not_asked_again(cli: Any, write_config: Any, feed_server: Any, tmp_path: Path) -> None:
    feed_server.routes["/gone"] = Route(status=410)
    config = write_config(
        [{"name": "Good", "url": str(DEMO_FEED)}, {"name": "Gone", "url": feed_server.url("/gone")}],
        issue={"window_days": 10},
    )
    for run in range(3):
        result = build(cli, config, tmp_path / f"out{run}")
        assert result.exit_code == 0
        assert "Gone" in result.stderr and "410" in result.stderr
        assert load_manifest(tmp_path / f"out{run}")["feeds"][1]["status"] == "gone"
    assert len(feed_server.requests_for("/gone")) == 1


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_skips_the_feed_this_run(
    cli: Any, write_config: Any, feed_server: Any, tmp_path: Path, code: int
) -> None:
    feed_server.routes["/busy"] = Route(status=code, headers={"Retry-After": "120"})
    config = write_config(
        [{"name": "Good", "url": str(DEMO_FEED)}, {"name": "Busy", "url": feed_server.url("/busy")}],
        issue={"window_days": 10},
    )
    result = build(cli, config, tmp_path / "out")
    assert result.exit_code == 0
    busy = load_manifest(tmp_path / "out")["feeds"][1]
    assert busy["status"] == "skipped" and "120" in busy["error"]


def test_a_server_that_never_answers_ends_within_the_timeout(
    cli: Any, write_config: Any, feed_server: Any, tmp_path: Path
) -> None:
    feed_server.serve_file("/slow", DEMO_FEED, delay=30)
    config = write_config(
        [{"name": "Good", "url": str(DEMO_FEED)}, {"name": "Slow", "url": feed_server.url("/slow")}],
        issue={"window_days": 10},
        gather={"timeout": 2, "connect_timeout": 1},
    )
    started = time.perf_counter()
    result = build(cli, config, tmp_path / "out")
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0
    assert elapsed < 2 + 2, elapsed
    slow = load_manifest(tmp_path / "out")["feeds"][1]
    assert slow["status"] == "failed" and "2s" in slow["error"]
    assert "Slow" in result.stderr


def test_a_huge_response_is_cut_at_the_cap(cli: Any, write_config: Any, feed_server: Any, tmp_path: Path) -> None:
    feed_server.routes["/huge"] = Route(stream_bytes=50_000_000)
    config = write_config(
        [{"name": "Good", "url": str(DEMO_FEED)}, {"name": "Huge", "url": feed_server.url("/huge")}],
        issue={"window_days": 10},
        gather={"max_bytes": 1_000_000},
    )
    started = time.perf_counter()
    result = build(cli, config, tmp_path / "out")
    assert result.exit_code == 0
    huge = load_manifest(tmp_path / "out")["feeds"][1]
    assert huge["status"] == "failed" and "1,000,000-byte cap" in huge["error"]
    assert time.perf_counter() - started < 10


def test_feeds_are_fetched_concurrently(cli: Any, write_config: Any, feed_server: Any, tmp_path: Path) -> None:
    feeds = []
    for n in range(20):
        feed_server.serve_file(f"/f{n}", DEMO_FEED, delay=1.0)
        feeds.append({"name": f"Feed {n}", "url": feed_server.url(f"/f{n}")})
    config = write_config(feeds, issue={"window_days": 10})
    started = time.perf_counter()
    result = build(cli, config, tmp_path / "out")
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.stderr
    assert all(f["status"] == "ok" for f in load_manifest(tmp_path / "out")["feeds"])
    # 20 one-second feeds, 8 at a time: about 3 s; one at a time would take 20 s.
    assert elapsed < 8, elapsed


def test_undated_entries_appear_once_in_the_week_first_seen(cli: Any, write_config: Any, tmp_path: Path) -> None:
    feed = tmp_path / "undated.xml"
    feed.write_text(
        '<rss version="2.0"><channel><title>U</title>'
        "<item><title>Strike at the port</title><link>https://example.org/port</link></item>"
        "</channel></rss>"
    )
    config = write_config([{"name": "U", "url": str(feed)}])
    week1 = build(cli, config, tmp_path / "w1", now="2026-03-02T12:00:00Z")
    assert week1.exit_code == 0
    [article] = [a for s in load_manifest(tmp_path / "w1")["sections"] for a in s["articles"]]
    assert article["dated_by"] == "first-seen"
    assert datetime.fromisoformat(article["published"]) == datetime(2026, 3, 2, 12, tzinfo=UTC)
    week2 = build(cli, config, tmp_path / "w2", now="2026-03-09T12:00:01Z")
    assert week2.exit_code == 0
    assert [a for s in load_manifest(tmp_path / "w2")["sections"] for a in s["articles"]] == []
