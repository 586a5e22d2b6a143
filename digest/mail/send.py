"""Sending an issue: choose which issue goes out, then deliver it to every active subscriber exactly once.

How delivery keeps "exactly once" across kills and retries is told in digest/mail/delivery/__init__.py.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from rich.console import Console

from digest.config import Settings
from digest.errors import SecretMissing, SendRefused
from digest.feeds import clean
from digest.issue import variants
from digest.issue.variants import WHOLE
from digest.mail import copies
from digest.mail.delivery.claims import worker_name
from digest.mail.delivery.ledger import Ledger
from digest.mail.delivery.lock import SendLock, send_lock
from digest.mail.delivery.ratelimit import RateLimiter, SharedRateLimiter, sent_in_last_hour
from digest.mail.delivery.sender import Sender
from digest.mail.message import prepare
from digest.mail.smtp import connect
from digest.mail.summary import Summary
from digest.models import DeliveryStatus, IssueStatus, Recipient, SubscriberStatus
from digest.store import articles, claims, deliveries, issues
from digest.store import subscribers as subscriber_rows
from digest.store import variants as variant_rows
from digest.store.db import State, iso
from digest.store.issues import Frozen
from digest.util import plural


@dataclass(frozen=True)
class Approved:
    """An issue frozen before this send: approved by the editors, or a send of it that stopped part-way."""

    frozen: Frozen


@dataclass(frozen=True)
class Built:
    """The issue for `now`, built by the send itself (and frozen as 'sending' with the variants its readers
    need, unless nothing is to be stored)."""

    frozen: Frozen
    renders: int = 1  # the whole issue's, and each variant's
    keys: dict[str | None, int] | None = None  # when nothing is stored: readers per variant key, for a dry run


@dataclass(frozen=True)
class NothingToSend:
    """No message goes out, and that is no failure: the issue is empty, or already sent."""

    reason: str


Chosen = Approved | Built | NothingToSend


# choosing the issue


def _article_keys(frozen: Frozen) -> tuple[list[str], list[str | None]]:
    ids: list[str] = []
    keys: list[str | None] = []
    for article in frozen.record.articles():
        if article.id:
            ids.append(article.id)
            keys.append(clean.url_key(article.url))
    return ids, keys


def choose_issue(settings: Settings, state: State, now: datetime, store: bool, test: bool = False) -> Chosen:
    """The approved issue, else (unless approval is required) the issue for `now`, built and frozen as
    'sending' so that a resumed send mails identical content.
    A test send (`test`) may build the coming issue even when approval is required: it is how editors review it."""
    approved = issues.latest_approved(state)
    if approved is not None:
        if not _article_keys(approved)[0]:
            if store:
                issues.set_status(state, approved.id, IssueStatus.SKIPPED)
            return NothingToSend(f"issue {approved.id} has no articles, so it is not sent")
        return Approved(approved)
    if settings.model.issue.require_approval and not test:
        raise SendRefused(
            "there is no approved issue to send, and config.yaml sets issue.require_approval: run `digest approve` "
            "first (or set issue.require_approval to false to let `digest send` build the issue itself)"
        )
    from digest.issue.pipeline import build_issue

    if not test:
        _refuse_a_clock_behind(settings, state, now)
    built = build_issue(settings, now, state)
    ident = built.issue.id
    frozen_before = issues.get(state, ident)
    if frozen_before is not None and frozen_before.status == IssueStatus.SENT and not test:
        return NothingToSend(f"issue {ident} was already sent ({frozen_before.sent_at}); nothing to do")
    count = built.issue.article_count
    if count == 0 or count < settings.model.issue.min_articles:
        return NothingToSend(
            f"issue {ident} has {plural(count, 'article')} "
            f"(issue.min_articles = {settings.model.issue.min_articles}), so it is not sent"
        )
    record = built.record()
    readers = variants.needed(built.issue, state)
    if store:
        cut = variants.render_variants(built.issue, readers, settings)
        with state.transaction():
            issues.freeze(state, ident, built.issue.window, built.rendered, record, status=IssueStatus.SENDING)
            variants.freeze(state, ident, cut)
        frozen = issues.get(state, ident)
        assert frozen is not None
        return Built(frozen, renders=1 + len(cut))
    return Built(Frozen(ident, built.issue.window, IssueStatus.BUILT, built.rendered, record), keys=readers)


def _refuse_a_clock_behind(settings: Settings, state: State, now: datetime) -> None:
    """A clock behind the end of the last sent issue would send a stale week to everyone: refuse it (the same
    week as the last sent issue is let through, to be told it was already sent)."""
    from digest.issue.pipeline import default_window, issue_id

    last = issues.last_sent(state)
    if last is None or now >= last[1]:
        return
    if issue_id(default_window(settings, now), settings.model.newsletter.timezone) == last[0]:
        return
    raise SendRefused(
        f"the clock ({iso(now)}) is earlier than the end of the last sent issue {last[0]} ({iso(last[1])}), so "
        "this send would mail a stale issue; check the system clock (or --now), nothing was sent"
    )


def recipients(state: State, issue_id: str, summary: Summary) -> list[Recipient]:
    """Active subscribers this issue has not yet reached; counts the others into the summary."""
    todo: list[Recipient] = []
    for who, status, done in deliveries.of_issue(state, issue_id):
        if done == DeliveryStatus.SENT:
            summary.already += 1
        elif done == DeliveryStatus.FAILED:
            summary.failed_before += 1
        elif status != SubscriberStatus.ACTIVE:
            summary.inactive += 1
        else:
            if done == DeliveryStatus.COMMITTING:  # its last line went out: the relay may have accepted it
                summary.in_doubt.append(who.email)
            todo.append(who)
    return todo


# sending it


def send_issue(
    settings: Settings,
    state: State,
    now: datetime,
    dry_run: bool = False,
    console: Console | None = None,
    workers: int = 1,
) -> Summary:
    """Mail the issue to every active subscriber it has not reached yet; safe to run again after any stop.

    On SQLite one send runs at a time (the send lock); on PostgreSQL any number of sends, on any hosts, share the
    issue's ledger, and only the choice of the issue is made one process at a time. `workers` > 1 starts that
    many worker processes on the issue (delivery/workers.py)."""
    secret = settings.secret()
    if secret is None and not dry_run:
        raise SecretMissing(settings.model.secret_env, "`digest send`")
    if not subscriber_rows.any_active(state):
        raise SendRefused("nobody to send to: the subscriber list has no active address (see `digest subscribers`)")
    if dry_run:
        chosen = choose_issue(settings, state, now, store=False)
        if isinstance(chosen, NothingToSend):
            return Summary(issue_id="", nothing_to_do=chosen.reason, dry_run=True)
        summary = Summary(issue_id=chosen.frozen.id, subject=chosen.frozen.rendered.subject, dry_run=True)
        todo = recipients(state, chosen.frozen.id, summary)
        if isinstance(chosen, Built) and chosen.keys is not None:  # built, not frozen: these would be
            would = {key for key in chosen.keys if key}
            summary.renders = 1 + len(would)
        else:
            would = set(variant_rows.of_issue(state, chosen.frozen.id))
        todo = copies.assign(todo, chosen.frozen, would, summary)
        summary.to_send = len(todo)
        summary.variants = _per_variant(chosen.frozen, Counter(who.variant or WHOLE for who in todo))
        return summary
    assert secret is not None
    if state.engine != "sqlite":
        return _choose_and_deliver(settings, state, now, secret, console, workers, None)
    with send_lock(settings) as lock:
        return _choose_and_deliver(settings, state, now, secret, console, workers, lock)


def _choose_and_deliver(
    settings: Settings,
    state: State,
    now: datetime,
    secret: bytes,
    console: Console | None,
    workers: int,
    lock: SendLock | None,
) -> Summary:
    with state.exclusive("digest send: the choice of the issue"):
        chosen = choose_issue(settings, state, now, store=True)
        if isinstance(chosen, NothingToSend):
            return Summary(issue_id="", nothing_to_do=chosen.reason)
        if lock is not None:
            lock.note(chosen.frozen.id)
        drift = _drift(settings, state, chosen, now, console)
        if chosen.frozen.status != IssueStatus.SENDING:
            issues.set_status(state, chosen.frozen.id, IssueStatus.SENDING)
        claims.enqueue(state, chosen.frozen.id)
    renders = chosen.renders if isinstance(chosen, Built) else 0
    if workers > 1:
        from digest.mail.delivery.workers import run_workers

        summary = run_workers(settings, state, chosen.frozen, workers, console)
        summary.renders = renders
    else:
        summary = deliver_issue(
            settings, state, chosen.frozen, secret, console, shared=state.engine != "sqlite", renders=renders
        )
    summary.drift = drift
    return summary


def _drift(
    settings: Settings, state: State, chosen: Approved | Built, now: datetime, console: Console | None
) -> list[str]:
    """Before an approved issue goes out: which of its articles changed title or left their feeds since."""
    if not isinstance(chosen, Approved) or chosen.frozen.status != IssueStatus.APPROVED:
        return []  # a send resumed, or an issue `send` built itself: nothing was approved earlier
    from digest.issue.approve import approval_drift

    warnings = approval_drift(settings, chosen.frozen, now, state)
    if console is not None:
        for warning in warnings:
            console.print(f"warning: {warning}", markup=False, highlight=False)
    return warnings


def _per_variant(frozen: Frozen, counts: Mapping[str, int]) -> dict[str, int]:
    names = copies.labels(frozen, list(counts))
    return {names[key]: count for key, count in sorted(counts.items(), key=lambda kv: (kv[0] != WHOLE, kv[0]))}


def deliver_issue(
    settings: Settings,
    state: State,
    frozen: Frozen,
    secret: bytes,
    console: Console | None,
    shared: bool,
    renders: int = 0,
    on_doubt: Callable[[str], None] | None = None,
) -> Summary:
    """One worker's part of the issue: claim recipients from the ledger, each with their copy, and send until
    nothing is left. `shared`: other processes may send the issue too, so the rate limits are kept in the
    database. `on_doubt`: told at once of each copy in doubt this worker takes over, before it goes out again."""
    cfg = settings.model.smtp
    summary = Summary(issue_id=frozen.id, subject=frozen.rendered.subject, renders=renders)
    claims.enqueue(state, frozen.id)
    tally = claims.tally(state, frozen.id)
    summary.already, summary.failed_before, summary.inactive = tally.sent, tally.failed, tally.inactive
    summary.to_send = tally.to_send
    worker = worker_name()
    started, cpu = time.perf_counter(), time.process_time()
    if tally.to_send:
        prepared = prepare(settings, frozen.rendered)
        # Each copy is encoded once, like the whole issue: a reader's copy is then only substitutions.
        frozen_variants = variant_rows.of_issue(state, frozen.id)
        cut = {key: prepare(settings, variant.rendered) for key, variant in frozen_variants.items()}
        limiter: RateLimiter
        if shared:
            limiter = SharedRateLimiter(state, cfg.rate_per_second, cfg.rate_per_hour)
        else:
            limiter = RateLimiter(
                cfg.rate_per_second, cfg.rate_per_hour, sent_in_last_hour(state) if cfg.rate_per_hour else []
            )
        ledger = Ledger(state, frozen.id, cfg.bounce_after, worker, settings.model.bounces.soft_limit)
        # Each claimed reader's copy (mail/copies.py), chosen as the feeder claims them.
        assign = partial(copies.assign, frozen=frozen, variants=set(frozen_variants), summary=summary)
        try:
            first = connect(settings)  # fail before any thread starts when the relay cannot be reached at all
            sender = Sender(settings, prepared, frozen.id, secret, ledger, limiter, summary, cut, assign, on_doubt)
            sender.run(state, tally.to_send, first, console, cfg.lease)
        finally:
            ledger.close()
            limiter.close()
    summary.elapsed = time.perf_counter() - started
    summary.cpu = time.process_time() - cpu
    finish(state, frozen, summary, worker)
    return summary


def finish(state: State, frozen: Frozen, summary: Summary, worker: str = "") -> None:
    """Count what is left; the issue is sent when nothing is, here or with another worker."""
    left = claims.left(state, frozen.id, worker)
    summary.left, summary.elsewhere = left.unclaimed, left.with_others
    summary.variants = _per_variant(frozen, variant_rows.sent_per_variant(state, frozen.id))
    if summary.complete and not summary.elsewhere:
        issues.set_status(state, frozen.id, IssueStatus.SENT, recipients=deliveries.count_sent(state, frozen.id))
        ids, keys = _article_keys(frozen)
        articles.mark_sent(state, frozen.id, ids, keys, datetime.now(UTC))
