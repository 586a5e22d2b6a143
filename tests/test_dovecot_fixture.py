"""The IMAP fixture works: a real Dovecot on 127.0.0.1 takes messages, moves one, and leaves the rest unread."""

from __future__ import annotations

import imaplib
import os
import re
import socket
from collections.abc import Iterator

import pytest
from conftest import REPO
from dovecot import Dovecot, available

from digest.subscribers.reports import Kind, read_report

# Skipped on a machine without Dovecot, never in CI, where .ci/run installs it: there a missing server fails.
pytestmark = pytest.mark.skipif(
    not available() and not os.environ.get("CI"), reason="Debian's dovecot-imapd is not installed (.ci/run installs it)"
)


def _message(number: int) -> bytes:
    return (
        f"From: Sender {number} <sender{number}@example.org>\r\n"
        f"To: bounces@example.org\r\n"
        f"Subject: message {number}\r\n"
        f"Message-ID: <message-{number}@example.org>\r\n"
        f"\r\n"
        f"Body {number}.\r\n"
    ).encode()


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot().start()
    yield server
    server.stop()


def _flags(client: imaplib.IMAP4, uid: bytes) -> bytes:
    status, data = client.uid("FETCH", uid, "(FLAGS)")
    assert status == "OK", data
    return b" ".join(part if isinstance(part, bytes) else part[0] for part in data if part)


def test_append_list_fetch_move_and_the_rest_stay_unread(dovecot: Dovecot) -> None:
    client = dovecot.connect()
    try:
        for number in (1, 2, 3):
            status, _ = client.append("INBOX", None, None, _message(number))
            assert status == "OK"
        status, _ = client.create("Processed")
        assert status == "OK"
        status, boxes = client.list()
        assert status == "OK" and any(b"Processed" in box for box in boxes if isinstance(box, bytes))

        client.select("INBOX")
        status, data = client.uid("SEARCH", None, "ALL")
        uids = data[0].split()
        assert len(uids) == 3

        # Reading with BODY.PEEK leaves \Seen unset, as the bounce reader must for mail it does not handle.
        subjects = {}
        for uid in uids:
            status, fetched = client.uid("FETCH", uid, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            assert status == "OK"
            header = fetched[0][1] if isinstance(fetched[0], tuple) else b""
            subjects[uid] = header.decode().strip()
        assert sorted(subjects.values()) == ["Subject: message 1", "Subject: message 2", "Subject: message 3"]

        moved = next(uid for uid, subject in subjects.items() if subject.endswith("message 2"))
        status, _ = client.uid("MOVE", moved, "Processed")
        assert status == "OK"

        status, data = client.uid("SEARCH", None, "ALL")
        left = data[0].split()
        assert len(left) == 2 and moved not in left
        for uid in left:
            assert b"\\Seen" not in _flags(client, uid)
        status, data = client.uid("SEARCH", None, "UNSEEN")
        assert sorted(data[0].split()) == sorted(left)

        client.select("Processed")
        status, data = client.uid("SEARCH", None, "ALL")
        assert len(data[0].split()) == 1
        status, fetched = client.uid("FETCH", data[0].split()[0], "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        assert b"<message-2@example.org>" in fetched[0][1]
    finally:
        client.logout()


def test_messages_written_into_the_maildir_are_seen_by_imap(dovecot: Dovecot) -> None:
    dovecot.deliver(_message(7))
    dovecot.deliver(_message(8))
    client = dovecot.connect()
    try:
        status, data = client.select("INBOX", readonly=True)
        assert status == "OK" and int(data[0]) == 2
        status, data = client.search(None, "UNSEEN")
        assert len(data[0].split()) == 2
        status, fetched = client.fetch("1:2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        subjects = sorted(re.sub(rb"\s+", b" ", part[1]).strip() for part in fetched if isinstance(part, tuple))
        assert subjects == [b"Subject: message 7", b"Subject: message 8"]
    finally:
        client.logout()


def test_stop_frees_the_port_and_removes_the_temp_dir() -> None:
    server = Dovecot().start()
    root, port = server.root, server.port
    server.stop()
    assert not root.exists()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_real_bounce_samples_in_the_maildir_are_read_and_only_reports_are_filed(dovecot: Dovecot) -> None:
    # The reading half end to end, as `digest bounces fetch` will do it: reports are filed, the rest untouched.
    samples = {
        "sisimai/lhost-postfix-31.eml": Kind.HARD,
        "sisimai/arf-14.eml": Kind.COMPLAINT,
        "sisimai/rfc3834-01.eml": Kind.AUTOREPLY,
        "mailparser/mail_test_16.eml": Kind.UNRELATED,
    }
    for name in samples:
        dovecot.deliver((REPO / "tests" / "data" / "bounces" / name).read_bytes())
    client = dovecot.connect()
    try:
        client.create("Processed")
        client.select("INBOX")
        _, data = client.uid("SEARCH", None, "ALL")
        kinds = []
        for uid in data[0].split():
            _, fetched = client.uid("FETCH", uid, "(BODY.PEEK[])")
            report = read_report(fetched[0][1])
            kinds.append(report.kind)
            if report.kind in (Kind.HARD, Kind.SOFT, Kind.DELAYED, Kind.COMPLAINT):
                assert client.uid("MOVE", uid, "Processed")[0] == "OK"
        assert sorted(kinds) == sorted(samples.values())
        _, data = client.uid("SEARCH", None, "UNSEEN")
        assert len(data[0].split()) == 2  # the auto-reply and the spam: still there, still unread
        client.select("Processed")
        _, data = client.uid("SEARCH", None, "ALL")
        assert len(data[0].split()) == 2
    finally:
        client.logout()
