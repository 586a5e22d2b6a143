"""The delivery ledger: one row per issue and subscriber, saying how far that copy got.

How the rows move, and why a kill can duplicate at most one message, is told in digest/mail/delivery/__init__.py.
"""

from __future__ import annotations

from collections.abc import Iterator

from digest.models import DeliveryStatus, Recipient, SubscriberStatus
from digest.store.db import State, utcnow_iso


def record(
    state: State,
    issue_id: str,
    subscriber_id: int,
    status: DeliveryStatus,
    tried: int,
    message_id: str | None,
    error: str | None,
    variant: str | None = None,
) -> None:
    """Write the row's new status; `tried` adds to its attempts, a missing message id or variant keeps the one
    it had."""
    state.execute(
        """INSERT INTO deliveries (issue_id, subscriber_id, status, attempts, message_id, error, updated_at,
             variant)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(issue_id, subscriber_id) DO UPDATE SET status = excluded.status,
             attempts = deliveries.attempts + ?, message_id = COALESCE(excluded.message_id,
             deliveries.message_id), error = excluded.error, updated_at = excluded.updated_at,
             variant = COALESCE(excluded.variant, deliveries.variant)""",
        (issue_id, subscriber_id, status, tried, message_id, error, utcnow_iso(), variant, tried),
    )


def of_issue(state: State, issue_id: str) -> Iterator[tuple[Recipient, SubscriberStatus, DeliveryStatus | None]]:
    """Every subscriber with its status and how far this issue's copy got (None: not tried yet), with the
    reader's themes and the variant an earlier run of this send gave them.

    A reader who has not confirmed a sign-up yet (pending), or who paused the newsletter until a later moment,
    is left out until this issue has a row for them: neither is sent this issue, nor counted as leaving."""
    rows = state.rows(
        """SELECT s.id, s.email, s.name, s.status, s.themes, d.status AS done, d.attempts, d.variant
           FROM subscribers s LEFT JOIN deliveries d ON d.subscriber_id = s.id AND d.issue_id = ?
           WHERE d.status IS NOT NULL
              OR (s.status <> ? AND (s.paused_until IS NULL OR s.paused_until <= ?))
           ORDER BY s.id""",
        (issue_id, SubscriberStatus.PENDING, utcnow_iso()),
    )
    for row in rows:
        done = DeliveryStatus(row["done"]) if row["done"] else None
        yield (
            Recipient(row["id"], row["email"], row["name"], row["attempts"] or 0, row["themes"], row["variant"]),
            SubscriberStatus(row["status"]),
            done,
        )


def count_sent(state: State, issue_id: str) -> int:
    row = state.one(
        "SELECT COUNT(*) FROM deliveries WHERE issue_id = ? AND status = ?", (issue_id, DeliveryStatus.SENT)
    )
    return int(row[0]) if row else 0


def sent_since(state: State, since: str) -> list[str]:
    """When each message accepted after `since` (an ISO time) was accepted: the hourly cap counts them."""
    rows = state.rows(
        "SELECT updated_at FROM deliveries WHERE status = ? AND updated_at > ?", (DeliveryStatus.SENT, since)
    )
    return [row[0] for row in rows]


def received_by(state: State, subscriber_id: int) -> tuple[int, str | None]:
    """How many issues reached this subscriber, and the last of them."""
    row = state.one(
        "SELECT COUNT(*), MAX(issue_id) FROM deliveries WHERE subscriber_id = ? AND status = ?",
        (subscriber_id, DeliveryStatus.SENT),
    )
    return (int(row[0]), row[1]) if row else (0, None)
