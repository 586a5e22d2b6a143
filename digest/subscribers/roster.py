"""The subscriber list in the state file: add, import a CSV, remove, list, export.

Addresses are checked for syntax only (no DNS) and compared without regard to case.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from digest.errors import NotFound, SubscriberError
from digest.store.db import State, utcnow_iso
from digest.util import check_address, check_name

STATUSES = ("active", "unsubscribed", "bounced")
COLUMNS = ("email", "name", "language", "themes")

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
_THEME_SPLIT = re.compile(r"[\s,;|]+")
_HEADER_NAMES = {"email": "email", "e-mail": "email", "address": "email", "mail": "email"}


@dataclass
class Subscriber:
    id: int
    email: str
    name: str
    language: str
    themes: list[str]
    status: str
    failures: int
    created_at: str
    rejoined_at: str | None = None  # the last re-subscribe; None if the address never came back after leaving

    def joined(self) -> datetime:
        """Since when this subscription holds: unsubscribe tokens made before it are void."""
        return datetime.fromisoformat(self.rejoined_at or self.created_at)


@dataclass
class ImportReport:
    """What an import did; `bad` holds (line number, reason) for every line left out."""

    added: int = 0
    existing: int = 0  # already on the list: left as they are (an unsubscribed address stays unsubscribed)
    duplicates: list[tuple[int, int]] = field(default_factory=list)  # (line, line it repeats)
    bad: list[tuple[int, str]] = field(default_factory=list)


def _themes(text: str, known: set[str] | None) -> list[str]:
    themes = [t for t in _THEME_SPLIT.split(text.strip().lower()) if t]
    if known is not None:
        unknown = [t for t in themes if t not in known]
        if unknown:
            raise ValueError(f"unknown theme {unknown[0]!r} (config.yaml themes: {', '.join(sorted(known))})")
    return themes


def _language(text: str) -> str:
    language = text.strip()
    if language and not _LANGUAGE.match(language):
        raise ValueError(f"language {language!r} is not a language tag such as 'en' or 'pt-BR'")
    return language


def _row(row: sqlite3.Row) -> Subscriber:
    return Subscriber(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        language=row["language"],
        themes=[t for t in row["themes"].split(",") if t],
        status=row["status"],
        failures=row["failures"],
        created_at=row["created_at"],
        rejoined_at=row["rejoined_at"],
    )


def get(state: State, address: str) -> Subscriber | None:
    row = state.db.execute("SELECT * FROM subscribers WHERE email = ?", (address.strip(),)).fetchone()
    return _row(row) if row else None


def add(
    state: State,
    address: str,
    name: str = "",
    language: str = "",
    themes: str = "",
    known_themes: set[str] | None = None,
    reactivate: bool = False,
) -> tuple[Subscriber, bool]:
    """Add one subscriber; returns it and whether anything changed. An existing address keeps its status
    unless `reactivate` is given (a person who unsubscribed must ask to come back)."""
    try:
        email = check_address(address)
        fields = (check_name(name), _language(language), ",".join(_themes(themes, known_themes)))
    except ValueError as error:
        raise SubscriberError(str(error)) from None
    existing = get(state, email)
    now = utcnow_iso()
    if existing is not None:
        if not reactivate or existing.status == "active":
            return existing, False
        # Dated to the microsecond: a token made a moment before must not pass for one made after.
        state.db.execute(
            "UPDATE subscribers SET status = 'active', failures = 0, updated_at = ?, rejoined_at = ? WHERE id = ?",
            (now, datetime.now(UTC).isoformat(), existing.id),
        )
        return _must_get(state, email), True
    state.db.execute(
        """INSERT INTO subscribers (email, name, language, themes, status, created_at, updated_at)
           VALUES (?, ?, ?, ?, 'active', ?, ?)""",
        (email, *fields, now, now),
    )
    return _must_get(state, email), True


def _must_get(state: State, email: str) -> Subscriber:
    found = get(state, email)
    if found is None:
        raise NotFound(f"{email} is not on the subscriber list")
    return found


def import_csv(state: State, stream: TextIO, known_themes: set[str] | None = None) -> ImportReport:
    """Import rows of email, name, language, themes (a header line naming them is optional and may
    reorder them). Good lines are imported even when others are bad; all in one transaction."""
    report = ImportReport()
    columns = list(COLUMNS)
    seen: dict[str, int] = {}
    rows: list[tuple[str, str, str, str]] = []
    reader = csv.reader(stream)
    try:
        for record in reader:
            number = reader.line_num
            cells = [c.strip() for c in record]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if not seen and not report.bad and cells[0].lower() in _HEADER_NAMES:
                columns = [_HEADER_NAMES.get(c.lower(), c.lower()) for c in cells]
                continue
            values = dict(zip(columns, cells, strict=False))
            try:
                email = check_address(values.get("email", ""))
                name = check_name(values.get("name", ""))
                language = _language(values.get("language", ""))
                themes = ",".join(_themes(values.get("themes", ""), known_themes))
            except ValueError as error:
                report.bad.append((number, str(error)))
                continue
            key = email.lower()
            if key in seen:
                report.duplicates.append((number, seen[key]))
                continue
            seen[key] = number
            rows.append((email, name, language, themes))
    except (csv.Error, UnicodeDecodeError) as error:
        raise SubscriberError(f"line {reader.line_num + 1} of the CSV cannot be read: {error}") from None
    now = utcnow_iso()
    with state.transaction() as db:
        before = db.execute("SELECT COUNT(*) FROM subscribers").fetchone()[0]
        db.executemany(
            """INSERT INTO subscribers (email, name, language, themes, status, created_at, updated_at)
               VALUES (?, ?, ?, ?, 'active', ?, ?) ON CONFLICT(email) DO NOTHING""",
            [(*row, now, now) for row in rows],
        )
        after = db.execute("SELECT COUNT(*) FROM subscribers").fetchone()[0]
    report.added = after - before
    report.existing = len(rows) - report.added
    return report


def import_file(state: State, path: Path, known_themes: set[str] | None = None) -> ImportReport:
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            return import_csv(state, stream, known_themes)
    except FileNotFoundError:
        raise SubscriberError(f"{path}: no such file") from None
    except OSError as error:
        raise SubscriberError(f"{path}: cannot be read ({error.strerror})") from None


def remove(state: State, address: str, forget: bool = False) -> Subscriber:
    """Unsubscribe an address (kept, so no later import adds it back), or with `forget` erase it and its
    delivery records."""
    found = get(state, address)
    if found is None:
        raise NotFound(f"{address.strip()} is not on the subscriber list")
    with state.transaction() as db:
        if forget:
            db.execute("DELETE FROM deliveries WHERE subscriber_id = ?", (found.id,))
            db.execute("DELETE FROM subscribers WHERE id = ?", (found.id,))
        else:
            db.execute(
                "UPDATE subscribers SET status = 'unsubscribed', updated_at = ? WHERE id = ?", (utcnow_iso(), found.id)
            )
    return found


def unsubscribe(state: State, subscriber_id: int) -> None:
    state.db.execute(
        "UPDATE subscribers SET status = 'unsubscribed', updated_at = ? WHERE id = ? AND status != 'unsubscribed'",
        (utcnow_iso(), subscriber_id),
    )


def by_id(state: State, subscriber_id: int) -> Subscriber | None:
    row = state.db.execute("SELECT * FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()
    return _row(row) if row else None


def all_subscribers(state: State, status: str | None = None) -> Iterator[Subscriber]:
    if status is None:
        rows = state.db.execute("SELECT * FROM subscribers ORDER BY id")
    else:
        rows = state.db.execute("SELECT * FROM subscribers WHERE status = ? ORDER BY id", (status,))
    for row in rows:
        yield _row(row)


def counts(state: State) -> dict[str, int]:
    found = dict.fromkeys(STATUSES, 0)
    for row in state.db.execute("SELECT status, COUNT(*) FROM subscribers GROUP BY status"):
        found[row[0]] = row[1]
    return found


def export_csv(subscribers: Iterable[Subscriber], stream: TextIO) -> int:
    """Write the list as CSV that `import_csv` reads back; returns the number of rows."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([*COLUMNS, "status", "failures", "created_at"])
    count = 0
    for sub in subscribers:
        writer.writerow([sub.email, sub.name, sub.language, ";".join(sub.themes), sub.status, sub.failures,
                         sub.created_at])  # fmt: skip
        count += 1
    return count


def export_text(subscribers: Iterable[Subscriber]) -> str:
    buffer = io.StringIO()
    export_csv(subscribers, buffer)
    return buffer.getvalue()
