"""Read one message from the bounce mailbox into a typed Report: what happened, to whom, for which delivery.

A relay that accepted a message tells of its failure days later, in a form chosen by whoever wrote the MTA:
an RFC 3464 delivery status notification (DSN), an Exim or qmail text, an Exchange NDR, an RFC 5965 feedback
report (ARF) when a reader pressed "Report spam", an Amazon SES event mailed by SNS. Other mail reaches the
same mailbox: vacation replies, spam, a person's reply. `read_report` tells them apart, in this order:

1. a feedback report (`message/feedback-report`, or Hotmail's older "complaint about message from") is a
   `complaint`, unless its Feedback-Type is not a reader's complaint (`auth-failure`: a DMARC report);
2. an Amazon SES event (SNS JSON): Bounce Permanent is `hard`, Transient `soft`, Complaint a `complaint`;
3. a message a person wrote (`Re:`/`Fwd:` from someone who is not a mail system, with no DSN part) is
   `unrelated`, even when it quotes a bounce;
4. a DSN (`message/delivery-status`, or its fields in a text whose MIME structure was lost), recipient block
   by recipient block: `Action: delayed` is `delayed`, `failed` is `hard` or `soft` (below), `delivered`
   and its kin a success, hence `unrelated`;
5. the failure texts MTAs send without a DSN part, read by flufl.bounce (GNU Mailman's detectors) and, for
   mail from a mail system that flufl.bounce does not know, by the report's own status codes and wording;
6. an auto-reply (RFC 3834 `Auto-Submitted`, `X-Autoreply`, `X-Autorespond`, `Precedence: auto_reply`, a
   vacation subject) is an `autoreply`, never a bounce; it comes after the steps above because MTAs such
   as Exim mark their bounces `Auto-Submitted` too;
7. anything else is `unrelated`, with the reason.

A failure is `soft` when its status is 4.x.x or its mailbox is full (x.2.2, or "quota" in the diagnostic),
or, when the report gives no status code at all, when its wording says the failure was temporary; otherwise
it is `hard`. When recipients fail differently, the worst (hard) decides.

`read_report` never raises: whatever it is given (truncated MIME, 20 MB, binary, hostile headers) comes back
as a Report, `unrelated` with the reason when nothing can be read. Only the first `MAX_PARSE_BYTES` are
parsed. Every recipient passes `digest.util.check_address`; one that does not (a CR/LF in it, a path, an
X.400 name) is dropped with a log line and kept, shortened, in `dropped`.
"""

from __future__ import annotations

import email
import email.policy
import logging
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from flufl.bounce import all_failures

from digest.subscribers import returned_mail as mail
from digest.subscribers.returned_mail import Message
from digest.util import check_address

log = logging.getLogger(__name__)

# A report's own text and the headers of the returned message lie in its first kilobytes; the rest is the
# returned body. Parsing a 20 MB message whole would cost seconds and memory for nothing.
MAX_PARSE_BYTES = 2_000_000
# flufl.bounce runs dozens of patterns over every line of every text part: it gets a smaller cut.
_MAX_HEURISTIC_BYTES = 256_000
DIAGNOSTIC_MAX = 300
# One message goes to one subscriber; a report naming hundreds of addresses is a list's or an attacker's.
MAX_RECIPIENTS = 100


class Kind(StrEnum):
    HARD = "hard"
    SOFT = "soft"
    DELAYED = "delayed"
    COMPLAINT = "complaint"
    AUTOREPLY = "autoreply"
    UNRELATED = "unrelated"


class Source(StrEnum):
    DSN = "dsn"  # an RFC 3464 delivery-status part (or its fields in plain text)
    ARF = "arf"  # an RFC 5965 feedback report, or Hotmail's older complaint format
    PROVIDER = "provider"  # an email provider's own event (Amazon SES by SNS email)
    HEURISTIC = "heuristic"  # an MTA's own text, read by flufl.bounce and the report's wording
    HEADERS = "headers"  # the message's headers alone: an auto-reply, a person's reply
    NONE = "none"


