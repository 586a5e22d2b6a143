"""`digest send` against a real aiosmtpd server on 127.0.0.1 and real SQLite files: one message per subscriber,
exactly once across kills, retries on 4xx, failures on 5xx, one send at a time."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SECRET
from servers import SmtpSink
from test_subscribers import write_csv

from digest.config import load_config
from digest.store.db import State
from digest.subscribers import roster as subscribers
from digest.subscribers.tokens import token_subscriber, verify_token

REPO = Path(__file__).resolve().parent.parent
DEMO_FEED = [{"name": "Left Voice", "url": str(REPO / "digest/demo/leftvoice-sample.xml")}]
NOW = "2024-03-01T12:00:00Z"
pytestmark = pytest.mark.usefixtures("secret")
ENGINES = ("sqlite", "postgresql")  # every test here runs on both (conftest.py)
UNSUBSCRIBE = re.compile(rb"^List-Unsubscribe: <([^>]+)>", re.M)
SUBJECT = re.compile(rb"^Subject: (.*?)\r?$", re.M)


def add_subscribers(config: Path, count: int) -> list[str]:
    addresses = [f"reader{n}@example{n % 5}.org" for n in range(count)]
    text = "".join(f"{a},Reader {n}\n" for n, a in enumerate(addresses))
    with State(load_config(config).state_target) as state:
        subscribers.import_csv(state, io.StringIO(text))
    return addresses


def received(sink: SmtpSink) -> Counter[str]:
    with sink.handler.lock:
        return Counter(rcpt.lower() for _, rcpts, _ in sink.handler.messages for rcpt in rcpts)


def deliveries(config: Path) -> dict[str, tuple[str, int, str | None]]:
    """The ledger: address → (status, attempts, error)."""
    with State(load_config(config).state_target) as state:
        rows = state.execute(
            "SELECT s.email, d.status, d.attempts, d.error FROM deliveries d JOIN subscribers s "
            "ON s.id = d.subscriber_id"
        ).fetchall()
    return {email.lower(): (status, attempts, error) for email, status, attempts, error in rows}


def an_hour_passes(config: Path) -> None:
    """As if an hour had passed since every message so far went out."""
    with State(load_config(config).state_target) as state:
        state.execute("UPDATE deliveries SET updated_at = '2000-01-01T00:00:00+00:00'")
        state.execute("UPDATE send_slots SET at = at - 3600")


def statuses(config: Path) -> dict[str, str]:
    with State(load_config(config).state_target) as state:
        return {s.email.lower(): s.status for s in subscribers.all_subscribers(state)}


def digest_command(config: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "digest.cli", "send", "--config", str(config), "--now", NOW, *extra]


def kill_send_after(config: Path, smtp_sink: SmtpSink, env: dict[str, str], count: int) -> None:
    """Start `digest send` and kill it (SIGKILL) once the relay has accepted `count` messages."""
    first = subprocess.Popen(digest_command(config), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(smtp_sink.handler.messages) < count:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, f"the send never reached {count} messages"
        time.sleep(0.002)
    first.send_signal(signal.SIGKILL)
    first.wait()


def test_1000_imported_subscribers_get_one_message_each_with_a_working_token(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any], tmp_path: Path
) -> None:
    config = send_config(connections=4)
    csv_path = tmp_path / "list.csv"
    good, bad_lines = write_csv(csv_path)
    imported = cli("subscribers", "import", csv_path, "--config", config)
    assert "imported 1000 new subscribers" in imported.stdout and len(bad_lines) == 20

    result = cli("send", "--config", config, "--now", NOW)

    assert result.exit_code == 0, result.output
    assert "1000 sent" in result.stdout and "0 failed" in result.stdout
    counts = received(smtp_sink)
    assert sorted(counts) == sorted(a.lower() for a in good)
    assert set(counts.values()) == {1}
    with State(load_config(config).state_target) as state:
        ids = {s.email.lower(): s.id for s in subscribers.all_subscribers(state)}
    tokens = set()
    for _, rcpts, raw in smtp_sink.handler.messages:
        match = UNSUBSCRIBE.search(raw)
        assert match, rcpts
        token = match.group(1).decode().rsplit("/unsubscribe/", 1)[1]
        assert token_subscriber(token) == ids[rcpts[0].lower()]
        assert verify_token(SECRET.encode(), token, ids[rcpts[0].lower()], rcpts[0])
        assert token.encode() in raw.split(b"\r\n\r\n", 1)[1].replace(b"=\r\n", b"")  # the visible link too
        tokens.add(token)
    assert len(tokens) == 1000
    ledger = deliveries(config)
    assert len(ledger) == 1000 and {row[0] for row in ledger.values()} == {"sent"}

    # the token works: the unsubscribe app accepts the first recipient's link and nobody else's state changes
    from starlette.testclient import TestClient

    from digest.web.serve import make_asgi_app

    first_rcpt, first_raw = smtp_sink.handler.messages[0][1][0], smtp_sink.handler.messages[0][2]
    match = UNSUBSCRIBE.search(first_raw)
    assert match
    path = "/unsubscribe/" + match.group(1).decode().rsplit("/unsubscribe/", 1)[1]
    with TestClient(make_asgi_app(load_config(config))) as client:
        assert client.post(path, content=b"List-Unsubscribe=One-Click").status_code == 200
    after = statuses(config)
    assert after[first_rcpt.lower()] == "unsubscribed"
    assert Counter(after.values()) == {"active": 999, "unsubscribed": 1}

    # the issue is sent: running again mails nobody, and its articles are marked as sent
    again = cli("send", "--config", config, "--now", NOW)
    assert again.exit_code == 0 and "already sent" in again.stdout
    assert sum(received(smtp_sink).values()) == 1000


@pytest.mark.parametrize("connections", [1, 4, 8])
def test_a_killed_send_resumes_and_mails_nobody_twice(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, connections: int
) -> None:
    config = send_config(connections=connections, rate_per_second=400)
    everyone = add_subscribers(config, 1000)
    env = {**os.environ, "DIGEST_SECRET": SECRET}

    kill_send_after(config, smtp_sink, env, 300)
    at_kill = sum(received(smtp_sink).values())
    assert 300 <= at_kill < 1000

    second = subprocess.run(digest_command(config), env=env, capture_output=True, text=True, timeout=120)

    assert second.returncode == 0, second.stderr
    counts = received(smtp_sink)
    assert sorted(counts) == sorted(everyone), "someone never received the issue"
    twice = sorted(address for address, n in counts.items() if n > 1)
    print(f"\nkilled after {at_kill} messages over {connections} connection(s); received twice: {twice or 'nobody'}")
    assert max(counts.values()) <= 2
    assert len(twice) <= 1  # at most the one message between its final line and its record, however many connections
    in_flight = re.search(r"went out again \(may arrive twice\): (.*)", second.stdout)
    named = set(in_flight.group(1).split(", ")) if in_flight else set()
    assert set(twice) <= named, "the resumed run must name every message that may arrive twice"
    assert len(named) <= 1
    assert {row[0] for row in deliveries(config).values()} == {"sent"}


def test_sigterm_stops_after_the_messages_in_flight_and_the_next_run_finishes(
    send_config: Callable[..., Path], smtp_sink: SmtpSink
) -> None:
    config = send_config(connections=3, rate_per_second=100)
    everyone = add_subscribers(config, 300)
    env = {**os.environ, "DIGEST_SECRET": SECRET}
    first = subprocess.Popen(digest_command(config), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while len(smtp_sink.handler.messages) < 50:
        assert first.poll() is None, first.communicate()
        time.sleep(0.005)
    first.terminate()
    out, err = first.communicate(timeout=30)

    assert first.returncode == 75, err
    assert "interrupted; run the same command again to send the rest" in err
    stopped_at = len(smtp_sink.handler.messages)
    assert re.search(rf"issue 2024-W09: {stopped_at} sent", out), out
    ledger = deliveries(config)
    done = [row[0] for row in ledger.values() if row[0] != "queued"]  # queued: not yet tried
    assert set(done) == {"sent"} and len(done) == stopped_at  # nothing left in doubt

    second = subprocess.run(digest_command(config), env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert "may arrive twice" not in second.stdout
    counts = received(smtp_sink)
    assert set(counts) == set(everyone) and set(counts.values()) == {1}


def test_451_is_retried_and_delivered_550_fails_and_the_rest_go_out(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    config = send_config(connections=3, retries=3, bounce_after=1)
    everyone = add_subscribers(config, 60)
    soft, hard, stuck = set(everyone[5:10]), set(everyone[20:23]), everyone[40]
    tries: Counter[str] = Counter()

    def reply(rcpt: str) -> str | None:
        tries[rcpt] += 1
        if rcpt in soft and tries[rcpt] <= 2:
            return "451 4.7.1 greylisted, try again later"
        if rcpt == stuck:
            return "452 4.2.2 mailbox full"
        if rcpt in hard:
            return "550 5.1.1 no such user"
        return None

    smtp_sink.handler.reply = reply
    result = cli("send", "--config", config, "--now", NOW)

    assert result.exit_code == 0, result.output
    counts = received(smtp_sink)
    assert set(counts) == set(everyone) - hard - {stuck}
    assert set(counts.values()) == {1}
    assert all(tries[a] == 3 for a in soft)  # two refusals, then accepted
    assert tries[stuck] == 4  # the first try and smtp.retries = 3 retries
    ledger = deliveries(config)
    for address in hard:
        assert ledger[address] == ("failed", 1, "550 5.1.1 no such user")
        assert f"failed: {address}: 550 5.1.1 no such user" in result.stdout
    assert ledger[stuck][0] == "failed" and ledger[stuck][2].startswith("gave up after 4 tries: 452 4.2.2")
    assert all(ledger[a][:2] == ("sent", 3) for a in soft)
    assert "56 sent" in result.stdout and "4 failed" in result.stdout and "13 retried" in result.stdout
    after = statuses(config)
    assert {a for a, s in after.items() if s == "bounced"} == hard  # bounce_after = 1; a 4xx never bounces
    assert "is sent" in result.stdout

    # the next issue skips the bounced addresses
    again = cli("send", "--config", config, "--now", "2024-03-01T18:00:00Z")
    assert "already sent" in again.stdout


def test_a_dropped_connection_is_reopened_and_the_send_goes_on(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    config = send_config(connections=2)
    everyone = add_subscribers(config, 40)
    droppers = set(everyone[3:8])
    dropped: set[str] = set()
    original = smtp_sink.handler.handle_DATA

    async def drop_once(server: Any, session: Any, envelope: Any) -> str:
        rcpt = envelope.rcpt_tos[0]
        if rcpt in droppers and rcpt not in dropped:
            dropped.add(rcpt)
            server.transport.close()
            return "421 4.4.2 connection dropped"
        return str(await original(server, session, envelope))

    smtp_sink.handler.handle_DATA = drop_once  # type: ignore[method-assign]
    result = cli("send", "--config", config, "--now", NOW)

    assert result.exit_code == 0, result.output
    assert dropped == droppers
    counts = received(smtp_sink)
    assert set(counts) == set(everyone) and set(counts.values()) == {1}
    assert "40 sent" in result.stdout and "0 failed" in result.stdout
    assert "the connection to the relay dropped 5 times and was reopened" in result.stdout


@pytest.mark.sqlite_only
def test_two_sends_started_together_exactly_one_sends(send_config: Callable[..., Path], smtp_sink: SmtpSink) -> None:
    config = send_config(rate_per_second=60)
    everyone = add_subscribers(config, 120)  # two seconds of sending at 60 a second
    env = {**os.environ, "DIGEST_SECRET": SECRET}

    runs = [subprocess.Popen(digest_command(config), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]  # fmt: skip
    outcomes = [(run.wait(timeout=60), *run.communicate()) for run in runs]

    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0, 1], outcomes
    refused = next(err for code, _, err in outcomes if code == 1)
    assert re.search(r"error: a send (of issue 2024-W09 )?is already running \(pid \d+\)", refused), refused
    counts = received(smtp_sink)
    assert set(counts) == set(everyone) and set(counts.values()) == {1}


@pytest.mark.sqlite_only
def test_a_held_lock_names_its_holder_and_the_issue(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    from digest.mail.delivery.lock import send_lock

    config = send_config()
    add_subscribers(config, 3)
    with send_lock(load_config(config)) as lock:
        lock.note("2024-W09")
        result = cli("send", "--config", config, "--now", NOW)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: a send of issue 2024-W09 is already running (pid {os.getpid()})")
    assert not smtp_sink.handler.messages
    assert cli("send", "--config", config, "--now", NOW).exit_code == 0  # released
    assert len(smtp_sink.handler.messages) == 3


def test_the_hourly_cap_stops_cleanly_and_the_next_run_sends_the_rest(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    config = send_config(rate_per_hour=10)
    everyone = add_subscribers(config, 25)

    first = cli("send", "--config", config, "--now", NOW)
    assert first.exit_code == 75, first.output
    assert "hourly cap (smtp.rate_per_hour = 10) is reached" in first.stderr
    assert "stopped with 15 still to send" in first.stdout
    assert sum(received(smtp_sink).values()) == 10

    within_the_hour = cli("send", "--config", config, "--now", NOW)
    assert within_the_hour.exit_code == 75 and sum(received(smtp_sink).values()) == 10

    an_hour_passes(config)
    for _ in range(2):
        cli("send", "--config", config, "--now", NOW)
        an_hour_passes(config)
    counts = received(smtp_sink)
    assert set(counts) == set(everyone) and set(counts.values()) == {1}
    with State(load_config(config).state_target) as state:
        assert tuple(state.execute("SELECT status, recipients FROM issues").fetchone()) == ("sent", 25)


def test_the_rate_per_second_is_kept(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    config = send_config(rate_per_second=40, connections=4)
    add_subscribers(config, 60)
    started = time.monotonic()
    result = cli("send", "--config", config, "--now", NOW)
    elapsed = time.monotonic() - started
    assert result.exit_code == 0 and sum(received(smtp_sink).values()) == 60
    assert elapsed >= 59 / 40 - 0.05, elapsed


def test_no_approved_issue_is_refused_when_approval_is_required(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    config = send_config(issue={"require_approval": True})
    add_subscribers(config, 3)
    result = cli("send", "--config", config, "--now", NOW)
    assert result.exit_code == 1
    assert "there is no approved issue to send" in result.stderr and "digest approve" in result.stderr
    assert not smtp_sink.handler.messages


def test_an_approved_issue_is_sent_as_frozen(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    from dataclasses import replace
    from datetime import UTC, datetime

    from digest.issue.pipeline import build_issue
    from digest.store import articles, issues

    config = send_config(issue={"require_approval": True})
    add_subscribers(config, 3)
    settings = load_config(config)
    with State(settings.state_target) as state:
        built = build_issue(settings, datetime(2024, 3, 1, 12, tzinfo=UTC), state)
        rendered = replace(built.rendered, subject="As the editors approved it")
        issues.freeze(state, "2024-W09", built.issue.window, rendered, built.record())

    result = cli("send", "--config", config, "--now", "2030-01-01T00:00:00Z")  # the approved issue, not --now's

    assert result.exit_code == 0, result.output
    subjects = {SUBJECT.search(raw).group(1) for _, _, raw in smtp_sink.handler.messages}  # type: ignore[union-attr]
    assert subjects == {b"As the editors approved it"}
    with State(settings.state_target) as state:
        assert issues.status_of(state, "2024-W09") == "sent"
        sent_ids, _ = articles.sent_keys(state)
    assert len(sent_ids) == built.issue.article_count
    # every copy's "View in your browser" link leads to the archive: the send writes the issue's page there
    page = settings.archive_dir / "2024-W09.html"
    assert page.is_file() and "As the editors approved it" in (settings.archive_dir / "index.html").read_text()
    assert "/unsubscribe/" not in page.read_text()  # the public page carries nobody's token


OLD_NEWS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Old</title><link>https://example.org/</link>
<item><title>Old news</title><link>https://example.org/old</link><pubDate>Mon, 06 Jan 2020 10:00:00 GMT</pubDate>
<description>Nothing new this week.</description></item></channel></rss>"""


