"""Claims of recipients on the shared delivery ledger: which worker sends to whom, and until when.

Every send first queues a row for each active subscriber the issue has not reached (`enqueue`); a worker then
claims a batch of queued rows at a time (`claim`: on PostgreSQL `FOR UPDATE SKIP LOCKED`, so two workers never
wait on, or take, the same rows), with a lease on the database's clock that it renews while it lives
(`renew`). A worker that dies leaves its claims to expire; the others, or the next run, take them then. Each
mark a worker writes on a row it claimed (`mark`) checks that the claim is still its own and that the reader is
still active, in the same statement: an unsubscribe from any web process is honoured by the next mark.
How the rows move is told in digest/mail/delivery/__init__.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from digest.models import DeliveryStatus, Recipient, SubscriberStatus
from digest.store.db import State, utcnow_iso

Q, DEFERRED, SENDING = DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED, DeliveryStatus.SENDING
COMMITTING, HELD = DeliveryStatus.COMMITTING, DeliveryStatus.HELD
OPEN = (Q, DEFERRED, SENDING, COMMITTING)  # not yet done: someone is at it, or will be
CLAIMABLE = (*OPEN, HELD)  # once its lease is out: a held refusal of a worker that died is tried again
# CLAIMABLE as literals, the predicate of the partial index deliveries_open (store/migrations.py, 9): with the
# statuses as parameters PostgreSQL could not prove that a generic plan may use it.
OPEN_ROWS = "d.status IN ({})".format(", ".join(f"'{status.value}'" for status in CLAIMABLE))
ANALYZE_AFTER = 1000  # rows queued at once from which PostgreSQL is given their statistics
_ACTIVE = "EXISTS (SELECT 1 FROM subscribers s WHERE s.id = d.subscriber_id AND s.status = ?)"


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))


@dataclass(frozen=True)
class Claimed:
    """A recipient this worker now holds, and how far its copy had got (COMMITTING: it may have arrived)."""

    recipient: Recipient
    was: DeliveryStatus


def enqueue(state: State, issue_id: str) -> int:
    """Queue every active subscriber the issue has no row for yet, but a reader who paused the newsletter until
    a later moment; returns how many were queued."""
    now = utcnow_iso()
    # The rows already queued are turned away by the ledger's unique key alone. A NOT EXISTS against deliveries,
    # with the statistics of an empty ledger (a nightly ANALYZE before the first send), was planned by PostgreSQL
    # as a scan of deliveries for every reader, each scan also reading the rows the statement had just written:
    # 35 s for 100,000 readers, 0.5 s without it (SQLite: 0.14 s either way).
    cursor = state.execute(
        """INSERT INTO deliveries (issue_id, subscriber_id, status, attempts, updated_at)
           SELECT ?, id, ?, 0, ? FROM subscribers
           WHERE status = ? AND (paused_until IS NULL OR paused_until <= ?)
           ON CONFLICT (issue_id, subscriber_id) DO NOTHING""",
        (issue_id, Q, now, SubscriberStatus.ACTIVE, now),
    )
    queued = max(0, cursor.rowcount)
    if queued >= ANALYZE_AFTER and state.engine == "postgresql":
        # Without statistics of the rows just queued, PostgreSQL takes the issue's open rows for a handful, and
        # plans each claim as a sort of all of them (100 ms at 100,000) instead of a walk of deliveries_open
        # that stops at `count` rows. (A role that does not own the table is warned, and the claims go on.)
        state.execute("ANALYZE deliveries")
    return queued


def claim(state: State, issue_id: str, worker: str, count: int, lease: float) -> list[Claimed]:
    """Take up to `count` rows no live worker holds, for `lease` seconds."""
    d = state.dialect
    with state.transaction():
        # The rows are picked once, in a materialized CTE: as a subquery of the UPDATE, PostgreSQL may rescan
        # it for every row (a nested-loop semi-join), each scan skipping the rows the last one locked, and so
        # take the whole issue instead of `count` rows. They are read in the order of the partial index of the
        # rows not yet done, one at a time: a bitmap scan, or one of every row of the issue, would first
        # read past every row already sent (and, on PostgreSQL, every dead version of the rows' earlier
        # marks), so that each batch took longer than the last. (The reader's status is a subquery, not an
        # EXISTS, which PostgreSQL would make a join it may start from every subscriber.)
        taken = state.execute(
            f"""WITH picked AS MATERIALIZED (
                  SELECT d.subscriber_id FROM deliveries d
                  WHERE d.issue_id = ? AND {OPEN_ROWS}
                    AND (d.lease_until IS NULL OR d.lease_until < {d.epoch})
                    AND (SELECT s.status FROM subscribers s WHERE s.id = d.subscriber_id) = ?
                  ORDER BY d.subscriber_id LIMIT ?{d.skip_locked})
                UPDATE deliveries SET worker = ?, lease_until = {d.epoch} + ?
                WHERE issue_id = ? AND subscriber_id IN (SELECT subscriber_id FROM picked)
                RETURNING subscriber_id, status, attempts, variant""",
            (issue_id, SubscriberStatus.ACTIVE, count, worker, lease, issue_id),
        ).fetchall()
        if not taken:
            return []
        ids = [row[0] for row in taken]
        people = {
            row[0]: (row[1], row[2], row[3])
            for row in state.execute(
                f"SELECT id, email, name, themes FROM subscribers WHERE id IN ({_marks(ids)})", ids
            )
        }
    taken.sort(key=lambda row: row[0])
    return [
        Claimed(Recipient(row[0], *people[row[0]][:2], row[2] or 0, people[row[0]][2], row[3]), DeliveryStatus(row[1]))
        for row in taken
        if row[0] in people
    ]


def renew(state: State, issue_id: str, worker: str, lease: float) -> int:
    """Extend the lease of every row this worker still holds; returns how many it holds."""
    cursor = state.execute(
        f"""UPDATE deliveries SET lease_until = {state.dialect.epoch} + ?
            WHERE issue_id = ? AND worker = ? AND status IN ({_marks(CLAIMABLE)})""",
        (lease, issue_id, worker, *CLAIMABLE),
    )
    return cursor.rowcount


def release(state: State, issue_id: str, worker: str) -> None:
    """Give back every row this worker holds and has not finished (a copy in doubt keeps its mark and its lease,
    so that whoever takes it after the lease names it)."""
    state.execute(
        f"""UPDATE deliveries SET worker = NULL, lease_until = NULL
            WHERE issue_id = ? AND worker = ? AND status IN ({_marks((Q, DEFERRED, SENDING, HELD))})""",
        (issue_id, worker, Q, DEFERRED, SENDING, HELD),
    )


def mark(
    state: State,
    issue_id: str,
    subscriber_id: int,
    worker: str,
    status: DeliveryStatus,
    message_id: str,
    variant: str | None = None,
) -> bool:
    """Move a claimed row on (SENDING, COMMITTING), with the variant of its copy (None keeps the one recorded),
    only while the claim is this worker's and the reader is active; False when either is no longer so."""
    cursor = state.execute(
        f"""UPDATE deliveries SET status = ?, message_id = ?, updated_at = ?, variant = COALESCE(?, variant)
            WHERE issue_id = ? AND subscriber_id = ? AND worker = ? AND {_ACTIVE.replace("d.", "deliveries.")}""",
        (
            DeliveryStatus(status), message_id, utcnow_iso(), variant, issue_id, subscriber_id, worker,
            SubscriberStatus.ACTIVE,
        ),
    )  # fmt: skip
    return cursor.rowcount > 0