@dataclass(frozen=True)
class Report:
    """What one returned message says. `token` is unverified: check it with `delivery_token.verify_token`."""

    kind: Kind
    recipients: list[str] = field(default_factory=list)
    status: str = ""  # the enhanced status code (5.1.1), else the SMTP reply code (550), else ""
    diagnostic: str = ""  # one line, at most DIAGNOSTIC_MAX characters
    token: str | None = None
    message_id: str | None = None  # the Message-ID of the message this report is about
    source: Source = Source.NONE
    reason: str = ""  # why this kind, in a few words, for the log
    dropped: list[str] = field(default_factory=list)  # refused candidate addresses, repr()'d and shortened


def read_report(raw: bytes) -> Report:
    """Classify one raw RFC 822 message (see the module docstring); never raises."""
    try:
        return _read(raw[:MAX_PARSE_BYTES], truncated=len(raw) > MAX_PARSE_BYTES)
    except Exception as error:  # the contract is a Report for any input: a parser's failure must not stop a run
        log.warning("unreadable message (%s: %s): left alone", type(error).__name__, _shorten(str(error)))
        return Report(Kind.UNRELATED, reason=f"unreadable: {type(error).__name__}")


@dataclass
class _Found:
    """What one step read, before its addresses are checked."""

    kind: Kind
    source: Source
    reason: str
    candidates: list[str] = field(default_factory=list)
    status: str = ""
    diagnostic: str = ""


def _read(data: bytes, truncated: bool) -> Report:
    data = mail.limit_headers(data)
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    small = msg
    if len(data) > _MAX_HEURISTIC_BYTES:
        small = email.message_from_bytes(data[:_MAX_HEURISTIC_BYTES], policy=email.policy.compat32)
    found = (
        _feedback_report(msg)
        or _provider_event(msg)
        or _written_by_a_person(msg)
        or _delivery_status(msg, small)
        or _mta_text(msg, small)
        or _auto_reply(msg)
        or _Found(Kind.UNRELATED, Source.NONE, "no delivery report, feedback report or auto-reply")
    )
    if truncated:
        found.reason += f" (read the first {MAX_PARSE_BYTES:,} bytes only)"
    recipients: list[str] = []
    dropped: list[str] = []
    if found.kind not in (Kind.AUTOREPLY, Kind.UNRELATED):
        recipients, dropped = _checked(found.candidates)
    return Report(
        kind=found.kind,
        recipients=recipients,
        status=found.status,
        diagnostic=_one_line(found.diagnostic, DIAGNOSTIC_MAX),
        token=mail.delivery_token(msg),
        message_id=mail.original_message_id(msg),
        source=found.source,
        reason=_one_line(found.reason, 200),
        dropped=dropped,
    )


# ---------------------------------------------------------------------------------------------------------
# The steps, in the order of the module docstring. Each returns None when the message is not its kind.

_COMPLAINT_TYPES = {"abuse", "fraud", "virus", "other", "opt-out", "opt-out-list", "complaint"}


def _feedback_report(msg: Message) -> _Found | None:
    part = mail.first_part(msg, "message/feedback-report")
    if part is None:
        subject = mail.header(msg, "subject").lower()
        if subject.startswith("complaint about message from") and mail.first_part(msg, "message/rfc822"):
            return _Found(Kind.COMPLAINT, Source.ARF, "Hotmail complaint report", mail.original_recipients(msg))
        return None
    blocks = [block for block in mail.field_blocks(part) if block]
    feedback_type = str(blocks[0].get("Feedback-Type") or "").strip().lower() if blocks else ""
    if feedback_type and feedback_type not in _COMPLAINT_TYPES:
        return _Found(Kind.UNRELATED, Source.ARF, f"feedback report of type {feedback_type!r}, not a complaint")
    named = [
        value
        for block in blocks
        for name in ("Original-Rcpt-To", "Removal-Recipient")
        for value in mail.all_values(block, name)
    ]
    reason = f"feedback report ({feedback_type or 'no Feedback-Type'})"
    return _Found(Kind.COMPLAINT, Source.ARF, reason, named or mail.original_recipients(msg))


