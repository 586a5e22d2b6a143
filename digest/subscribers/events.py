"""Providers' bounce and complaint events, read into `intake.Returned`: our own JSON shape, Amazon SES (the
`Message` of an SNS notification) and Mailgun. Whoever sent them was checked before (digest/web/webhooks.py);
what they hold is still checked here: every address passes `check_address` (a CR or LF in one drops it), every
text is one line, and a shape we do not know is `EventError`, one sentence naming the key.

Our shape (`POST /webhooks/bounces`), one event or up to `MAX_EVENTS` under "events":

    {"events": [{"id": "evt-1", "type": "hard", "email": "reader@example.org", "status": "5.1.1",
                 "diagnostic": "550 5.1.1 no such user", "token": "<X-Digest-Delivery>", "message_id": "<…>"}]}

`id` and `type` (hard, soft, delayed, complaint, delivered) are required, and at least one of `email`, `token`
and `message_id`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from digest.subscribers.delivery_token import HEADER, looks_like_token
from digest.subscribers.intake import Returned
from digest.subscribers.reports import DIAGNOSTIC_MAX, Kind
from digest.util import check_address, printable

log = logging.getLogger(__name__)

MAX_EVENTS = 100
_TYPES = {
    "hard": Kind.HARD,
    "soft": Kind.SOFT,
    "delayed": Kind.DELAYED,
    "complaint": Kind.COMPLAINT,
    "delivered": Kind.UNRELATED,
}


class EventError(ValueError):
    """An event whose shape is not its provider's: the message names the key."""


def _text(value: object, limit: int = DIAGNOSTIC_MAX) -> str:
    """One line of printable text, at most `limit` characters, from whatever the event holds."""
    text = value if isinstance(value, str) else "" if value is None else str(value)
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def _addresses(values: list[object]) -> tuple[str, ...]:
    found = []
    for value in values[:MAX_EVENTS]:
        try:
            found.append(check_address(value if isinstance(value, str) else ""))
        except ValueError as error:
            log.warning("dropped %s from an event: %s", printable(repr(value))[:80], _text(str(error), 120))
    return tuple(found)


