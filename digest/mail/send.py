"""Delivering an issue: one message per active subscriber, exactly once, through the SMTP relay.

The delivery ledger (table `deliveries`) is the truth. A row turns 'sent' the moment the relay accepts
the message and is committed at once, so a run killed at any point and started again skips everyone
already served. Before a message goes out its row says 'sending'; just before its final line it says
'committing', and only one message at a time, across all connections, is between that line and its 'sent'
record. After a kill, the one 'committing' row names the only message that can arrive twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import heapq
import hmac
import os
import re
import smtplib
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from digest.config import Settings
from digest.errors import SecretMissing, SendRefused, SmtpConfigError
from digest.feeds import clean
from digest.mail.message import Prepared, prepare
from digest.mail.smtp import connect
from digest.store import issues
from digest.store.db import State, iso, utcnow_iso
from digest.store.issues import Frozen
from digest.subscribers.tokens import unsubscribe_url
from digest.util import close_smtp, plural

MAX_RETRY_DELAY = 3600.0
DISCONNECTS_PER_MESSAGE = 3  # a message that keeps dropping the connection is deferred like a 4xx
CONNECT_TRIES = 3
LOCK_NOTE = 128  # bytes of "pid issue" in the lock file


@dataclass
class Recipient:
    id: int
    email: str
    name: str
    attempts: int = 0


@dataclass
class Summary:
    """What a send did, for the closing lines and the exit status."""

    issue_id: str
    subject: str = ""
    to_send: int = 0  # recipients this run set out to serve
    sent: int = 0
    already: int = 0  # served by an earlier run of the same send
    failed_before: int = 0  # failed for good in an earlier run of the same send
    inactive: int = 0  # unsubscribed or bounced (also during this send)
    retried: int = 0  # retries after a 4xx reply or a dropped connection
    reconnects: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (address, reason)
    bounced: list[str] = field(default_factory=list)
    in_doubt: list[str] = field(default_factory=list)  # in flight when an earlier run died: sent again
    left: int = 0  # still to send when the run stopped
    stopped: str | None = None  # why the run stopped before the end (hourly cap, interrupt)
    error: str | None = None  # why the run gave up (the relay is gone)
    elapsed: float = 0.0
    cpu: float = 0.0
    nothing_to_do: str | None = None  # empty issue, already sent: a sentence, and no message went out
    drift: list[str] = field(default_factory=list)  # approved articles renamed or gone from their feeds since
    dry_run: bool = False

    @property
    def complete(self) -> bool:
        return self.stopped is None and self.error is None and self.left == 0


# the lock


def lock_path(settings: Settings) -> Path:
    state = settings.state_path
    return state.with_name(state.name + ".send.lock")


class SendLock:
    """An exclusive flock on a file beside the state file; the kernel releases it when the process dies."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def note(self, issue_id: str | None) -> None:
        """Tell a second send who holds the lock and for which issue (one fixed-size write: never half empty)."""
        os.pwrite(self.fd, f"{os.getpid()} {issue_id or ''}".ljust(LOCK_NOTE - 1).encode()[: LOCK_NOTE - 1] + b"\n", 0)


def _holder(fd: int) -> tuple[str, str | None]:
    """The pid and issue the lock's holder wrote; it may not have written them yet, so wait a moment for a
    live pid (the file may still hold a dead process's note)."""
    deadline = time.monotonic() + 2.0
    while True:
        words = os.pread(fd, LOCK_NOTE, 0).decode(errors="replace").split()
        if words and words[0].isdigit():
            try:
                os.kill(int(words[0]), 0)
                return words[0], words[1] if len(words) > 1 else None
            except ProcessLookupError:
                pass
            except PermissionError:  # alive, under another user
                return words[0], words[1] if len(words) > 1 else None
        if time.monotonic() > deadline:
            return "unknown", None
        time.sleep(0.02)


@contextmanager
def send_lock(settings: Settings) -> Iterator[SendLock]:
    path = lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid, issue_id = _holder(fd)
        os.close(fd)
        what = f"a send of issue {issue_id}" if issue_id else "a send"
        raise SendRefused(
            f"{what} is already running (pid {pid}) with the state file {settings.state_path}; "
            "this one stopped without sending anything"
        ) from None
    lock = SendLock(fd)
    try:
        lock.note(None)
        yield lock
    finally:
        os.close(fd)


