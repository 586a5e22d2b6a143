"""How fast a send may go: smtp.rate_per_second as a token bucket, smtp.rate_per_hour as a sliding hour."""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta

from digest.store import deliveries
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


def sent_in_last_hour(state: State) -> list[float]:
    """When each message of the last hour was accepted, from any send: the hourly cap spans runs."""
    since = iso(datetime.now(UTC) - timedelta(hours=1))
    return [datetime.fromisoformat(stamp).timestamp() for stamp in deliveries.sent_since(state, since)]
