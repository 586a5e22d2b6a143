"""The delivery rows of one issue, as one worker's sending threads write them (the protocol: see __init__.py)."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from enum import Enum

from digest.models import BounceKind, DeliveryStatus, Recipient, SubscriberStatus
from digest.store import claims, deliveries
from digest.store import subscribers as subscriber_rows
from digest.store.db import State
from digest.subscribers.bounces import SMTP, record_bounce


class Claim(Enum):
    GO = "go"
    LEFT = "left"  # the reader unsubscribed or bounced since the send began
    TAKEN = "taken"  # this worker's lease ran out and another worker holds the row now


class _Abandoned(Exception):
    """Ends the guard's transaction without a record: the message was not accepted."""


class Ledger:
    """The delivery rows of one issue, written by every sending thread of one worker in turn.

    Outcomes are written with synchronous=FULL: a 'sent' row is on disk when the write returns, so not even a
    power cut forgets a delivery. The 'sending' and 'committing' marks only name the messages in flight, so they
    skip the fsync (NORMAL: they survive a killed process, and the next FULL write makes them durable too).

    On PostgreSQL a third connection, the guard, holds the reader's row (FOR SHARE) from the check that they
    are still active, just before the final line, until the 'sent' record: an unsubscribe from any web process
    either comes first, and the message is abandoned, or waits the few milliseconds until it is recorded.
    """

    def __init__(self, state: State, issue_id: str, bounce_after: int, worker: str, soft_limit: int = 3) -> None:
        self.issue_id = issue_id
        self.bounce_after = bounce_after
        self.worker = worker
        self.soft_limit = soft_limit
        self.db = state.another("FULL")
        self.marks = state.another("NORMAL")
        self.guard = state.another("FULL") if state.dialect.for_share else None
        self.held: AbstractContextManager[State] | None = None
        self.lock = threading.Lock()

    def close(self) -> None:
        self.abandon()
        for state in (self.db, self.marks, self.guard):
            if state is not None:
                state.close()

    def claim(self, who: Recipient, message_id: str) -> Claim:
        """Mark the message in flight, and which variant it is, unless the reader left the list or the claim is
        no longer this worker's."""
        with self.lock:
            ok = claims.mark(
                self.marks, self.issue_id, who.id, self.worker, DeliveryStatus.SENDING, message_id, who.variant
            )
            if ok:
                return Claim.GO
            if subscriber_rows.status_of(self.marks, who.id) != SubscriberStatus.ACTIVE:
                claims.drop_unsent(self.marks, self.issue_id, who.id, self.worker)
                return Claim.LEFT
            return Claim.TAKEN

    def committing(self, who: Recipient, message_id: str) -> Claim:
        """The message's last line is about to go: from here until `sent`, the relay may hold it. Only one message
        of this worker at a time is here (the sender's commit lock)."""
        with self.lock:
            if self.guard is not None:
                self.held = self.guard.transaction()
                self.held.__enter__()
                if not claims.hold_active(self.guard, who.id):
                    self._end_guard()
                    return Claim.LEFT
            if claims.mark(self.marks, self.issue_id, who.id, self.worker, DeliveryStatus.COMMITTING, message_id):
                return Claim.GO
            self._end_guard()
            left = subscriber_rows.status_of(self.marks, who.id) != SubscriberStatus.ACTIVE
            return Claim.LEFT if left else Claim.TAKEN

    def sent(self, who: Recipient, message_id: str) -> None:
        with self.lock:
            held, self.held = self.held, None
            on = self.guard if held is not None and self.guard is not None else self.db
            deliveries.record(on, self.issue_id, who.id, DeliveryStatus.SENT, 1, message_id, None)
            if held is not None:
                held.__exit__(None, None, None)

    def abandon(self) -> None:
        """The final line went out but no 250 came back: nothing to record, the guard lets go."""
        with self.lock:
            self._end_guard()

    def _end_guard(self) -> None:
        held, self.held = self.held, None
        if held is not None:
            problem = _Abandoned()
            held.__exit__(_Abandoned, problem, None)

    def deferred(self, who: Recipient, error: str) -> None:
        with self.lock:
            deliveries.record(self.db, self.issue_id, who.id, DeliveryStatus.DEFERRED, 1, None, error)

    def hold(self, who: Recipient, error: str) -> None:
        """A refusal for good, final only at the end of the run (see __init__.py)."""
        with self.lock:
            deliveries.record(self.db, self.issue_id, who.id, DeliveryStatus.HELD, 1, None, error)

    def put_back(self, who: Recipient, error: str) -> None:
        """A held refusal returned for the next run: deferred, with no try counted again."""
        with self.lock:
            deliveries.record(self.db, self.issue_id, who.id, DeliveryStatus.DEFERRED, 0, None, error)

    def failed(self, who: Recipient, error: str, kind: BounceKind | None, code: int | None = None) -> bool:
        """Record the failure, and the bounce when it is one; True when it makes the subscriber 'bounced'."""
        with self.lock, self.db.transaction():
            deliveries.record(self.db, self.issue_id, who.id, DeliveryStatus.FAILED, 0, None, error)
            if kind is None:
                return False
            changed = record_bounce(
                self.db, who.id, kind, SMTP, error, self.bounce_after, code, issue_id=self.issue_id,
                soft_limit=self.soft_limit,
            )  # fmt: skip
            return changed is SubscriberStatus.BOUNCED