# the rate limiter


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


# the ledger


def _connect_db(path: Path, synchronous: str) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout = 30000")
    db.execute(f"PRAGMA synchronous = {synchronous}")
    return db


class Ledger:
    """The delivery rows of one issue, written by every sending thread in turn.

    Outcomes are written with synchronous=FULL: a 'sent' row is on disk when the write returns, so not even a
    power cut forgets a delivery. The 'sending' and 'committing' marks only name the messages in flight, so they
    skip the fsync (NORMAL: they survive a killed process, and the next FULL write makes them durable too).
    """

    def __init__(self, path: Path, issue_id: str, bounce_after: int) -> None:
        self.issue_id = issue_id
        self.bounce_after = bounce_after
        self.db = _connect_db(path, "FULL")
        self.marks = _connect_db(path, "NORMAL")
        self.lock = threading.Lock()

    def close(self) -> None:
        self.db.close()
        self.marks.close()

    def _upsert(
        self,
        who: Recipient,
        status: str,
        tried: int,
        message_id: str | None,
        error: str | None,
        db: sqlite3.Connection | None = None,
    ) -> None:
        (db or self.db).execute(
            """INSERT INTO deliveries (issue_id, subscriber_id, status, attempts, message_id, error, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(issue_id, subscriber_id) DO UPDATE SET status = excluded.status,
                 attempts = deliveries.attempts + ?, message_id = COALESCE(excluded.message_id,
                 deliveries.message_id), error = excluded.error, updated_at = excluded.updated_at""",
            (self.issue_id, who.id, status, tried, message_id, error, utcnow_iso(), tried),
        )

    def claim(self, who: Recipient, message_id: str) -> bool:
        """Mark the message in flight, unless the subscriber left the list since the send began."""
        with self.lock:
            row = self.marks.execute("SELECT status FROM subscribers WHERE id = ?", (who.id,)).fetchone()
            if row is None or row[0] != "active":
                return False
            self._upsert(who, "sending", 0, message_id, None, self.marks)
            return True

    def committing(self, who: Recipient, message_id: str) -> None:
        """The message's last line is about to go: from here until `sent`, the relay may hold it."""
        with self.lock:
            self._upsert(who, "committing", 0, message_id, None, self.marks)

    def sent(self, who: Recipient, message_id: str) -> None:
        with self.lock:
            self._upsert(who, "sent", 1, message_id, None)

    def deferred(self, who: Recipient, error: str) -> None:
        with self.lock:
            self._upsert(who, "deferred", 1, None, error)

    def failed(self, who: Recipient, error: str, counts_as_bounce: bool) -> bool:
        """Record the failure; True when it makes the subscriber 'bounced'."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self._upsert(who, "failed", 1, None, error)
                bounced = False
                if counts_as_bounce:
                    self.db.execute(
                        "UPDATE subscribers SET failures = failures + 1, updated_at = ? WHERE id = ?",
                        (utcnow_iso(), who.id),
                    )
                    bounced = (
                        self.db.execute(
                            """UPDATE subscribers SET status = 'bounced'
                               WHERE id = ? AND status = 'active' AND failures >= ?""",
                            (who.id, self.bounce_after),
                        ).rowcount
                        > 0
                    )
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
            return bounced


def sent_in_last_hour(state: State) -> list[float]:
    since = iso(datetime.now(UTC) - timedelta(hours=1))
    rows = state.db.execute("SELECT updated_at FROM deliveries WHERE status = 'sent' AND updated_at > ?", (since,))
    return [datetime.fromisoformat(row[0]).timestamp() for row in rows]


# the work queue


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


# the sender


class _GiveUp(Exception):
    """The whole send must stop: the relay refuses our sender address, or it cannot be reached at all."""


class _Retire(Exception):
    """This thread cannot get a connection; the others go on (the relay may cap connections per client)."""


class Sender:
    """Worker threads, each with its own reused SMTP connection, sharing the queue, ledger and rate limiter."""

    def __init__(
        self,
        settings: Settings,
        prepared: Prepared,
        issue_id: str,
        secret: bytes,
        ledger: Ledger,
        limiter: RateLimiter,
        summary: Summary,
    ) -> None:
        self.settings = settings
        self.smtp = settings.model.smtp
        self.prepared = prepared
        self.issue_id = issue_id
        self.secret = secret
        self.ledger = ledger
        self.limiter = limiter
        self.summary = summary
        self.sender = settings.model.newsletter.sender_address
        self.domain = settings.model.newsletter.sender_domain
        self.counts = threading.Lock()
        self.commit = threading.Lock()  # one message at a time between its final "." and the ledger's record
        self.workers_alive = 0
        self.queue = WorkQueue([])

    def message_id(self, who: Recipient) -> str:
        """The same Message-ID for every try of one subscriber's copy, so a store that sees it twice can drop one."""
        mac = hmac.new(self.secret, f"message-id:{self.issue_id}:{who.id}".encode(), hashlib.sha256).hexdigest()
        return f"<{self.issue_id}.{mac[:20]}@{self.domain}>"

    def _count(self, name: str, value: int = 1) -> None:
        with self.counts:
            setattr(self.summary, name, getattr(self.summary, name) + value)

    def _connect(self) -> smtplib.SMTP:
        """A connection, after a few tries; the thread retires when the relay stays out of reach."""
        last = "the send was stopped"
        for attempt in range(CONNECT_TRIES):
            if self.queue.stopped:
                break
            try:
                return connect(self.settings)
            except SmtpConfigError as error:
                last = str(error)
                time.sleep(min(self.smtp.retry_delay, 5.0) * (attempt + 1))
        raise _Retire(last)

    def work(self, conn: smtplib.SMTP | None) -> None:
        """One thread's loop: take the next recipient, wait for the rate limiter, send."""
        try:
            while (who := self.queue.get()) is not None:
                if not self.limiter.acquire():
                    self.queue.again(who)
                    frees = self.limiter.hour_frees_at()
                    when = f" (the next message may go at {frees:%H:%M} UTC)" if frees else ""
                    self.queue.stop(
                        f"the hourly cap (smtp.rate_per_hour = {self.smtp.rate_per_hour}) is reached{when}; "
                        "run the same command again to send the rest"
                    )
                    break
                if self.queue.stopped:  # stopped while this thread waited for its slot
                    self.queue.again(who)
                    break
                conn = self.deliver(conn, who)
        except _Retire as error:
            with self.counts:
                self.workers_alive -= 1
                if self.workers_alive == 0 and not self.queue.stopped:
                    self.summary.error = str(error)
                    self.queue.stop(str(error))
        except _GiveUp as error:
            with self.counts:
                self.summary.error = self.summary.error or str(error)
            self.queue.stop(str(error))
        except BaseException as error:
            with self.counts:
                self.summary.error = self.summary.error or f"unexpected {type(error).__name__}: {error}"
            self.queue.stop(str(error))
            raise
        finally:
            close_smtp(conn)

    def deliver(self, conn: smtplib.SMTP | None, who: Recipient) -> smtplib.SMTP | None:
        """Send one subscriber's copy; returns the connection to go on with (None when it dropped)."""
        mid = self.message_id(who)
        if not self.ledger.claim(who, mid):
            self._count("inactive")
            self.queue.done()
            return conn
        url = unsubscribe_url(self.settings, who.id, who.email, self.secret)
        message = self.prepared.for_recipient(who.email, url, datetime.now(UTC), who.name, mid)
        for _ in range(DISCONNECTS_PER_MESSAGE):
            if conn is None:
                try:
                    conn = self._connect()
                except _Retire:
                    self.queue.again(who)
                    raise
            try:
                self._transact(conn, who, mid, message)
            except smtplib.SMTPRecipientsRefused as error:
                code, text = next(iter(error.recipients.values()))
                self._refused(who, code, text, "RCPT")
            except smtplib.SMTPSenderRefused as error:
                self._refused(who, error.smtp_code, error.smtp_error, "MAIL")
            except smtplib.SMTPResponseException as error:
                self._refused(who, error.smtp_code, error.smtp_error, "DATA")
            except (smtplib.SMTPServerDisconnected, OSError):
                close_smtp(conn)
                conn = None
                self._count("reconnects")
                continue
            else:
                self._count("sent")
                self.queue.done()
                return conn
            # smtplib closes the connection itself after a 421 ("service closing")
            return conn if conn.sock is not None else None
        self._refused(who, 421, b"the connection dropped on every try", "DATA")
        return conn

    def _transact(self, conn: smtplib.SMTP, who: Recipient, mid: str, message: bytes) -> None:
        """MAIL, RCPT and the message over this connection, alongside the others; then, one connection at a
        time, the final "." and the ledger's record of the relay's answer. A message counts as accepted only
        after its final line, so at most one message is ever accepted and not yet recorded: a kill at any
        moment can mail at most one subscriber twice, whatever smtp.connections is."""
        conn.ehlo_or_helo_if_needed()
        code, answer = conn.mail(self.sender)
        if code != 250:
            _reset(conn)
            raise smtplib.SMTPSenderRefused(code, answer, self.sender)
        code, answer = conn.rcpt(who.email)
        if code not in (250, 251):
            _reset(conn)
            raise smtplib.SMTPRecipientsRefused({who.email: (code, answer)})
        code, answer = conn.docmd("DATA")
        if code != 354:
            _reset(conn)
            raise smtplib.SMTPDataError(code, answer)
        body = _DOT_START.sub(b"..", message)
        conn.send(body if body.endswith(b"\r\n") else body + b"\r\n")
        with self.commit:
            self.ledger.committing(who, mid)
            conn.send(b".\r\n")
            code, answer = conn.getreply()
            if code == 250:
                self.ledger.sent(who, mid)
                return
        _reset(conn)
        raise smtplib.SMTPDataError(code, answer)

    def _refused(self, who: Recipient, code: int, text: bytes | str, stage: str) -> None:
        said = text.decode(errors="replace") if isinstance(text, bytes) else text
        reason = f"{code} {said}".strip()
        if code >= 500 and stage == "MAIL":
            raise _GiveUp(f"the relay refuses the sender address {self.sender}: {reason}; check newsletter.from")
        if code >= 500:
            # A refused recipient, or an enhanced status about the mailbox, counts towards 'bounced'; a refusal
            # of the content (5.7.x policy, 5.6.x media, 5.3.x system) is about us, not the subscriber.
            bounce = stage == "RCPT" or not said.startswith(("5.7.", "5.6.", "5.3."))
            if self.ledger.failed(who, reason, counts_as_bounce=bounce):
                with self.counts:
                    self.summary.bounced.append(who.email)
            with self.counts:
                self.summary.failed.append((who.email, reason))
            self.queue.done()
            return
        who.attempts += 1
        if who.attempts > self.smtp.retries:
            self.ledger.failed(who, f"gave up after {who.attempts} tries: {reason}", counts_as_bounce=False)
            with self.counts:
                self.summary.failed.append((who.email, f"gave up after {who.attempts} tries: {reason}"))
            self.queue.done()
            return
        self.ledger.deferred(who, reason)
        self._count("retried")
        self.queue.again(who, min(self.smtp.retry_delay * 2 ** (who.attempts - 1), MAX_RETRY_DELAY))

    def run(self, recipients: list[Recipient], first: smtplib.SMTP, console: Console | None) -> None:
        """Send to every recipient over smtp.connections connections; Ctrl-C stops after the messages in flight."""
        self.queue = WorkQueue(recipients)
        count = min(self.smtp.connections, max(1, len(recipients)))
        self.workers_alive = count
        threads = [
            threading.Thread(target=self.work, args=(first if n == 0 else None,), name=f"send-{n}", daemon=True)
            for n in range(count)
        ]
        for thread in threads:
            thread.start()
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeRemainingColumn(),
            console=console,
            disable=console is None or not console.is_terminal,
            transient=True,
        )
        task = progress.add_task(f"sending {self.issue_id}", total=len(recipients), note="")
        with progress:
            try:
                while alive := [t for t in threads if t.is_alive()]:
                    alive[0].join(0.1)
                    s = self.summary
                    done = s.sent + len(s.failed) + s.inactive
                    note = f"{len(s.failed)} failed, {s.retried} retried" if s.failed or s.retried else ""
                    progress.update(task, completed=done, note=note)
            except KeyboardInterrupt:
                self.queue.stop("interrupted; run the same command again to send the rest")
                for thread in threads:
                    thread.join()
        self.summary.left = self.queue.left()
        if self.queue.stopped and self.summary.error is None:
            self.summary.stopped = self.queue.stopped


