"""Where a returned message keeps what it says: its report parts, its text, the addresses it names, our token.

The helpers of `reports`, each tolerant of what MTAs really send: fields that parse as text, boundaries that
never come, charsets Python does not know, the returned copy of our message quoted in the body. None of them
decides anything; none of them raises on odd input of the kinds above.
"""

from __future__ import annotations

import email
import email.header
import email.message
import email.utils
import json
import re
from typing import Any

from digest.subscribers.delivery_token import HEADER, TOKEN_PATTERN, looks_like_token, token_in_address

Message = email.message.Message

MAX_TEXT_CHARS = 64_000
_MAX_HEADER_BYTES = 256_000


def limit_headers(data: bytes) -> bytes:
    """The message with its header section cut to 256 kB: each header lookup scans every header."""
    end = min((i for i in (data.find(b"\r\n\r\n"), data.find(b"\n\n")) if i >= 0), default=len(data))
    if end <= _MAX_HEADER_BYTES:
        return data
    cut = data.rfind(b"\n", 0, _MAX_HEADER_BYTES) + 1
    return data[:cut] + data[end:]


def header(msg: Message, name: str) -> str:
    """One header as text, encoded words decoded."""
    value = msg.get(name)
    if value is None:
        return ""
    text = str(value)
    return str(email.header.make_header(email.header.decode_header(text))) if "=?" in text else text


def all_values(msg: Message, name: str) -> list[str]:
    return [str(value) for value in (msg.get_all(name) or [])]


def from_mail_system(msg: Message) -> bool:
    """Whether the message comes from a mail system (MAILER-DAEMON, postmaster…) rather than a person."""
    sender = header(msg, "from").lower()
    if sender.strip() in ("", "<>"):
        return True
    return any(word in sender for word in ("daemon", "postmaster", "post_master", "mail delivery", "mailer"))


def first_part(msg: Message, content_type: str) -> Message | None:
    return next((part for part in msg.walk() if part.get_content_type() == content_type), None)


def field_blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part, however it parsed."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    text = payload if isinstance(payload, str) else ""
    return [email.message_from_string(chunk.strip() + "\n") for chunk in re.split(r"\n\s*\n", text) if chunk.strip()]


_DSN_FIELD = re.compile(
    r"(?im)^[ \t>]*(Final-Recipient|Original-Recipient|Action|Status|Diagnostic-Code)[ \t]*:[ \t]*(.*)$"
)


def fields_in_text(msg: Message) -> list[Message]:
    """DSN recipient blocks written into a text part (a DSN whose MIME header or boundary was lost)."""
    blocks: list[Message] = []
    current: Message | None = None
    for text in texts(msg):
        for match in _DSN_FIELD.finditer(text):
            name, value = match.group(1).title(), match.group(2).strip()
            if name == "Final-Recipient" or current is None or name in current:
                current = Message()
                blocks.append(current)
            current[name] = value
    return [block for block in blocks if block.get("Action")]


def recipient_field(block: Message) -> str:
    """The address of a DSN recipient block: Original-Recipient (what we sent to) before Final-Recipient.

    A Final-Recipient that is no Internet address (an X.400 name, a mailbox path) comes back as it is, so
    that the caller drops it and says so.
    """
    for name in ("Original-Recipient", "X-Actual-Recipient", "Final-Recipient"):
        value = block.get(name)
        if value is None:
            continue
        kind, semicolon, address = str(value).partition(";")
        if not semicolon:
            kind, address = "rfc822", kind
        address = address.strip().strip("<>").strip()
        if kind.strip().lower() == "rfc822" and "@" in address:
            return address
        if name == "Final-Recipient":
            return address or str(value)
    return ""


def after_type(value: str) -> str:
    """A Diagnostic-Code without its type: 'smtp; 550 5.1.1 …' → '550 5.1.1 …'."""
    kind, semicolon, rest = value.partition(";")
    return rest.strip() if semicolon and len(kind) < 20 else value.strip()


def decoded(part: Message) -> str:
    """A leaf part's content as text, whatever its transfer encoding and charset."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        inner = part.get_payload()
        return inner if isinstance(inner, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:  # a charset Python does not know (ansi_x3.110-1983 and friends)
        return payload.decode("latin-1")


def texts(msg: Message) -> list[str]:
    """The text of every text leaf and headers-only part, in order, each cut to `MAX_TEXT_CHARS`."""
    out = []
    for part in msg.walk():
        if part.is_multipart():
            # A boundary that does not match the header leaves the whole report in the preamble.
            if part.preamble and len(part.preamble) > 200:
                out.append(part.preamble[:MAX_TEXT_CHARS])
            continue
        # A multipart whose boundary never comes parses as one text: the report is in it all the same.
        if part.get_content_maintype() in ("text", "multipart") or part.get_content_type() == "message/rfc822-headers":
            out.append(decoded(part)[:MAX_TEXT_CHARS])
    return out


# Where a report's own words end and the returned copy of our message begins, as MTAs write it.
_COPY_FOLLOWS = re.compile(
    r"(?im)^.*(this is a copy of (the|your) message|below this line is a copy|original message (follows|headers)|"
    r"-+ ?original message ?-+|message headers? follows?|unsent message follows|returned message|"
    r"header of the original message|enclosed is a copy|below is a copy|original message as received|"
    r"message removed|bounced e-?mail:).*$"
)


def notice_text(msg: Message) -> str:
    """The report's own words: its first text parts, cut where the returned copy of our message begins."""
    text = "\n".join(texts(msg)[:2])
    cut = _COPY_FOLLOWS.search(text)
    return text[: cut.start()] if cut else text


