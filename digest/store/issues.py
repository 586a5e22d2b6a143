"""Issues as the state file knows them: built, approved (frozen as the editors saw it), sending, sent."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from digest.models import Rendered, Window
from digest.store.db import State, iso, parse_iso, utcnow_iso

STATUSES = ("built", "approved", "sending", "sent", "skipped")


@dataclass
class Frozen:
    """An issue fixed for sending: its rendered content and manifest, exactly as approved."""

    id: str
    window: Window
    status: str
    rendered: Rendered
    manifest: dict[str, Any]
    approved_at: str | None = None
    sent_at: str | None = None


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
    return Frozen(
        id=row["id"],
        window=Window(parse_iso(row["window_start"]), parse_iso(row["window_end"])),
        status=row["status"],
        rendered=rendered,
        manifest=data["manifest"],
        approved_at=row["approved_at"],
        sent_at=row["sent_at"],
    )


def freeze(
    state: State, issue_id: str, window: Window, rendered: Rendered, manifest: dict[str, Any], status: str = "approved"
) -> None:
    """Store the issue as approved; a later send uses exactly this content."""
    payload = json.dumps(
        {
            "html": rendered.html,
            "text": rendered.text,
            "preheader": rendered.preheader,
            "subject": rendered.subject,
            "degraded": rendered.degraded,
            "manifest": manifest,
        },
        ensure_ascii=False,
    )
    now = utcnow_iso()
    with state.transaction() as db:
        db.execute(
            """INSERT INTO issues (id, window_start, window_end, status, approved_at, frozen, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(id) DO UPDATE SET window_start=excluded.window_start,
                 window_end=excluded.window_end, status=excluded.status, approved_at=excluded.approved_at,
                 frozen=excluded.frozen""",
            (issue_id, iso(window.start), iso(window.end), status, now if status == "approved" else None, payload, now),
        )


def get(state: State, issue_id: str) -> Frozen | None:
    row = state.db.execute("SELECT * FROM issues WHERE id = ?", (issue_id,)).fetchone()
    return _row_to_frozen(row)


def status_of(state: State, issue_id: str) -> str | None:
    row = state.db.execute("SELECT status FROM issues WHERE id = ?", (issue_id,)).fetchone()
    return row["status"] if row else None


def latest_approved(state: State) -> Frozen | None:
    """The newest issue approved and not yet completely sent."""
    row = state.db.execute(
        "SELECT * FROM issues WHERE status IN ('approved', 'sending') ORDER BY window_end DESC LIMIT 1"
    ).fetchone()
    return _row_to_frozen(row)


def last_sent(state: State) -> tuple[str, datetime] | None:
    """The id and window end of the newest sent issue: where the next period starts."""
    row = state.db.execute(
        "SELECT id, window_end FROM issues WHERE status = 'sent' ORDER BY window_end DESC LIMIT 1"
    ).fetchone()
    return (row["id"], parse_iso(row["window_end"])) if row else None


def set_status(state: State, issue_id: str, status: str, recipients: int | None = None) -> None:
    assert status in STATUSES, status
    with state.transaction() as db:
        db.execute("UPDATE issues SET status = ? WHERE id = ?", (status, issue_id))
        if status == "sent":
            db.execute("UPDATE issues SET sent_at = ? WHERE id = ?", (utcnow_iso(), issue_id))
        if recipients is not None:
            db.execute("UPDATE issues SET recipients = ? WHERE id = ?", (recipients, issue_id))