_DOT_START = re.compile(rb"(?m)^\.")  # a line starting with "." is sent as ".." (RFC 5321 4.5.2)


def _reset(conn: smtplib.SMTP) -> None:
    """Abandon the transaction, keeping the connection when the relay still answers."""
    with contextlib.suppress(smtplib.SMTPException, OSError):
        conn.rset()


# choosing the issue


def _article_keys(frozen: Frozen) -> tuple[list[str], list[str | None]]:
    ids: list[str] = []
    keys: list[str | None] = []
    for section in frozen.manifest.get("sections", []):
        for article in section.get("articles", []):
            if article.get("id"):
                ids.append(article["id"])
                keys.append(clean.url_key(article.get("url")))
    return ids, keys


def choose_issue(settings: Settings, state: State, now: datetime, store: bool, test: bool = False) -> Frozen | str:
    """The approved issue, else (unless approval is required) the issue for `now`, built and frozen as
    'sending' so that a resumed send mails identical content. A string says why there is nothing to send.
    A test send (`test`) may build the coming issue even when approval is required: it is how editors review it."""
    approved = issues.latest_approved(state)
    if approved is not None:
        if not _article_keys(approved)[0]:
            if store:
                issues.set_status(state, approved.id, "skipped")
            return f"issue {approved.id} has no articles, so it is not sent"
        return approved
    if settings.model.issue.require_approval and not test:
        raise SendRefused(
            "there is no approved issue to send, and config.yaml sets issue.require_approval: run `digest approve` "
            "first (or set issue.require_approval to false to let `digest send` build the issue itself)"
        )
    from digest.issue.pipeline import build_issue, manifest

    built = build_issue(settings, now, state)
    ident = built.issue.id
    frozen_before = issues.get(state, ident)
    if frozen_before is not None and frozen_before.status == "sent" and not test:
        return f"issue {ident} was already sent ({frozen_before.sent_at}); nothing to do"
    count = built.issue.article_count
    if count == 0 or count < settings.model.issue.min_articles:
        return (
            f"issue {ident} has {plural(count, 'article')} "
            f"(issue.min_articles = {settings.model.issue.min_articles}), so it is not sent"
        )
    if store:
        issues.freeze(state, ident, built.issue.window, built.rendered, manifest(built, settings), status="sending")
        frozen = issues.get(state, ident)
        assert frozen is not None
        return frozen
    return Frozen(ident, built.issue.window, "built", built.rendered, manifest(built, settings))


