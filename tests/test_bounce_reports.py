"""Reading returned mail: the real corpus is classified right, hostile input changes nothing, tokens hold."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO

from digest.subscribers.delivery_token import (
    HEADER,
    Delivery,
    make_token,
    return_path,
    token_in_address,
    verify_token,
)
from digest.subscribers.reports import MAX_PARSE_BYTES, Kind, Source, read_report

BOUNCES = REPO / "tests" / "data" / "bounces"
SECRET = b"a-test-secret-that-signs-delivery-tokens"
LOGGER = "digest.subscribers.reports"


@dataclass(frozen=True)
class Expected:
    file: str
    kind: Kind
    recipients: list[str]


def _corpus() -> list[Expected]:
    with open(BOUNCES / "expected.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [Expected(row["file"], Kind(row["kind"]), [a for a in row["recipients"].split(";") if a]) for row in rows]


def _normal(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


def _sample(name: str) -> bytes:
    return (BOUNCES / name).read_bytes()


# ---------------------------------------------------------------------------------------------------------
# The corpus


def test_every_bounce_sample_is_in_the_repository_with_its_provenance() -> None:
    manifest = json.loads((BOUNCES / "manifest.json").read_text())
    expected = {row.file for row in _corpus()}
    assert {row["file"] for row in manifest} == expected
    assert len(manifest) >= 60
    provenance = (BOUNCES / "PROVENANCE.md").read_text()
    licences = [p.name for p in (BOUNCES / "LICENSES").iterdir()]
    for row in manifest:
        data = (BOUNCES / row["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"], row["file"]
        assert len(data) == row["bytes"], row["file"]
        assert f"### {row['file']}" in provenance, row["file"]
        owner = row["repo"].split("/")[0]
        assert any(name.startswith(owner.split(".")[0]) for name in licences), row["repo"]
    assert sum(row["bytes"] for row in manifest) < 3_000_000


def test_the_corpus_spans_every_kind_and_the_mtas_the_issue_names() -> None:
    rows = _corpus()
    kinds = Counter(row.kind for row in rows)
    assert all(kinds[kind] >= 5 for kind in Kind), kinds
    names = " ".join(row.file for row in rows)
    for mta in ("postfix", "exim", "sendmail", "exchange", "office365", "gmail", "yahoo", "amazonses", "qmail", "arf"):
        assert mta in names, mta


def test_the_corpus_is_classified_right(capsys: pytest.CaptureFixture[str]) -> None:
    rows = _corpus()
    right: Counter[Kind] = Counter()
    total: Counter[Kind] = Counter()
    misses: list[str] = []
    recipients_right = recipients_total = 0
    for row in rows:
        report = read_report(_sample(row.file))
        total[row.kind] += 1
        if report.kind is row.kind:
            right[row.kind] += 1
        else:
            misses.append(f"{row.file}: expected {row.kind}, read {report.kind} ({report.reason})")
        if row.kind in (Kind.AUTOREPLY, Kind.UNRELATED):
            continue  # these name no recipient that a policy could act on
        recipients_total += 1
        if sorted(report.recipients) == sorted(_normal(a) for a in row.recipients):
            recipients_right += 1
        else:
            misses.append(f"{row.file}: expected recipients {row.recipients}, read {report.recipients}")
    kind_share = sum(right.values()) / len(rows)
    recipient_share = recipients_right / recipients_total
    lines = [
        f"bounce corpus: {len(rows)} messages, kind right {kind_share:.1%}, recipients right {recipient_share:.1%}"
    ]
    lines += [f"  {kind:10} {right[kind]:3}/{total[kind]:<3} {right[kind] / total[kind]:.0%}" for kind in Kind]
    lines += [f"  miss: {miss}" for miss in misses]
    with capsys.disabled():  # the share is the point of this test: show it even when the test passes
        print("\n" + "\n".join(lines))
    assert kind_share >= 0.95, "\n".join(lines)
    assert recipient_share >= 0.95, "\n".join(lines)


@pytest.mark.parametrize(
    ("name", "kind", "source", "status"),
    [
        ("sisimai/lhost-postfix-31.eml", Kind.HARD, Source.DSN, "5.1.1"),
        ("sisimai/lhost-postfix-63.eml", Kind.SOFT, Source.DSN, "5.2.2"),  # mailbox full is soft even as 5.x.x
        ("sisimai/lhost-sendmail-29.eml", Kind.DELAYED, Source.DSN, "4.5.0"),
        ("sisimai/arf-14.eml", Kind.COMPLAINT, Source.ARF, ""),
        ("sisimai/lhost-amazonses-09.eml", Kind.HARD, Source.PROVIDER, "5.1.1"),
        ("sisimai/lhost-exim-38.eml", Kind.DELAYED, Source.HEURISTIC, "450"),
        ("sisimai/lhost-yahoo-03.eml", Kind.HARD, Source.HEURISTIC, "5.1.1"),
        ("sisimai/rfc3834-01.eml", Kind.AUTOREPLY, Source.HEADERS, ""),
        ("sisimai/rfc3464-28.eml", Kind.UNRELATED, Source.DSN, ""),  # a report of a success
    ],
)
def test_the_record_says_where_its_answer_came_from(name: str, kind: Kind, source: Source, status: str) -> None:
    report = read_report(_sample(name))
    assert (report.kind, report.source, report.status) == (kind, source, status)


def test_a_dsn_record_holds_the_diagnostic_on_one_line_and_the_original_message_id() -> None:
    report = read_report(_sample("sisimai/lhost-postfix-31.eml"))
    assert report.recipients == ["kijitora@gmail.com"]  # Original-Recipient: what we sent to
    assert report.diagnostic.startswith("550-5.1.1 The email account that you tried to reach does not exist.")
    assert "\n" not in report.diagnostic and len(report.diagnostic) <= 300
    assert report.message_id == "<ffffff-eeeeee-22@neko.example.com>"


def test_an_exim_bounce_that_carries_auto_submitted_is_still_a_bounce() -> None:
    # Exim marks its bounces `Auto-Submitted: auto-replied`: a header alone must not hide a failure.
    raw = _sample("sisimai/lhost-exim-01.eml")
    assert b"Auto-Submitted: auto-replied" in raw
    assert read_report(raw).kind is Kind.HARD


def test_a_bounce_of_an_auto_reply_is_a_bounce_and_an_auto_reply_is_never_one() -> None:
    assert read_report(_sample("sisimai/rhost-mimecast-01.eml")).kind is Kind.HARD
    for name in ("rfc3834-01.eml", "rfc3834-02.eml", "rfc3834-06.eml"):
        report = read_report(_sample(f"sisimai/{name}"))
        assert report.kind is Kind.AUTOREPLY and report.recipients == [], name


# ---------------------------------------------------------------------------------------------------------
# Hostile and malformed input: a clear log line, nothing changed, nothing crashes


def _dsn(final_recipient: str, status: str = "5.1.1", action: str = "failed") -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        "To: bounces@example.org\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n"
        "--B\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "Your message could not be delivered.\r\n"
        "--B\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {final_recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"
        "--B--\r\n"
    ).encode()


def test_truncated_mime_is_read_as_far_as_it_goes() -> None:
    whole = _sample("sisimai/lhost-postfix-31.eml")
    for cut in (len(whole) // 4, len(whole) // 2, whole.index(b"Action: failed") + 5, len(whole) - 10):
        report = read_report(whole[:cut])
        assert report.kind in Kind
    # Cut inside the delivery-status part, after its Status line: still the same failure.
    cut = whole.index(b"Remote-MTA")
    assert read_report(whole[:cut]).kind is Kind.HARD
    # Cut before the report part: the text part alone still says what failed.
    assert read_report(whole[: whole.index(b"Content-Description: Delivery report")]).kind is Kind.HARD


def test_a_twenty_megabyte_message_is_read_in_well_under_a_second() -> None:
    huge = _sample("sisimai/lhost-postfix-31.eml") + b"A" * 20_000_000
    started = time.perf_counter()
    report = read_report(huge)
    assert time.perf_counter() - started < 1.0
    assert report.kind is Kind.HARD and report.recipients == ["kijitora@gmail.com"]
    assert f"first {MAX_PARSE_BYTES:,} bytes" in report.reason

    text = b"From: MAILER-DAEMON@mx.example.net\r\nSubject: failure notice\r\n\r\n" + b"550 5.1.1 " * 2_000_000
    started = time.perf_counter()
    assert read_report(text).kind is Kind.HARD
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff" * 1000,
        bytes(range(256)) * 4000,
        b"Content-Type: multipart/mixed; boundary=b0\n\n"
        + b"".join(b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (i, i + 1) for i in range(3000)),
        b"".join(b"X-Header-%d: v\n" % i for i in range(300_000)) + b"\nbody",
        b"Content-Type: message/delivery-status\n\nAction: failed\nStatus: 9.9.9.9\nFinal-Recipient: ;;;\n",
        b"Content-Type: message/feedback-report\n\n\n",
        b'From: no-reply@sns.amazonaws.com\n\n{"notificationType": "Bounce", "bounce": [1, 2]}',
    ],
    ids=["empty", "binary", "all-bytes", "nested-3000", "300k-headers", "junk-dsn", "empty-arf", "junk-ses"],
)
def test_hostile_input_never_raises(raw: bytes) -> None:
    started = time.perf_counter()
    report = read_report(raw)
    assert report.kind in Kind
    assert time.perf_counter() - started < 3.0
    for address in report.recipients:
        assert address.isprintable() and " " not in address


def test_a_line_break_in_an_address_drops_it_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    # A folded Final-Recipient that smuggles a second header line into the address.
    report = read_report(_dsn("victim@example.org\r\n Bcc: everyone@example.org"))
    assert report.kind is Kind.HARD
    assert report.recipients == []
    assert len(report.dropped) == 1 and "\\r\\n" in report.dropped[0]
    assert any(
        "dropped" in record.getMessage() and "victim@example.org" in record.getMessage() for record in caplog.records
    )
    for record in caplog.records:
        assert "\n" not in record.getMessage() and "\r" not in record.getMessage()


def test_a_line_break_in_a_complaint_or_a_provider_event_drops_the_address(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    arf = _sample("sisimai/arf-02.eml").replace(
        b"Original-Rcpt-To: this-local-part-does-not-exist-on-yahoo@yahoo.com",
        b"Original-Rcpt-To: a@example.org\r\n Bcc: everyone@example.org",
    )
    report = read_report(arf)
    assert report.kind is Kind.COMPLAINT
    assert "a@example.org" not in report.recipients
    ses = _sample("sisimai/lhost-amazonses-11.eml").replace(
        b'"complainedRecipients":[{"emailAddress":"complaint@simulator.amazonses.com"}]',
        b'"complainedRecipients":[{"emailAddress":"complaint@simulator.amazonses.com\\r\\nBcc: x@example.org"}]',
    )
    report = read_report(ses)
    assert report.kind is Kind.COMPLAINT and report.recipients == [] and report.dropped
    assert any("dropped" in record.getMessage() for record in caplog.records)


def test_a_dsn_naming_an_address_we_never_mailed_holds_that_address() -> None:
    # Whether we ever mailed it is for the policy, which looks it up: the record only says what the report says.
    report = read_report(_dsn("stranger@nowhere.example.net"))
    assert (report.kind, report.recipients, report.token) == (Kind.HARD, ["stranger@nowhere.example.net"], None)


def test_addresses_come_back_checked_and_normalised() -> None:
    report = read_report(_dsn("<Someone@EXAMPLE.Org>"))
    assert report.recipients == ["Someone@example.org"]
    report = read_report(_dsn("/var/mail/someone"))  # a path, as Exim writes for a file delivery
    assert report.recipients == [] and report.dropped == ["'/var/mail/someone'"]


# ---------------------------------------------------------------------------------------------------------
# Delivery tokens


def test_a_token_round_trips_and_names_its_delivery() -> None:
    token = make_token(SECRET, "2026-W08", 42)
    assert token.startswith("2026-W08.42.")
    assert verify_token(SECRET, token) == Delivery("2026-W08", 42)
    # A relay that lower-cases the VERP local part keeps it valid.
    assert verify_token(SECRET, token.lower()) == Delivery("2026-w08", 42)
    address = return_path("bounces+{token}@example.org", token)
    assert address == f"bounces+{token}@example.org"
    assert token_in_address(address) == token
    assert token_in_address(f"<{address.upper()}>") == token.upper()
    assert return_path("bounces@example.org", token) == "bounces@example.org"  # no tag: no VERP
    assert token_in_address("bounces@example.org") is None
    assert token_in_address("bounces+not-a-token@example.org") is None


def test_a_tampered_or_forged_token_is_refused() -> None:
    token = make_token(SECRET, "2026-W08", 42)
    issue, subscriber, mac = token.split(".")
    other_mac = ("b" if mac[0] != "b" else "c") + mac[1:]
    for forged in (
        f"{issue}.43.{mac}",  # another subscriber
        f"2026-W09.{subscriber}.{mac}",  # another issue
        f"{issue}.{subscriber}.{other_mac}",  # another mac
        f"{issue}.{subscriber}.{mac[:-1]}",  # a mac cut short
        f"{issue}.{subscriber}",
        "",
        "a.b.c",
        token + "\r\nBcc: x@example.org",
    ):
        assert verify_token(SECRET, forged) is None, forged
    assert verify_token(b"another-secret", token) is None
    with pytest.raises(ValueError):
        make_token(SECRET, "2026.W08", 1)


def test_the_reader_finds_the_token_in_the_verp_address_the_bounce_was_sent_to() -> None:
    token = make_token(SECRET, "2026-W08", 7)
    raw = _sample("sisimai/lhost-postfix-31.eml").replace(
        b"To: sironeko@neko.example.com", f"To: bounces+{token}@example.org".encode(), 1
    )
    report = read_report(raw)
    assert report.token == token and verify_token(SECRET, report.token) == Delivery("2026-W08", 7)
    assert report.recipients == ["kijitora@gmail.com"]


def test_the_reader_finds_our_header_quoted_in_the_returned_message() -> None:
    token = make_token(SECRET, "2026-W08", 9)
    header = f"{HEADER}: {token}\n".encode()
    attached = _sample("sisimai/lhost-postfix-31.eml").replace(
        b"Message-Id: <ffffff-eeeeee-22@neko.example.com>\n",
        b"Message-Id: <ffffff-eeeeee-22@neko.example.com>\n" + header,
    )
    assert read_report(attached).token == token
    quoted = _sample("sisimai/lhost-exim-01.eml").replace(
        b"To: kijitora@example.ed.jp\n", b"To: kijitora@example.ed.jp\n" + header
    )
    assert read_report(quoted).token == token
    ses = _sample("sisimai/lhost-amazonses-09.eml").replace(
        b'{"name":"Subject","value":"nyaan"}', f'{{"name":"{HEADER}","value":"{token}"}}'.encode()
    )
    assert read_report(ses).token == token


def test_a_forged_token_in_a_report_is_found_but_does_not_verify() -> None:
    token = make_token(b"someone-else", "2026-W08", 1)
    raw = _dsn("a@example.org").replace(b"To: bounces@example.org", f"To: bounces+{token}@example.org".encode())
    report = read_report(raw)
    assert report.token == token and verify_token(SECRET, token) is None


def test_samples_are_files_of_the_repository() -> None:
    assert all(Path(BOUNCES / row.file).is_file() for row in _corpus())
