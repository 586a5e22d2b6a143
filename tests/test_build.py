"""`digest build`: the whole pipeline on the demo, on a real week, and on bad input."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from conftest import REAL_WEEK_NOW, REPO, load_manifest, shipped_config
from servers import Route

from digest.feeds.clean import add_utm

DEMO_FEED = REPO / "digest" / "demo" / "leftvoice-sample.xml"
MANIFEST_KEYS = {"issue", "window", "sections", "feeds", "warnings"}
ARTICLE_KEYS = {"title", "url", "teaser", "author", "published", "feed", "categories", "reason"}


def section_of(manifest: dict[str, Any], fragment: str) -> str:
    for section in manifest["sections"]:
        for article in section["articles"]:
            if fragment in article["title"]:
                return str(section["slug"])
    raise AssertionError(f"no article titled like {fragment!r}")


def all_articles(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for s in manifest["sections"] for a in s["articles"]]


def hrefs(html: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'href="([^"]*)"', html)]


def test_demo_builds_offline_with_the_documented_manifest(cli: Any, tmp_path: Path) -> None:
    result = cli("build", "--demo", "--out", tmp_path)
    assert result.exit_code == 0, result.stderr
    written = sorted(p.suffix for p in tmp_path.iterdir())
    assert {".html", ".txt", ".json"} <= set(written)
    manifest = load_manifest(tmp_path)
    assert manifest.keys() >= MANIFEST_KEYS
    assert manifest["issue"] == "2024-W09"
    assert {"start", "end"} <= manifest["window"].keys()
    for article in all_articles(manifest):
        assert article.keys() >= ARTICLE_KEYS
    for feed in manifest["feeds"]:
        assert {"name", "url", "status", "items", "error"} <= feed.keys()
    assert section_of(manifest, "CUNY Faculty") == "labor"
    assert section_of(manifest, "Higher Education") == "labor"
    for title in ("Rafah", "Berlinale", "Antideutsche", "Aaron Bushnell"):
        assert section_of(manifest, title) == "palestine", title
    assert section_of(manifest, "Crisis in Peru") == "latin-america"


def test_demo_is_the_same_issue_every_time(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIGEST_SECRET", raising=False)
    assert cli("build", "--demo", "--out", tmp_path / "a").exit_code == 0
    assert cli("build", "--demo", "--out", tmp_path / "b").exit_code == 0
    for suffix in ("html", "txt", "json", "eml"):
        first = (tmp_path / "a" / f"2024-W09.{suffix}").read_bytes()
        assert first == (tmp_path / "b" / f"2024-W09.{suffix}").read_bytes(), suffix


@pytest.fixture
def real_week(cli: Any, real_week_config: Path, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "out"
    result = cli("build", "--config", real_week_config, "--now", REAL_WEEK_NOW, "--out", out)
    assert result.exit_code == 0, result.stderr
    html = next(out.glob("*.html")).read_text()
    text = next(out.glob("*.txt")).read_text()
    return {"manifest": load_manifest(out), "html": html, "text": text, "out": out}


def test_real_week_holds_only_the_window_each_url_once(real_week: dict[str, Any]) -> None:
    manifest = real_week["manifest"]
    assert manifest["issue"] == "2026-W08"
    end = datetime.fromisoformat(REAL_WEEK_NOW.replace("Z", "+00:00"))
    start = end - timedelta(days=7)
    articles = all_articles(manifest)
    assert len(articles) >= 30
    urls = [a["url"] for a in articles]
    assert len(urls) == len(set(urls))
    for article in articles:
        published = datetime.fromisoformat(article["published"])
        assert start <= published < end, article
        assert re.match(r"^https?://[^/\s]+", article["url"]), article["url"]
    assert all(f["status"] == "ok" for f in manifest["feeds"])


def test_real_week_every_article_is_in_the_html_and_the_text(real_week: dict[str, Any]) -> None:
    html, text = real_week["html"], real_week["text"]
    links = set(hrefs(html))
    issue = real_week["manifest"]["issue"]
    for article in all_articles(real_week["manifest"]):
        tagged = add_utm(article["url"], "newsletter", "email", issue)
        assert tagged in links, article["url"]
        assert tagged in text, article["url"]
        title = article["title"]
        assert title in unescape(re.sub(r"<[^>]+>", "", html)), title
        assert title in text, title


def test_real_week_html_is_unclipped_and_has_nothing_active(real_week: dict[str, Any]) -> None:
    html = real_week["html"]
    assert len(html.encode()) < 102_000
    lowered = html.lower()
    assert "<script" not in lowered and "<iframe" not in lowered and "javascript:" not in lowered
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", lowered)


def test_bad_feeds_are_reported_and_the_issue_is_built_from_the_rest(
    cli: Any, write_config: Any, feed_server: Any, tmp_path: Path, test_feeds: Path
) -> None:
    feed_server.routes["/broken"] = Route(status=500)
    feed_server.serve_file("/good", DEMO_FEED)
    malformed = test_feeds / "adversarial" / "rssp_html_document_moved.rss"
    config = write_config(
        [
            {"name": "Good over HTTP", "url": feed_server.url("/good")},
            {"name": "Missing file", "url": str(tmp_path / "missing.xml")},
            {"name": "Server error", "url": feed_server.url("/broken")},
            {"name": "Malformed", "url": str(malformed)},
            {"name": "Good file", "url": str(test_feeds / "real" / "wp_aljazeera_rss2.xml")},
        ],
        issue={"window_days": 10},
    )
    result = cli("build", "--config", config, "--now", "2024-03-01T12:00:00Z", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    manifest = load_manifest(tmp_path / "out")
    status = {f["name"]: f for f in manifest["feeds"]}
    for name in ("Missing file", "Server error", "Malformed"):
        assert status[name]["status"] == "failed", name
        assert status[name]["error"]
        assert any(name in w for w in manifest["warnings"]), name
        assert name in result.stderr
    assert status["Good over HTTP"]["status"] == "ok"
    assert "500" in status["Server error"]["error"]
    assert section_of(manifest, "CUNY Faculty") == "labor"


def test_every_feed_failing_is_a_one_line_error(cli: Any, write_config: Any, tmp_path: Path) -> None:
    config = write_config([{"name": "Gone", "url": str(tmp_path / "nope.xml")}])
    result = cli("build", "--config", config, "--out", tmp_path / "out")
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "every feed failed" in lines[0] and "Gone" in lines[0]
    assert "Traceback" not in result.stderr


def test_the_same_article_from_two_feeds_appears_once(cli: Any, write_config: Any, tmp_path: Path) -> None:
    original = DEMO_FEED.read_text()
    # A second feed re-publishes one article with another scheme, www-less host, a fragment and utm_*.
    twin = original.replace(
        "https://www.leftvoice.org/berlinale-filmmakers-say-what-the-rest-of-the-world-is-saying/",
        "http://leftvoice.org/berlinale-filmmakers-say-what-the-rest-of-the-world-is-saying?utm_source=x#top",
    )
    twin = re.sub(r"<guid[^>]*>[^<]*</guid>", "", twin)
    (tmp_path / "twin.xml").write_text(twin)
    config = write_config(
        [{"name": "A", "url": str(DEMO_FEED)}, {"name": "B", "url": str(tmp_path / "twin.xml")}],
        issue={"window_days": 10},
    )
    result = cli("build", "--config", config, "--now", "2024-03-01T12:00:00Z", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    titles = [a["title"] for a in all_articles(load_manifest(tmp_path / "out"))]
    assert titles.count("Berlinale: Filmmakers Say What the Rest of the World is Saying") == 1
    assert len(titles) == len(set(titles))


def test_caps_are_counted_and_empty_sections_kept_in_the_manifest(cli: Any, write_config: Any, tmp_path: Path) -> None:
    config = write_config([{"name": "LV", "url": str(DEMO_FEED)}], issue={"window_days": 10, "max_per_section": 2})
    result = cli("build", "--config", config, "--now", "2024-03-01T12:00:00Z", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    manifest = load_manifest(tmp_path / "out")
    palestine = next(s for s in manifest["sections"] if s["slug"] == "palestine")
    assert len(palestine["articles"]) == 2 and palestine["left_out"] == 3
    assert sum(1 for item in manifest["left_out"] if "cap" in item["why"]) == 3
    # Newest first within a section.
    dates = [a["published"] for a in palestine["articles"]]
    assert dates == sorted(dates, reverse=True)
    # A theme with no article this week stays, empty, in the manifest but not in the email.
    themes = [*shipped_config()["themes"], {"slug": "climate", "title": "Climate Crisis", "keywords": ["glacier"]}]
    config = write_config([{"name": "LV", "url": str(DEMO_FEED)}], issue={"window_days": 10}, themes=themes)
    result = cli("build", "--config", config, "--now", "2024-03-01T12:00:00Z", "--out", tmp_path / "out2")
    manifest = load_manifest(tmp_path / "out2")
    slugs = {s["slug"]: s for s in manifest["sections"]}
    assert slugs["climate"]["articles"] == []
    html = next((tmp_path / "out2").glob("*.html")).read_text()
    assert "Climate Crisis" not in html and ">Palestine<" in html


def test_a_write_that_fails_midway_leaves_the_earlier_files_whole_and_says_so(
    write_config: Any, tmp_path: Path
) -> None:
    """A full disk (here: a file-size limit the HTML passes) must not leave a truncated .html behind."""
    import resource
    import signal

    from digest.config import load_config
    from digest.errors import DigestError
    from digest.issue.pipeline import build_issue
    from digest.jobs.outputs import write_outputs
    from digest.store.db import State

    settings = load_config(write_config([{"name": "Left Voice", "url": str(DEMO_FEED)}], issue={"window_days": 10}))
    now = datetime.fromisoformat("2024-03-01T12:00:00+00:00")
    with State(settings.state_path) as state:
        built = build_issue(settings, now, state)
    out = tmp_path / "out"
    write_outputs(built, settings, out, now)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert len(before["2024-W09.html"]) > 10_000
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, hard))
    try:
        with pytest.raises(DigestError, match=f"cannot write the issue into {out} .*File too large.*free some space"):
            write_outputs(built, settings, out, now)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing cut short, no temporary file left


def test_an_out_folder_that_cannot_be_made_is_one_sentence(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file where a folder should be")
    result = cli("build", "--demo", "--out", tmp_path / "file" / "out")
    assert result.exit_code == 1 and f"cannot write the issue into {tmp_path / 'file' / 'out'}" in result.stderr
    assert "free some space" not in result.stderr and "choose another --out" in result.stderr  # not a full disk
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 2  # the demo's warning


def test_a_long_subject_is_warned_by_build(cli: Any, write_config: Any, tmp_path: Path) -> None:
    config = write_config(
        [{"name": "Left Voice", "url": str(DEMO_FEED)}],
        newsletter={**shipped_config()["newsletter"], "title": "Left Voice " * 40},
        issue={"window_days": 10},
    )
    result = cli("build", "--config", config, "--now", "2024-03-01T12:00:00Z", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    subject = load_manifest(tmp_path / "out")["subject"]
    assert len(subject) > 400
    assert f"warning: the subject is {len(subject)} characters long" in result.stderr
    assert any(f"the subject is {len(subject)}" in w for w in load_manifest(tmp_path / "out")["warnings"])