def recipients(state: State, issue_id: str, summary: Summary) -> list[Recipient]:
    """Active subscribers this issue has not yet reached; counts the others into the summary."""
    todo: list[Recipient] = []
    rows = state.db.execute(
        """SELECT s.id, s.email, s.name, s.status, d.status AS done, d.attempts
           FROM subscribers s LEFT JOIN deliveries d ON d.subscriber_id = s.id AND d.issue_id = ?
           ORDER BY s.id""",
        (issue_id,),
    )
    for row in rows:
        if row["done"] == "sent":
            summary.already += 1
        elif row["done"] == "failed":
            summary.failed_before += 1
        elif row["status"] != "active":
            summary.inactive += 1
        else:
            if row["done"] == "committing":  # its last line went out: the relay may have accepted it
                summary.in_doubt.append(row["email"])
            todo.append(Recipient(row["id"], row["email"], row["name"], row["attempts"] or 0))
    return todo


def send_issue(
    settings: Settings, state: State, now: datetime, dry_run: bool = False, console: Console | None = None
) -> Summary:
    """Mail the issue to every active subscriber it has not reached yet; safe to run again after any stop."""
    secret = settings.secret()
    if secret is None and not dry_run:
        raise SecretMissing(settings.model.secret_env, "`digest send`")
    if not state.db.execute("SELECT 1 FROM subscribers WHERE status = 'active' LIMIT 1").fetchone():
        raise SendRefused("nobody to send to: the subscriber list has no active address (see `digest subscribers`)")
    if dry_run:
        chosen = choose_issue(settings, state, now, store=False)
        if isinstance(chosen, str):
            return Summary(issue_id="", nothing_to_do=chosen, dry_run=True)
        summary = Summary(issue_id=chosen.id, subject=chosen.rendered.subject, dry_run=True)
        summary.to_send = len(recipients(state, chosen.id, summary))
        return summary
    assert secret is not None
    with send_lock(settings) as lock:
        chosen = choose_issue(settings, state, now, store=True)
        if isinstance(chosen, str):
            return Summary(issue_id="", nothing_to_do=chosen)
        lock.note(chosen.id)
        drift = _drift(settings, state, chosen, now, console)
        summary = _deliver_issue(settings, state, chosen, secret, console)
        summary.drift = drift
        return summary


