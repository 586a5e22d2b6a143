"""Headers no name can break: CR/LF, control characters and long or non-ASCII names through add, import and send."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from servers import SmtpSink
from test_send import DEMO_FEED, NOW, add_subscribers

from digest.config import load_config
from digest.mail.message import header_line, recipient_header
from digest.store.db import State
from digest.subscribers import roster as subscribers

HOSTILE_NAMES = [
    "Eve\r\nBcc: victim@elsewhere.example",
    "Eve\nBcc: victim@elsewhere.example",
    "Eve\rCc: victim@elsewhere.example",
    "Eve\r\n\r\n<h1>Your account is closed</h1>",
    "Eve\r\nContent-Type: text/html",
    "Eve\x1b[2J\x1b[1;1Hfake row",
    "Eve\u2028Bcc: victim@elsewhere.example",
    "Eve\u202emoc.knab",
    "Eve\x00null",
]
EXPECTED_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "x-digest-delivery",  # the delivery token a bounce comes back with
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "mime-version",
    "content-type",
}


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_subscribers_add_refuses_a_name_with_control_characters(
    cli: Callable[..., Any], write_config: Callable[..., Path], name: str
) -> None:
    config = write_config(DEMO_FEED)
    result = cli("subscribers", "add", "eve@example.org", "--name", name, "--config", config)
    assert result.exit_code != 0
    assert "control character" in result.output and result.output.count("\n") == 1, result.output
    with State(load_config(config).state_path) as state:
        assert subscribers.get(state, "eve@example.org") is None


def test_subscribers_add_refuses_an_absurdly_long_name(
    cli: Callable[..., Any], write_config: Callable[..., Path]
) -> None:
    config = write_config(DEMO_FEED)
    result = cli("subscribers", "add", "eve@example.org", "--name", "E" * 2000, "--config", config)
    assert result.exit_code != 0 and "longer than 200 characters" in result.output
    assert len(result.output) < 300  # the message quotes the start of the name, not all of it


def test_an_imported_name_holding_a_line_break_is_a_bad_line_and_the_rest_is_imported(
    cli: Callable[..., Any], write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config(DEMO_FEED)
    csv_path = tmp_path / "list.csv"
    csv_path.write_text(
        'email,name\nann@example.org,Ann\nbob@example.org,"Bob\r\nBcc: victim@elsewhere.example"\n'
        'cy@example.org,"Cy\x1b[31m"\ndee@example.org,"Dee, the ""Quoted"""\n',
        newline="",
    )
    result = cli("subscribers", "import", csv_path, "--config", config)
    assert "imported 2 new subscribers" in result.stdout, result.output
    assert "control character" in result.output
    with State(load_config(config).state_path) as state:
        names = {s.email: s.name for s in subscribers.all_subscribers(state)}
    assert names == {"ann@example.org": "Ann", "dee@example.org": 'Dee, the "Quoted"'}


def _header_block(raw: bytes) -> list[bytes]:
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\n" not in head.replace(b"\r\n", b""), "a bare LF or CR in the header block"
    return head.split(b"\r\n")


def _assert_one_clean_message(raw: bytes, address: str) -> None:
    lines = _header_block(raw)
    names = [line.split(b":", 1)[0].decode().lower() for line in lines if line[:1] not in (b" ", b"\t")]
    assert set(names) <= EXPECTED_HEADERS | {"reply-to", "dkim-signature"}, names
    assert names.count("to") == 1 and "bcc" not in names and "cc" not in names
    assert all(len(line) <= 78 for line in lines if not line.lower().startswith((b"list-unsubscribe:", b"dkim")))
    assert all(len(word) <= 75 for word in re.findall(rb"=\?[^?]+\?[bBqQ]\?[^?]*\?=", raw.split(b"\r\n\r\n")[0]))
    parsed = message_from_bytes(raw, policy=default)
    assert not parsed.defects
    to = parsed["To"]
    assert len(to.addresses) == 1 and to.addresses[0].addr_spec == address
    assert "\n" not in to.addresses[0].display_name and "\r" not in to.addresses[0].display_name
    assert parsed.get_content_type() == "multipart/alternative"


