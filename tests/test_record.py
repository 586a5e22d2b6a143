"""The issue record (the .json, the preview's manifest, the frozen issue) and the stages that make it."""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from servers import FeedServer, Route
from test_corrections import ISSUE, NOW, rss

from digest.config import load_config
from digest.issue.approve import approval_drift, approve_coming
from digest.issue.pipeline import build_issue, finish, grouped_issue
from digest.models import SCHEMA_VERSION, IssueRecord, Stage
from digest.store import issues
from digest.store.db import State

CLOCK = datetime.fromisoformat(NOW.replace("Z", "+00:00"))


def test_the_json_of_a_build_is_the_issue_record_and_reads_back_as_one(cli: Any, tmp_path: Path) -> None:
    assert cli("build", "--demo", "--out", tmp_path).exit_code == 0
    text = (tmp_path / "2024-W09.json").read_text(encoding="utf-8")
    record = IssueRecord.model_validate_json(text)
    assert record.schema_version == SCHEMA_VERSION == json.loads(text)["schema_version"]
    assert record.id == "2024-W09" and record.article_count == 9 == len(list(record.articles()))
    assert json.dumps(record.public(), indent=2, ensure_ascii=False) + "\n" == text


def _frozen_payload(config: Path) -> dict[str, Any]:
    db = sqlite3.connect(load_config(config).state_path)
    (raw,) = db.execute("SELECT frozen FROM issues WHERE id = ?", (ISSUE,)).fetchone()
    db.close()
    data: dict[str, Any] = json.loads(raw)
    return data


def test_approval_keeps_the_feed_titles_outside_the_public_record(
    cli: Any, tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    (tmp_path / "feed.xml").write_text(rss(["a", "b", "c"]))
    config = write_config([{"name": "News", "url": "feed.xml"}])
    (tmp_path / "corrections").mkdir()
    (tmp_path / "corrections" / f"{ISSUE}.yaml").write_text("rewrite: {story-b: {title: 'Gaza, re-worded'}}\n")
    assert cli("approve", "--config", config, "--now", NOW).exit_code == 0
    payload = _frozen_payload(config)
    assert "feed_titles" not in payload["manifest"] and payload["manifest"]["schema_version"] == SCHEMA_VERSION
    assert payload["feed_titles"]["story-b"] == "Gaza ceasefire talks collapse again"
    built = cli("build", "--config", config, "--now", NOW, "--out", tmp_path / "out")
    assert json.loads((tmp_path / "out" / f"{ISSUE}.json").read_text()).keys() == payload["manifest"].keys()
    assert built.exit_code == 0


def test_an_issue_frozen_before_records_had_a_schema_version_still_reads_and_sends(
    tmp_path: Path, write_config: Callable[..., Path], feed_server: FeedServer
) -> None:
    feed_server.routes["/feed.xml"] = Route(body=rss(["a", "b", "c"]).encode())
    config = write_config([{"name": "News", "url": feed_server.url("/feed.xml")}])
    settings = load_config(config)
    with State(settings.state_path) as state:
        approve_coming(settings, CLOCK, state)
    # The shape of the frozen issue until now: no schema_version, the feed titles inside the public manifest.
    payload = _frozen_payload(config)
    old = {k: v for k, v in payload["manifest"].items() if k != "schema_version"}
    old["feed_titles"] = {**payload.pop("feed_titles"), "story-c": "Peru, as its feed first titled it"}
    payload["manifest"] = old
    db = sqlite3.connect(settings.state_path)
    db.execute("UPDATE issues SET frozen = ? WHERE id = ?", (json.dumps(payload, ensure_ascii=False), ISSUE))
    db.commit()
    db.close()
    with State(settings.state_path) as state:
        frozen = issues.latest_approved(state)
        assert frozen is not None and frozen.record.schema_version == 1
        assert [a.id for a in frozen.record.articles()] == [a["id"] for s in old["sections"] for a in s["articles"]]
        assert "feed_titles" not in frozen.record.public()
        (drift,) = approval_drift(settings, frozen, CLOCK, state)
    # The feed titles kept inside the old record are still what the send compares with.
    assert drift.startswith("'Peru, as its feed first titled it' (") and "is now titled" in drift, drift


def test_correct_and_render_leave_the_grouped_issue_as_it_was(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    """The preview renders the same grouped issue again at every change: no stage may change its input."""
    (tmp_path / "feed.xml").write_text(rss(["a", "b", "c", "d", "e", "f", "g"]))
    config = write_config([{"name": "News", "url": "feed.xml"}], issue={"size_budget": 10_000})
    (tmp_path / "corrections").mkdir()
    (tmp_path / "corrections" / f"{ISSUE}.yaml").write_text(
        "intro: Hello.\nlead: story-c\ndrop: [story-a, story-gone]\nmove: {story-d: palestine}\n"
        "rewrite: {story-e: {title: Shorter, teaser: ''}}\norder: {palestine: [story-g, story-b]}\n"
    )
    settings = load_config(config)
    with State(tmp_path / "probe.db") as state:
        grouped = grouped_issue(settings, CLOCK, state)
    before = copy.deepcopy(grouped)
    first = finish(settings, grouped)
    second = finish(settings, grouped)
    assert grouped == before
    assert first.rendered == second.rendered and first.issue == second.issue
    assert first.rendered.degraded and first.issue.lead is not None and first.issue.lead.article.id == "story-c"
    stages = {w.stage for w in first.issue.warnings}
    assert {Stage.CORRECT, Stage.RENDER} <= stages and not {w.stage for w in grouped.warnings} & stages


def test_each_warning_is_printed_once_by_its_source_not_its_position(
    cli: Any, tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    (tmp_path / "feed.xml").write_text(rss(["a", "b"]))
    config = write_config([{"name": "News", "url": "feed.xml"}], windw_days=7)
    (tmp_path / "corrections").mkdir()
    (tmp_path / "corrections" / f"{ISSUE}.yaml").write_text("drop: [story-gone]\n")
    result = cli("build", "--config", config, "--now", NOW, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert sum("unknown key 'windw_days'" in line for line in lines) == 1, lines
    assert sum("'drop story-gone' no longer applies" in line for line in lines) == 1, lines
    settings = load_config(config)
    with State(tmp_path / "probe.db") as state:
        built = build_issue(settings, CLOCK, state)
    by_stage = {w.stage: w.text for w in built.issue.warnings}
    assert "windw_days" in by_stage[Stage.CONFIG] and "story-gone" in by_stage[Stage.CORRECT]


def test_a_split_in_the_corrections_leaves_the_grouped_story_folded(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    (tmp_path / "news.xml").write_text(rss(["a", "b"]))
    other = rss(["a"], {"a": "Teachers strike across all Chicago schools"})
    (tmp_path / "other.xml").write_text(
        other.replace("story-a", "other-a").replace("news.example.org", "other.example")
    )
    feeds = [{"name": "News", "url": "news.xml"}, {"name": "Other", "url": "other.xml"}]
    config = write_config(feeds)
    settings = load_config(config)
    with State(tmp_path / "probe.db") as state:
        grouped = grouped_issue(settings, CLOCK, state)
    (card,) = [p for p in grouped.articles() if p.also]
    before = copy.deepcopy(grouped)
    (tmp_path / "corrections").mkdir()
    (tmp_path / "corrections" / f"{ISSUE}.yaml").write_text(f"split: [{card.also[0].article.url}]\n")
    built = finish(settings, grouped)
    assert grouped == before and card.also  # the grouped issue keeps its story folded
    assert not [p for p in built.issue.articles() if p.also] and len(built.issue.articles()) == 3
