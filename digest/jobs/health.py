"""The health report editors get after every run: what went out, to how many, and what needs attention."""

from __future__ import annotations

import smtplib
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from digest.config import Settings
from digest.mail.smtp import connect
from digest.models import IssueRecord
from digest.store import feeds
from digest.store.db import State
from digest.util import close_smtp

FAILING_RUNS = 2  # a feed failing this many runs in a row is named in the report


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
) -> EmailMessage:
    cfg = settings.model
    lines = [f"{cfg.newsletter.title}: the run of {now:%Y-%m-%d %H:%M} UTC", "", outcome, ""]
    lines += summary_lines
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
    message["Subject"] = f"[digest] {cfg.newsletter.title}: {outcome}"
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
