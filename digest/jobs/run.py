"""The weekly job: build and send the issue of the current period, then archive it and tell the editors.

Safe to run at any time and any number of times: the period starts where the last sent issue ended,
an issue already sent is not sent again, and an interrupted send resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from rich.console import Console

from digest.config import Settings
from digest.errors import DigestError, SendBusy
from digest.jobs.archive import archive_sent
from digest.jobs.health import compose, send_report
from digest.mail.send import send_issue
from digest.mail.summary import Summary, describe
from digest.models import IssueRecord, IssueStatus
from digest.store import issues
from digest.store.db import State
from digest.subscribers import optin
from digest.util import plural


@dataclass
class JobResult:
    outcome: str  # one sentence: sent, nothing to do, skipped
    lines: list[str] = field(default_factory=list)
    summary: Summary | None = None
    notes: list[str] = field(default_factory=list)  # archive and report problems: worth a warning, not a failure
    bounces: list[str] = field(default_factory=list)  # what the bounce mailbox said before the send
    housekeeping: list[str] = field(default_factory=list)  # what the run tidied: sign-ups never confirmed


def fetch_bounces(settings: Settings, state: State, now: datetime) -> tuple[list[str], str | None]:
    """Read the bounce mailbox, when there is one: (lines for the report, a note when it could not be read)."""
    secret = settings.secret()
    if settings.model.bounces.imap is None or secret is None:  # without the secret the send says so itself
        return [], None
    from digest.subscribers import mailbox

    try:
        outcome = mailbox.fetch(settings, state, mailbox.policy_of(settings, secret), now)
    except DigestError as error:
        return [], f"the bounce mailbox was not read: {error}"
    changes = [f"  now {status}: {address}" for address, status in outcome.changes]
    return [f"Bounce mailbox: {outcome.summary()}", *changes], None


def run_job(settings: Settings, state: State, now: datetime, console: Console | None = None) -> JobResult:
    """Erase the sign-ups never confirmed; read the bounce mailbox (so that this issue skips who bounced or
    complained); build + send the current period's issue; archive it when sent; mail the editors a health report."""
    housekeeping = _purge(settings, state)
    bounce_lines, bounce_note = fetch_bounces(settings, state, now)
    try:
        summary = send_issue(settings, state, now, console=console)
    except SendBusy:
        raise  # another run is at work and will report: this one did nothing, and nothing failed
    except DigestError as error:
        _report(settings, state, now, f"the run failed: {error}", [], None, bounce_lines)
        raise
    lines = describe(summary)
    if summary.nothing_to_do:
        result = JobResult(outcome=summary.nothing_to_do, lines=[], summary=summary)
    elif summary.complete:
        result = JobResult(
            outcome=f"issue {summary.issue_id} sent to {summary.sent} subscribers", lines=lines, summary=summary
        )
    elif summary.error and not summary.accepted:
        result = JobResult(outcome=f"issue {summary.issue_id} was not sent", lines=lines, summary=summary)
    else:
        result = JobResult(outcome=f"issue {summary.issue_id} only partly sent", lines=lines, summary=summary)
    frozen = issues.get(state, summary.issue_id) if summary.issue_id else None
    # also when there was nothing to send: an issue sent by `digest send` before has its page too
    sent = (frozen is not None and frozen.status == IssueStatus.SENT) or summary.nothing_to_do is not None
    if sent and (problem := archive_sent(settings, state)) is not None:
        result.notes.append(problem)
    result.housekeeping = housekeeping
    note = _report(
        settings, state, now, result.outcome, result.lines + housekeeping, frozen.record if frozen else None,
        bounce_lines,
    )  # fmt: skip
    result.notes += [n for n in (bounce_note, note) if n]
    result.bounces = bounce_lines
    return result


def _purge(settings: Settings, state: State) -> list[str]:
    """Sign-ups not confirmed within subscribe.pending_days are erased: on the wall clock, whatever --now says."""
    days = settings.model.subscribe.pending_days
    erased = optin.purge(state, days)
    return [f"erased {plural(erased, 'sign-up')} not confirmed within {days:g} days"] if erased else []


def _report(
    settings: Settings,
    state: State,
    now: datetime,
    outcome: str,
    lines: list[str],
    record: IssueRecord | None,
    bounce_lines: list[str] | None = None,
) -> str | None:
    return send_report(settings, compose(settings, state, now, outcome, lines, record, bounce_lines))
