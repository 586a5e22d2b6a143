"""Bounces from every source go through one policy, `record_bounce`:

- a complaint (the reader pressed "Report spam") makes the subscriber `complained` at once: never mailed again;
- a hard bounce (5.x.x: no such mailbox) makes an active subscriber `bounced` once `bounce_after` issues in a
  row bounced: at once (1) for a bounce report or a provider's event, `smtp.bounce_after` for a refusal the
  relay gave while we were sending (a relay may refuse for reasons of its own, so it takes a few issues);
- a soft bounce (4.x.x, a full mailbox) does so once `soft_limit` issues in a row bounced (`bounces.soft_limit`).

"In a row" counts issues, not reports: an issue that bounced twice counts once, and the first earlier issue that
went out and did not come back (a delivery that succeeded) ends the row. Only bounces since the subscriber last
rejoined count. A delay notice and an auto-reply are no bounce and never reach this module. Every call adds one
line to the subscriber's history (source, date, issue, status code, text, and the status it changed to), which
`digest subscribers show ADDR` prints.
"""

from __future__ import annotations

import logging
import re

from digest.models import BounceKind, SubscriberStatus
from digest.store import bounces as history
from digest.store import subscribers as store
from digest.store.bounces import BounceRow
from digest.store.db import State

SMTP = "smtp"  # the source of a refusal the relay gave while we were sending

log = logging.getLogger(__name__)

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
    bounce_after: int = 1,
    code: int | None = None,
    *,
    issue_id: str | None = None,
    status: str = "",
    soft_limit: int = 3,
) -> SubscriberStatus | None:
    """Record one bounce or complaint of `kind` from `source` about `issue_id` and apply the policy (see the
    module docstring); returns the subscriber's new status when this changed it. A subscriber that is not on
    the list (any more) changes nothing."""
    kind = BounceKind(kind)
    with state.transaction():
        subscriber = store.by_id(state, subscriber_id)
        if subscriber is None:
            return None
        changed: SubscriberStatus | None = None
        if kind is BounceKind.COMPLAINT:
            if store.set_status(state, subscriber_id, SubscriberStatus.COMPLAINED):
                changed = SubscriberStatus.COMPLAINED
        else:
            limit = bounce_after if kind is BounceKind.HARD else soft_limit
            since = subscriber.rejoined_at or ""
            in_a_row = 1 + history.bounced_before(state, subscriber_id, issue_id, since, max(limit, soft_limit))
            history.set_failures(state, subscriber_id, in_a_row)
            if in_a_row >= limit and store.set_status(
                state, subscriber_id, SubscriberStatus.BOUNCED, only_from=SubscriberStatus.ACTIVE
            ):
                changed = SubscriberStatus.BOUNCED
        history.add(state, subscriber_id, kind, source, detail, issue_id, code, status, changed)
    if changed is not None:
        log.info(
            "%s is now %s: %s bounce from %s (issue %s) %s %s",
            subscriber.email,
            changed,
            kind,
            source,
            issue_id or "unknown",
            status or code or "",
            detail,
        )
    return changed


def history_of(state: State, subscriber_id: int) -> list[BounceRow]:
    """Every bounce and complaint recorded against the subscriber, oldest first, with what each changed."""
    return history.history(state, subscriber_id)
