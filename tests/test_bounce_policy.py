"""The one bounce policy over real sends: issues in a row, a success that resets, the same issue counted once,
complaints, rejoining; what `digest subscribers show` and `list --status` say; the health report's rates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bounce_samples import FIRST, NEXT, THIRD, bounce_config
from conftest import SECRET
from servers import SmtpSink

from digest.config import load_config
from digest.jobs.health import compose, rate_lines
from digest.models import IssueStatus
from digest.store import issues
from digest.store.db import State
from digest.subscribers import roster as subscribers
from digest.subscribers.delivery_token import make_token
from digest.subscribers.intake import Policy, Returned, take
from digest.subscribers.reports import Kind

pytestmark = pytest.mark.usefixtures("secret")

READERS = ["ana@example.net", "ben@example.net", "chloe@example.net", "dan@example.net", "eve@example.net"]


@pytest.fixture
def config(write_config: Callable[..., Path], tmp_path: Path, smtp_sink: SmtpSink) -> Path:
    path = bounce_config(write_config, tmp_path, smtp_sink.port, overrides={"editors": ["editors@example.org"]})
    with State(load_config(path).state_path) as state:
        for address in READERS:
            subscribers.add(state, address)
    return path


def send(cli: Callable[..., Any], config: Path, now: str) -> str:
    result = cli("send", "--config", config, "--now", now)
    assert result.exit_code == 0, result.output
    with State(load_config(config).state_path) as state:
        return issues.sent(state)[0].id  # the newest


def bounce(config: Path, address: str, issue_id: str, kind: Kind = Kind.SOFT, event: str = "") -> Any:
    """One report of `kind` about this subscriber's copy of `issue_id`, tied by its delivery token."""
    settings = load_config(config)
    with State(settings.state_path) as state:
        found = subscribers.get(state, address)
        assert found is not None
        returned = Returned(
            kind=kind,
            source="file",
            event_id=event or f"{address}-{issue_id}-{kind}",
            token=make_token(SECRET.encode(), issue_id, found.id),
            status="4.2.2" if kind is Kind.SOFT else "5.1.1",
            diagnostic="552 5.2.2 mailbox full" if kind is Kind.SOFT else "550 5.1.1 no such user",
            events="mail",
        )
        policy = Policy(SECRET.encode(), settings.model.bounces.soft_limit, settings.model.bounces.match_days)
        return take(state, policy, returned, datetime.now(UTC))


def status(config: Path, address: str) -> tuple[str, int]:
    with State(load_config(config).state_path) as state:
        found = subscribers.get(state, address)
        assert found is not None
        return str(found.status), found.failures


def test_soft_bounces_count_issues_in_a_row_and_a_delivery_that_came_through_resets_them(
    config: Path, cli: Callable[..., Any]
) -> None:
    first = send(cli, config, FIRST)
    bounce(config, "ana@example.net", first)
    bounce(config, "ben@example.net", first)
    bounce(config, "ben@example.net", first, event="again")  # the same issue again: still one issue
    assert status(config, "ben@example.net") == ("active", 1)
    second = send(cli, config, NEXT)
    bounce(config, "ana@example.net", second)  # ben's second issue went through: no bounce came back
    assert status(config, "ana@example.net") == ("active", 2)
    third = send(cli, config, THIRD)
    taken = bounce(config, "ana@example.net", third)
    bounce(config, "ben@example.net", third)

    assert taken.changes == [("ana@example.net", "bounced")]  # three issues in a row: bounces.soft_limit
    assert status(config, "ana@example.net") == ("bounced", 3)
    assert status(config, "ben@example.net") == ("active", 1)  # one, then a success, then one: never 3


