"""The sending threads: each takes the next recipient, waits for the rate limiter, and sends over its own reused
connection; refusals are retried, held and recorded as __init__.py tells."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import smtplib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from digest.config import Settings
from digest.errors import DigestError, SmtpConfigError
from digest.mail.delivery.claims import Feeder
from digest.mail.delivery.ledger import Claim, Ledger
from digest.mail.delivery.queue import WorkQueue
from digest.mail.delivery.ratelimit import RateLimiter
from digest.mail.message import Prepared
from digest.mail.smtp import connect
from digest.mail.summary import Summary
from digest.models import BounceKind, Recipient
from digest.store.db import State
from digest.subscribers.bounces import smtp_refusal
from digest.subscribers.delivery_token import make_token, return_path
from digest.subscribers.tokens import unsubscribe_url
from digest.util import close_smtp, plural

MAX_RETRY_DELAY = 3600.0
DISCONNECTS_PER_MESSAGE = 3  # a message that keeps dropping the connection is deferred like a 4xx
CONNECT_TRIES = 3
REFUSED_IN_A_ROW = 10  # refusals in a row that stop a send the relay accepts almost nothing of
ALMOST_NOTHING = 0.05  # the share of an issue's messages accepted below which the relay "accepts almost nothing"


class _GiveUp(Exception):
    """The whole send must stop: the relay refuses our sender address, or it cannot be reached at all."""


class _Retire(Exception):
    """This thread cannot get a connection; the others go on (the relay may cap connections per client)."""


class _Abandon(Exception):
    """The message must not be completed: its reader left, or another worker holds it now; the connection is
    dropped before the final line, so the relay discards what it got."""

    def __init__(self, outcome: Claim) -> None:
        self.outcome = outcome


@dataclass
class _Refusal:
    who: Recipient
    reason: str
    kind: BounceKind | None  # None: about the message or the sender, not the reader
    code: int


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
        variants: dict[str, Prepared] | None = None,
        assign: Callable[[list[Recipient]], list[Recipient]] | None = None,
        on_doubt: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.on_doubt = on_doubt  # told of each copy in doubt taken over, before it goes out again
        self.smtp = settings.model.smtp
        self.prepared = prepared  # the whole issue
        self.variants = variants or {}  # the issue cut to readers' themes, by key (Recipient.variant)
        self.assign = assign  # sets each claimed reader's variant, leaving out those with nothing this week
        self.issue_id = issue_id
        self.secret = secret
        self.ledger = ledger
        self.limiter = limiter
        self.summary = summary
        self.sender = settings.model.newsletter.sender_address
        self.return_address = settings.model.bounces.address  # the envelope sender; VERP when it has +{token}
        self.domain = settings.model.newsletter.sender_domain
        self.counts = threading.Lock()
        self.commit = threading.Lock()  # one message at a time between its final "." and the ledger's record
        self.workers_alive = 0
        self.queue = WorkQueue([])
        self.held: list[_Refusal] = []  # refusals for good, final at the end of the run
        self.in_a_row = 0  # refusals since the relay last accepted a message

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
        except (_GiveUp, DigestError) as error:  # DigestError: the state file failed under the ledger
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
        outcome = self.ledger.claim(who, mid)
        if outcome is not Claim.GO:
            if outcome is Claim.LEFT:
                self._count("inactive")
            self.queue.done()
            return conn
        url = unsubscribe_url(self.settings, who.id, who.email, self.secret)
        prepared = self.variants[who.variant] if who.variant else self.prepared
        token = self._token(who)
        message = prepared.for_recipient(who.email, url, datetime.now(UTC), who.name, mid, token)
        for _ in range(DISCONNECTS_PER_MESSAGE):
            if conn is None:
                try:
                    conn = self._connect()
                except _Retire:
                    self.queue.again(who)
                    raise
            try:
                self._transact(conn, who, mid, message, self._envelope(token))
            except _Abandon as abandoned:
                conn.close()  # no QUIT: inside DATA it would be read as part of the message
                if abandoned.outcome is Claim.LEFT:
                    self._count("inactive")
                self.queue.done()
                return None
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
                self._accepted()
                self.queue.done()
                return conn
            # smtplib closes the connection itself after a 421 ("service closing")
            return conn if conn.sock is not None else None
        self._refused(who, 421, b"the connection dropped on every try", "DATA")
        return conn

    def _token(self, who: Recipient) -> str | None:
        """The delivery token of this subscriber's copy (none for an issue id a token cannot hold)."""
        try:
            return make_token(self.secret, self.issue_id, who.id)
        except ValueError:
            return None

    def _envelope(self, token: str | None) -> str:
        """The envelope sender: bounces.address (with the token in its +tag: VERP), else the From address."""
        if not self.return_address:
            return self.sender
        return return_path(self.return_address, token) if token else self.return_address.replace("+{token}", "")

    def _transact(self, conn: smtplib.SMTP, who: Recipient, mid: str, message: bytes, envelope: str) -> None:
        """MAIL, RCPT and the message over this connection, alongside the others; then, one connection at a
        time, the final "." and the ledger's record of the relay's answer. A message counts as accepted only
        after its final line, so at most one message is ever accepted and not yet recorded: a kill at any
        moment can mail at most one subscriber twice, whatever smtp.connections is."""
        conn.ehlo_or_helo_if_needed()
        code, answer = conn.mail(envelope)
        if code != 250:
            _reset(conn)
            raise smtplib.SMTPSenderRefused(code, answer, envelope)
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
            outcome = self.ledger.committing(who, mid)
            if outcome is not Claim.GO:
                raise _Abandon(outcome)
            try:
                conn.send(b".\r\n")
                code, answer = conn.getreply()
            except BaseException:
                self.ledger.abandon()
                raise
            if code == 250:
                self.ledger.sent(who, mid)
                return
            self.ledger.abandon()
        _reset(conn)
        raise smtplib.SMTPDataError(code, answer)

    def _refused(self, who: Recipient, code: int, text: bytes | str, stage: str) -> None:
        said = text.decode(errors="replace") if isinstance(text, bytes) else text
        reason = f"{code} {said}".strip()
        if code >= 500 and stage == "MAIL":
            key = "bounces.address" if self.return_address else "newsletter.from"
            sender = self.return_address or self.sender
            raise _GiveUp(f"the relay refuses the sender address {sender}: {reason}; check {key}")
        if code >= 500:
            # A refused mailbox counts towards 'bounced'; a refusal of the content (5.7.x policy, 5.6.x media,
            # 5.3.x system, a line too long) is about us, not the subscriber (subscribers/bounces.py decides).
            self._refused_for_good(_Refusal(who, reason, smtp_refusal(code, said), code))
            return
        who.attempts += 1
        if who.attempts > self.smtp.retries:
            gave_up = f"gave up after {who.attempts} tries: {reason}"
            self._refused_for_good(_Refusal(who, gave_up, smtp_refusal(code, said), code))
            return
        self.ledger.deferred(who, reason)
        self._count("retried")
        self.queue.again(who, min(self.smtp.retry_delay * 2 ** (who.attempts - 1), MAX_RETRY_DELAY))

    # Refusals are final only at the end of the run, once the relay has shown that it takes the issue
    # (see __init__.py): until then they are held, and written nowhere but in the summary.

    def _accepted(self) -> None:
        with self.counts:
            self.summary.sent += 1
            self.in_a_row = 0

    def _refused_for_good(self, refusal: _Refusal) -> None:
        self.ledger.hold(refusal.who, refusal.reason)
        with self.counts:
            self.held.append(refusal)
            self.in_a_row += 1
            stop = self.in_a_row >= REFUSED_IN_A_ROW and self._accepts_almost_nothing() and not self.summary.error
            if stop:
                self.summary.error = self._refusing(refusal)
        if stop:
            self.queue.stop("the relay refuses nearly every message")
        self.queue.done()

    def _accepts_almost_nothing(self) -> bool:
        s = self.summary
        return s.accepted < (s.accepted + s.failed_before + len(self.held)) * ALMOST_NOTHING

    def _refusing(self, last: _Refusal) -> str:
        return (
            f"the relay refused {plural(len(self.held), 'message')} and accepted {self.summary.accepted} of this "
            f"issue (last: {last.reason}), so the send stopped and the issue stays unsent; see what the relay "
            "objects to (the refused are put back, neither failed nor bounced)"
        )

    def _settle(self) -> None:
        """Make the refusals held final, or put them all back for the next run when the relay accepted almost
        nothing (which is then the send's error)."""
        if not self.held:
            return
        if self._accepts_almost_nothing():
            self.summary.error = self.summary.error or self._refusing(self.held[-1])
            for refusal in self.held:
                self.ledger.put_back(refusal.who, refusal.reason)
                self.summary.put_back.append(refusal.who.email)
            return
        for refusal in self.held:
            if self.ledger.failed(refusal.who, refusal.reason, refusal.kind, refusal.code):
                self.summary.bounced.append(refusal.who.email)
            self.summary.failed.append((refusal.who.email, refusal.reason))

    def run(self, state: State, total: int, first: smtplib.SMTP, console: Console | None, lease: float) -> None:
        """Send this worker's share of the issue over smtp.connections connections, claiming recipients from the
        ledger as it goes; Ctrl-C stops after the messages in flight."""
        count = self.smtp.connections
        batch = max(20, 8 * count)  # enough to keep every connection busy while the next batch is claimed
        self.queue = WorkQueue(feeding=True)
        self.queue.low = max(count, batch // 4)
        feeder = Feeder(
            state, self.issue_id, self.ledger.worker, self.queue, batch, lease, self._in_doubt, self._lost, self.assign
        )
        self.workers_alive = count
        threads = [
            threading.Thread(target=self.work, args=(first if n == 0 else None,), name=f"send-{n}", daemon=True)
            for n in range(count)
        ]
        feeder.start()
        for thread in threads:
            thread.start()
        try:
            self._watch(threads, total, console)
        finally:
            self._settle()
            feeder.stop()
        if self.queue.stopped and self.summary.error is None:
            self.summary.stopped = self.queue.stopped

    def _watch(self, threads: list[threading.Thread], total: int, console: Console | None) -> None:
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
        task = progress.add_task(f"sending {self.issue_id}", total=total, note="")
        inactive_before = self.summary.inactive
        with progress:
            try:
                while alive := [t for t in threads if t.is_alive()]:
                    alive[0].join(0.1)
                    s = self.summary
                    done = s.sent + len(self.held) + s.inactive - inactive_before
                    note = f"{len(self.held)} refused, {s.retried} retried" if self.held or s.retried else ""
                    progress.update(task, completed=done, note=note)
            except KeyboardInterrupt:
                self.queue.stop("interrupted; run the same command again to send the rest")
                for thread in threads:
                    thread.join()

    def _in_doubt(self, address: str) -> None:
        with self.counts:
            self.summary.in_doubt.append(address)
        if self.on_doubt is not None:
            self.on_doubt(address)

    def _lost(self, error: str) -> None:
        with self.counts:
            self.summary.error = self.summary.error or error
        self.queue.stop(error)


_DOT_START = re.compile(rb"(?m)^\.")  # a line starting with "." is sent as ".." (RFC 5321 4.5.2)


def _reset(conn: smtplib.SMTP) -> None:
    """Abandon the transaction, keeping the connection when the relay still answers."""
    with contextlib.suppress(smtplib.SMTPException, OSError):
        conn.rset()
