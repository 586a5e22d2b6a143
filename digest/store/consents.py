"""What each subscriber agreed to and what happened since: consent records, history events, and the salted
hashes of addresses erased at their owner's request."""

from __future__ import annotations

from typing import Any

from digest.models import Consent, ConsentSource, SubscriberEvent
from digest.store.db import State

CHUNK = 500  # keys per IN (...) list


def _consent(row: Any) -> Consent:
    return Consent(
        source=ConsentSource(row["source"]),
        given_at=row["given_at"],
        ip=row["ip"],
        wording=row["wording"],
        confirmed_at=row["confirmed_at"],
        name=row["name"],
        language=row["language"],
        themes=[t for t in row["themes"].split(",") if t],
    )


def add(state: State, subscriber_id: int, consent: Consent) -> None:
    state.execute(
        """INSERT INTO consents (subscriber_id, source, given_at, ip, wording, confirmed_at, name, language, themes)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            subscriber_id,
            ConsentSource(consent.source),
            consent.given_at,
            consent.ip,
            consent.wording,
            consent.confirmed_at,
            consent.name,
            consent.language,
            ",".join(consent.themes),
        ),
    )


def open_request(state: State, subscriber_id: int, given_by: str | None = None) -> Consent | None:
    """The subscriber's newest unconfirmed request, or the newest given by `given_by` (ISO, to the second): the
    one a confirmation email made then was sent for, not one a stranger made afterwards with the same address."""
    cutoff = "" if given_by is None else " AND given_at <= ?"
    row = state.one(
        f"""SELECT * FROM consents WHERE subscriber_id = ? AND confirmed_at IS NULL{cutoff}
            ORDER BY given_at DESC LIMIT 1""",
        (subscriber_id,) if given_by is None else (subscriber_id, given_by),
    )
    return _consent(row) if row else None


def confirm_request(state: State, subscriber_id: int, request: Consent, at: str) -> None:
    """This request confirmed; the subscriber's other unconfirmed requests are dropped."""
    state.execute(
        """UPDATE consents SET confirmed_at = ? WHERE subscriber_id = ? AND confirmed_at IS NULL AND given_at = ?
             AND ip = ? AND wording = ? AND name = ? AND language = ? AND themes = ?""",
        (at, subscriber_id, request.given_at, request.ip, request.wording, request.name, request.language,
         ",".join(request.themes)),
    )  # fmt: skip
    drop_requests(state, subscriber_id)


def drop_requests(state: State, subscriber_id: int) -> None:
    """Forget the subscriber's unconfirmed request (they said no, or it expired)."""
    state.execute("DELETE FROM consents WHERE subscriber_id = ? AND confirmed_at IS NULL", (subscriber_id,))


def of_subscriber(state: State, subscriber_id: int) -> list[Consent]:
    rows = state.rows("SELECT * FROM consents WHERE subscriber_id = ? ORDER BY given_at", (subscriber_id,))
    return [_consent(row) for row in rows]


def record_unrecorded(state: State, source: ConsentSource, at: str) -> int:
    """A consent of `source`, given and confirmed `at`, for every subscriber who has none (those an import just
    added); returns how many were recorded."""
    # Who has none is read first, apart: in one INSERT … WHERE NOT EXISTS, PostgreSQL with the statistics of an
    # empty consents table (a nightly ANALYZE before the first import) scanned consents for every subscriber,
    # each scan also reading the rows the statement had just written (100,000 imported: 38.8 s, now 4.3 s).
    state.execute("DROP TABLE IF EXISTS unrecorded")
    state.execute(
        """CREATE TEMPORARY TABLE unrecorded AS SELECT s.id FROM subscribers s
           WHERE NOT EXISTS (SELECT 1 FROM consents c WHERE c.subscriber_id = s.id)"""
    )
    cursor = state.execute(
        """INSERT INTO consents (subscriber_id, source, given_at, confirmed_at, name, language, themes)
           SELECT s.id, ?, ?, ?, s.name, s.language, s.themes FROM subscribers s
           WHERE s.id IN (SELECT id FROM unrecorded)""",
        (ConsentSource(source), at, at),
    )
    state.execute("DROP TABLE unrecorded")
    return cursor.rowcount


# history


def add_event(state: State, subscriber_id: int, at: str, event: str, detail: str = "") -> None:
    state.execute(
        "INSERT INTO subscriber_events (subscriber_id, at, event, detail) VALUES (?, ?, ?, ?)",
        (subscriber_id, at, event, detail),
    )


def events_of(state: State, subscriber_id: int) -> list[SubscriberEvent]:
    rows = state.rows(
        "SELECT at, event, detail FROM subscriber_events WHERE subscriber_id = ? ORDER BY at", (subscriber_id,)
    )
    return [SubscriberEvent(row["at"], row["event"], row["detail"]) for row in rows]


def erase(state: State, subscriber_id: int) -> None:
    """Every consent and event of a subscriber (their erasure)."""
    state.execute("DELETE FROM consents WHERE subscriber_id = ?", (subscriber_id,))
    state.execute("DELETE FROM subscriber_events WHERE subscriber_id = ?", (subscriber_id,))


# forgotten addresses: only a keyed hash is kept


def add_forgotten(state: State, digest: str, at: str) -> None:
    state.execute(
        "INSERT INTO forgotten (digest, forgotten_at) VALUES (?, ?) ON CONFLICT(digest) DO NOTHING", (digest, at)
    )


def remove_forgotten(state: State, digest: str) -> None:
    state.execute("DELETE FROM forgotten WHERE digest = ?", (digest,))


def any_forgotten(state: State) -> bool:
    return state.one("SELECT 1 FROM forgotten LIMIT 1") is not None


def forgotten_among(state: State, digests: list[str]) -> set[str]:
    """Which of these hashes belong to forgotten addresses."""
    found: set[str] = set()
    unique = list(set(digests))
    for start in range(0, len(unique), CHUNK):
        chunk = unique[start : start + CHUNK]
        marks = ",".join("?" * len(chunk))
        found.update(row[0] for row in state.rows(f"SELECT digest FROM forgotten WHERE digest IN ({marks})", chunk))
    return found