def drop_unsent(state: State, issue_id: str, subscriber_id: int, worker: str) -> None:
    """A reader who left before their copy was tried: no row, as if never queued (a return re-queues them)."""
    state.execute(
        "DELETE FROM deliveries WHERE issue_id = ? AND subscriber_id = ? AND worker = ? AND status = ?",
        (issue_id, subscriber_id, worker, Q),
    )


def drop_queued(state: State, issue_id: str, subscriber_ids: Sequence[int], worker: str) -> None:
    """Readers who get nothing this week (every theme they chose is empty in this issue): no row, as for a send
    on one machine, so that a choice changed before a later run of the send is heard."""
    if subscriber_ids:
        state.execute(
            f"""DELETE FROM deliveries WHERE issue_id = ? AND worker = ? AND status = ?
                AND subscriber_id IN ({_marks(subscriber_ids)})""",
            (issue_id, worker, Q, *subscriber_ids),
        )


@dataclass(frozen=True)
class Pending:
    """Rows of active readers not yet done that other workers hold (live: their lease runs) or left."""

    total: int
    live: int


def pending(state: State, issue_id: str, worker: str) -> Pending:
    d = state.dialect
    row = state.one(
        f"""SELECT COUNT(*), COALESCE(SUM(CASE WHEN d.lease_until >= {d.epoch} THEN 1 ELSE 0 END), 0)
            FROM deliveries d
            WHERE d.issue_id = ? AND d.status IN ({_marks(OPEN)}) AND (d.worker IS NULL OR d.worker <> ?)
              AND {_ACTIVE}""",
        (issue_id, *OPEN, worker, SubscriberStatus.ACTIVE),
    )
    return Pending(int(row[0]), int(row[1])) if row else Pending(0, 0)


