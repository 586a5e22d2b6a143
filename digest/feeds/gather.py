"""Gather: every configured feed → cleaned, de-duplicated articles of the window, and each feed's status."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from digest.config import FeedConfig, Settings
from digest.errors import AllFeedsFailed
from digest.feeds import clean
from digest.feeds.fetch import Fetched, fetch_all, is_http, read_file
from digest.feeds.parse_many import Job, Outcome, Refused, parse_all
from digest.models import Article, FeedResult, FeedState, FeedStatus, Window
from digest.store import articles as article_rows
from digest.store import feeds as feed_rows
from digest.store.db import State, iso, parse_iso
from digest.util import plural


@dataclass
class Gathered:
    articles: list[Article]
    feeds: list[FeedResult]
    warnings: list[str] = field(default_factory=list)


def _encode(articles: list[Article]) -> str:
    rows = []
    for article in articles:
        row = dict(vars(article))  # a shallow copy: asdict's deep copy costs more than the parse it saves
        row["published"] = iso(article.published) if article.published else None
        rows.append(row)
    return json.dumps(rows, ensure_ascii=False)


def _decode(text: str) -> list[Article]:
    articles = []
    for row in json.loads(text):
        row["published"] = parse_iso(row["published"]) if row["published"] else None
        articles.append(Article(**row))
    return articles


def _local_path(settings: Settings, url: str) -> Path:
    return settings.resolve(url.removeprefix("file://"))


def _fetch(settings: Settings, feeds: list[FeedConfig], states: dict[str, FeedState]) -> dict[str, Fetched]:
    cfg = settings.model.gather
    results: dict[str, Fetched] = {}
    remote = []
    for feed in feeds:
        if is_http(feed.url):
            if states[feed.url].gone:
                results[feed.url] = Fetched(
                    feed.url,
                    FeedStatus.GONE,
                    error="answered 410 Gone before, so it is no longer fetched; remove it from config.yaml",
                )
            else:
                remote.append(states[feed.url])
        else:
            results[feed.url] = read_file(_local_path(settings, feed.url), cfg.max_bytes)
    if remote:
        contact = settings.model.newsletter.contact_url or settings.model.web.base_url
        import asyncio

        fetched = asyncio.run(
            fetch_all(remote, contact, cfg.timeout, cfg.connect_timeout, cfg.concurrency, cfg.max_bytes)
        )
        for state, outcome in zip(remote, fetched, strict=True):
            results[state.url] = outcome
    return results


def _parse(
    feeds: list[FeedConfig], fetched: dict[str, Fetched], teaser_words: int, meanwhile: Callable[[], object] | None
) -> dict[str, Outcome]:
    """Every fetched feed's articles, parsed side by side on the machine's cores."""
    ready = [feed for feed in feeds if fetched[feed.url].status == FeedStatus.OK]
    jobs = [
        Job(fetched[f.url].body, f.name, fetched[f.url].final_url or f.url, teaser_words) for f in ready
    ]  # fmt: skip
    return {feed.url: outcome for feed, outcome in zip(ready, parse_all(jobs, meanwhile), strict=True)}


def gather(
    settings: Settings, window: Window, state: State, now: datetime, meanwhile: Callable[[], object] | None = None
) -> Gathered:
    """Fetch and parse every feed; keep the articles of the window, each once; report each feed.

    `meanwhile` is work of a later stage that this process can do while the feeds are parsed elsewhere.
    """
    cfg = settings.model
    feeds = cfg.feeds
    states = {feed.url: feed_rows.load(state, feed.url) for feed in feeds}
    fetched = _fetch(settings, feeds, states)
    warnings: list[str] = []
    reports: list[FeedResult] = []
    collected: list[Article] = []
    parsed_feeds = _parse(feeds, fetched, cfg.issue.teaser_words, meanwhile)
    for feed in feeds:
        outcome = fetched[feed.url]
        feed_state = states[feed.url]
        articles: list[Article] = []
        status, error = outcome.status, outcome.error
        if status == FeedStatus.OK:
            parsed = parsed_feeds[feed.url]
            if isinstance(parsed, Refused):
                status, error = FeedStatus.FAILED, parsed.reason
            else:
                articles = parsed.articles
                warnings.extend(f"feed '{feed.name}': {note}" for note in parsed.notes)
                feed_state.cached = _encode(articles)
                feed_state.etag, feed_state.last_modified = outcome.etag, outcome.last_modified
        elif status == FeedStatus.NOT_MODIFIED and feed_state.cached:
            articles = _decode(feed_state.cached)
        if outcome.moved_to and outcome.moved_to != feed_state.moved_to:
            feed_state.moved_to = outcome.moved_to
            warnings.append(
                f"feed '{feed.name}' moved permanently to {outcome.moved_to}; it is fetched there "
                "from now on: update its url in config.yaml"
            )
        if status in (FeedStatus.OK, FeedStatus.NOT_MODIFIED):
            feed_state.failures, feed_state.last_success, feed_state.last_error = 0, iso(now), None
        else:
            feed_state.failures += 1
            feed_state.last_error = error
            feed_state.gone = feed_state.gone or status == FeedStatus.GONE
            warnings.append(f"feed '{feed.name}' ({feed.url}) {status}: {error}")
        feed_rows.save(state, feed.name, feed_state)
        for article in articles:
            extra = [c for c in feed.categories if c not in article.categories]
            collected.append(replace(article, categories=article.categories + extra) if extra else article)
        reports.append(FeedResult(name=feed.name, url=feed.url, status=status, items=len(articles), error=error))
    if reports and all(r.status not in (FeedStatus.OK, FeedStatus.NOT_MODIFIED) for r in reports):
        raise AllFeedsFailed([f"'{r.name}': {r.error}" for r in reports])
    kept, window_notes = _window(collected, window, state, now)
    warnings.extend(window_notes)
    unique, dropped = dedupe(kept)
    if dropped:
        warnings.append(
            f"{plural(dropped, 'duplicate article')} (same guid or link in several feeds or entries) kept once"
        )
    unique.sort(key=lambda a: a.published or window.end, reverse=True)
    return Gathered(articles=unique, feeds=reports, warnings=warnings)


def _window(
    articles: list[Article],
    window: Window,
    state: State,
    now: datetime,
) -> tuple[list[Article], list[str]]:
    """Keep what was published in [start, end); undated entries count from when they were first seen."""
    seen = article_rows.first_seen(state, [(a.id, clean.url_key(a.url), a.feed, a.title) for a in articles], now)
    kept: list[Article] = []
    undated = 0
    future = 0
    for article in articles:
        if article.published is None:
            undated += 1
            first = seen.get(article.id)
            if first is not None and window.start <= first <= window.end:
                kept.append(replace(article, published=first, dated_by="first-seen"))
            continue
        if article.published > now:
            future += 1
            continue
        if window.start <= article.published < window.end:
            kept.append(article)
    notes = []
    if undated:
        notes.append(
            f"{undated} undated entr{'y' if undated == 1 else 'ies'}: dated by when digest first saw "
            "them, so each appears in one issue at most"
        )
    if future:
        notes.append(f"{future} entr{'y' if future == 1 else 'ies'} dated in the future were left for a later issue")
    return kept, notes


def dedupe(articles: list[Article]) -> tuple[list[Article], int]:
    """The same article from two feeds (same guid, or the same normalised link) appears once."""
    ids: set[str] = set()
    keys: set[str] = set()
    unique: list[Article] = []
    for article in articles:
        key = clean.url_key(article.url)
        if article.id in ids or (key and key in keys):
            continue
        ids.add(article.id)
        if key:
            keys.add(key)
        unique.append(article)
    return unique, len(articles) - len(unique)
