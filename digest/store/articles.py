"""The articles seen: when each was first seen (the date of an undated entry), and which issue carried it."""

from __future__ import annotations

from datetime import datetime

from digest.store.db import State, iso, parse_iso

CHUNK = 500  # ids per IN (...) list: well under every engine's limit on parameters


def first_seen(state: State, articles: list[tuple[str, str | None, str, str]], now: datetime) -> dict[str, datetime]:
    """Record (id, url_key, feed, title) rows not seen before; return every id's first-seen time."""
    stamp = iso(now)
    with state.transaction():
        state.executemany(
            """INSERT INTO articles (id, url_key, feed, title, first_seen) VALUES (?, ?, ?, ?, ?)
               ON CONFLICT(id) DO NOTHING""",
            [(aid, key, feed, title, stamp) for aid, key, feed, title in articles],
        )
    seen: dict[str, datetime] = {}
    ids = [row[0] for row in articles]
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        marks = ",".join("?" * len(chunk))
        for row in state.rows(f"SELECT id, first_seen FROM articles WHERE id IN ({marks})", chunk):
            seen[row["id"]] = parse_iso(row["first_seen"])
    return seen


def sent_keys(state: State, exclude_issue: str | None = None) -> tuple[set[str], set[str]]:
    """Ids and URL keys of every article that already went out in a sent issue (other than one)."""
    ids, keys = set(), set()
    rows = state.rows(
        "SELECT id, url_key FROM articles WHERE sent_in IS NOT NULL AND sent_in <> ?", (exclude_issue or "",)
    )
    for row in rows:
        ids.add(row["id"])
        if row["url_key"]:
            keys.add(row["url_key"])
    return ids, keys


def mark_sent(state: State, issue_id: str, article_ids: list[str], url_keys: list[str | None], now: datetime) -> None:
    """The issue's articles went out: no later issue carries them again (an earlier mark is kept)."""
    stamp = iso(now)
    with state.transaction():
        state.executemany(
            """INSERT INTO articles (id, url_key, feed, title, first_seen, sent_in)
               VALUES (?, ?, '', '', ?, ?)
               ON CONFLICT(id) DO UPDATE SET sent_in = COALESCE(articles.sent_in, excluded.sent_in)""",
            [(aid, key, stamp, issue_id) for aid, key in zip(article_ids, url_keys, strict=True)],
        )