def _mapping(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EventError(f"{where}: expected an object but received {_text(json.dumps(value)[:40], 40)}")
    return value


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _message_id(value: object) -> str | None:
    text = _text(value, 500)
    if not text or " " in text or "@" not in text:
        return None
    return "<" + text.strip("<>") + ">"


def _token(value: object) -> str | None:
    text = value.strip() if isinstance(value, str) else ""
    return text if looks_like_token(text) else None


# Ours


def generic(data: object) -> list[Returned]:
    """Our own JSON shape (see the module docstring)."""
    top = _mapping(data, "the body")
    items = top.get("events", [top])
    if not isinstance(items, list) or not items or len(items) > MAX_EVENTS:
        raise EventError(f"events: expected a list of 1 to {MAX_EVENTS} events")
    return [_one_generic(_mapping(item, f"events[{n}]"), f"events[{n}]") for n, item in enumerate(items)]


def _one_generic(item: dict[str, Any], where: str) -> Returned:
    event_id = _text(item.get("id"), 200)
    if not event_id:
        raise EventError(f"{where}.id: expected the event's id, a string")
    kind = _TYPES.get(str(item.get("type")))
    if kind is None:
        raise EventError(
            f"{where}.type: expected one of {', '.join(_TYPES)} but received {_text(item.get('type'), 40)!r}"
        )
    email = item.get("email")
    token, message_id = _token(item.get("token")), _message_id(item.get("message_id"))
    if email is None and token is None and message_id is None:
        # A token or Message-ID given but not one of ours is named as such, not taken for absent.
        if item.get("token") not in (None, ""):
            raise EventError(
                f"{where}.token: {_text(item.get('token'), 40)!r} is not a token of ours (the {HEADER} header of "
                "the message that came back), and no email or message_id says which message it is about"
            )
        if item.get("message_id") not in (None, ""):
            raise EventError(
                f"{where}.message_id: {_text(item.get('message_id'), 40)!r} is not a Message-ID (<…@…>), and no "
                "email or token says which message it is about"
            )
        raise EventError(f"{where}: expected an email, a token or a message_id to say which message it is about")
    return Returned(
        kind=kind,
        source="webhook",
        event_id=event_id,
        recipients=_addresses([email]) if email is not None else (),
        token=token,
        message_id=message_id,
        status=_text(item.get("status"), 12),
        diagnostic=_text(item.get("diagnostic")),
        reason=f"webhook event {_text(item.get('type'), 20)}",
        events="webhook",
    )


# Amazon SES, by SNS

# Transient bounces about the message itself, not the reader's mailbox: no bounce at all.
_SES_NOT_THE_READER = {"MessageTooLarge", "ContentRejected", "AttachmentRejected"}


def ses(message: str, event_id: str) -> list[Returned]:
    """The events of one SES notification (an SNS notification's `Message`); [] for the kinds that are no bounce."""
    try:
        event = _mapping(json.loads(message), "Message")
    except json.JSONDecodeError:
        raise EventError("Message: expected the JSON of an Amazon SES notification") from None
    name = str(event.get("notificationType") or event.get("eventType") or "")
    mail = _mapping(event.get("mail", {}), "Message.mail")
    headers = {str(_mapping(h, "Message.mail.headers[]").get("name", "")).lower(): h.get("value")
               for h in _list(mail.get("headers"))}  # fmt: skip
    common = _mapping(mail.get("commonHeaders", {}), "Message.mail.commonHeaders")
    token, message_id = _token(headers.get(HEADER.lower())), _message_id(common.get("messageId"))
    if name == "Bounce":
        bounce = _mapping(event.get("bounce"), "Message.bounce")
        kind = _ses_bounce_kind(bounce)
        rows = [_mapping(row, "Message.bounce.bouncedRecipients[]") for row in _list(bounce.get("bouncedRecipients"))]
        reason = f"Amazon SES bounce ({_text(bounce.get('bounceType'), 20)}, {_text(bounce.get('bounceSubType'), 30)})"
        return [
            Returned(kind=_mailbox_full(kind, row), source="ses", event_id=f"{event_id}/{n}",
                     recipients=_addresses([row.get("emailAddress")]), status=_text(row.get("status"), 12),
                     diagnostic=_text(row.get("diagnosticCode")), reason=reason, events="ses", token=token,
                     message_id=message_id)
            for n, row in enumerate(rows[:MAX_EVENTS])
        ]  # fmt: skip
    if name in ("Complaint", "DeliveryDelay"):
        key, rows_key, kind = (
            ("complaint", "complainedRecipients", Kind.COMPLAINT)
            if name == "Complaint"
            else ("deliveryDelay", "delayedRecipients", Kind.DELAYED)
        )
        body = _mapping(event.get(key), f"Message.{key}")
        addresses = _addresses([_mapping(r, f"Message.{key}.{rows_key}[]").get("emailAddress")
                                for r in _list(body.get(rows_key))])  # fmt: skip
        return [Returned(kind=kind, source="ses", event_id=event_id, recipients=addresses, reason=f"Amazon SES {name}",
                         events="ses", token=token, message_id=message_id)]  # fmt: skip
    log.info("an Amazon SES %s event: not a bounce, nothing to do", _text(name, 40) or "unnamed")
    return []


def _ses_bounce_kind(bounce: dict[str, Any]) -> Kind:
    if bounce.get("bounceSubType") in _SES_NOT_THE_READER:
        return Kind.UNRELATED
    return Kind.HARD if bounce.get("bounceType") == "Permanent" else Kind.SOFT


def _mailbox_full(kind: Kind, row: dict[str, Any]) -> Kind:
    status = str(row.get("status") or "")
    return Kind.SOFT if kind is Kind.HARD and status.endswith(".2.2") else kind


# Mailgun


def mailgun(data: dict[str, Any]) -> list[Returned]:
    """The `event-data` of a Mailgun webhook; [] for the events that are no bounce."""
    event = _mapping(data.get("event-data"), "event-data")
    name, reason = str(event.get("event") or ""), str(event.get("reason") or "")
    if name == "failed":
        if reason == "suppress-complaint":
            kind = Kind.COMPLAINT
        elif reason == "suppress-unsubscribe":
            kind = Kind.UNRELATED
        else:
            kind = Kind.HARD if event.get("severity") == "permanent" else Kind.SOFT
    elif name == "complained":
        kind = Kind.COMPLAINT
    else:
        log.info("a Mailgun %s event: not a bounce, nothing to do", _text(name, 40) or "unnamed")
        return []
    status = _mapping(event.get("delivery-status", {}), "event-data.delivery-status")
    message = _mapping(event.get("message", {}), "event-data.message")
    headers = _mapping(message.get("headers", {}), "event-data.message.headers")
    event_id = _text(event.get("id"), 200)
    if not event_id:
        raise EventError("event-data.id: expected the event's id, a string")
    code = status.get("enhanced-code") or status.get("code")
    return [
        Returned(
            kind=kind,
            source="mailgun",
            event_id=event_id,
            recipients=_addresses([event.get("recipient")]),
            message_id=_message_id(headers.get("message-id")),
            status=_text(code, 12),
            diagnostic=_text(status.get("description") or status.get("message")),
            reason=f"Mailgun {name} ({_text(event.get('severity') or reason, 30)})",
            events="mailgun",
        )
    ]
