"""The SQLite state file: feed cache, articles seen, issues, subscribers, deliveries.

Schema changes are numbered migrations, each applied together with its record in one transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

MIGRATIONS: list[str] = [
    # 1: the feed cache and the articles seen
    """
    CREATE TABLE feeds (
        url TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        etag TEXT,
        last_modified TEXT,
        moved_to TEXT,
        gone INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        last_success TEXT,
        last_error TEXT,
        cached TEXT
    );
    CREATE TABLE articles (
        id TEXT PRIMARY KEY,
        url_key TEXT,
        feed TEXT NOT NULL,
        title TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        sent_in TEXT
    );
    CREATE INDEX articles_url_key ON articles(url_key);
    """,
    # 2: issues, subscribers and the delivery ledger
    """
    CREATE TABLE issues (
        id TEXT PRIMARY KEY,
        window_start TEXT NOT NULL,
        window_end TEXT NOT NULL,
        status TEXT NOT NULL,
        approved_at TEXT,
        frozen TEXT,
        sent_at TEXT,
        recipients INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
        name TEXT NOT NULL DEFAULT '',
        language TEXT NOT NULL DEFAULT '',
        themes TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'active',
        failures INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE deliveries (
        issue_id TEXT NOT NULL,
        subscriber_id INTEGER NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        message_id TEXT,
        error TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (issue_id, subscriber_id)
    );
    """,
    # 3: when a subscriber last came back after leaving: unsubscribe tokens made before it no longer work
    """
    ALTER TABLE subscribers ADD COLUMN rejoined_at TEXT
    """,
]


def utcnow_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass
class FeedState:
    url: str
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None
    gone: bool = False
    failures: int = 0
    last_success: str | None = None
    last_error: str | None = None
    cached: str | None = None  # the articles of the last 200, as JSON: a 304 reuses them without parsing


class State:
    """A connection to the state file, migrated to the newest schema on open."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA busy_timeout = 30000")
        if str(path) != ":memory:":
            self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.migrate()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def migrate(self) -> None:
        self.db.execute("CREATE TABLE IF NOT EXISTS migrations (number INTEGER PRIMARY KEY, applied_at TEXT)")
        done = {row[0] for row in self.db.execute("SELECT number FROM migrations")}
        for number, script in enumerate(MIGRATIONS, start=1):
            if number in done:
                continue
            with self.transaction() as db:
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute("INSERT INTO migrations VALUES (?, ?)", (number, utcnow_iso()))

    @property
    def schema_version(self) -> int:
        row = self.db.execute("SELECT MAX(number) FROM migrations").fetchone()
        return int(row[0] or 0)

    # feeds

    def feed(self, url: str) -> FeedState:
        row = self.db.execute("SELECT * FROM feeds WHERE url = ?", (url,)).fetchone()
        if row is None:
            return FeedState(url=url)
        return FeedState(
            url=url,
            etag=row["etag"],
            last_modified=row["last_modified"],
            moved_to=row["moved_to"],
            gone=bool(row["gone"]),
            failures=row["failures"],
            last_success=row["last_success"],
            last_error=row["last_error"],
            cached=row["cached"],
        )

    def save_feed(self, name: str, feed: FeedState) -> None:
        self.db.execute(
            """INSERT INTO feeds (url, name, etag, last_modified, moved_to, gone, failures, last_success,
                                  last_error, cached)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(url) DO UPDATE SET name=excluded.name, etag=excluded.etag,
                 last_modified=excluded.last_modified, moved_to=excluded.moved_to, gone=excluded.gone,
                 failures=excluded.failures, last_success=excluded.last_success,
                 last_error=excluded.last_error, cached=excluded.cached""",
            (
                feed.url,
                name,
                feed.etag,
                feed.last_modified,
                feed.moved_to,
                int(feed.gone),
                feed.failures,
                feed.last_success,
                feed.last_error,
                feed.cached,
            ),
        )

    # articles

    def first_seen(self, articles: list[tuple[str, str | None, str, str]], now: datetime) -> dict[str, datetime]:
        """Record (id, url_key, feed, title) rows not seen before; return every id's first-seen time."""
        stamp = iso(now)
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO articles (id, url_key, feed, title, first_seen) VALUES (?, ?, ?, ?, ?)",
                [(aid, key, feed, title, stamp) for aid, key, feed, title in articles],
            )
        seen: dict[str, datetime] = {}
        ids = [row[0] for row in articles]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(f"SELECT id, first_seen FROM articles WHERE id IN ({marks})", chunk):
                seen[row["id"]] = parse_iso(row["first_seen"])
        return seen

    def sent_article_keys(self, exclude_issue: str | None = None) -> tuple[set[str], set[str]]:
        """Ids and URL keys of every article that already went out in a sent issue (other than one)."""
        ids, keys = set(), set()
        rows = self.db.execute(
            "SELECT id, url_key FROM articles WHERE sent_in IS NOT NULL AND sent_in != ?", (exclude_issue or "",)
        )
        for row in rows:
            ids.add(row["id"])
            if row["url_key"]:
                keys.add(row["url_key"])
        return ids, keys

    def mark_sent(self, issue_id: str, article_ids: list[str], url_keys: list[str | None], now: datetime) -> None:
        with self.transaction() as db:
            for aid, key in zip(article_ids, url_keys, strict=True):
                db.execute(
                    """INSERT INTO articles (id, url_key, feed, title, first_seen, sent_in)
                       VALUES (?, ?, '', '', ?, ?)
                       ON CONFLICT(id) DO UPDATE SET sent_in = COALESCE(articles.sent_in, excluded.sent_in)""",
                    (aid, key, iso(now), issue_id),
                )
