"""One worker's share of an issue: it claims recipients from the shared ledger a batch at a time, keeps its
leases alive while it lives, and closes its queue when the ledger holds nothing more for it. Each reader it
claims gets their copy then (the variant of their themes, or the one a row begun earlier records), and a reader
with nothing this week is let go.

A worker that dies stops renewing; once its lease runs out the rows it held are claimable again, and a row it
left 'committing' (its final line may have reached the relay) is named by whoever takes it.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable

from digest.errors import DigestError
from digest.mail.delivery.queue import WorkQueue
from digest.models import DeliveryStatus, Recipient
from digest.store import claims
from digest.store.db import State

WAIT = 0.25  # seconds between looks at the ledger while other workers hold what is left


def worker_name() -> str:
    """Who holds a claim: host and pid for a person reading the ledger, and a few random letters for a pid reused."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def dead_here(worker: str) -> bool:
    """A worker of this host whose process is gone: its claims need not wait for their lease to run out. (A
    worker on another host, or a pid reused since, is left to its lease.)"""
    host, _, rest = worker.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def free_the_dead(state: State, issue_id: str) -> None:
    """End at once the claims of this host's workers that died (a send killed, then started again)."""
    for worker in claims.holders(state, issue_id):
        if dead_here(worker):
            claims.expire(state, issue_id, worker)


class Feeder:
    """A thread that claims, renews and releases this worker's rows; `in_doubt` gets each address taken over
    from a worker that stopped after its final line."""

    def __init__(
        self,
        state: State,
        issue_id: str,
        worker: str,
        queue: WorkQueue,
        batch: int,
        lease: float,
        in_doubt: Callable[[str], None],
        failed: Callable[[str], None],
        assign: Callable[[list[Recipient]], list[Recipient]] | None = None,
    ) -> None:
        self.db = state.another("NORMAL")
        self.issue_id = issue_id
        self.worker = worker
        self.queue = queue
        self.batch = batch
        self.lease = lease
        self.in_doubt = in_doubt
        self.failed = failed
        self.assign = assign  # each claimed reader's copy (mail/copies.py); whom it leaves out gets nothing
        self.finished = threading.Event()
        self.thread = threading.Thread(target=self.run, name="send-feeder", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Stop claiming and renewing, and give back every row this worker holds and has not finished."""
        self.finished.set()
        with self.queue.cond:
            self.queue.hunger.notify_all()
        self.thread.join()
        try:
            claims.release(self.db, self.issue_id, self.worker)
        finally:
            self.db.close()

    def run(self) -> None:
        renew_every = self.lease / 3
        next_renew = time.monotonic() + renew_every
        looked_again = False
        try:
            while not self.finished.is_set():
                wait = max(0.0, min(WAIT, next_renew - time.monotonic()))
                if self.queue.feeding and self.queue.hungry(wait):
                    if self._claim():
                        continue
                    pending = claims.pending(self.db, self.issue_id, self.worker)
                    if pending.total == 0:
                        # Before closing, queue whoever joined since the send began (a sign-up on another host).
                        if not looked_again and claims.enqueue(self.db, self.issue_id):
                            looked_again = True
                            continue
                        self.queue.close()
                    else:  # other workers hold the rest: wait for them to finish it, or for their leases to run out
                        free_the_dead(self.db, self.issue_id)
                        self.finished.wait(WAIT)
                elif not self.queue.feeding:
                    self.finished.wait(wait)
                if time.monotonic() >= next_renew:
                    claims.renew(self.db, self.issue_id, self.worker, self.lease)
                    next_renew = time.monotonic() + renew_every
        except DigestError as error:  # the database is gone: this worker stops, its claims run out
            self.failed(str(error))

    def _claim(self) -> bool:
        got = claims.claim(self.db, self.issue_id, self.worker, self.batch, self.lease)
        for each in got:
            if each.was == DeliveryStatus.COMMITTING:
                self.in_doubt(each.recipient.email)
        batch = [each.recipient for each in got]
        if self.assign is not None:
            kept = self.assign(batch)
            ids = {who.id for who in kept}
            claims.drop_queued(self.db, self.issue_id, [w.id for w in batch if w.id not in ids], self.worker)
            batch = kept
        self.queue.add(batch)
        return bool(got)
