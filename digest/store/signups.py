"""Sign-ups through the public form: pending subscribers, their confirmation emails, what readers choose on their
preferences page, and the count of sign-ups per client that every web process shares."""

from __future__ import annotations

from digest.models import SubscriberStatus
from digest.store.db import State, utcnow_iso


def note_attempt(state: State, client: str, at: str, window_start: str, limit: int) -> bool:
    """Count one sign-up of `client` at `at`; False (and not counted) when it already made `limit` since
    `window_start`. Kept in the state file, so that every web process counts against the same number."""
    with state.transaction():
        # Older attempts count for nobody: the table holds one window of them.
        state.execute("DELETE FROM signup_attempts WHERE at <= ?", (window_start,))
        row = state.one("SELECT COUNT(*) FROM signup_attempts WHERE client = ? AND at > ?", (client, window_start))
        if row is not None and int(row[0]) >= limit:
            return False
        state.execute("INSERT INTO signup_attempts (client, at) VALUES (?, ?)", (client, at))
        return True


def insert_pending(state: State, email: str, name: str, language: str, themes: str) -> int:
    now = utcnow_iso()
    row = state.execute(  # RETURNING: both engines give the new id (PostgreSQL has no lastrowid)
        """INSERT INTO subscribers (email, name, language, themes, status, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id""",
        (email, name, language, themes, SubscriberStatus.PENDING, now, now),
    ).fetchone()
    assert row is not None
    return int(row[0])


def claim_confirmation(state: State, subscriber_id: int, at: str, unless_since: str) -> tuple[bool, str | None]:
    """Take the right to mail this subscriber a confirmation now (`at`), unless one went out after
    `unless_since`; returns whether it was taken, and the time of the one before (None: the first). The update
    is one statement, so two processes can never both take it."""
    with state.transaction():
        row = state.one("SELECT confirm_sent_at FROM subscribers WHERE id = ?", (subscriber_id,))
        before: str | None = row[0] if row else None
        cursor = state.execute(
            """UPDATE subscribers SET confirm_sent_at = ?
               WHERE id = ? AND (confirm_sent_at IS NULL OR confirm_sent_at <= ?)""",
            (at, subscriber_id, unless_since),
        )
    return cursor.rowcount == 1, before


def release_confirmation(state: State, subscriber_id: int, taken: str, before: str | None) -> None:
    """A confirmation that could not be sent gives its turn back, so that the next sign-up sends one."""
    state.execute(
        "UPDATE subscribers SET confirm_sent_at = ? WHERE id = ? AND confirm_sent_at = ?",
        (before, subscriber_id, taken),
    )


def confirmation_sent_at(state: State, subscriber_id: int) -> str | None:
    row = state.one("SELECT confirm_sent_at FROM subscribers WHERE id = ?", (subscriber_id,))
    return row[0] if row else None


def confirm(state: State, subscriber_id: int, name: str, language: str, themes: str, rejoined_at: str | None) -> None:
    """Active, with the choices of the sign-up confirmed; `rejoined_at` (for an address that had left) voids
    every unsubscribe link made before it."""
    state.execute(
        """UPDATE subscribers SET status = ?, name = ?, language = ?, themes = ?, failures = 0, updated_at = ?,
             rejoined_at = COALESCE(?, rejoined_at), paused_until = NULL WHERE id = ?""",
        (SubscriberStatus.ACTIVE, name, language, themes, utcnow_iso(), rejoined_at, subscriber_id),
    )


def set_choices(state: State, subscriber_id: int, themes: str, language: str, paused_until: str | None) -> None:
    """What a reader chose on their preferences page."""
    state.execute(
        "UPDATE subscribers SET themes = ?, language = ?, paused_until = ?, updated_at = ? WHERE id = ?",
        (themes, language, paused_until, utcnow_iso(), subscriber_id),
    )


def purge_pending(state: State, before: str) -> int:
    """Erase the pending subscribers whose last confirmation email (or sign-up) is older than `before`, and every
    unconfirmed request that old (of an address that had left and signed up again: it stays as it was);
    returns how many pending subscribers went."""
    with state.transaction():
        rows = state.rows(
            "SELECT id FROM subscribers WHERE status = ? AND COALESCE(confirm_sent_at, created_at) < ?",
            (SubscriberStatus.PENDING, before),
        )
        expired = [int(row[0]) for row in rows]
        for subscriber_id in expired:
            state.execute("DELETE FROM consents WHERE subscriber_id = ?", (subscriber_id,))
            state.execute("DELETE FROM subscriber_events WHERE subscriber_id = ?", (subscriber_id,))
            state.execute("DELETE FROM subscribers WHERE id = ?", (subscriber_id,))
        state.execute("DELETE FROM consents WHERE confirmed_at IS NULL AND given_at < ?", (before,))
    return len(expired)
