"""Returned mail and providers' events, from any source, tied to our deliveries and handed to the one policy.

A bounce, delay notice or complaint counts only when it is about a message we sent. Which one, in order:
1. our delivery token (the VERP tag the report came back to, or our `X-Digest-Delivery` header quoted in it),
   when our secret signed it: a forged or foreign token is logged and ignored;
2. the Message-ID of the returned message, which the delivery ledger keeps for every copy;
3. the failed recipient's address (Final-Recipient, Original-Recipient, a provider's event), when an issue went
   to that subscriber within `bounces.match_days`.
Anything else (an address we never mailed, a subscriber since forgotten) is left alone with a log line.

Each event is taken once: a webhook delivered twice, or a report fetched again after its filing failed, is
"already recorded" and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from digest.models import BounceKind, SubscriberStatus
from digest.store import bounces as rows
from digest.store import subscribers as subscriber_rows
from digest.store.db import State, iso
from digest.subscribers.bounces import record_bounce
from digest.subscribers.delivery_token import verify_token
from digest.subscribers.reports import Kind, Report
from digest.util import ascii_digits, printable

log = logging.getLogger(__name__)

_POLICY_KIND = {Kind.HARD: BounceKind.HARD, Kind.SOFT: BounceKind.SOFT, Kind.COMPLAINT: BounceKind.COMPLAINT}
_TOLD = {
    Kind.HARD: "hard bounce",
    Kind.SOFT: "soft bounce",
    Kind.COMPLAINT: "complaint",
    Kind.DELAYED: "delay notice",
    Kind.AUTOREPLY: "auto-reply",
    Kind.UNRELATED: "message",
}


@dataclass(frozen=True)
class Returned:
    """One bounce, delay notice or complaint as a source reports it, before it is tied to a delivery."""

    kind: Kind
    source: str  # where it came from: imap, file, webhook, ses, mailgun (stored with each bounce)
    event_id: str  # what makes it the same event when it comes again
    recipients: tuple[str, ...] = ()
    token: str | None = None
    message_id: str | None = None
    status: str = ""  # 5.1.1, or 550
    diagnostic: str = ""
    reason: str = ""
    events: str = ""  # the family of event ids: one for the mailbox and saved files, one per provider

    @property
    def told(self) -> str:
        return _TOLD[self.kind]


def from_report(report: Report, source: str, event_id: str) -> Returned:
    return Returned(
        kind=report.kind,
        source=source,
        event_id=event_id,
        recipients=tuple(report.recipients),
        token=report.token,
        message_id=report.message_id,
        status=report.status,
        diagnostic=report.diagnostic,
        reason=report.reason,
        events="mail",
    )


@dataclass(frozen=True)
class Policy:
    """What `take` needs besides the event: the secret that signs tokens and the config's limits."""

    secret: bytes
    soft_limit: int = 3
    match_days: int = 60


@dataclass(frozen=True)
class Match:
    subscriber_id: int
    email: str
    issue_id: str
    by: str  # token, Message-ID, address


@dataclass
class Taken:
    """What became of one event: whether it was about our mail (then a mailbox files it away) and what changed."""

    handled: bool
    line: str
    changes: list[tuple[str, SubscriberStatus]] = field(default_factory=list)
    duplicate: bool = False


def take(state: State, policy: Policy, event: Returned, now: datetime) -> Taken:
    """Tie the event to our deliveries and apply the policy; never raises for what the event holds."""
    if event.kind in (Kind.AUTOREPLY, Kind.UNRELATED):
        return Taken(False, f"left alone: {event.reason or event.told}")
    matches = identify(state, policy, event, now)
    if not matches:
        named = ", ".join(printable(a) for a in event.recipients) or "no address we can read"
        line = (
            f"left alone: a {event.told} about {named}, which no issue of the last {policy.match_days} days was sent to"
        )
        log.info("%s", line)
        return Taken(False, line)
    about = ", ".join(f"{printable(m.email)} (issue {m.issue_id}, by {m.by})" for m in matches)
    with state.transaction():
        if not rows.first_time(state, event.events or event.source, event.event_id):
            return Taken(True, f"already recorded: the {event.told} about {about}", duplicate=True)
        if event.kind is Kind.DELAYED:
            return Taken(True, f"a delay notice about {about}: nothing changes")
        changes = []
        kind = _POLICY_KIND[event.kind]
        detail = event.diagnostic or event.reason
        for match in matches:
            changed = record_bounce(
                state,
                match.subscriber_id,
                kind,
                event.source,
                detail,
                1,  # a report of a permanent failure is final: bounced at once
                int(event.status) if ascii_digits(event.status) else None,
                issue_id=match.issue_id,
                status=event.status,
                soft_limit=policy.soft_limit,
            )
            if changed is not None:
                changes.append((match.email, changed))
    outcome = "; now " + ", ".join(f"{printable(email)} {status}" for email, status in changes) if changes else ""
    line = f"a {event.told} ({event.status or 'no status code'}) about {about}{outcome}"
    log.info("%s", line)
    return Taken(True, line, changes)


def signature_first_used(state: State, provider: str, token: str, about: list[Returned]) -> bool:
    """Whether a provider's signature token is new, or comes again only with events already taken (a retry).

    A provider that signs a token and not the body (Mailgun) lets anyone holding one signed request put other
    events under it within its age limit: the token may carry only the events it first came with."""
    with state.transaction():
        if rows.first_time(state, f"{provider}-signature", token):
            return True
        return all(rows.seen(state, event.events or event.source, event.event_id) for event in about)


def identify(state: State, policy: Policy, event: Returned, now: datetime) -> list[Match]:
    """The deliveries the event is about (see the module docstring), found by the first way that finds any."""
    if event.token:
        found = verify_token(policy.secret, event.token)
        if found is None:
            log.warning("a %s carries a delivery token our secret did not sign (%s): ignored", event.told,
                        printable(event.token[:80]))  # fmt: skip
        else:
            issue = rows.issue_named(state, found.issue_id)
            subscriber = subscriber_rows.by_id(state, found.subscriber_id)
            if issue and subscriber and rows.was_mailed(state, issue, subscriber.id):
                return [Match(subscriber.id, subscriber.email, issue, "token")]
    if event.message_id:
        match = _by_message_id(state, event.message_id)
        if match is not None:
            return [match]
    since = iso(now - timedelta(days=policy.match_days))
    matches: list[Match] = []
    for address in event.recipients:
        subscriber = subscriber_rows.by_email(state, address)
        issue = rows.latest_mailed(state, subscriber.id, since) if subscriber else None
        if subscriber and issue and all(m.subscriber_id != subscriber.id for m in matches):
            matches.append(Match(subscriber.id, subscriber.email, issue, "address"))
    return matches


def _by_message_id(state: State, message_id: str) -> Match | None:
    """Our Message-IDs read `<issue.mac@domain>`: the issue narrows the search to one issue's ledger."""
    issue_id = message_id.strip("<>").rpartition("@")[0].rpartition(".")[0]
    issue = rows.issue_named(state, issue_id) if issue_id else None
    subscriber_id = rows.by_message_id(state, issue, message_id) if issue else None
    subscriber = subscriber_rows.by_id(state, subscriber_id) if subscriber_id is not None else None
    if issue is None or subscriber is None:
        return None
    return Match(subscriber.id, subscriber.email, issue, "Message-ID")