@dataclass(frozen=True)
class Left:
    """What stands between an issue and 'sent': copies nobody holds now, and copies live workers hold."""

    unclaimed: int
    with_others: int


def left(state: State, issue_id: str, worker: str = "") -> Left:
    d = state.dialect
    row = state.one(
        f"""SELECT
              COALESCE(SUM(CASE WHEN d.lease_until >= {d.epoch} AND d.worker <> ? THEN 0 ELSE 1 END), 0),
              COALESCE(SUM(CASE WHEN d.lease_until >= {d.epoch} AND d.worker <> ? THEN 1 ELSE 0 END), 0)
            FROM deliveries d
            WHERE d.issue_id = ? AND d.status IN ({_marks(CLAIMABLE)}) AND {_ACTIVE}""",
        (worker, worker, issue_id, *CLAIMABLE, SubscriberStatus.ACTIVE),
    )
    return Left(int(row[0]), int(row[1])) if row else Left(0, 0)


@dataclass(frozen=True)
class Tally:
    """Where an issue's copies stand, for a send's summary."""

    sent: int
    failed: int
    inactive: int  # subscribers who left, and neither got nor failed this issue (a sign-up not confirmed: neither)
    to_send: int  # rows of active readers not yet done
    in_doubt: list[str]  # addresses whose final line went out when a run stopped


def tally(state: State, issue_id: str) -> Tally:
    counts = {
        (row[0], row[1]): int(row[2])
        for row in state.execute(
            """SELECT d.status, CASE WHEN s.status = ? THEN 1 ELSE 0 END, COUNT(*)
               FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
               WHERE d.issue_id = ? GROUP BY 1, 2""",
            (SubscriberStatus.ACTIVE, issue_id),
        )
    }
    row = state.one(
        """SELECT COUNT(*) FROM subscribers s WHERE s.status NOT IN (?, ?) AND NOT EXISTS (
             SELECT 1 FROM deliveries d WHERE d.issue_id = ? AND d.subscriber_id = s.id AND d.status IN (?, ?))""",
        (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING, issue_id, DeliveryStatus.SENT, DeliveryStatus.FAILED),
    )
    doubt = state.execute(
        """SELECT s.email FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
           WHERE d.issue_id = ? AND d.status = ? AND s.status = ? ORDER BY s.id""",
        (issue_id, COMMITTING, SubscriberStatus.ACTIVE),
    ).fetchall()
    return Tally(
        sent=sum(n for (status, _), n in counts.items() if status == DeliveryStatus.SENT),
        failed=sum(n for (status, _), n in counts.items() if status == DeliveryStatus.FAILED),
        inactive=int(row[0]) if row else 0,
        to_send=sum(n for (status, active), n in counts.items() if status in CLAIMABLE and active),
        in_doubt=[r[0] for r in doubt],
    )


def hold_active(state: State, subscriber_id: int) -> bool:
    """Whether the reader is active, keeping their row from changing until the transaction ends (PostgreSQL):
    an unsubscribe that arrives meanwhile waits for the message in flight to be settled."""
    row = state.one(f"SELECT status FROM subscribers WHERE id = ?{state.dialect.for_share}", (subscriber_id,))
    return row is not None and row[0] == SubscriberStatus.ACTIVE


def holders(state: State, issue_id: str) -> list[str]:
    """The workers whose leases on this issue's rows still run."""
    rows = state.execute(
        f"SELECT DISTINCT worker FROM deliveries WHERE issue_id = ? AND status IN ({_marks(CLAIMABLE)}) "
        f"AND worker IS NOT NULL AND lease_until >= {state.dialect.epoch}",
        (issue_id, *CLAIMABLE),
    )
    return [row[0] for row in rows]


def expire(state: State, issue_id: str, worker: str) -> int:
    """End a worker's leases now (it is known to be dead); its rows keep their marks, so a copy in doubt is named."""
    cursor = state.execute(
        "UPDATE deliveries SET lease_until = NULL WHERE issue_id = ? AND worker = ?", (issue_id, worker)
    )
    return cursor.rowcount
