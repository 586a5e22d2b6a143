"""Bounces and complaints: the history of each subscriber, the deliveries a report names, events seen once,
where the bounce mailbox was read up to, and the rates of each issue."""

from __future__ import annotations

from dataclasses import dataclass

from digest.models import BounceKind, DeliveryStatus, IssueStatus, SubscriberStatus
from digest.store.db import State, utcnow_iso

# A delivery the relay took (sent) or refused for good (failed): what a bounce can be about.
_MAILED = (DeliveryStatus.SENT, DeliveryStatus.FAILED)


@dataclass(frozen=True)
class BounceRow:
    """One line of a subscriber's history: a bounce or complaint, and the status it changed to, if any."""

    created_at: str
    kind: BounceKind
    source: str
    issue_id: str | None
    code: int | None
    status: str
    detail: str
    changed_to: SubscriberStatus | None


@dataclass(frozen=True)
class IssueRates:
    """How one issue came back: messages mailed, and the subscribers who bounced or complained."""

    issue_id: str
    mailed: int
    hard: int
    soft: int
    complaints: int

    @property
    def bounced(self) -> int:
        return self.hard + self.soft


def add(
    state: State,
    subscriber_id: int,
    kind: BounceKind,
    source: str,
    detail: str,
    issue_id: str | None,
    code: int | None,
    status: str,
    changed_to: SubscriberStatus | None,
) -> None:
    state.execute(
        """INSERT INTO bounces (subscriber_id, kind, source, code, detail, created_at, issue_id, status, changed_to)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (subscriber_id, BounceKind(kind), source, code, detail, utcnow_iso(), issue_id, status, changed_to),
    )


def history(state: State, subscriber_id: int) -> list[BounceRow]:
    rows = state.rows(
        """SELECT created_at, kind, source, issue_id, code, status, detail, changed_to FROM bounces
           WHERE subscriber_id = ? ORDER BY created_at""",
        (subscriber_id,),
    )
    return [
        BounceRow(
            row["created_at"],
            BounceKind(row["kind"]),
            row["source"],
            row["issue_id"],
            row["code"],
            row["status"] or "",
            row["detail"],
            SubscriberStatus(row["changed_to"]) if row["changed_to"] else None,
        )
        for row in rows
    ]


def set_failures(state: State, subscriber_id: int, count: int) -> None:
    """The issues in a row that bounced, as the subscriber's `failures` shows them."""
    state.execute(
        "UPDATE subscribers SET failures = ?, updated_at = ? WHERE id = ?", (count, utcnow_iso(), subscriber_id)
    )


def bounced_before(state: State, subscriber_id: int, issue_id: str | None, since: str, limit: int) -> int:
    """How many issues in a row before `issue_id` (the latest ones when None) bounced for this subscriber: each
    mailed to them with a hard or soft bounce recorded after `since`. The first issue that went out and never
    came back ends the row: a delivery that succeeded."""
    rows = state.rows(
        """SELECT (SELECT COUNT(*) FROM bounces b WHERE b.subscriber_id = d.subscriber_id AND b.issue_id = d.issue_id
                     AND b.kind IN (?, ?) AND b.created_at > ?) AS bounced
           FROM issues i JOIN deliveries d ON d.issue_id = i.id AND d.subscriber_id = ?
           WHERE d.status IN (?, ?) AND i.id <> ?
             AND i.window_end <= COALESCE((SELECT window_end FROM issues WHERE id = ?), i.window_end)
           ORDER BY i.window_end DESC LIMIT ?""",
        (BounceKind.HARD, BounceKind.SOFT, since, subscriber_id, *_MAILED, issue_id or "", issue_id or "", limit),
    )
    count = 0
    for row in rows:
        if not row["bounced"]:
            break
        count += 1
    return count


# Which delivery a report is about


def issue_named(state: State, issue_id: str) -> str | None:
    """The issue's id as stored, found without regard to case (a relay may lower-case a VERP address)."""
    row = state.one("SELECT id FROM issues WHERE LOWER(id) = LOWER(?)", (issue_id,))
    return str(row[0]) if row else None


def was_mailed(state: State, issue_id: str, subscriber_id: int) -> bool:
    row = state.one(
        "SELECT 1 FROM deliveries WHERE issue_id = ? AND subscriber_id = ? AND status IN (?, ?)",
        (issue_id, subscriber_id, *_MAILED),
    )
    return row is not None


def by_message_id(state: State, issue_id: str, message_id: str) -> int | None:
    """The subscriber an issue's message with this Message-ID went to."""
    row = state.one(
        "SELECT subscriber_id FROM deliveries WHERE issue_id = ? AND message_id = ? AND status IN (?, ?)",
        (issue_id, message_id, *_MAILED),
    )
    return int(row[0]) if row else None


def latest_mailed(state: State, subscriber_id: int, since: str) -> str | None:
    """The newest issue mailed to the subscriber at or after `since` (an ISO time)."""
    row = state.one(
        """SELECT i.id FROM issues i JOIN deliveries d ON d.issue_id = i.id AND d.subscriber_id = ?
           WHERE d.status IN (?, ?) AND d.updated_at >= ? ORDER BY i.window_end DESC LIMIT 1""",
        (subscriber_id, *_MAILED, since),
    )
    return str(row[0]) if row else None


# Events seen once: a webhook sent twice, a report fetched again after its filing failed


def first_time(state: State, source: str, event_id: str) -> bool:
    """Note the event; False when it was noted before (then it must change nothing)."""
    cursor = state.execute(
        "INSERT INTO bounce_events (source, event_id, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (source, event_id, utcnow_iso()),
    )
    return cursor.rowcount > 0


def seen(state: State, source: str, event_id: str) -> bool:
    row = state.one("SELECT 1 FROM bounce_events WHERE source = ? AND event_id = ?", (source, event_id))
    return row is not None


def forget_events_before(state: State, moment: str) -> None:
    state.execute("DELETE FROM bounce_events WHERE received_at < ?", (moment,))


# How far the bounce mailbox was read


def mailbox_mark(state: State, mailbox: str) -> tuple[int, int] | None:
    """(UIDVALIDITY, the last UID read) of a mailbox, if it was read before."""
    row = state.one("SELECT uidvalidity, last_uid FROM mailbox_marks WHERE mailbox = ?", (mailbox,))
    return (int(row[0]), int(row[1])) if row else None


def set_mailbox_mark(state: State, mailbox: str, uidvalidity: int, last_uid: int) -> None:
    state.execute(
        """INSERT INTO mailbox_marks (mailbox, uidvalidity, last_uid, updated_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid,
             updated_at = excluded.updated_at""",
        (mailbox, uidvalidity, last_uid, utcnow_iso()),
    )


# Rates for the health report


def rates(state: State, limit: int) -> list[IssueRates]:
    """The latest `limit` issues sent (or being sent), newest first, with how many came back and how."""
    rows = state.rows(
        """SELECT i.id,
             (SELECT COUNT(*) FROM deliveries d WHERE d.issue_id = i.id AND d.status IN (?, ?)) AS mailed,
             (SELECT COUNT(DISTINCT b.subscriber_id) FROM bounces b WHERE b.issue_id = i.id AND b.kind = ?) AS hard,
             (SELECT COUNT(DISTINCT b.subscriber_id) FROM bounces b WHERE b.issue_id = i.id AND b.kind = ?
                AND b.subscriber_id NOT IN (SELECT h.subscriber_id FROM bounces h
                                            WHERE h.issue_id = i.id AND h.kind = ?)) AS soft,
             (SELECT COUNT(DISTINCT b.subscriber_id) FROM bounces b WHERE b.issue_id = i.id AND b.kind = ?)
               AS complaints
           FROM issues i WHERE i.status IN (?, ?) ORDER BY i.window_end DESC LIMIT ?""",
        (
            *_MAILED,
            BounceKind.HARD,
            BounceKind.SOFT,
            BounceKind.HARD,
            BounceKind.COMPLAINT,
            IssueStatus.SENT,
            IssueStatus.SENDING,
            limit,
        ),
    )
    return [IssueRates(row[0], row[1], row[2], row[3], row[4]) for row in rows]