def test_a_delay_changes_nothing_a_hard_bounce_is_at_once_and_a_complaint_beats_any_status(
    config: Path, cli: Callable[..., Any]
) -> None:
    first = send(cli, config, FIRST)
    assert bounce(config, "ana@example.net", first, Kind.DELAYED).handled
    assert status(config, "ana@example.net") == ("active", 0)
    bounce(config, "ben@example.net", first, Kind.HARD)
    assert status(config, "ben@example.net")[0] == "bounced"
    assert cli("subscribers", "remove", "chloe@example.net", "--config", config).exit_code == 0
    bounce(config, "chloe@example.net", first, Kind.COMPLAINT)
    bounce(config, "ben@example.net", first, Kind.COMPLAINT, event="complaint-after-bounce")
    assert status(config, "chloe@example.net")[0] == "complained"  # unsubscribed, then "Report spam"
    assert status(config, "ben@example.net")[0] == "complained"
    listed = cli("subscribers", "list", "--status", "complained", "--config", config)
    assert listed.exit_code == 0 and [line.split("\t")[0] for line in listed.stdout.splitlines()] == [
        "ben@example.net",
        "chloe@example.net",
    ]
    assert cli("subscribers", "list", "--status", "bounced", "--config", config).stdout == ""


def test_bounces_from_before_a_rejoin_do_not_count(config: Path, cli: Callable[..., Any]) -> None:
    first = send(cli, config, FIRST)
    bounce(config, "ana@example.net", first, Kind.HARD)
    assert status(config, "ana@example.net")[0] == "bounced"
    assert cli("subscribers", "add", "ana@example.net", "--reactivate", "--config", config).exit_code == 0
    second = send(cli, config, NEXT)
    bounce(config, "ana@example.net", second)
    assert status(config, "ana@example.net") == ("active", 1)


def test_show_prints_the_history_with_source_date_code_and_text(config: Path, cli: Callable[..., Any]) -> None:
    first = send(cli, config, FIRST)
    bounce(config, "dan@example.net", first)
    bounce(config, "dan@example.net", first, Kind.COMPLAINT)

    shown = cli("subscribers", "show", "DAN@example.net", "--config", config)

    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0] == "dan@example.net\tcomplained\t"
    soft = next(line for line in lines if " soft " in line)
    assert "file" in soft and f"issue {first}" in soft and "4.2.2" in soft and "552 5.2.2 mailbox full" in soft
    assert datetime.now(UTC).strftime("%Y-%m-%d") in soft
    assert next(line for line in lines if " complaint " in line).endswith("→ complained")
    missing = cli("subscribers", "show", "nobody@example.net", "--config", config)
    assert missing.exit_code == 1 and "not on the subscriber list" in missing.stderr


def test_the_health_report_gives_rates_per_issue_with_warnings_and_the_alarm(
    config: Path, cli: Callable[..., Any]
) -> None:
    first = send(cli, config, FIRST)
    settings = load_config(config)
    with State(settings.state_path) as state:
        assert rate_lines(state)[1] is False
    bounce(config, "ana@example.net", first, Kind.HARD)
    bounce(config, "ben@example.net", first, Kind.COMPLAINT)

    with State(settings.state_path) as state:
        lines, alarm = rate_lines(state)
        report = compose(settings, state, datetime.now(UTC), "issue sent", [], None)

    assert alarm
    assert f"  {first}: 5 mailed; hard bounces 1 (20.00%), soft 0 (0.00%), complaints 1 (20.00%)" in lines
    assert any(line.strip().startswith("ALARM: complaints at 20.00%, past 0.3%") for line in lines)
    assert any("warning: bounces at 20.00%, past 2%" in line for line in lines)
    assert report["Subject"].startswith("[digest] ALARM")
    assert f"{first}: 5 mailed" in report.get_content()


def test_rates_stay_quiet_under_the_lines(config: Path, cli: Callable[..., Any]) -> None:
    send(cli, config, FIRST)
    with State(load_config(config).state_path) as state:
        lines, alarm = rate_lines(state)
        assert issues.status_of(state, issues.sent(state)[0].id) == IssueStatus.SENT
    assert not alarm and len(lines) == 2 and "warning" not in lines[1] and "complaints 0 (0.00%)" in lines[1]