def test_an_empty_issue_is_not_sent(
    write_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any], tmp_path: Path
) -> None:
    feed = tmp_path / "old.xml"
    feed.write_text(OLD_NEWS)
    config = write_config([{"name": "Old", "url": str(feed)}],
                          smtp={"host": "127.0.0.1", "port": smtp_sink.port, "security": "none"})  # fmt: skip
    add_subscribers(config, 3)
    result = cli("send", "--config", config, "--now", NOW)
    assert result.exit_code == 0
    assert "has 0 articles" in result.stdout and "not sent" in result.stdout
    assert not smtp_sink.handler.messages and not deliveries(config)


def test_without_the_secret_nothing_is_sent(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = send_config()
    add_subscribers(config, 3)
    monkeypatch.delenv("DIGEST_SECRET")
    result = cli("send", "--config", config, "--now", NOW)
    assert result.exit_code == 1
    assert "environment variable DIGEST_SECRET" in result.stderr
    assert not smtp_sink.handler.messages


def test_test_to_sends_one_marked_copy_and_records_nothing(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    config = send_config(issue={"require_approval": True})  # editors test the coming issue before approving it
    add_subscribers(config, 3)
    result = cli("send", "--config", config, "--now", NOW, "--test-to", "editor@example.org")
    assert result.exit_code == 0, result.output
    assert [rcpts for _, rcpts, _ in smtp_sink.handler.messages] == [["editor@example.org"]]
    subject = SUBJECT.search(smtp_sink.handler.messages[0][2])
    assert subject and subject.group(1).startswith(b"[TEST] ")
    assert not deliveries(config)
    with State(load_config(config).state_target) as state:
        assert state.execute("SELECT COUNT(*) FROM issues").fetchone()[0] == 0


def test_dry_run_sends_and_records_nothing(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    config = send_config()
    add_subscribers(config, 7)
    result = cli("send", "--config", config, "--now", NOW, "--dry-run")
    assert result.exit_code == 0
    assert "would go to 7 subscribers" in result.stdout
    assert not smtp_sink.handler.messages and not deliveries(config)
    assert not load_config(config).archive_dir.exists()


def test_an_unreachable_relay_is_one_clear_sentence(write_config: Callable[..., Path], cli: Callable[..., Any]) -> None:
    from servers import free_port

    port = free_port()
    config = write_config(DEMO_FEED, issue={"window_days": 10}, smtp={"host": "127.0.0.1", "port": port,
                                                                         "security": "none"})  # fmt: skip
    add_subscribers(config, 2)
    result = cli("send", "--config", config, "--now", NOW)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot reach the SMTP relay at 127.0.0.1:{port}")
    assert {row[0] for row in deliveries(config).values()} <= {"queued"}  # queued for the next run, none tried


@pytest.fixture
def no_sigterm_leak() -> Iterator[None]:
    before = signal.getsignal(signal.SIGTERM)
    yield
    assert signal.getsignal(signal.SIGTERM) == before


def test_send_restores_the_sigterm_handler(
    send_config: Callable[..., Path], cli: Callable[..., Any], no_sigterm_leak: None
) -> None:
    config = send_config()
    add_subscribers(config, 1)
    assert cli("send", "--config", config, "--now", NOW).exit_code == 0


def test_sending_an_approved_issue_warns_of_articles_renamed_since(
    write_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any], tmp_path: Path
) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(Path(DEMO_FEED[0]["url"]).read_text(encoding="utf-8"), encoding="utf-8")
    config = write_config(
        [{"name": "Left Voice", "url": str(feed)}],
        issue={"window_days": 10, "require_approval": True},
        smtp={"host": "127.0.0.1", "port": smtp_sink.port, "security": "none", "retry_delay": 0.05},
    )
    add_subscribers(config, 2)
    approved = cli("approve", "--config", config, "--now", NOW)
    assert approved.exit_code == 0, approved.stderr
    feed.write_text(
        feed.read_text(encoding="utf-8").replace(
            "Berlinale: Filmmakers Say What the Rest of the World is Saying", "Berlinale: A Renamed Headline"
        ),
        encoding="utf-8",
    )
    result = cli("send", "--config", config, "--now", NOW)
    assert result.exit_code == 0, result.stderr
    assert "Berlinale" in result.output and "warning:" in result.output
    assert sum(received(smtp_sink).values()) == 2  # the approved issue still goes out, as approved


def refuse_every_message(sink: SmtpSink, answer: str, but: str | None = None) -> Callable[[], None]:
    """The relay answers `answer` to the end of every message (except one to `but`); returns the undo."""
    original = sink.handler.handle_DATA

    async def refuse(server: Any, session: Any, envelope: Any) -> str:
        if envelope.rcpt_tos == [but]:
            return str(await original(server, session, envelope))
        return answer

    sink.handler.handle_DATA = refuse  # type: ignore[method-assign]
    return lambda: setattr(sink.handler, "handle_DATA", original)


def sent_state(config: Path) -> tuple[str | None, set[str]]:
    """The issue's status and the ids of the articles marked as sent."""
    from digest.store import issues

    with State(load_config(config).state_target) as state:
        status = issues.status_of(state, "2024-W09")
        marked = {row[0] for row in state.execute("SELECT id FROM articles WHERE sent_in IS NOT NULL")}
    return status, marked


@pytest.mark.parametrize("answer", ["554 5.7.1 Message refused as spam", "500 Line too long (see RFC5321 4.5.3.1.6)"])
def test_a_relay_refusing_every_message_leaves_the_issue_unsent_and_bounces_nobody(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any], answer: str
) -> None:
    config = send_config(connections=2, bounce_after=1)
    everyone = add_subscribers(config, 40)
    undo = refuse_every_message(smtp_sink, answer)

    refused = cli("send", "--config", config, "--now", NOW)

    assert refused.exit_code == 1, refused.output
    assert "the relay refused 10 messages and accepted 0 of this issue" in refused.stderr
    assert "the issue stays unsent" in refused.stderr and answer in refused.stderr
    assert not smtp_sink.handler.messages
    assert set(statuses(config).values()) == {"active"}  # nobody is bounced for what the relay thinks of the issue
    assert {row[0] for row in deliveries(config).values()} <= {"deferred", "sending", "queued"}
    assert sent_state(config) == ("sending", set())  # not sent, and its articles may still go out

    undo()  # the relay is fixed: the same command sends the issue, to everyone, once
    again = cli("send", "--config", config, "--now", NOW)
    assert again.exit_code == 0, again.output
    assert "40 sent" in again.stdout and "is sent" in again.stdout
    counts = received(smtp_sink)
    assert set(counts) == set(everyone) and set(counts.values()) == {1}
    assert cli("send", "--config", config, "--now", NOW).stdout.startswith("issue 2024-W09 was already sent")


def test_a_relay_that_accepts_almost_nothing_leaves_the_issue_unsent(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    config = send_config(connections=1, bounce_after=1)
    everyone = add_subscribers(config, 60)
    refuse_every_message(smtp_sink, "550 Message rejected", but=everyone[3])

    result = cli("send", "--config", config, "--now", NOW)

    assert result.exit_code == 1, result.output
    assert "accepted 1 of this issue" in result.stderr and "the issue stays unsent" in result.stderr
    assert sum(received(smtp_sink).values()) == 1
    assert sent_state(config) == ("sending", set())
    assert "is sent" not in result.stdout
    assert set(statuses(config).values()) == {"active"}  # not even the readers refused before the one accepted


def test_a_content_refusal_fails_that_copy_but_bounces_nobody(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    config = send_config(connections=2, bounce_after=1)
    everyone = add_subscribers(config, 40)
    policy, mailbox = set(everyone[10:13]), everyone[30]
    smtp_sink.handler.reply = lambda rcpt: (
        "550 5.7.1 Refused by local policy" if rcpt in policy else "550 5.1.1 No such user" if rcpt == mailbox else None
    )

    result = cli("send", "--config", config, "--now", NOW)

    assert result.exit_code == 0, result.output
    assert "36 sent" in result.stdout and "4 failed" in result.stdout and "is sent" in result.stdout
    after = statuses(config)
    assert {a for a, s in after.items() if s == "bounced"} == {mailbox}  # a policy refusal is not the reader's
    ledger = deliveries(config)
    assert all(ledger[a][0] == "failed" for a in policy)


def test_a_refused_test_send_is_one_sentence(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    config = send_config()
    refuse_every_message(smtp_sink, "554 5.6.0 Message content refused")
    result = cli("send", "--config", config, "--now", NOW, "--test-to", "editor@example.org")
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.stderr == (
        "error: the relay refused the test message to editor@example.org: 554 5.6.0 Message content refused\n"
    )