def _drift(settings: Settings, state: State, frozen: Frozen, now: datetime, console: Console | None) -> list[str]:
    """Before an approved issue goes out: which of its articles changed title or left their feeds since."""
    if frozen.status != "approved":
        return []  # a send resumed, or an issue `send` built itself: nothing was approved earlier
    from digest.issue.approve import approval_drift

    warnings = approval_drift(settings, frozen, now, state)
    if console is not None:
        for warning in warnings:
            console.print(f"warning: {warning}", markup=False, highlight=False)
    return warnings


def _deliver_issue(settings: Settings, state: State, frozen: Frozen, secret: bytes, console: Console | None) -> Summary:
    cfg = settings.model.smtp
    summary = Summary(issue_id=frozen.id, subject=frozen.rendered.subject)
    todo = recipients(state, frozen.id, summary)
    summary.to_send = len(todo)
    started, cpu = time.perf_counter(), time.process_time()
    if todo:
        if frozen.status != "sending":
            issues.set_status(state, frozen.id, "sending")
        prepared = prepare(settings, frozen.rendered)
        limiter = RateLimiter(
            cfg.rate_per_second, cfg.rate_per_hour, sent_in_last_hour(state) if cfg.rate_per_hour else []
        )
        ledger = Ledger(settings.state_path, frozen.id, cfg.bounce_after)
        try:
            first = connect(settings)  # fail before any thread starts when the relay cannot be reached at all
            Sender(settings, prepared, frozen.id, secret, ledger, limiter, summary).run(todo, first, console)
        finally:
            ledger.close()
    summary.elapsed = time.perf_counter() - started
    summary.cpu = time.process_time() - cpu
    if summary.complete:
        delivered = state.db.execute(
            "SELECT COUNT(*) FROM deliveries WHERE issue_id = ? AND status = 'sent'", (frozen.id,)
        ).fetchone()[0]
        issues.set_status(state, frozen.id, "sent", recipients=delivered)
        ids, keys = _article_keys(frozen)
        state.mark_sent(frozen.id, ids, keys, datetime.now(UTC))
    return summary


