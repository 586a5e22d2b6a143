"""How fast a send may go: smtp.rate_per_second as a token bucket, smtp.rate_per_hour as a sliding hour."""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta

from digest.store import deliveries, rates
from digest.store.db import State, iso


class RateLimiter:
    """A token bucket for messages per second, and a sliding one-hour window for the hourly cap."""

    def __init__(self, per_second: float, per_hour: int = 0, sent_last_hour: list[float] | None = None) -> None:
        self.rate = per_second
        self.capacity = max(1.0, per_second / 20)  # bursts of at most 50 ms worth of messages
        self.tokens = 1.0
        self.stamp = time.monotonic()
        self.per_hour = per_hour
        self.window: deque[float] = deque(sorted(sent_last_hour or []))
        self.lock = threading.Lock()

    def acquire(self) -> bool:
        """Wait for the next slot; False when the hourly cap is reached."""
        while True:
            with self.lock:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.per_hour:
                    wall = time.time()
                    while self.window and self.window[0] <= wall - 3600:
                        self.window.popleft()
                    if len(self.window) >= self.per_hour:
                        return False
                if self.tokens >= 1:
                    self.tokens -= 1
                    if self.per_hour:
                        self.window.append(wall)
                    return True
                wait = (1 - self.tokens) / self.rate
            time.sleep(wait)

    def hour_frees_at(self) -> datetime | None:
        with self.lock:
            return datetime.fromtimestamp(self.window[0] + 3600, UTC) if self.window else None

    def close(self) -> None:
        """Nothing to give back: the local bucket lives in this process only."""


def sent_in_last_hour(state: State) -> list[float]:
    """When each message of the last hour was accepted, from any send: the hourly cap spans runs."""
    since = iso(datetime.now(UTC) - timedelta(hours=1))
    return [datetime.fromisoformat(stamp).timestamp() for stamp in deliveries.sent_since(state, since)]


class SharedRateLimiter(RateLimiter):
    """The same limits for every worker together: tokens come from the bucket in the database (store/rates.py)
    a few at a time, and are spent here. Used whenever more than one process may send the issue: on PostgreSQL
    always, on SQLite with --workers."""

    def __init__(self, state: State, per_second: float, per_hour: int = 0) -> None:
        super().__init__(per_second, per_hour)
        self.db = state.another("NORMAL")
        self.tokens = 0.0
        # Tokens asked for at once: 50 ms of the rate, like the local bucket's bursts; one at a time under an
        # hourly cap, so that no slot of the hour is granted and left unused.
        self.want = 1 if per_hour else max(1, int(per_second / 20))
        self.seeded = False
        self.frees: float | None = None

    def close(self) -> None:
        self.db.close()

    def acquire(self) -> bool:
        with self.lock:
            while self.tokens < 1:
                got = rates.grant(
                    self.db, "smtp", self.want, self.rate, self.capacity, self.per_hour, seed=not self.seeded
                )
                self.seeded = True
                if got.hour_full:
                    self.frees = got.hour_frees_at
                    return False
                self.tokens += got.tokens
                if not got.tokens:
                    time.sleep(got.wait)
            self.tokens -= 1
            return True

    def hour_frees_at(self) -> datetime | None:
        return datetime.fromtimestamp(self.frees, UTC) if self.frees else None