def _provider_event(msg: Message) -> _Found | None:
    if msg.is_multipart() or "amazonaws.com" not in mail.header(msg, "from").lower():
        return None
    event = mail.json_object(mail.decoded(msg))
    if event is not None and isinstance(event.get("Message"), str):
        event = mail.json_object(event["Message"])  # an SNS envelope holding the SES event as a string
    if event is None:
        return None
    name = str(event.get("notificationType") or event.get("eventType") or "")
    if name == "Bounce":
        bounce = _mapping(event.get("bounce"))
        rows = [_mapping(row) for row in _sequence(bounce.get("bouncedRecipients"))]
        status = str(rows[0].get("status") or "") if rows else ""
        diagnostic = str(rows[0].get("diagnosticCode") or "") if rows else ""
        permanent = bounce.get("bounceType") == "Permanent"
        kind = Kind.HARD if permanent and not _mailbox_full(status, diagnostic) else Kind.SOFT
        addresses = [str(row.get("emailAddress") or "") for row in rows]
        reason = f"Amazon SES bounce ({bounce.get('bounceType')})"
        return _Found(kind, Source.PROVIDER, reason, addresses, _status_code(status), diagnostic)
    if name == "Complaint":
        complaint = _mapping(event.get("complaint"))
        rows = [_mapping(row) for row in _sequence(complaint.get("complainedRecipients"))]
        addresses = [str(row.get("emailAddress") or "") for row in rows]
        return _Found(Kind.COMPLAINT, Source.PROVIDER, "Amazon SES complaint", addresses)
    if name:
        return _Found(Kind.UNRELATED, Source.PROVIDER, f"Amazon SES {name} event, not a failure")
    return None


def _written_by_a_person(msg: Message) -> _Found | None:
    if mail.first_part(msg, "message/delivery-status") is not None:
        return None
    subject = mail.header(msg, "subject")
    if re.match(r"(?i)\s*(re|fwd?|aw|wg|tr|sv|vs)\s*:", subject) and not mail.from_mail_system(msg):
        return _Found(Kind.UNRELATED, Source.HEADERS, "a reply or forward written by a person, not a report")
    return None


# Action values of RFC 3464 and the variants MTAs really write ("failure", "error", "failed (reason)").
_FAILED = ("fail", "error")
_SUCCEEDED = ("delivered", "relayed", "expanded", "deliverable")


@dataclass
class _Recipient:
    """One recipient block of a DSN."""

    address: str
    kind: Kind
    status: str
    diagnostic: str


def _delivery_status(msg: Message, small: Message) -> _Found | None:
    parts = [part for part in msg.walk() if part.get_content_type() == "message/delivery-status"]
    blocks = [block for part in parts for block in mail.field_blocks(part)] if parts else mail.fields_in_text(msg)
    failed: list[_Recipient] = []
    delayed: list[_Recipient] = []
    succeeded = 0
    for block in blocks:
        action = str(block.get("Action") or "").strip().lower()
        diagnostic = mail.after_type(str(block.get("Diagnostic-Code") or ""))
        status = _status_code(str(block.get("Status") or "")) or _status_code(diagnostic)
        address = mail.recipient_field(block)
        if not action and status[:1] in ("4", "5") and address:
            action = "failed"  # a block with a failure status but no Action (some gateways)
        if action.startswith("delayed"):
            delayed.append(_Recipient(address, Kind.DELAYED, status, diagnostic))
        elif action.startswith(_FAILED):
            words = f"{block.get('Status') or ''} {diagnostic}"  # "5.0.0 (recipient reached disk quota)"
            failed.append(_Recipient(address, _failure_kind(status, words), status, diagnostic))
        elif action.startswith(_SUCCEEDED):
            succeeded += 1
    if failed or delayed:
        rows = failed or delayed
        kind = Kind.HARD if any(row.kind is Kind.HARD for row in rows) else rows[0].kind
        first = next(row for row in rows if row.kind is kind)
        addresses = [row.address for row in rows]
        if not any(addresses):
            addresses = _fallback_recipients(msg, small)
        reason = f"DSN: Action {'failed' if failed else 'delayed'}, Status {first.status or '?'}"
        return _Found(kind, Source.DSN, reason, addresses, first.status, first.diagnostic)
    if succeeded:
        return _Found(Kind.UNRELATED, Source.DSN, "DSN of a successful delivery")
    return None  # a DSN part without recipient blocks (some MTAs): their text says the rest