def describe(summary: Summary) -> list[str]:
    """The closing lines a person reads: counts first, then every failure with its reason."""
    if summary.nothing_to_do:
        return [summary.nothing_to_do]
    if summary.dry_run:
        return [
            f"dry run: issue {summary.issue_id} ({summary.subject!r}) would go to {summary.to_send} subscriber"
            f"{'s' if summary.to_send != 1 else ''}; {summary.already} already have it, {summary.inactive} "
            "unsubscribed or bounced; nothing was sent"
        ]
    rate = f" ({summary.sent / summary.elapsed:.0f} messages/s)" if summary.elapsed > 0 and summary.sent else ""
    skipped = summary.already + summary.failed_before + summary.inactive
    earlier = f", {summary.failed_before} failed in an earlier run" if summary.failed_before else ""
    lines = [
        f"issue {summary.issue_id}: {summary.sent} sent, "
        f"{skipped} skipped ({summary.already} already sent{earlier}, {summary.inactive} "
        f"unsubscribed or bounced), {summary.retried} retried, {len(summary.failed)} failed "
        f"in {summary.elapsed:.1f} s{rate}"
    ]
    if summary.in_doubt:
        lines.append(
            f"{len(summary.in_doubt)} message{'s were' if len(summary.in_doubt) != 1 else ' was'} in flight when an "
            f"earlier run stopped and went out again (may arrive twice): {', '.join(summary.in_doubt)}"
        )
    if summary.reconnects:
        lines.append(f"the connection to the relay dropped {summary.reconnects} times and was reopened")
    lines.extend(f"warning: {warning}" for warning in summary.drift)
    lines.extend(f"  failed: {address}: {reason}" for address, reason in summary.failed)
    if summary.bounced:
        lines.append(f"now marked bounced: {', '.join(summary.bounced)}")
    if summary.stopped:
        lines.append(f"stopped with {summary.left} still to send: {summary.stopped}")
    elif summary.complete:
        lines.append(f"issue {summary.issue_id} is sent")
    return lines