def test_a_dkim_key_file_missing_or_not_a_key_is_one_sentence_before_anything_is_written(
    write_config: Callable[..., Path], tmp_path: Path, smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n")
    for key_file, expected in ((tmp_path / "missing.pem", "cannot be read"), (garbage, "holds no RSA private key")):
        dkim_config = {"dkim": {"selector": "s1", "key_file": str(key_file)}}
        config = bounce_config(write_config, tmp_path, smtp_sink.port, dkim_config)
        out = tmp_path / f"out-{key_file.stem}"
        result = cli("build", "--config", config, "--out", out)
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert f"dkim.key_file: {key_file}" in result.output and expected in result.output
        assert not out.exists() or not any(out.iterdir())


def test_the_delivery_token_is_covered_by_the_dkim_signature(
    write_config: Callable[..., Path], tmp_path: Path, smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    import base64
    import re

    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))  # fmt: skip
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    txt = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    dkim_config = {"dkim": {"selector": "s1", "key_file": str(key_file)}}
    config = bounce_config(write_config, tmp_path, smtp_sink.port, dkim_config)
    with State(load_config(config).state_path) as state:
        subscribers.add(state, "ana@example.net")
    send(cli, config, FIRST)
    [(mail_from, _, raw)] = smtp_sink.handler.messages

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return txt if name.startswith(b"s1._domainkey.") else None

    token = re.search(rb"^X-Digest-Delivery: (\S+)\r$", raw, re.M)
    assert token and mail_from == f"bounces+{token.group(1).decode()}@example.org"
    assert dkim.verify(raw, dnsfunc=dns) is True
    header = re.sub(rb"\s+", b"", raw.split(b"\r\n\r\n", 1)[0])
    assert b"x-digest-delivery" in re.search(rb"h=([^;]+);", header).group(1).lower()
    other = make_token(SECRET.encode(), "2026-W01", 99).encode()
    assert dkim.verify(raw.replace(token.group(1), other, 1), dnsfunc=dns) is False


def test_a_plain_bounces_address_is_the_envelope_sender_of_every_copy(
    write_config: Callable[..., Path], tmp_path: Path, smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    config = bounce_config(write_config, tmp_path, smtp_sink.port, address="bounces@example.org")
    with State(load_config(config).state_path) as state:
        subscribers.add(state, "ana@example.net")
        subscribers.add(state, "ben@example.net")
    send(cli, config, FIRST)
    assert {mail_from for mail_from, _, _ in smtp_sink.handler.messages} == {"bounces@example.org"}


@pytest.mark.parametrize(
    ("bounces", "said"),
    [
        ({"address": "bounces{token}@example.org"}, "bounces.address: expected an address such as"),
        ({"address": "bounces+{token}@{token}.org"}, "bounces.address: expected an address such as"),
        ({"address": "bounces+{token}@example.org\nBcc: x@example.org"}, "bounces.address: expected one line"),
        ({"address": "b" * 40 + "+{token}@example.org"}, "bounces.address: expected a bare address"),
        ({"imap": {"host": "h", "username": "u", "folder": 'In"box'}}, "bounces.imap.folder: expected a folder"),
        ({"imap": {"host": "h", "username": "u", "processed_folder": "Já"}}, "bounces.imap.processed_folder"),
        ({"imap": {"host": "h"}}, "bounces.imap.username: expected a value but the key is missing"),
        ({"soft_limit": 0}, "bounces.soft_limit"),
    ],
)
def test_a_bounces_section_that_cannot_work_is_one_sentence(
    write_config: Callable[..., Path], cli: Callable[..., Any], bounces: dict[str, Any], said: str
) -> None:
    config = write_config([{"name": "x", "url": "x.xml"}], bounces=bounces)
    result = cli("bounces", "fetch", "--config", config)
    assert result.exit_code == 2 and said in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1