def _mta_text(msg: Message, small: Message) -> _Found | None:
    temporary, permanent = _flufl(small)
    failed_header = [a for value in mail.all_values(msg, "X-Failed-Recipients") for a in value.split(",")]
    notice = mail.notice_text(msg)
    words = mail.header(msg, "subject") + "\n" + notice
    said_so = _FAILURE.search(words) or _DELAY.search(words) or _status_code(notice)[:1] in ("4", "5")
    if not (temporary or permanent or failed_header or (said_so and mail.from_mail_system(msg))):
        return None
    found = [address.decode("ascii", "replace") for address in sorted(permanent | temporary)] or failed_header
    addresses = mail.not_ours(msg, found or mail.named_in_notice(msg, notice) or mail.returned_to(msg))
    status = _status_code(notice)
    diagnostic = next((line for line in notice.splitlines() if _status_code(line)), "")
    if (temporary and not permanent) or (_DELAY.search(words) and not _PERMANENT.search(words)):
        return _Found(Kind.DELAYED, Source.HEURISTIC, "delay warning", addresses, status, diagnostic)
    kind = _failure_kind(status, notice, wording=True)
    reason = f"MTA failure text ({status or 'no status code'})"
    return _Found(kind, Source.HEURISTIC, reason, addresses, status, diagnostic)


def _fallback_recipients(msg: Message, small: Message) -> list[str]:
    """Where a DSN names no usable recipient: X-Failed-Recipients, flufl.bounce, the report's own text."""
    failed = [a for value in mail.all_values(msg, "X-Failed-Recipients") for a in value.split(",")]
    if failed:
        return failed
    temporary, permanent = _flufl(small)
    found = [address.decode("ascii", "replace") for address in sorted(permanent | temporary)]
    return mail.not_ours(msg, found or mail.named_in_notice(msg, mail.notice_text(msg)) or mail.returned_to(msg))


def _flufl(small: Message) -> tuple[frozenset[bytes], frozenset[bytes]]:
    """flufl.bounce's temporary (delayed) and permanent failures."""
    try:
        temporary, permanent = all_failures(small)
    except Exception as error:  # a detector that trips on odd input must not hide what the text says
        log.warning("flufl.bounce could not read this message (%s): reading its text only", type(error).__name__)
        return frozenset(), frozenset()
    return frozenset(temporary), frozenset(permanent)


_AUTOREPLY_SUBJECT = re.compile(
    r"(?i)^\s*(auto(matic|matische)?[ -]?(reply|response|respons|antwort)|autoreply|out of (the )?office|"
    r"away from|on vacation|vacation|abwesenheit|absence|r[ée]ponse automatique|respuesta autom[aá]tica|"
    r"risposta automatica)"
)


def _auto_reply(msg: Message) -> _Found | None:
    submitted = mail.header(msg, "auto-submitted").strip().lower()
    if submitted and not submitted.startswith("no"):
        return _Found(Kind.AUTOREPLY, Source.HEADERS, f"Auto-Submitted: {_shorten(submitted, 40)}")
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if msg.get(name) is not None:
            return _Found(Kind.AUTOREPLY, Source.HEADERS, f"{name} header")
    if mail.header(msg, "precedence").strip().lower() == "auto_reply":
        return _Found(Kind.AUTOREPLY, Source.HEADERS, "Precedence: auto_reply")
    if _AUTOREPLY_SUBJECT.match(mail.header(msg, "subject")):
        return _Found(Kind.AUTOREPLY, Source.HEADERS, "auto-reply subject")
    return None


