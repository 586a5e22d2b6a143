"""Who is sent to next: recipients ready to go, and those waiting out a retry delay."""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque

from digest.models import Recipient


class WorkQueue:
    """Recipients ready to go, and those waiting out a retry delay; `get` blocks until one is due or all is done."""

    def __init__(self, recipients: list[Recipient]) -> None:
        self.ready: deque[Recipient] = deque(recipients)
        self.later: list[tuple[float, int, Recipient]] = []
        self.busy = 0
        self.seq = 0
        self.stopped: str | None = None
        self.cond = threading.Condition()

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
                    return self.ready.popleft()
                if not self.later and not self.busy:
                    return None
                self.cond.wait(self.later[0][0] - now if self.later else None)

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

    def left(self) -> int:
        with self.cond:
            return len(self.ready) + len(self.later) + self.busy
