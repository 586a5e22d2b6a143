"""The connection to the state: one SQLite file by default, or a PostgreSQL database that several hosts share.

`State(target)` opens either: a path is a SQLite file (this module), a `postgresql://` URL a database
(store/postgres.py, imported only then, so SQLite never loads psycopg). Both offer the same few calls
(`execute`, `executemany`, `rows`, `one`, `transaction`, `another`, `borrow`) over the same SQL: the table
modules beside this one hold every statement of digest, written once with `?` placeholders in standard SQL;
what only one engine spells its own way is a `Dialect` fragment. Everything particular to an engine lives in
its module: opening, pragmas, transactions, migrations and the translation of its errors into one sentence
(`StateError`).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from digest.errors import StateError
from digest.store.migrations import MIGRATIONS, Migration
from digest.util import POSTGRES_SCHEMES

Params = Sequence[Any]
Synchronous = Literal["NORMAL", "FULL"]


class Row(Protocol):
    """A row read by name or by position, whichever engine read it."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    """What a statement leaves: its rows, and how many rows it changed."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


@dataclass(frozen=True)
class Dialect:
    """The few fragments the engines spell differently; everything else in the table modules is shared."""

    name: str
    epoch: str  # the database's clock, in seconds since 1970 (a lease or a rate is measured by one clock)
    for_update: str  # locks the rows a SELECT read, until the transaction ends
    skip_locked: str  # ... and leaves out the rows another transaction holds (a claim of recipients)
    for_share: str  # keeps the rows a SELECT read from changing until the transaction ends


SQLITE = Dialect(
    name="sqlite",
    epoch="((julianday('now') - 2440587.5) * 86400.0)",
    # One writer at a time (BEGIN IMMEDIATE) already holds everything a transaction reads.
    for_update="",
    skip_locked="",
    for_share="",
)


def utcnow_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def is_url(target: Path | str) -> bool:
    return isinstance(target, str) and target.startswith(POSTGRES_SCHEMES)


class State:
    """A connection to the state, migrated to the newest schema on open; `State(path_or_url)` picks the engine.

    `synchronous` is how hard a commit waits for the disk: NORMAL survives a killed process, FULL also a
    power cut (the delivery ledger's outcomes use it)."""

    engine: ClassVar[str] = ""
    dialect: Dialect = SQLITE
    target: str = ""  # what the messages name: the file, or the URL (which never holds a password)

    def __new__(cls, target: Path | str, synchronous: Synchronous = "NORMAL", migrate: bool = True) -> State:
        if cls is State:
            if is_url(target):
                try:
                    from digest.store.postgres import PostgresState
                except ImportError:
                    raise StateError(
                        f"the state {target} is a PostgreSQL database, and psycopg is not installed; install it "
                        "with pip install 'digest[postgresql]'"
                    ) from None

                return super().__new__(PostgresState)
            return super().__new__(SqliteState)
        return super().__new__(cls)

    def __init__(self, target: Path | str, synchronous: Synchronous = "NORMAL", migrate: bool = True) -> None:
        raise NotImplementedError  # pragma: no cover - every engine has its own

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def another(self, synchronous: Synchronous = "NORMAL") -> State:
        """A second connection to the same state (the ledger writes through its own)."""
        raise NotImplementedError

    @contextmanager
    def borrow(self) -> Iterator[State]:
        """A connection for one task among many threads (a web request): SQLite's one connection in turn,
        PostgreSQL's next free one from the pool, so that requests on PostgreSQL run side by side."""
        raise NotImplementedError
        yield self  # pragma: no cover

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Iterable[Params]) -> Cursor:
        raise NotImplementedError

    def rows(self, sql: str, params: Params = ()) -> Iterator[Row]:
        """The rows of a query one at a time, however many there are."""
        raise NotImplementedError

    def one(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = self.execute(sql, params).fetchone()
        return row

    @contextmanager
    def transaction(self) -> Iterator[State]:
        """All or nothing; inside another transaction it simply joins it."""
        raise NotImplementedError
        yield self  # pragma: no cover

    def tables(self) -> list[str]:
        """The tables of the schema (migrations' bookkeeping included), in name order."""
        raise NotImplementedError

    def columns(self, table: str) -> list[str]:
        raise NotImplementedError

    def copy_in(self, table: str, columns: list[str], rows: Iterable[Any]) -> None:
        """Add rows to a table as fast as the engine takes them (PostgreSQL: COPY)."""
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" * len(columns))
        self.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', (tuple(row) for row in rows))

    def reset_identities(self) -> None:
        """After rows were copied in with their ids: the next id follows the highest (SQLite does so itself)."""

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Held by one process at a time among all that share the state (PostgreSQL's advisory lock); SQLite's
        own process is alone already, under the send lock."""
        yield

    def checkpoint(self) -> None:
        """Make everything committed readable from the database alone (SQLite folds its write-ahead log)."""

    def statements(self, migration: Migration) -> list[str]:
        """The migration's statements as this engine runs them."""
        return [s if isinstance(s, str) else s.sqlite for s in migration.statements]

    def migrate(self) -> None:
        with self._migrating():
            self.execute("CREATE TABLE IF NOT EXISTS migrations (number INTEGER PRIMARY KEY, applied_at TEXT)")
            done = {row[0] for row in self.execute("SELECT number FROM migrations").fetchall()}
            # in number order, whatever order the tuple lists them in (a branch may land a lower number later)
            for migration in sorted(MIGRATIONS, key=lambda m: m.number):
                if migration.number in done:
                    continue
                with self.transaction():
                    for statement in self.statements(migration):
                        self.execute(statement)
                    self.execute(
                        "INSERT INTO migrations (number, applied_at) VALUES (?, ?)", (migration.number, utcnow_iso())
                    )

    @contextmanager
    def _migrating(self) -> Iterator[None]:
        """Held while migrations run: two processes opening a fresh database at once apply each one once."""
        yield

    @property
    def schema_version(self) -> int:
        row = self.one("SELECT MAX(number) FROM migrations")
        return int(row[0] or 0) if row else 0


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


class SqliteState(State):
    """The state in one SQLite file: one connection, which threads take turns on."""

    engine = "sqlite"
    dialect = SQLITE

    def __init__(self, target: Path | str, synchronous: Synchronous = "NORMAL", migrate: bool = True) -> None:
        self.path = Path(target)
        self.target = str(target)
        self.turn = threading.Lock()
        memory = str(target) == ":memory:"
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
            self.db = sqlite3.connect(str(target), timeout=30, isolation_level=None, check_same_thread=False)
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

    def another(self, synchronous: Synchronous = "NORMAL") -> State:
        return SqliteState(self.path, synchronous, migrate=False)

    @contextmanager
    def borrow(self) -> Iterator[State]:
        with self.turn:
            yield self

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
        cursor = self.execute(sql, params)
        try:
            yield from cursor
        except sqlite3.Error as error:
            raise _explain(self.path, error) from None
        finally:
            cursor.close()

    @contextmanager
    def transaction(self) -> Iterator[State]:
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

    def tables(self) -> list[str]:
        rows = self.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        return sorted(row[0] for row in rows)

    def columns(self, table: str) -> list[str]:
        return [row[1] for row in self.execute(f'PRAGMA table_info("{table}")')]

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the file, so that a copy of the file alone holds everything."""
        self.execute("PRAGMA wal_checkpoint(TRUNCATE)")
