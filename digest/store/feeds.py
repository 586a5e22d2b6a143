"""The feed cache: what each feed answered last (ETag, Last-Modified, its articles), its moves and failures."""

from __future__ import annotations

from digest.models import FeedState
from digest.store.db import State


def load(state: State, url: str) -> FeedState:
    """What is remembered of the feed at `url` (a blank record for a feed never fetched)."""
    row = state.one("SELECT * FROM feeds WHERE url = ?", (url,))
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


def save(state: State, name: str, feed: FeedState) -> None:
    state.execute(
        """INSERT INTO feeds (url, name, etag, last_modified, moved_to, gone, failures, last_success,
                              last_error, cached)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(url) DO UPDATE SET name = excluded.name, etag = excluded.etag,
             last_modified = excluded.last_modified, moved_to = excluded.moved_to, gone = excluded.gone,
             failures = excluded.failures, last_success = excluded.last_success,
             last_error = excluded.last_error, cached = excluded.cached""",
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


def failing(state: State, at_least: int) -> list[tuple[str, str, int, str]]:
    """(url, name, failures in a row, last error) of every feed that failed `at_least` runs in a row."""
    rows = state.rows("SELECT url, name, failures, last_error FROM feeds WHERE failures >= ?", (at_least,))
    return [(row["url"], row["name"], row["failures"], row["last_error"] or "") for row in rows]
