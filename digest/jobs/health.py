"""The health report editors get after every run: what went out, to how many, and what needs attention."""

from __future__ import annotations

import smtplib
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from digest.config import Settings
from digest.mail.smtp import connect
from digest.models import IssueRecord
from digest.store import bounces, feeds
from digest.store.db import State
from digest.util import close_smtp

FAILING_RUNS = 2  # a feed failing this many runs in a row is named in the report
RATE_ISSUES = 4  # bounces keep coming for days after a send: the report shows the last few issues
BOUNCE_WARNING = 0.02  # hard and soft bounces over the messages an issue mailed
COMPLAINT_WARNING = 0.001
COMPLAINT_ALARM = 0.003  # Gmail's and Yahoo's line: past it they throttle or block the sender


def rate_lines(state: State) -> tuple[list[str], bool]:
    """Each recent issue's bounces and complaints as counts and rates, with warnings; True when one is an alarm."""
    lines: list[str] = []
    alarm = False
    for row in bounces.rates(state, RATE_ISSUES):
        if not row.mailed:
            continue
        bounced, complained = row.bounced / row.mailed, row.complaints / row.mailed
        lines.append(
            f"  {row.issue_id}: {row.mailed} mailed; hard bounces {row.hard} ({row.hard / row.mailed:.2%}), "
            f"soft {row.soft} ({row.soft / row.mailed:.2%}), complaints {row.complaints} ({complained:.2%})"
        )
        if complained > COMPLAINT_ALARM:
            alarm = True
            lines.append(
                f"    ALARM: complaints at {complained:.2%}, past 0.3%, where Gmail and Yahoo throttle or block a "
                "sender; check who is on the list and why"
            )
        elif complained > COMPLAINT_WARNING:
            lines.append(f"    warning: complaints at {complained:.2%}, past 0.1%")
        if bounced > BOUNCE_WARNING:
            lines.append(f"    warning: bounces at {bounced:.2%}, past 2%; an old or bought list bounces like this")
    if lines:
        lines.insert(0, "Bounces and complaints by issue (reports keep coming for days after a send):")
    return lines, alarm


def failing_feeds(state: State, settings: Settings) -> list[tuple[str, int, str]]:
    urls = {f.url for f in settings.model.feeds}
    return [(name, failures, error) for url, name, failures, error in feeds.failing(state, FAILING_RUNS) if url in urls]


def compose(
    settings: Settings,
    state: State,
    now: datetime,
    outcome: str,
    summary_lines: list[str],
    record: IssueRecord | None,
    bounce_lines: list[str] | None = None,
) -> EmailMessage:
    cfg = settings.model
    lines = [f"{cfg.newsletter.title}: the run of {now:%Y-%m-%d %H:%M} UTC", "", outcome, ""]
    lines += summary_lines
    rates, alarm = rate_lines(state)
    if rates or bounce_lines:
        lines += ["", *rates, *(bounce_lines or [])]
    failing = failing_feeds(state, settings)
    if failing:
        lines += ["", "Feeds failing several runs in a row:"]
        lines += [f"  {name}: {count} runs — {error}" for name, count, error in failing]
    if record is not None:
        empty = [s.title for s in record.sections if not s.articles]
        if empty:
            lines += ["", "Empty sections this week: " + ", ".join(empty)]
        lines += ["", f"Size: {record.size.html_bytes:,} bytes of HTML (Gmail clips near 102,000)."]
        warnings = record.warnings
        if warnings:
            lines += ["", "Warnings:"] + [f"  - {w}" for w in warnings]
    message = EmailMessage()
    message["From"] = cfg.newsletter.from_
    message["To"] = ", ".join(cfg.editors)
    message["Subject"] = f"[digest] {'ALARM, complaints past 0.3%: ' if alarm else ''}{cfg.newsletter.title}: {outcome}"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid("health", domain=cfg.newsletter.sender_domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("\n".join(lines) + "\n")
    return message


def send_report(settings: Settings, message: EmailMessage) -> str | None:
    """Mail the report to the editors; a sentence saying why not when it cannot go."""
    editors = settings.model.editors
    if not editors:
        return "no editors are listed in config.yaml (editors:), so no health report was sent"
    try:
        conn = connect(settings)
    except Exception as error:  # the report must never turn a finished run into a failed one
        return f"the health report could not be sent: {error}"
    try:
        conn.send_message(message, from_addr=settings.model.newsletter.sender_address, to_addrs=editors)
    except (OSError, smtplib.SMTPException) as error:
        return f"the health report could not be sent: {error}"
    finally:
        close_smtp(conn)
    return None
