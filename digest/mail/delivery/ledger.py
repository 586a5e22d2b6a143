"""The delivery rows of one issue, as the sending threads write them (the protocol: see __init__.py)."""

from __future__ import annotations

import threading

from digest.models import BounceKind, DeliveryStatus, Recipient, SubscriberStatus
from digest.store import deliveries
from digest.store import subscribers as subscriber_rows
from digest.store.db import State
from digest.subscribers.bounces import SMTP, record_bounce


class Ledger:
    """The delivery rows of one issue, written by every sending thread in turn.

    Outcomes are written with synchronous=FULL: a 'sent' row is on disk when the write returns, so not even a
    power cut forgets a delivery. The 'sending' and 'committing' marks only name the messages in flight, so they
    skip the fsync (NORMAL: they survive a killed process, and the next FULL write makes them durable too).
    """

    def __init__(self, state: State, issue_id: str, bounce_after: int, soft_limit: int = 3) -> None:
        self.issue_id = issue_id
        self.bounce_after = bounce_after
        self.soft_limit = soft_limit
        self.db = state.another("FULL")
        self.marks = state.another("NORMAL")
        self.lock = threading.Lock()

    def close(self) -> None:
        self.db.close()
        self.marks.close()

    def claim(self, who: Recipient, message_id: str) -> bool:
        """Mark the message in flight, and which variant it is, unless the subscriber left the list since the
        send began."""
        with self.lock:
            if subscriber_rows.status_of(self.marks, who.id) != SubscriberStatus.ACTIVE:
                return False
            deliveries.record(
                self.marks, self.issue_id, who.id, DeliveryStatus.SENDING, 0, message_id, None, who.variant
            )
            return True

    def committing(self, who: Recipient, message_id: str) -> None:
        """The message's last line is about to go: from here until `sent`, the relay may hold it."""
        with self.lock:
            deliveries.record(self.marks, self.issue_id, who.id, DeliveryStatus.COMMITTING, 0, message_id, None)

    def sent(self, who: Recipient, message_id: str) -> None:
        with self.lock:
            deliveries.record(self.db, self.issue_id, who.id, DeliveryStatus.SENT, 1, message_id, None)

    def deferred(self, who: Recipient, error: str) -> None:
        with self.lock:
            deliveries.record(self.db, self.issue_id, who.id, DeliveryStatus.DEFERRED, 1, None, error)

    def failed(self, who: Recipient, error: str, kind: BounceKind | None, code: int | None = None) -> bool:
        """Record the failure, and the bounce when it is one; True when it makes the subscriber 'bounced'."""
        with self.lock, self.db.transaction():
            deliveries.record(self.db, self.issue_id, who.id, DeliveryStatus.FAILED, 1, None, error)
            if kind is None:
                return False
            changed = record_bounce(
                self.db, who.id, kind, SMTP, error, self.bounce_after, code, issue_id=self.issue_id,
                soft_limit=self.soft_limit,
            )  # fmt: skip
            return changed is SubscriberStatus.BOUNCED
