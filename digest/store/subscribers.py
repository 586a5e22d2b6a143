"""The subscriber list (the bounces recorded against it: bounces.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from digest.models import Subscriber, SubscriberStatus
from digest.store.db import State, utcnow_iso

CHUNK = 500  # keys per IN (...) list


def _record(row: Any) -> Subscriber:
    return Subscriber(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        language=row["language"],
        themes=[t for t in row["themes"].split(",") if t],
        status=SubscriberStatus(row["status"]),
        failures=row["failures"],
        created_at=row["created_at"],
        rejoined_at=row["rejoined_at"],
        paused_until=row["paused_until"],
    )


def by_email(state: State, email: str) -> Subscriber | None:
    """The subscriber with this address, in any case."""
    row = state.one("SELECT * FROM subscribers WHERE email = ?", (email,))
    return _record(row) if row else None


def by_id(state: State, subscriber_id: int) -> Subscriber | None:
    row = state.one("SELECT * FROM subscribers WHERE id = ?", (subscriber_id,))
    return _record(row) if row else None


def status_of(state: State, subscriber_id: int) -> str | None:
    """The bare status, read before each message goes out (hence no record built)."""
    row = state.one("SELECT status FROM subscribers WHERE id = ?", (subscriber_id,))
    return row[0] if row else None


def iterate(state: State, status: SubscriberStatus | None = None) -> Iterator[Subscriber]:
    """Every subscriber (or those of one status) in the order they joined, one at a time."""
    if status is None:
        rows = state.rows("SELECT * FROM subscribers ORDER BY id")
    else:
        rows = state.rows("SELECT * FROM subscribers WHERE status = ? ORDER BY id", (SubscriberStatus(status),))
    for row in rows:
        yield _record(row)


def counts(state: State) -> dict[SubscriberStatus, int]:
    found = dict.fromkeys(SubscriberStatus, 0)
    for row in state.rows("SELECT status, COUNT(*) FROM subscribers GROUP BY status"):
        found[SubscriberStatus(row[0])] = row[1]
    return found


def any_active(state: State) -> bool:
    return state.one("SELECT 1 FROM subscribers WHERE status = ? LIMIT 1", (SubscriberStatus.ACTIVE,)) is not None


def choices(state: State) -> dict[str, int]:
    """How many active readers hold each choice of themes, as stored ('' is everything)."""
    rows = state.rows(
        "SELECT themes, COUNT(*) FROM subscribers WHERE status = ? GROUP BY themes", (SubscriberStatus.ACTIVE,)
    )
    return {row[0]: row[1] for row in rows}


def insert(state: State, email: str, name: str, language: str, themes: str) -> None:
    now = utcnow_iso()
    state.execute(
        """INSERT INTO subscribers (email, name, language, themes, status, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        (email, name, language, themes, SubscriberStatus.ACTIVE, now, now),
    )


def reactivate(state: State, subscriber_id: int) -> None:
    """Active again, with its failures forgotten, and rejoined now: unsubscribe tokens made before are void."""
    # Dated to the microsecond: a token made a moment before must not pass for one made after.
    state.execute(
        "UPDATE subscribers SET status = ?, failures = 0, updated_at = ?, rejoined_at = ? WHERE id = ?",
        (SubscriberStatus.ACTIVE, utcnow_iso(), datetime.now(UTC).isoformat(), subscriber_id),
    )


def set_status(
    state: State, subscriber_id: int, status: SubscriberStatus, only_from: SubscriberStatus | None = None
) -> bool:
    """Change the status (only from `only_from` when given); False when nothing changed."""
    status = SubscriberStatus(status)
    if only_from is None:
        cursor = state.execute(
            "UPDATE subscribers SET status = ?, updated_at = ? WHERE id = ? AND status <> ?",
            (status, utcnow_iso(), subscriber_id, status),
        )
    else:
        cursor = state.execute(
            "UPDATE subscribers SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
            (status, utcnow_iso(), subscriber_id, SubscriberStatus(only_from)),
        )
    return cursor.rowcount > 0


def forget(state: State, subscriber_id: int) -> None:
    """Erase the subscriber, its delivery records and its bounces."""
    with state.transaction():
        state.execute("DELETE FROM deliveries WHERE subscriber_id = ?", (subscriber_id,))
        state.execute("DELETE FROM bounces WHERE subscriber_id = ?", (subscriber_id,))
        state.execute("DELETE FROM subscribers WHERE id = ?", (subscriber_id,))


# importing a list: lines already read are kept in a temporary table, so a file of any size takes the same memory


def start_import(state: State) -> None:
    state.execute("CREATE TEMPORARY TABLE IF NOT EXISTS import_lines (key TEXT PRIMARY KEY, line INTEGER NOT NULL)")
    state.execute("DELETE FROM import_lines")


def import_rows(state: State, rows: list[tuple[int, str, str, str, str]]) -> tuple[int, list[tuple[int, int]]]:
    """Add (line, email, name, language, themes) rows, leaving out an address already on the list or met on an
    earlier line; returns how many were added and (line, earlier line) for each repeat within the file."""
    state.executemany(
        "INSERT INTO import_lines (key, line) VALUES (?, ?) ON CONFLICT(key) DO NOTHING",
        [(email.lower(), line) for line, email, *_ in rows],
    )
    first: dict[str, int] = {}
    keys = list({email.lower() for _, email, *_ in rows})
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        marks = ",".join("?" * len(chunk))
        first.update(state.execute(f"SELECT key, line FROM import_lines WHERE key IN ({marks})", chunk).fetchall())
    repeats = [(line, first[email.lower()]) for line, email, *_ in rows if first[email.lower()] != line]
    now = utcnow_iso()
    cursor = state.executemany(
        """INSERT INTO subscribers (email, name, language, themes, status, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(email) DO NOTHING""",
        [
            (email, name, language, themes, SubscriberStatus.ACTIVE, now, now)
            for line, email, name, language, themes in rows
            if first[email.lower()] == line
        ],
    )
    return cursor.rowcount, repeats


def end_import(state: State) -> None:
    state.execute("DROP TABLE IF EXISTS import_lines")
