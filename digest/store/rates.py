"""The sending rate that every worker shares: smtp.rate_per_second as one token bucket in the database, and
smtp.rate_per_hour as the slots granted in the last hour (one row each), both on the database's clock.

A worker asks for a few tokens at a time (`grant`); grants are taken one transaction at a time, so the workers
together never go faster than the bucket fills, nor past the hourly cap, however many there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from digest.store import deliveries
from digest.store.db import State, iso

HOUR = 3600.0


@dataclass(frozen=True)
class Grant:
    tokens: int
    wait: float  # seconds until the bucket holds a token again (when `tokens` is 0)
    hour_full: bool  # the hourly cap is reached
    hour_frees_at: float | None  # when, on the database's clock, the oldest slot of the hour runs out


def grant(
    state: State, name: str, want: int, per_second: float, capacity: float, per_hour: int, seed: bool = False
) -> Grant:
    """Up to `want` tokens now. `seed`: the first grant of a run, which counts into the hour the messages the
    ledger shows were accepted in the last hour, when no slot records them (a send before slots were kept)."""
    with state.transaction():
        now = float(state.execute(f"SELECT {state.dialect.epoch}").fetchone()[0])
        state.execute(
            "INSERT INTO send_rate (name, tokens, stamp) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
            (name, 1.0, now),
        )
        row = state.one(f"SELECT tokens, stamp FROM send_rate WHERE name = ?{state.dialect.for_update}", (name,))
        assert row is not None
        tokens = min(capacity, float(row[0]) + max(0.0, now - float(row[1])) * per_second)
        given = max(0, min(want, int(tokens)))
        full, frees = False, None
        if per_hour:
            given, full, frees = _hour(state, now, given, per_hour, seed)
        state.execute("UPDATE send_rate SET tokens = ?, stamp = ? WHERE name = ?", (tokens - given, now, name))
    wait = 0.0 if given else max(0.001, (1 - (tokens - given)) / per_second)
    return Grant(given, wait, full, frees)


def _hour(state: State, now: float, given: int, per_hour: int, seed: bool) -> tuple[int, bool, float | None]:
    state.execute("DELETE FROM send_slots WHERE at <= ?", (now - HOUR,))
    used = int(state.execute("SELECT COUNT(*) FROM send_slots").fetchone()[0])
    if seed and used == 0:
        stamps = [datetime.fromisoformat(at).timestamp() for at in deliveries.sent_since(state, iso_ago(now))]
        state.executemany("INSERT INTO send_slots (at) VALUES (?)", [(at,) for at in stamps if at > now - HOUR])
        used = len(stamps)
    given = max(0, min(given, per_hour - used))
    if given:
        state.executemany("INSERT INTO send_slots (at) VALUES (?)", [(now,)] * given)
        return given, False, None
    if used < per_hour:
        return 0, False, None
    first = state.one("SELECT MIN(at) FROM send_slots")
    return 0, True, float(first[0]) + HOUR if first and first[0] is not None else None


def iso_ago(now: float) -> str:
    return iso(datetime.fromtimestamp(now - HOUR).astimezone())