def original_headers(msg: Message) -> Message | None:
    """The headers of the message a report returns: an attached message/rfc822 or a headers-only part."""
    for part in msg.walk():
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        if content_type in ("text/rfc822-headers", "message/rfc822-headers", "text/rfc822-header"):
            return email.message_from_string(decoded(part))
    return None


def original_recipients(msg: Message) -> list[str]:
    """The To of the message attached to a report (an ARF's copy of what we sent)."""
    headers = original_headers(msg)
    if headers is None:
        return []
    return [address for _, address in email.utils.getaddresses(all_values(headers, "To")) if address]


def returned_to(msg: Message) -> list[str]:
    """The To of the returned copy of our message: attached, or quoted in the text after the divider."""
    attached = original_recipients(msg)
    if attached:
        return attached
    text = "\n".join(texts(msg)[:2])
    cut = _COPY_FOLLOWS.search(text)
    quoted = re.search(r"(?im)^[ \t>]*To[ \t]*:(.*)$", text[cut.end() :]) if cut else None
    return [address for _, address in email.utils.getaddresses([quoted.group(1)]) if address] if quoted else []


_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Lines that name the sender or a message, never the recipient that failed.
_SENDER_LINE = re.compile(
    r"(?im)^[ \t>]*(from|return-path|reply-to|sender|message-id|x-apparently-from|x-sender|x-postfix-sender)"
    r"[ \t]*:.*$"
)
# Lines that offer help ("For further assistance, please contact <support@…>") name no recipient either.
_HELP_LINE = re.compile(r"(?im)^.*(assistance|please (contact|send mail to|reply to)|if you (have|need)).*$")


def addresses_in(text: str) -> list[str]:
    """The addresses a report's text names, less the mail system's own (postmaster, help desks, senders)."""
    found = _ADDRESS.findall(_HELP_LINE.sub("", _SENDER_LINE.sub("", text)))
    return [a for a in found if a.split("@")[0].lower() not in ("postmaster", "mailer-daemon")]


def named_in_notice(msg: Message, notice: str) -> list[str]:
    """The addresses the notice names; only those the returned copy was also sent to, when there are any."""
    named = addresses_in(notice)
    sent_to = {address.lower() for address in returned_to(msg)}
    both = [address for address in named if address.lower() in sent_to]
    return both or named


def not_ours(msg: Message, candidates: list[str]) -> list[str]:
    """Candidates less the sender's addresses: the report's own To, and the From of the returned message."""
    text = "\n".join(texts(msg))
    ours = {a.lower() for match in _SENDER_LINE.finditer(text) for a in _ADDRESS.findall(match.group(0))}
    for name in ("To", "Delivered-To", "X-Original-To", "Return-Path"):
        ours |= {address.lower() for _, address in email.utils.getaddresses(all_values(msg, name)) if address}
    kept = [c for c in candidates if c.strip().strip("<>").lower() not in ours]
    return kept or candidates


_MESSAGE_ID = r"<?[^\s<>]{1,250}@[^\s<>]{1,250}>?"
_MESSAGE_ID_LINE = re.compile(rf"(?im)^[ \t>]*(?:Original-)?Message-I[dD][ \t]*:[ \t]*({_MESSAGE_ID})")


def original_message_id(msg: Message) -> str | None:
    """The Message-ID of the message a report is about: attached, in an ARF or MDN field, or quoted."""
    headers = original_headers(msg)
    candidates = [headers.get("Message-ID")] if headers is not None else []
    for part in msg.walk():
        if part.get_content_type() in ("message/feedback-report", "message/disposition-notification"):
            candidates += [block.get("Original-Message-ID") for block in field_blocks(part)]
    for text in texts(msg):
        candidates += [match.group(1) for match in _MESSAGE_ID_LINE.finditer(text)]
    for candidate in candidates:
        value = str(candidate or "").strip()
        if re.fullmatch(_MESSAGE_ID, value):
            return "<" + value.strip("<>") + ">"
    return None


_HEADER_TOKEN = re.compile(rf"(?im)^[ \t>]*{HEADER}[ \t]*:[ \t]*({TOKEN_PATTERN})\b")
_JSON_TOKEN = re.compile(rf'"name"\s*:\s*"{HEADER}"\s*,\s*"value"\s*:\s*"({TOKEN_PATTERN})"', re.IGNORECASE)


def delivery_token(msg: Message) -> str | None:
    """Our token: the VERP tag the report was sent to, else our header quoted with the returned message."""
    for name in ("To", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To"):
        for value in all_values(msg, name):
            for _, address in email.utils.getaddresses([value]):
                token = token_in_address(address)
                if token:
                    return token
    for part in msg.walk():
        quoted = str(part.get(HEADER) or "").strip() if part is not msg else ""
        if looks_like_token(quoted):
            return quoted
    for text in texts(msg):
        match = _HEADER_TOKEN.search(text) or _JSON_TOKEN.search(text)
        if match:
            return match.group(1)
    return None


def json_object(text: str) -> dict[str, Any] | None:
    """The JSON object a text holds (an SNS notification body), or None."""
    start = text.find("{")
    if start < 0:
        return None
    # Sendmail breaks lines longer than its limit with "!", a line break and a space: SNS bodies are one line.
    for candidate in (text[start:], re.sub(r"!\r?\n ", "", text[start:])):
        try:
            value, _ = json.JSONDecoder().raw_decode(candidate)
        except ValueError:
            continue
        return value if isinstance(value, dict) else None
    return None
