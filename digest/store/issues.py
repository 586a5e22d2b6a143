"""Issues as the state file knows them: built, approved (frozen as the editors saw it), sending, sent."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from digest.errors import DigestError
from digest.models import IssueRecord, IssueStatus, Rendered, Window
from digest.store.db import State, iso, parse_iso, utcnow_iso


@dataclass
class Frozen:
    """An issue fixed for sending: its rendered content and record, exactly as approved."""

    id: str
    window: Window
    status: IssueStatus
    rendered: Rendered
    record: IssueRecord
    approved_at: str | None = None
    sent_at: str | None = None
    # Each approved article's title as its feed gave it, before any rewrite (not part of the public record).
    feed_titles: dict[str, str] = field(default_factory=dict)


def _record(issue_id: str, stored: dict[str, Any]) -> tuple[IssueRecord, dict[str, str]]:
    """The record and the feed titles, also from an issue frozen before records had a schema_version (when
    the feed titles were kept inside it)."""
    public = dict(stored["manifest"])
    feed_titles = stored.get("feed_titles") or public.pop("feed_titles", None) or {}
    try:
        return IssueRecord.model_validate(public), feed_titles
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise DigestError(
            f"issue {issue_id} in the state file cannot be read ({where}: {problem['msg']}); "
            "was it written by a newer version of digest?"
        ) from None


def _row_to_frozen(row: Any) -> Frozen | None:
    if row is None or not row["frozen"]:
        return None
    data = json.loads(row["frozen"])
    rendered = Rendered(
        html=data["html"],
        text=data["text"],
        preheader=data["preheader"],
        subject=data["subject"],
        degraded=data.get("degraded", False),
    )
    record, feed_titles = _record(row["id"], data)
    return Frozen(
        id=row["id"],
        window=Window(parse_iso(row["window_start"]), parse_iso(row["window_end"])),
        status=IssueStatus(row["status"]),
        rendered=rendered,
        record=record,
        approved_at=row["approved_at"],
        sent_at=row["sent_at"],
        feed_titles=feed_titles,
    )


def freeze(
    state: State,
    issue_id: str,
    window: Window,
    rendered: Rendered,
    record: IssueRecord,
    status: IssueStatus = IssueStatus.APPROVED,
    feed_titles: dict[str, str] | None = None,
) -> None:
    """Store the issue as approved; a later send uses exactly this content."""
    payload = json.dumps(
        {
            "html": rendered.html,
            "text": rendered.text,
            "preheader": rendered.preheader,
            "subject": rendered.subject,
            "degraded": rendered.degraded,
            "manifest": record.public(),
            "feed_titles": feed_titles or {},
        },
        ensure_ascii=False,
    )
    now = utcnow_iso()
    approved_at = now if status == IssueStatus.APPROVED else None
    with state.transaction():
        state.execute(
            """INSERT INTO issues (id, window_start, window_end, status, approved_at, frozen, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(id) DO UPDATE SET window_start = excluded.window_start,
                 window_end = excluded.window_end, status = excluded.status, approved_at = excluded.approved_at,
                 frozen = excluded.frozen""",
            (issue_id, iso(window.start), iso(window.end), IssueStatus(status), approved_at, payload, now),
        )


def get(state: State, issue_id: str) -> Frozen | None:
    return _row_to_frozen(state.one("SELECT * FROM issues WHERE id = ?", (issue_id,)))


def status_of(state: State, issue_id: str) -> IssueStatus | None:
    row = state.one("SELECT status FROM issues WHERE id = ?", (issue_id,))
    return IssueStatus(row["status"]) if row else None


def latest_approved(state: State) -> Frozen | None:
    """The newest issue approved and not yet completely sent."""
    row = state.one(
        "SELECT * FROM issues WHERE status IN (?, ?) ORDER BY window_end DESC LIMIT 1",
        (IssueStatus.APPROVED, IssueStatus.SENDING),
    )
    return _row_to_frozen(row)


def last_sent(state: State) -> tuple[str, datetime] | None:
    """The id and window end of the newest sent issue: where the next period starts."""
    row = state.one(
        "SELECT id, window_end FROM issues WHERE status = ? ORDER BY window_end DESC LIMIT 1", (IssueStatus.SENT,)
    )
    return (row["id"], parse_iso(row["window_end"])) if row else None


def sent(state: State) -> list[Frozen]:
    """Every sent issue, newest first."""
    rows = state.rows("SELECT * FROM issues WHERE status = ? ORDER BY window_end DESC", (IssueStatus.SENT,))
    return [frozen for row in rows if (frozen := _row_to_frozen(row)) is not None]


def set_status(state: State, issue_id: str, status: IssueStatus, recipients: int | None = None) -> None:
    status = IssueStatus(status)  # a bare string from an old caller must still be a known status
    with state.transaction():
        state.execute("UPDATE issues SET status = ? WHERE id = ?", (status, issue_id))
        if status == IssueStatus.SENT:
            state.execute("UPDATE issues SET sent_at = ? WHERE id = ?", (utcnow_iso(), issue_id))
        if recipients is not None:
            state.execute("UPDATE issues SET recipients = ? WHERE id = ?", (recipients, issue_id))