# ---------------------------------------------------------------------------------------------------------
# Hard or soft, delayed or failed: status codes first, wording only where a report gives no code.

_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_REPLY = re.compile(r"(?<![\d.\w-])([245]\d\d)(?=[ -]\D|$)", re.MULTILINE)
_FULL = re.compile(
    r"(?i)mailbox (is )?full|over ?quota|quota (exceeded|full)|exceeded (the |his |her )?(storage|quota)|"
    r"disk quota|out of storage|insufficient (storage|space)|(mail)?folder is full|not enough (disk )?space"
)
_TEMPORARY = re.compile(
    r"(?i)try again|temporar|timed? ?out|not reachable|deferred|retry time|for \d+(\.\d+)? (days|hours)|"
    r"within \d+ days|queue (too long|period)|too long in the queue|in the queue too long|expired|"
    r"failing for a long time"
)
_DELAY = re.compile(
    r"(?i)\bdelay(ed)?\b|not yet been delivered|will be retried|will continue to (try|attempt)|warning message only|"
    r"this is (just |only )?a warning|warning only|postponed|still being retried|"
    r"could not send (mail|message) for (the )?past|temporary failure report"
)
_FAILURE = re.compile(
    r"(?i)undeliver|not (be )?delivered|could not (be )?deliver|couldn't be delivered|delivery (has )?failed|"
    r"delivery failure|failure notice|mail delivery failed|failed permanently|permanent (error|failure)|"
    r"returned mail|returning message|unable to deliver|did not reach|was rejected|rejected your message|"
    r"bounce notification|delivery status notification|non[- ]?delivery|not listed in|delivery problem"
)
_PERMANENT = re.compile(r"(?i)permanent(ly)? (error|fail)|failed permanently|could not be delivered")


def _failure_kind(status: str, text: str, wording: bool = False) -> Kind:
    if status.startswith("4") or _mailbox_full(status, text):
        return Kind.SOFT
    if not status and wording and _TEMPORARY.search(text):
        return Kind.SOFT
    return Kind.HARD


def _mailbox_full(status: str, text: str) -> bool:
    return status.endswith(".2.2") or bool(_FULL.search(text))


def _status_code(text: str) -> str:
    """The first enhanced status code in text (5.1.1), else the first SMTP reply code (550), else ""."""
    enhanced = _ENHANCED.search(text)
    if enhanced:
        return ".".join(enhanced.groups())
    reply = _REPLY.search(text)
    return reply.group(1) if reply else ""


# ---------------------------------------------------------------------------------------------------------
# What leaves this module is checked and one line long.


def _checked(candidates: list[str]) -> tuple[list[str], list[str]]:
    """The candidates that are addresses (normalised, each once) and the refused ones, each logged."""
    recipients: list[str] = []
    dropped: list[str] = []
    if len(candidates) > MAX_RECIPIENTS:
        log.warning("a report names %d addresses: kept the first %d", len(candidates), MAX_RECIPIENTS)
    for candidate in candidates[:MAX_RECIPIENTS]:
        text = candidate.strip().strip("<>").strip()
        if not text:
            continue
        try:
            address = check_address(text)
        except ValueError as error:
            shown = _shorten(repr(text))
            log.warning("dropped %s from a report: %s", shown, _shorten(str(error), 120))
            dropped.append(shown)
            continue
        if address.lower() not in (known.lower() for known in recipients):
            recipients.append(address)
    return recipients, dropped


def _one_line(text: str, limit: int) -> str:
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return _shorten(cleaned, limit)


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sequence(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
