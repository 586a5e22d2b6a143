"""The schema of the state file, as numbered migrations.

Each migration is a tuple of single statements, run one by one (never a script split on ";", which would
break on a semicolon inside a string or a trigger) and applied together with its record in `migrations`,
in one transaction. A released migration never changes: a new schema is a new migration at the end.

Both engines run the same migrations. The statements are SQLite's; on PostgreSQL store/postgres.py reads the
few column types that differ as their PostgreSQL twins (INTEGER PRIMARY KEY an identity, INTEGER a BIGINT, REAL a
DOUBLE PRECISION, BLOB a BYTEA, TEXT COLLATE NOCASE a CITEXT). A statement no translation can carry is a
`Variant`, spelt once per engine.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    """One statement spelt once per engine."""

    sqlite: str
    postgresql: str


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    statements: tuple[str | Variant, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "the feed cache and the articles seen",
        (
            """CREATE TABLE feeds (
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
            )""",
            """CREATE TABLE articles (
                id TEXT PRIMARY KEY,
                url_key TEXT,
                feed TEXT NOT NULL,
                title TEXT NOT NULL,
                first_seen TEXT NOT NULL,
                sent_in TEXT
            )""",
            "CREATE INDEX articles_url_key ON articles(url_key)",
        ),
    ),
    Migration(
        2,
        "issues, subscribers and the delivery ledger",
        (
            """CREATE TABLE issues (
                id TEXT PRIMARY KEY,
                window_start TEXT NOT NULL,
                window_end TEXT NOT NULL,
                status TEXT NOT NULL,
                approved_at TEXT,
                frozen TEXT,
                sent_at TEXT,
                recipients INTEGER NOT NULL DEFAULT 0,
                created_at TEXT NOT NULL
            )""",
            """CREATE TABLE subscribers (
                id INTEGER PRIMARY KEY,
                email TEXT NOT NULL UNIQUE COLLATE NOCASE,
                name TEXT NOT NULL DEFAULT '',
                language TEXT NOT NULL DEFAULT '',
                themes TEXT NOT NULL DEFAULT '',
                status TEXT NOT NULL DEFAULT 'active',
                failures INTEGER NOT NULL DEFAULT 0,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )""",
            """CREATE TABLE deliveries (
                issue_id TEXT NOT NULL,
                subscriber_id INTEGER NOT NULL,
                status TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                message_id TEXT,
                error TEXT,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (issue_id, subscriber_id)
            )""",
        ),
    ),
    Migration(
        3,
        "when a subscriber last came back after leaving: unsubscribe tokens made before it no longer work",
        ("ALTER TABLE subscribers ADD COLUMN rejoined_at TEXT",),
    ),
    Migration(
        4,
        "bounces from every source: SMTP refusals today, bounce reports and complaints tomorrow",
        (
            """CREATE TABLE bounces (
                subscriber_id INTEGER NOT NULL,
                kind TEXT NOT NULL,
                source TEXT NOT NULL,
                code INTEGER,
                detail TEXT NOT NULL,
                created_at TEXT NOT NULL
            )""",
            "CREATE INDEX bounces_subscriber ON bounces(subscriber_id)",
        ),
    ),
    Migration(
        7,
        "an issue cut to each reader's themes: its variants frozen beside it, and which one each reader got",
        (
            "ALTER TABLE deliveries ADD COLUMN variant TEXT",
            """CREATE TABLE issue_variants (
                issue_id TEXT NOT NULL,
                variant TEXT NOT NULL,
                label TEXT NOT NULL,
                subject TEXT NOT NULL,
                preheader TEXT NOT NULL,
                html TEXT NOT NULL,
                text TEXT NOT NULL,
                degraded INTEGER NOT NULL DEFAULT 0,
                articles INTEGER NOT NULL DEFAULT 0,
                created_at TEXT NOT NULL,
                PRIMARY KEY (issue_id, variant)
            )""",
        ),
    ),
    Migration(
        6,
        "bounce reports and webhooks: the issue and status code of each bounce, what it changed, events seen once",
        (
            "ALTER TABLE bounces ADD COLUMN issue_id TEXT",
            "ALTER TABLE bounces ADD COLUMN status TEXT",
            "ALTER TABLE bounces ADD COLUMN changed_to TEXT",
            "CREATE INDEX bounces_issue ON bounces(issue_id)",
            """CREATE TABLE bounce_events (
                source TEXT NOT NULL,
                event_id TEXT NOT NULL,
                received_at TEXT NOT NULL,
                PRIMARY KEY (source, event_id)
            )""",
            """CREATE TABLE mailbox_marks (
                mailbox TEXT PRIMARY KEY,
                uidvalidity INTEGER NOT NULL,
                last_uid INTEGER NOT NULL,
                updated_at TEXT NOT NULL
            )""",
        ),
    ),
    Migration(
        5,
        "readers choose: pending sign-ups, consent records, history, pauses, forgotten addresses, sign-up counts",
        (
            "ALTER TABLE subscribers ADD COLUMN paused_until TEXT",
            "ALTER TABLE subscribers ADD COLUMN confirm_sent_at TEXT",
            """CREATE TABLE consents (
                subscriber_id INTEGER NOT NULL,
                source TEXT NOT NULL,
                given_at TEXT NOT NULL,
                ip TEXT NOT NULL DEFAULT '',
                wording TEXT NOT NULL DEFAULT '',
                confirmed_at TEXT,
                name TEXT NOT NULL DEFAULT '',
                language TEXT NOT NULL DEFAULT '',
                themes TEXT NOT NULL DEFAULT ''
            )""",
            "CREATE INDEX consents_subscriber ON consents(subscriber_id)",
            """INSERT INTO consents (subscriber_id, source, given_at, confirmed_at, name, language, themes)
               SELECT id, 'unrecorded', created_at, created_at, name, language, themes FROM subscribers""",
            """CREATE TABLE subscriber_events (
                subscriber_id INTEGER NOT NULL,
                at TEXT NOT NULL,
                event TEXT NOT NULL,
                detail TEXT NOT NULL DEFAULT ''
            )""",
            "CREATE INDEX subscriber_events_subscriber ON subscriber_events(subscriber_id)",
            "CREATE TABLE forgotten (digest TEXT PRIMARY KEY, forgotten_at TEXT NOT NULL)",
            "CREATE TABLE signup_attempts (client TEXT NOT NULL, at TEXT NOT NULL)",
            "CREATE INDEX signup_attempts_client ON signup_attempts(client, at)",
        ),
    ),
    Migration(
        8,
        "several send workers on one issue: claims of recipients with a lease, and a rate shared by every worker",
        (
            "ALTER TABLE deliveries ADD COLUMN worker TEXT",
            "ALTER TABLE deliveries ADD COLUMN lease_until REAL",
            "CREATE INDEX deliveries_todo ON deliveries(issue_id, status, subscriber_id)",
            """CREATE TABLE send_rate (
                name TEXT PRIMARY KEY,
                tokens REAL NOT NULL,
                stamp REAL NOT NULL
            )""",
            "CREATE TABLE send_slots (at REAL NOT NULL)",
            "CREATE INDEX send_slots_at ON send_slots(at)",
        ),
    ),
    Migration(
        9,
        "the rows of an issue not yet done, by subscriber: a claim reads no row already sent",
        (
            # The predicate is store/claims.py's OPEN_ROWS, spelt the same: SQLite uses a partial index only
            # for a query that repeats its terms.
            """CREATE INDEX deliveries_open ON deliveries(issue_id, subscriber_id)
               WHERE status IN ('queued', 'deferred', 'sending', 'committing', 'held')""",
        ),
    ),
)
