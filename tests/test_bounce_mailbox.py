"""The bounce mailbox end to end: an issue sent to aiosmtpd, real returned mail delivered into a real Dovecot,
`digest bounces fetch` files what is about our mail, leaves the rest unread, and the next send skips exactly
the bounced and the complained."""

from __future__ import annotations

import email
import imaplib
import logging
import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bounce_samples import (
    FIRST,
    NEXT,
    bounce_config,
    complaint,
    delay_notice,
    hard_bounce,
    soft_bounce,
    unrelated,
    vacation_reply,
)
from conftest import SECRET
from dovecot import PASSWORD, USER, Dovecot, available
from servers import SmtpSink

from digest.config import load_config
from digest.store.db import State
from digest.subscribers import mailbox
from digest.subscribers import roster as subscribers
from digest.subscribers.delivery_token import HEADER, verify_token

pytestmark = [
    pytest.mark.usefixtures("secret"),
    pytest.mark.skipif(
        not available() and not os.environ.get("CI"), reason="Debian's dovecot-imapd is not installed (.ci/run does)"
    ),
]

READERS = ["hard@example.net", "soft@example.net", "spam@example.net", "away@example.net", "keep@example.net"]


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot().start()
    yield server
    server.stop()


@pytest.fixture
def config(
    write_config: Callable[..., Path],
    tmp_path: Path,
    smtp_sink: SmtpSink,
    dovecot: Dovecot,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    monkeypatch.setenv("DIGEST_IMAP_PASSWORD", PASSWORD)
    imap = {"host": "127.0.0.1", "port": dovecot.port, "security": "none", "username": USER}
    path = bounce_config(write_config, tmp_path, smtp_sink.port, imap=imap)
    with State(load_config(path).state_path) as state:
        for address in READERS:
            subscribers.add(state, address)
    return path


def sent_to(sink: SmtpSink) -> dict[str, tuple[str, bytes]]:
    """Each recipient's envelope sender and message, as the relay received them."""
    with sink.handler.lock:
        return {rcpts[0]: (mail_from, raw) for mail_from, rcpts, raw in sink.handler.messages}


def statuses(config: Path) -> dict[str, str]:
    with State(load_config(config).state_path) as state:
        return {s.email: str(s.status) for s in subscribers.all_subscribers(state)}


def folder(client: imaplib.IMAP4, name: str) -> dict[bytes, tuple[bytes, bytes]]:
    """UID → (flags, Subject header) of every message in a folder, read without marking anything."""
    client.select(f'"{name}"')
    _, data = client.uid("SEARCH", "ALL")
    found = {}
    for uid in data[0].split():
        _, fetched = client.uid("FETCH", uid, "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        head, body = fetched[0]
        found[uid] = (re.search(rb"FLAGS \(([^)]*)\)", head).group(1), body.strip())
    return found


def test_an_issue_its_bounces_in_dovecot_fetch_and_the_next_send(
    config: Path, smtp_sink: SmtpSink, dovecot: Dovecot, cli: Callable[..., Any]
) -> None:
    first = cli("send", "--config", config, "--now", FIRST)
    assert first.exit_code == 0, first.output
    mailed = sent_to(smtp_sink)
    assert set(mailed) == set(READERS)
    tokens = {}
    for address, (mail_from, raw) in mailed.items():
        token = email.message_from_bytes(raw)[HEADER]
        assert mail_from == f"bounces+{token}@example.org"  # VERP: the envelope names this one delivery
        assert verify_token(SECRET.encode(), token).subscriber_id > 0
        tokens[address] = token

    # What comes back, as real MTAs write it: a hard bounce to the VERP address, a full mailbox quoting our
    # header, a feedback report naming the reader, a vacation reply, and somebody's ordinary mail.
    dovecot.deliver(hard_bounce("hard@example.net", to=f"bounces+{tokens['hard@example.net']}@example.org"))
    dovecot.deliver(soft_bounce("soft@example.net", quoted_header=f"{HEADER}: {tokens['soft@example.net']}"))
    dovecot.deliver(complaint("spam@example.net"))
    dovecot.deliver(vacation_reply(to=f"bounces+{tokens['away@example.net']}@example.org"))
    dovecot.deliver(unrelated())

    fetched = cli("bounces", "fetch", "--config", config)

    assert fetched.exit_code == 0, fetched.output
    assert statuses(config) == {
        "hard@example.net": "bounced",
        "soft@example.net": "active",  # one full mailbox of bounces.soft_limit = 3
        "spam@example.net": "complained",
        "away@example.net": "active",  # an auto-reply is never a bounce
        "keep@example.net": "active",
    }
    assert "now bounced: hard@example.net" in fetched.stdout
    assert "now complained: spam@example.net" in fetched.stdout
    assert "filed 3 into Processed; 2 left where they were, unread" in fetched.stdout
    client = dovecot.connect()
    try:
        inbox = folder(client, "INBOX")
        processed = folder(client, "Processed")  # made by the fetch: it did not exist
    finally:
        client.logout()
    assert len(inbox) == 2 and all(b"\\Seen" not in flags for flags, _ in inbox.values())
    assert {subject for _, subject in inbox.values()} == {
        b"Subject: Away until May 5",
        b"Subject: Test spam mail (GTUBE)",
    }
    assert len(processed) == 3

    smtp_sink.handler.messages.clear()
    second = cli("send", "--config", config, "--now", NEXT)

    assert second.exit_code == 0, second.output
    assert set(sent_to(smtp_sink)) == {"soft@example.net", "away@example.net", "keep@example.net"}
    assert "2 unsubscribed or bounced" in second.stdout


def test_a_second_fetch_reads_only_new_mail_and_the_same_report_again_counts_once(
    config: Path, smtp_sink: SmtpSink, dovecot: Dovecot, cli: Callable[..., Any]
) -> None:
    assert cli("send", "--config", config, "--now", FIRST).exit_code == 0
    token = email.message_from_bytes(sent_to(smtp_sink)["soft@example.net"][1])[HEADER]
    report = soft_bounce("soft@example.net", quoted_header=f"{HEADER}: {token}")
    dovecot.deliver(report)
    dovecot.deliver(unrelated())
    assert "1 soft bounce" in cli("bounces", "fetch", "--config", config).stdout

    dovecot.deliver(report)  # the same report once more (a relay that sent it twice)
    again = cli("bounces", "fetch", "--config", config)

    assert again.exit_code == 0, again.output
    assert "already recorded" in again.stdout and "1 read" in again.stdout  # the unrelated one is not read again
    with State(load_config(config).state_path) as state:
        found = subscribers.get(state, "soft@example.net")
        assert found is not None and found.failures == 1
    assert "no new message" in cli("bounces", "fetch", "--config", config).stdout


def test_without_move_the_reports_are_copied_and_only_their_uids_expunged(
    config: Path, smtp_sink: SmtpSink, dovecot: Dovecot, cli: Callable[..., Any]
) -> None:
    assert cli("send", "--config", config, "--now", FIRST).exit_code == 0
    dovecot.deliver(hard_bounce("hard@example.net"))  # no VERP: matched by the failed recipient's address
    dovecot.deliver(unrelated())
    client = dovecot.connect()
    client.select("INBOX")
    _, data = client.uid("SEARCH", "ALL")
    theirs = data[0].split()[1]
    client.uid("STORE", theirs, "+FLAGS", r"(\Deleted)")  # somebody else's message, marked deleted by them
    client.logout()
    settings = load_config(config)

    with State(settings.state_path) as state:
        outcome = mailbox.fetch(settings, state, mailbox.policy_of(settings, SECRET.encode()), datetime.now(UTC),
                                use_move=False)  # fmt: skip

    assert outcome.filed == 1 and outcome.changes == [("hard@example.net", "bounced")]
    client = dovecot.connect()
    try:
        inbox = folder(client, "INBOX")
        assert list(inbox) == [theirs] and b"\\Deleted" in inbox[theirs][0]  # theirs: still there, as they left it
        assert len(folder(client, "Processed")) == 1
    finally:
        client.logout()


def test_hostile_and_foreign_mail_is_left_alone_with_a_log_line(
    config: Path,
    smtp_sink: SmtpSink,
    dovecot: Dovecot,
    cli: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert cli("send", "--config", config, "--now", FIRST).exit_code == 0
    caplog.set_level(logging.INFO, logger="digest")
    whole = hard_bounce("hard@example.net")
    dovecot.deliver(whole[: whole.index(b"Content-Description: Delivery report")])  # truncated: no DSN part left
    dovecot.deliver(whole[: len(whole) // 3])  # truncated in the middle of its first part
    dovecot.deliver(hard_bounce("stranger@example.net"))  # a DSN naming an address we never mailed
    dovecot.deliver(hard_bounce("keep@example.net\r\n Bcc: everyone@example.net"))  # CR/LF in the address
    dovecot.deliver(unrelated() + b"A" * 20_000_000)  # 20 MB
    forged = hard_bounce("keep@example.net", to="bounces+2026-W07.5.aaaaaaaaaaaaaaaa@example.org")
    dovecot.deliver(forged.replace(b"keep@example.net", b"nobody@example.net"))  # a token we never signed

    fetched = cli("bounces", "fetch", "--config", config)

    assert fetched.exit_code == 0, fetched.output
    assert set(statuses(config).values()) == {"active"}
    assert "stranger@example.net, which no issue of the last 60 days was sent to" in fetched.stdout
    logged = [record.getMessage() for record in caplog.records]
    assert any("our secret did not sign" in line for line in logged)
    assert any("dropped" in line and "Bcc" in line for line in logged)
    assert all("\n" not in line and "\r" not in line for line in logged)
    client = dovecot.connect()
    try:
        left = folder(client, "INBOX")
    finally:
        client.logout()
    assert len(left) == 6 and all(b"\\Seen" not in flags for flags, _ in left.values())


def test_a_wrong_password_or_an_unset_one_is_one_sentence(
    config: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_IMAP_PASSWORD", "not-the-password")
    result = cli("bounces", "fetch", "--config", config)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the bounce mailbox imap://bounces@127.0.0.1:") and "check" in result.stderr
    assert result.stderr.count("\n") == 1
    monkeypatch.delenv("DIGEST_IMAP_PASSWORD")
    result = cli("bounces", "fetch", "--config", config)
    assert result.exit_code == 1 and "DIGEST_IMAP_PASSWORD (bounces.imap.password_env) is not set" in result.stderr


def test_import_reads_a_maildir_and_saved_messages(
    config: Path, smtp_sink: SmtpSink, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    assert cli("send", "--config", config, "--now", FIRST).exit_code == 0
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "new" / "1.eml").write_bytes(hard_bounce("hard@example.net"))
    (maildir / "cur" / "2.eml:2,S").write_bytes(vacation_reply())
    (maildir / "tmp" / "3.eml").write_bytes(complaint("spam@example.net"))  # tmp/ is half-written mail: not read
    saved = tmp_path / "delay.eml"
    saved.write_bytes(delay_notice("away@example.net"))

    result = cli("bounces", "import", maildir, saved, "--config", config)

    assert result.exit_code == 0, result.output
    assert statuses(config)["hard@example.net"] == "bounced"
    assert statuses(config)["spam@example.net"] == "active"
    assert statuses(config)["away@example.net"] == "active"  # a delay notice changes nothing
    assert "a delay notice about away@example.net" in result.stdout
    assert "3 read" in result.stdout
    assert cli("bounces", "import", tmp_path / "nothing-here", "--config", config).exit_code == 1


def test_digest_run_reads_the_mailbox_before_it_sends_and_reports_the_rates(
    write_config: Callable[..., Path],
    tmp_path: Path,
    smtp_sink: SmtpSink,
    dovecot: Dovecot,
    cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DIGEST_IMAP_PASSWORD", PASSWORD)
    imap = {"host": "127.0.0.1", "port": dovecot.port, "security": "none", "username": USER}
    config = bounce_config(write_config, tmp_path, smtp_sink.port, {"editors": ["editors@example.org"]}, imap=imap)
    with State(load_config(config).state_path) as state:
        for address in READERS:
            subscribers.add(state, address)
    assert cli("run", "--config", config, "--now", FIRST).exit_code == 0
    dovecot.deliver(complaint("spam@example.net"))
    smtp_sink.handler.messages.clear()

    result = cli("run", "--config", config, "--now", NEXT)

    assert result.exit_code == 0, result.output
    assert "now complained: spam@example.net" in result.stdout
    mailed = sent_to(smtp_sink)
    assert set(mailed) == set(READERS) - {"spam@example.net"} | {"editors@example.org"}
    report = email.message_from_bytes(mailed["editors@example.org"][1])
    assert report["Subject"].startswith("[digest] ALARM")
    text = report.get_payload(decode=True).decode()
    assert "Bounces and complaints by issue" in text and "complaints 1 (20.00%)" in text


def test_serve_schedule_reads_the_mailbox_between_weekly_runs(
    config: Path, dovecot: Dovecot, cli: Callable[..., Any]
) -> None:
    from datetime import timedelta

    from digest.jobs.schedule import Scheduler

    assert cli("send", "--config", config, "--now", FIRST).exit_code == 0
    dovecot.deliver(hard_bounce("hard@example.net"))
    settings = load_config(config)
    assert settings.model.bounces.imap is not None
    settings.model.bounces.imap.every_minutes = 0.005  # every 0.3 s
    lines: list[str] = []
    scheduler = Scheduler(settings, next_time=lambda after: after + timedelta(days=7), report=lines.append)
    scheduler.start()
    deadline = datetime.now(UTC) + timedelta(seconds=15)
    while statuses(config)["hard@example.net"] != "bounced" and datetime.now(UTC) < deadline:
        scheduler.stopping.wait(0.1)
    scheduler.stop()
    scheduler.join(5)
    assert statuses(config)["hard@example.net"] == "bounced"
    assert "now bounced: hard@example.net" in lines and scheduler.runs == 0  # the weekly job is days away
