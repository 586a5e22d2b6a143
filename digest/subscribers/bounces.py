"""Bounces from every source go through one policy: a hard bounce counts towards `smtp.bounce_after`, a soft one
is only recorded, a complaint unsubscribes at once.

The SMTP path calls `record_bounce` for each refusal it can pin on the address (`smtp_refusal` tells which);
bounce reports read from a mailbox and a relay's webhooks are meant to call the same function.
"""

from __future__ import annotations

import re

from digest.models import BounceKind, SubscriberStatus
from digest.store import subscribers as store
from digest.store.db import State

SMTP = "smtp"  # the source of a refusal the relay gave while we were sending

# An enhanced status code (RFC 3463) at the start of the reply: class.subject.detail.
_ENHANCED = re.compile(r"\s*[245]\.(\d{1,3})\.\d{1,3}\b")
# Subjects about the message or the sender, not the mailbox: 3 mail system (size), 6 media, 7 security/policy.
_NOT_THE_READER = {"3", "6", "7"}
_CONTENT_WORDS = ("line too long", "message too long", "too large", "too big", "message size", "size limit")


def smtp_refusal(code: int, text: str) -> BounceKind | None:
    """How a relay's final refusal counts against the address: a 4xx that outlasted every retry is soft; a 5xx is
    hard, unless it is about the message or the sender (a 5.3.x, 5.6.x or 5.7.x code, a line or message too
    long), which is not the reader's fault and no bounce at all (None)."""
    if code < 500:
        return BounceKind.SOFT
    enhanced = _ENHANCED.match(text)
    if enhanced and enhanced.group(1) in _NOT_THE_READER:
        return None
    said = text.lower()
    if any(words in said for words in _CONTENT_WORDS):
        return None
    return BounceKind.HARD


def record_bounce(
    state: State,
    subscriber_id: int,
    kind: BounceKind,
    source: str,
    detail: str,
    bounce_after: int,
    code: int | None = None,
) -> SubscriberStatus | None:
    """Record one bounce of `kind` from `source` and apply the policy; returns the subscriber's new status when
    this bounce changed it."""
    kind = BounceKind(kind)
    with state.transaction():
        store.add_bounce(state, subscriber_id, kind, source, code, detail)
        if kind is BounceKind.HARD:
            failures = store.count_failure(state, subscriber_id)
            if failures >= bounce_after and store.set_status(
                state, subscriber_id, SubscriberStatus.BOUNCED, only_from=SubscriberStatus.ACTIVE
            ):
                return SubscriberStatus.BOUNCED
        elif kind is BounceKind.COMPLAINT and store.set_status(state, subscriber_id, SubscriberStatus.UNSUBSCRIBED):
            return SubscriberStatus.UNSUBSCRIBED
    return None
