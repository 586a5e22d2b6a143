"""`digest approve` freezes the issue as the editors saw it; approval_drift notices what changed since."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from servers import FeedServer, Route
from test_corrections import ARTICLES, ISSUE, NOW, rss, url

from digest.config import load_config
from digest.issue.approve import approval_drift, approve_coming
from digest.issue.pipeline import SAMPLE_RECIPIENT
from digest.issue.render import personalize
from digest.store import issues
from digest.store.db import State
from digest.subscribers.tokens import unsubscribe_url

CLOCK = datetime.fromisoformat(NOW.replace("Z", "+00:00"))


def state_of(config: Path) -> State:
    return State(load_config(config).state_path)


def test_approve_freezes_the_issue_as_built_with_its_corrections(
    cli: Any, tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    (tmp_path / "feed.xml").write_text(rss(["a", "b", "c", "d"]))
    config = write_config([{"name": "News", "url": "feed.xml"}])
    (tmp_path / "corrections").mkdir()
    (tmp_path / "corrections" / f"{ISSUE}.yaml").write_text("drop: [story-a]\nlead: story-b\n")
    built = cli("build", "--config", config, "--now", NOW, "--out", tmp_path / "out")
    assert built.exit_code == 0, built.output
    with state_of(config) as state:
        assert issues.status_of(state, ISSUE) is None  # building approves nothing

    result = cli("approve", "--config", config, "--now", NOW)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"approved {ISSUE}: 3 articles")
    with state_of(config) as state:
        frozen = issues.latest_approved(state)
    assert frozen is not None and frozen.id == ISSUE and frozen.status == "approved"
    sample = unsubscribe_url(load_config(config), 0, SAMPLE_RECIPIENT)
    assert personalize(frozen.rendered.html, sample, html=True) == (tmp_path / "out" / f"{ISSUE}.html").read_text()
    assert personalize(frozen.rendered.text, sample, html=False) == (tmp_path / "out" / f"{ISSUE}.txt").read_text()
    ids = [a.id for a in frozen.record.articles()]
    assert "story-a" not in ids and frozen.record.sections
    assert next(a for a in frozen.record.articles() if a.lead).id == "story-b"

    again = cli("approve", "--config", config, "--now", NOW)
    assert again.exit_code == 0 and "replacing the earlier approval" in again.stdout


def test_approve_refuses_an_issue_that_went_out_and_an_empty_one(
    cli: Any, tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(rss(["a", "b"]))
    config = write_config([{"name": "News", "url": "feed.xml"}])
    assert cli("approve", "--config", config, "--now", NOW).exit_code == 0
    with state_of(config) as state:
        issues.set_status(state, ISSUE, "sent")
        before = issues.get(state, ISSUE)
    refused = cli("approve", "--config", config, "--now", NOW)
    assert refused.exit_code == 1
    assert refused.stderr.strip() == (
        f"error: issue {ISSUE} is already sent; an issue that went out cannot be approved again"
    )
    with state_of(config) as state:
        assert issues.status_of(state, ISSUE) == "sent"
        after = issues.get(state, ISSUE)
    assert before is not None and after is not None and after.rendered == before.rendered

    later = "2026-03-18T12:00:00Z"  # a week with nothing published
    empty = cli("approve", "--config", config, "--now", later)
    assert empty.exit_code == 1 and "holds no article, so there is nothing to approve" in empty.stderr


def test_approval_drift_warns_of_changed_titles_and_vanished_articles(
    tmp_path: Path, write_config: Callable[..., Path], feed_server: FeedServer
) -> None:
    feed_url = feed_server.url("/feed.xml")
    feed_server.routes["/feed.xml"] = Route(body=rss(["b", "c", "d", "e"]).encode())
    (tmp_path / "other.xml").write_text(rss(["f"]))
    config = write_config([{"name": "News", "url": feed_url}, {"name": "Other", "url": "other.xml"}])
    (tmp_path / "corrections").mkdir()
    (tmp_path / "corrections" / f"{ISSUE}.yaml").write_text(
        "rewrite:\n  story-e: {title: 'Rafah, as the editors put it'}\n"
    )
    settings = load_config(config)
    with State(settings.state_path) as state:
        approved, _ = approve_coming(settings, CLOCK, state)
        assert approved.id == ISSUE
        frozen = issues.latest_approved(state)
        assert frozen is not None
        assert approval_drift(settings, frozen, CLOCK, state) == []  # nothing changed: nothing to say

        # The site renames one article, unpublishes another, and renames the one the editors had re-worded.
        titles = {"b": "Gaza: ceasefire talks collapse", "e": "Rafah crossing reopens briefly"}
        # (The test server's Last-Modified never changes: it must not answer 304 to a changed feed.)
        feed_server.routes["/feed.xml"] = Route(body=rss(["b", "d", "e"], titles).encode(), conditional=False)
        drift = approval_drift(settings, frozen, CLOCK, state)
        assert sorted(drift) == [
            f"'{ARTICLES['b'][0]}' ({url('b')}) is now titled 'Gaza: ceasefire talks collapse' in the feed 'News' "
            f"since issue {ISSUE} was approved; the approved email still shows '{ARTICLES['b'][0]}'",
            f"'{ARTICLES['c'][0]}' ({url('c')}) is no longer in the feed 'News' since issue {ISSUE} was approved: "
            "it may have been unpublished or moved; check the link before sending",
            f"'{ARTICLES['e'][0]}' ({url('e')}) is now titled 'Rafah crossing reopens briefly' in the feed 'News' "
            f"since issue {ISSUE} was approved; the approved email still shows 'Rafah, as the editors put it'",
        ]

        # A feed that cannot be read now says so, rather than claiming its articles are gone.
        feed_server.routes["/feed.xml"] = Route(status=500)
        assert approval_drift(settings, frozen, CLOCK, state) == [
            "feed 'News' cannot be read now, so 4 approved articles from it could not be checked for changes"
        ]
        (tmp_path / "other.xml").unlink()
        (nothing,) = approval_drift(settings, frozen, CLOCK, state)
        assert nothing.startswith("no feed can be read now, so none of the 5 approved articles could be checked")