ENCODED_WORD_NAME = "=?utf-8?q?Eve=0D=0ABcc:_victim@elsewhere.example?="


def test_subscribers_add_refuses_a_name_that_a_mail_reader_would_decode_into_other_text(
    cli: Callable[..., Any], write_config: Callable[..., Path]
) -> None:
    config = write_config(DEMO_FEED)
    result = cli("subscribers", "add", "eve@example.org", "--name", ENCODED_WORD_NAME, "--config", config)
    assert result.exit_code != 0 and "encoded word" in result.output and result.output.count("\n") == 1
    with State(load_config(config).state_path) as state:
        assert subscribers.get(state, "eve@example.org") is None


@pytest.mark.parametrize(
    "name", [*HOSTILE_NAMES, ENCODED_WORD_NAME, "José Ñandú " * 40, "X" * 2000, 'Doe, Jane "JD" <fake@x>']
)
def test_a_name_from_any_source_yields_one_to_header_and_nothing_else(name: str) -> None:
    line = recipient_header("reader@example.org", name)
    raw = b"From: a@b.org\r\n" + line + b"Subject: s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
    parsed = message_from_bytes(raw, policy=default)
    assert parsed.keys() == ["From", "To", "Subject", "MIME-Version", "Content-Type"]
    assert parsed["To"].addresses[0].addr_spec == "reader@example.org"
    shown = parsed["To"].addresses[0].display_name  # as a lenient reader decodes it
    assert "\r" not in shown and "\n" not in shown
    assert parsed.get_content().strip() == "body"
    # RFC 5322: lines SHOULD stop at 78 (possible wherever the name has spaces) and MUST stop at 998.
    limit = 78 if all(len(word) < 60 for word in name.split()) else 998
    assert all(len(piece) <= limit for piece in line.split(b"\r\n"))


def test_non_ascii_headers_fold_with_crlf_and_keep_the_list_id_outside_the_encoded_words() -> None:
    subject = header_line(
        "Subject", "Boletín semanal de La Izquierda Diario: la semana del 20 de febrero de 2024 — " * 2
    )
    list_id = header_line("List-Id", "Boletín semanal de La Izquierda Diario <boletin-semanal.laizquierdadiario.com>")
    for line in (subject, list_id):
        assert line.endswith(b"\r\n") and b"\n" not in line.replace(b"\r\n", b"")
        assert all(len(piece) <= 78 for piece in line.split(b"\r\n"))
    assert b"<boletin-semanal.laizquierdadiario.com>" in list_id
    with pytest.raises(ValueError):
        header_line("Subject", "Weekly\r\nBcc: victim@elsewhere.example")


def test_a_hostile_name_in_the_state_file_cannot_add_headers_to_a_sent_message(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    config = send_config()
    add_subscribers(config, 3)
    # A name written by another tool, an older version or by hand, straight into the state file.
    db = sqlite3.connect(load_config(config).state_path)
    stamp = datetime.now(UTC).isoformat()
    for n, name in enumerate(HOSTILE_NAMES):
        db.execute(
            "INSERT INTO subscribers (email, name, status, created_at, updated_at) VALUES (?, ?, 'active', ?, ?)",
            (f"hostile{n}@example.org", name, stamp, stamp),
        )
    db.commit()
    db.close()

    result = cli("send", "--config", config, "--now", NOW)

    assert result.exit_code == 0, result.output
    with smtp_sink.handler.lock:
        messages = list(smtp_sink.handler.messages)
    assert len(messages) == 3 + len(HOSTILE_NAMES)
    for _, rcpts, raw in messages:
        assert len(rcpts) == 1
        _assert_one_clean_message(raw, rcpts[0])
