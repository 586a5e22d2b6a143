"""The connection to the state file: one SQLite file for the feed cache, articles seen, issues, subscribers and
deliveries.

Everything particular to the engine lives here: opening, pragmas, transactions, migrations and the
translation of its errors into one sentence (`StateError`). The SQL itself lives in the table modules beside
this one (feeds, articles, issues, subscribers, deliveries, bounces), the only places in digest that hold any,
written in standard SQL wherever that costs nothing, so that a second engine can take their place.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from digest.errors import StateError
from digest.store.migrations import MIGRATIONS

Params = Sequence[Any]
Synchronous = Literal["NORMAL", "FULL"]


def utcnow_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _explain(path: Path, error: sqlite3.Error) -> StateError:
    """One sentence for what went wrong with the state file, and what to do about it."""
    said = str(error)
    if "not a database" in said or "malformed" in said or "corrupt" in said:
        advice = "is not a SQLite database, or is damaged; restore it from a backup, or move it aside to start afresh"
    elif "readonly" in said or "read-only" in said:
        advice = "cannot be written; check the permissions of the file and of its folder"
    elif "unable to open" in said:
        advice = "cannot be opened; check that its folder exists and can be written"
    elif "locked" in said or "busy" in said:
        advice = "is held by another digest for too long; try again when it has finished"
    else:
        advice = "cannot be used"
    return StateError(f"the state file {path} {advice} ({said})")


class State:
    """A connection to the state file, migrated to the newest schema on open.

    `synchronous` is how hard a commit waits for the disk: NORMAL survives a killed process, FULL also a
    power cut (the delivery ledger's outcomes use it)."""

    def __init__(self, path: Path | str, synchronous: Synchronous = "NORMAL", migrate: bool = True) -> None:
        self.path = Path(path)
        memory = str(path) == ":memory:"
        if not memory and self.path.is_dir():
            raise StateError(
                f"the state file {self.path} is a folder; set `state:` in config.yaml to a file such as digest.db"
            )
        try:
            if not memory:
                self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StateError(
                f"the folder of the state file {self.path} cannot be made ({error.strerror or error})"
            ) from None
        try:
            self.db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as error:
            raise _explain(self.path, error) from None
        self.db.row_factory = sqlite3.Row
        try:
            self.execute("PRAGMA busy_timeout = 30000")
            if not memory:
                self.execute("PRAGMA journal_mode = WAL")
            self.execute(f"PRAGMA synchronous = {synchronous}")
            if migrate:
                self.migrate()
        except BaseException:
            self.db.close()
            raise

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def another(self, synchronous: Synchronous) -> State:
        """A second connection to the same file (the ledger writes through its own two)."""
        return State(self.path, synchronous, migrate=False)

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        try:
            return self.db.execute(sql, params)
        except sqlite3.Error as error:
            raise _explain(self.path, error) from None

    def executemany(self, sql: str, rows: Iterable[Params]) -> sqlite3.Cursor:
        try:
            return self.db.executemany(sql, rows)
        except sqlite3.Error as error:
            raise _explain(self.path, error) from None

    def rows(self, sql: str, params: Params = ()) -> Iterator[sqlite3.Row]:
        """The rows of a query one at a time, however many there are."""
        cursor = self.execute(sql, params)
        try:
            yield from cursor
        except sqlite3.Error as error:
            raise _explain(self.path, error) from None
        finally:
            cursor.close()

    def one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.execute(sql, params).fetchone()
        return row

    @contextmanager
    def transaction(self) -> Iterator[State]:
        """All or nothing; inside another transaction it simply joins it."""
        if self.db.in_transaction:
            yield self
            return
        self.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            raise
        self.execute("COMMIT")

    def migrate(self) -> None:
        self.execute("CREATE TABLE IF NOT EXISTS migrations (number INTEGER PRIMARY KEY, applied_at TEXT)")
        done = {row[0] for row in self.execute("SELECT number FROM migrations")}
        for migration in MIGRATIONS:
            if migration.number in done:
                continue
            with self.transaction():
                for statement in migration.statements:
                    self.execute(statement)
                self.execute(
                    "INSERT INTO migrations (number, applied_at) VALUES (?, ?)", (migration.number, utcnow_iso())
                )

    @property
    def schema_version(self) -> int:
        row = self.one("SELECT MAX(number) FROM migrations")
        return int(row[0] or 0) if row else 0

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the file, so that a copy of the file alone holds everything."""
        self.execute("PRAGMA wal_checkpoint(TRUNCATE)")
