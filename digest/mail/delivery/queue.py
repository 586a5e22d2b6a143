"""Who is sent to next: recipients ready to go, and those waiting out a retry delay."""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque

from digest.models import Recipient


class WorkQueue:
    """Recipients ready to go, and those waiting out a retry delay; `get` blocks until one is due or all is done.

    The feeder (delivery/claims.py) adds what it claims while the send runs, and `close`s the queue when the
    ledger holds nothing more for this worker; until then an empty queue waits for it."""

    def __init__(self, recipients: list[Recipient] | None = None, feeding: bool = False) -> None:
        self.ready: deque[Recipient] = deque(recipients or [])
        self.later: list[tuple[float, int, Recipient]] = []
        self.busy = 0
        self.seq = 0
        self.stopped: str | None = None
        self.feeding = feeding
        lock = threading.Lock()
        self.cond = threading.Condition(lock)  # the sending threads wait on it
        self.hunger = threading.Condition(lock)  # the feeder waits on it

    def get(self) -> Recipient | None:
        with self.cond:
            while True:
                if self.stopped:
                    return None
                now = time.monotonic()
                while self.later and self.later[0][0] <= now:
                    self.ready.append(heapq.heappop(self.later)[2])
                if self.ready:
                    self.busy += 1
                    if len(self.ready) <= self.low:
                        self.hunger.notify()  # the feeder claims the next batch while these go out
                    return self.ready.popleft()
                if not self.later and not self.busy and not self.feeding:
                    return None
                self.hunger.notify()
                self.cond.wait(self.later[0][0] - now if self.later else None)

    low = 0  # the feeder claims more when this few are left ready

    def add(self, recipients: list[Recipient]) -> None:
        with self.cond:
            self.ready.extend(recipients)
            self.cond.notify_all()

    def close(self) -> None:
        """Nothing more will be added."""
        with self.cond:
            self.feeding = False
            self.cond.notify_all()

    def hungry(self, timeout: float) -> bool:
        """Wait (at most `timeout`) until few are left ready; True when the feeder should claim more."""
        with self.cond:
            if len(self.ready) > self.low and not self.stopped:
                self.hunger.wait(timeout)
            return len(self.ready) <= self.low and not self.stopped

    def idle(self) -> bool:
        """Nothing ready, waiting or in flight."""
        with self.cond:
            return not self.ready and not self.later and not self.busy

    def done(self) -> None:
        with self.cond:
            self.busy -= 1
            self.cond.notify_all()

    def again(self, who: Recipient, delay: float = 0.0) -> None:
        with self.cond:
            self.busy -= 1
            if delay:
                self.seq += 1
                heapq.heappush(self.later, (time.monotonic() + delay, self.seq, who))
            else:
                self.ready.appendleft(who)
            self.cond.notify_all()

    def stop(self, reason: str) -> None:
        with self.cond:
            self.stopped = self.stopped or reason
            self.cond.notify_all()
            self.hunger.notify_all()

    def left(self) -> int:
        with self.cond:
            return len(self.ready) + len(self.later) + self.busy
