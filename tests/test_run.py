"""`digest run`: the scheduled job gets the period right, sends once, skips empty weeks, archives, reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest

from digest.config import load_config
from digest.jobs.schedule import next_run, units
from digest.store.db import State

T = datetime(2026, 3, 6, 12, tzinfo=UTC)  # a Friday
SUBSCRIBERS = ["ana@example.org", "ben@example.org", "chloe@example.org"]
EDITORS = "editors@example.org"


ENGINES = ("sqlite", "postgresql")  # the tests that reach the state run on both (conftest.py)


def item(slug: str, title: str, when: datetime) -> str:
    return (
        f"<item><title>{title}</title><link>https://news.example.org/{slug}/</link>"
        f'<guid isPermaLink="true">https://news.example.org/{slug}/</guid>'
        f"<pubDate>{format_datetime(when)}</pubDate>"
        "<description>Workers at the port walked out over wages and safety.</description></item>"
    )


def write_feed(path: Path, items: list[str]) -> None:
    path.write_text(f'<rss version="2.0"><channel><title>News</title>{"".join(items)}</channel></rss>')


class Job:
    def __init__(self, cli: Any, config: Path, sink: Any) -> None:
        self.cli, self.config, self.sink = cli, config, sink

    def run(self, when: datetime) -> Any:
        before = len(self.sink.handler.messages)
        result = self.cli("run", "--config", self.config, "--now", when.isoformat())
        result.new_messages = self.sink.handler.messages[before:]
        return result

    @staticmethod
    def to_subscribers(messages: list[tuple[str, list[str], bytes]]) -> list[tuple[str, list[str], bytes]]:
        return [m for m in messages if EDITORS not in m[1]]

    @staticmethod
    def to_editors(messages: list[tuple[str, list[str], bytes]]) -> list[tuple[str, list[str], bytes]]:
        return [m for m in messages if EDITORS in m[1]]


@pytest.fixture
def job(cli: Any, write_config: Any, smtp_sink: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Job:
    monkeypatch.setenv("DIGEST_SECRET", "test-secret-for-tokens")
    feed = tmp_path / "feed.xml"
    write_feed(feed, [item("dock-strike", "Dock workers strike at the port", T - timedelta(days=1))])
    config = write_config(
        [{"name": "News", "url": str(feed)}],
        smtp={"host": "127.0.0.1", "port": smtp_sink.port, "security": "none", "retry_delay": 0.1},
        editors=[EDITORS],
        archive={"dir": "archive"},
        issue={"window_days": 7, "require_approval": False, "lead_story": False},
    )
    for address in SUBSCRIBERS:
        assert cli("subscribers", "add", address, "--config", config).exit_code == 0
    return Job(cli, config, smtp_sink)


def sent_manifest(config: Path, issue_id: str) -> dict[str, Any]:
    with State(load_config(config).state_target) as state:
        row = state.execute("SELECT frozen FROM issues WHERE id = ?", (issue_id,)).fetchone()
    return dict(json.loads(row["frozen"])["manifest"])


def titles(manifest: dict[str, Any]) -> list[str]:
    return [a["title"] for s in manifest["sections"] for a in s["articles"]]


def test_the_weekly_job_over_a_month(job: Job, tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    first = job.run(T)
    assert first.exit_code == 0, first.stderr
    delivered = job.to_subscribers(first.new_messages)
    assert sorted(r for m in delivered for r in m[1]) == SUBSCRIBERS
    assert "2026-W10" in first.output

    again = job.run(T)
    assert again.exit_code == 0, again.stderr
    assert job.to_subscribers(again.new_messages) == []
    assert "already sent" in again.output

    # A week later: one new article; the old one is re-dated by its feed into the new window.
    write_feed(
        feed,
        [
            item("dock-strike", "Dock workers strike at the port", T + timedelta(days=5)),
            item("nurses", "Nurses strike for safe staffing", T + timedelta(days=6)),
        ],
    )
    second = job.run(T + timedelta(days=7))
    assert second.exit_code == 0, second.stderr
    assert len(job.to_subscribers(second.new_messages)) == 3
    issue2 = sent_manifest(job.config, "2026-W11")
    assert titles(issue2) == ["Nurses strike for safe staffing"]
    assert issue2["window"]["start"] == T.isoformat()

    quiet = job.run(T + timedelta(days=14))
    assert quiet.exit_code == 0, quiet.stderr
    assert job.to_subscribers(quiet.new_messages) == []
    assert "not sent" in quiet.output and "0 articles" in quiet.output

    write_feed(
        feed,
        [
            item("nurses", "Nurses strike for safe staffing", T + timedelta(days=20)),
            item("teachers", "Teachers vote to strike", T + timedelta(days=27)),
        ],
    )
    fourth = job.run(T + timedelta(days=28))
    assert fourth.exit_code == 0, fourth.stderr
    assert len(job.to_subscribers(fourth.new_messages)) == 3
    issue3 = sent_manifest(job.config, "2026-W14")
    assert issue3["window"]["start"] == (T + timedelta(days=7)).isoformat()
    assert titles(issue3) == ["Teachers vote to strike"]

    reports = job.to_editors(job.sink.handler.messages)
    assert len(reports) == 5  # one per run, sent or not
    report_text = reports[0][2].decode()
    assert "2026-W10" in report_text and "3 sent" in report_text

    archive = tmp_path / "archive"
    index = (archive / "index.html").read_text()
    for issue_id in ("2026-W10", "2026-W11", "2026-W14"):
        assert f'href="{issue_id}.html"' in index
        page = (archive / f"{issue_id}.html").read_text()
        assert "unsubscribe.invalid" not in page and "/unsubscribe" in page
    parsed = feedparser.parse((archive / "feed.xml").read_bytes())
    assert not parsed.bozo
    assert [e.link.rsplit("/", 1)[-1] for e in parsed.entries] == ["2026-W14.html", "2026-W11.html", "2026-W10.html"]


def test_the_health_report_names_failing_feeds_and_warnings(job: Job, tmp_path: Path, write_config: Any) -> None:
    config = job.config
    text = config.read_text().replace("feeds:\n", f"feeds:\n- name: Broken\n  url: {tmp_path / 'missing.xml'}\n", 1)
    config.write_text(text)
    for days in (0, 7):
        result = job.run(T + timedelta(days=days))
        assert result.exit_code == 0, result.stderr
    last_report = job.to_editors(job.sink.handler.messages)[-1][2].decode()
    assert "Feeds failing several runs in a row" in last_report
    assert "Broken: 2 runs" in last_report


def test_schedule_prints_cron_and_systemd_units(cli: Any, write_config: Any, tmp_path: Path) -> None:
    config = write_config([{"name": "N", "url": "feed.xml"}], schedule={"day": "friday", "time": "08:30"})
    config.write_text(config.read_text().replace("timezone: UTC", "timezone: America/New_York"))
    result = cli("schedule", "--config", config)
    assert result.exit_code == 0, result.stderr
    assert "CRON_TZ=America/New_York" in result.output
    assert "30 8 * * 5 " in result.output
    assert "OnCalendar=Fri *-*-* 08:30:00 America/New_York" in result.output
    assert f"run --config {config}" in result.output
    installed = cli("schedule", "--config", config, "--install", "--unit-dir", tmp_path / "units")
    assert installed.exit_code == 0
    assert (tmp_path / "units" / "digest.timer").read_text() == units(load_config(config)).timer
    assert "ExecStart=" in (tmp_path / "units" / "digest.service").read_text()


def test_next_run_is_the_coming_scheduled_moment(write_config: Any) -> None:
    settings = load_config(
        write_config([{"name": "N", "url": "feed.xml"}], schedule={"day": "friday", "time": "08:00"})
    )
    friday_morning = datetime(2026, 3, 6, 7, 0, tzinfo=UTC)
    assert next_run(settings, friday_morning) == datetime(2026, 3, 6, 8, 0, tzinfo=UTC)
    assert next_run(settings, datetime(2026, 3, 6, 8, 0, tzinfo=UTC)) == datetime(2026, 3, 13, 8, 0, tzinfo=UTC)


def test_run_and_schedule_have_help(cli: Any) -> None:
    for command in ("run", "schedule"):
        result = cli(command, "--help")
        assert result.exit_code == 0 and "--config" in result.output


def test_the_scheduler_in_serve_runs_the_job_when_due(job: Job, tmp_path: Path) -> None:
    from digest.jobs.schedule import Scheduler

    write_feed(
        tmp_path / "feed.xml", [item("today", "Rail workers strike today", datetime.now(UTC) - timedelta(hours=1))]
    )
    due_times: list[datetime] = []

    def soon_then_never(after: datetime) -> datetime:
        due_times.append(after)
        return after + timedelta(seconds=0.3) if len(due_times) == 1 else after + timedelta(days=7)

    lines: list[str] = []
    scheduler = Scheduler(load_config(job.config), next_time=soon_then_never, report=lines.append)
    scheduler.start()
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while scheduler.runs == 0 and datetime.now(UTC) < deadline:
        scheduler.stopping.wait(0.1)
    scheduler.stop()
    scheduler.join(5)
    assert scheduler.runs == 1, lines
    assert any("sent to 3 subscribers" in line for line in lines), lines
    assert len(job.to_subscribers(job.sink.handler.messages)) == 3
    assert len(job.to_editors(job.sink.handler.messages)) == 1


def test_serve_publishes_the_archive_and_a_generic_unsubscribe_page(job: Job, tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from digest.web.serve import make_asgi_app

    assert job.run(T).exit_code == 0
    with TestClient(make_asgi_app(load_config(job.config))) as client:
        index = client.get("/archive/").text
        assert 'href="2026-W10.html"' in index
        page = client.get("/archive/2026-W10.html").text
        assert "Dock workers strike at the port" in page
        atom = client.get("/archive/feed.xml")
        assert atom.headers["Content-Type"] == "application/atom+xml"
        generic = client.get("/unsubscribe").text
        assert "one click" in generic
        for bad in ("../config.yaml", "..%2Fconfig.yaml", "state/digest.db"):
            assert client.get(f"/archive/{bad}").status_code == 404


def test_a_clock_behind_the_last_sent_issue_sends_nothing_stale(job: Job, tmp_path: Path) -> None:
    write_feed(
        tmp_path / "feed.xml",
        [
            item("dock-strike", "Dock workers strike at the port", T - timedelta(days=1)),
            item("old-news", "A strike of the week before", T - timedelta(days=9)),  # in no sent window
        ],
    )
    assert job.run(T).exit_code == 0

    same_week = job.run(T - timedelta(hours=3))  # a little behind, within the issue just sent: nothing to do
    assert same_week.exit_code == 0 and "already sent" in same_week.output
    behind = job.run(T - timedelta(days=7))

    assert behind.exit_code == 1
    assert job.to_subscribers(behind.new_messages) == []
    assert behind.stderr.startswith("error: the clock (2026-02-27T12:00:00+00:00) is earlier than the end of the last")
    assert "2026-W10" in behind.stderr and behind.stderr.count("\n") == 1


@pytest.mark.sqlite_only
def test_a_run_refused_by_the_lock_reports_no_failure_to_the_editors(job: Job) -> None:
    import fcntl
    import os

    state = load_config(job.config).state_path
    lock = state.with_name(state.name + ".send.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another run is sending (this process stands for it)
        os.pwrite(fd, f"{os.getpid()} 2026-W10".ljust(127).encode() + b"\n", 0)
        refused = job.run(T)
    finally:
        os.close(fd)

    assert refused.exit_code == 1 and "is already running" in refused.stderr
    assert refused.new_messages == []  # no "the run failed" to the editors: the run holding the lock reports
    assert job.run(T).exit_code == 0
