"""build_issue(): the pipeline of PRODUCT.md in one function — gather → group → render. It sends nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from digest.config import Settings
from digest.feeds import clean
from digest.feeds.gather import gather
from digest.i18n import dates
from digest.issue.group import Grouper
from digest.issue.render import render
from digest.models import Article, FeedResult, Issue, LeftOut, Placed, Rendered, Section, Window
from digest.store import articles as article_rows
from digest.store.db import State, iso
from digest.util import CLIP_BYTES, plural

SAMPLE_RECIPIENT = "subscriber@example.org"


@dataclass
class Built:
    issue: Issue
    rendered: Rendered


def issue_id(window: Window, timezone: str) -> str:
    """The ISO week of the window's last instant, in the newsletter's time zone: '2026-W08'."""
    last = (window.end - timedelta(microseconds=1)).astimezone(ZoneInfo(timezone))
    year, week, _ = last.isocalendar()
    return f"{year}-W{week:02d}"


def default_window(settings: Settings, now: datetime) -> Window:
    return Window(start=now - timedelta(days=settings.model.issue.window_days), end=now)


def period_window(settings: Settings, state: State, now: datetime) -> Window:
    """The coming issue's window: from where the last sent issue ended (so a skipped week or a late run
    misses nothing and repeats nothing), never reaching back more than issue.max_lookback_days."""
    from digest.store.issues import last_sent

    last = last_sent(state)
    if last is None or last[1] >= now:  # nothing sent yet, or rebuilding a period already sent
        return default_window(settings, now)
    floor = now - timedelta(days=settings.model.issue.max_lookback_days)
    return Window(start=max(last[1], floor), end=now)


def _subject(settings: Settings, issue_id_: str, window: Window) -> str:
    cfg = settings.model.newsletter
    date = dates.long_day(window.end, cfg.language, ZoneInfo(cfg.timezone))
    return cfg.subject.format(title=cfg.title, date=date, issue=issue_id_)


def _choose_lead(sections: list[Section], catch_all_slug: str) -> tuple[Placed | None, str | None]:
    """The strongest themed article with a picture leads the issue."""
    best: tuple[Placed, Section] | None = None
    for section in sections:
        if section.slug == catch_all_slug:
            continue
        for placed in section.items:
            if placed.article.image and (best is None or placed.score > best[0].score):
                best = (placed, section)
    if best is None:
        return None, None
    placed, section = best
    section.items.remove(placed)
    return placed, section.slug


def assemble(
    settings: Settings, articles: list[Article], window: Window, feeds: list[Any], warnings: list[str]
) -> Issue:
    """Group gathered articles into an Issue (no rendering)."""
    cfg = settings.model
    sections, left_out = Grouper(cfg).group(articles)
    ident = issue_id(window, cfg.newsletter.timezone)
    issue = Issue(
        id=ident,
        title=cfg.newsletter.title,
        subject=_subject(settings, ident, window),
        window=window,
        sections=sections,
        feeds=feeds,
        warnings=list(warnings),
        intro=cfg.newsletter.intro,
        left_out=left_out,
    )
    if cfg.issue.lead_story:
        issue.lead, issue.lead_section = _choose_lead(sections, cfg.catch_all.slug)
    for section in sections:
        if section.left_out:
            issue.warnings.append(
                f"section '{section.title}' holds {plural(section.left_out, 'more article')} than its cap "
                f"(issue.max_per_section = {cfg.issue.max_per_section})"
            )
    return issue


@dataclass
class Collected:
    """The gathered, not-yet-sent articles of one window: what every re-render of the issue shares."""

    window: Window
    articles: list[Article]
    feeds: list[FeedResult]
    warnings: list[str]


def collect(settings: Settings, now: datetime, state: State, window: Window | None = None) -> Collected:
    """Gather the window's articles and leave out those an earlier issue already carried."""
    window = window or period_window(settings, state, now)
    gathered = gather(settings, window, state, now)
    ident = issue_id(window, settings.model.newsletter.timezone)
    sent_ids, sent_keys = article_rows.sent_keys(state, exclude_issue=ident)
    fresh = [a for a in gathered.articles if a.id not in sent_ids and clean.url_key(a.url) not in sent_keys]
    warnings = list(settings.warnings) + gathered.warnings
    if len(fresh) < len(gathered.articles):
        repeated = len(gathered.articles) - len(fresh)
        warnings.append(f"{plural(repeated, 'article')} already sent in an earlier issue left out")
    return Collected(window=window, articles=fresh, feeds=gathered.feeds, warnings=warnings)


def finish(settings: Settings, issue: Issue) -> Built:
    """The last steps of every build: apply the editors' corrections, then render."""
    from digest.issue.corrections import apply_corrections, load
    from digest.issue.learn import record
    from digest.issue.stories import split

    corrections = load(settings, issue.id)
    record(settings, issue, corrections)  # the issue as the grouper filed it: corrections are examples
    for ref in split(issue, corrections.get("split") or []):
        issue.warnings.append(f"correction 'split {ref}' no longer applies: no story in this issue folds it")
    apply_corrections(settings, issue)
    issue, rendered = render(issue, settings)
    return Built(issue=issue, rendered=rendered)


def build_issue(settings: Settings, now: datetime, state: State, window: Window | None = None) -> Built:
    """Gather, group and render the issue for the clock `now`; nothing is written or sent."""
    collected = collect(settings, now, state, window)
    issue = assemble(settings, collected.articles, collected.window, collected.feeds, collected.warnings)
    return finish(settings, issue)


def _article_json(placed: Placed, zone: ZoneInfo) -> dict[str, Any]:
    article = placed.article
    return {
        "id": article.id,
        "title": article.title,
        "url": article.url,
        "teaser": article.teaser,
        "author": article.author,
        "published": iso(article.published) if article.published else None,
        "dated_by": article.dated_by,
        "feed": article.feed,
        "categories": article.categories,
        "image": article.image,
        "rtl": article.rtl,
        "reason": placed.reason,
        "score": placed.score,
        "also": [
            {"id": p.article.id, "title": p.article.title, "url": p.article.url, "feed": p.article.feed}
            for p in placed.also
        ],
    }


def manifest(built: Built, settings: Settings) -> dict[str, Any]:
    """The issue as data: what is in it, why, and what happened to each feed."""
    issue, rendered = built.issue, built.rendered
    zone = ZoneInfo(settings.model.newsletter.timezone)
    sections = []
    for section in issue.sections:
        articles = [_article_json(p, zone) for p in section.items]
        if issue.lead is not None and issue.lead_section == section.slug:
            articles.insert(0, {**_article_json(issue.lead, zone), "lead": True})
        sections.append(
            {
                "slug": section.slug,
                "title": section.title,
                "articles": articles + [{**_article_json(p, zone), "headline_only": True} for p in section.more],
                "left_out": section.left_out,
            }
        )
    html_bytes = len(rendered.html.encode())
    return {
        "issue": issue.id,
        "title": issue.title,
        "subject": issue.subject,
        "preheader": rendered.preheader,
        "window": {"start": iso(issue.window.start), "end": iso(issue.window.end)},
        "sections": sections,
        "feeds": [
            {"name": f.name, "url": f.url, "status": f.status, "items": f.items, "error": f.error} for f in issue.feeds
        ],
        "warnings": issue.warnings,
        "left_out": [_left_out_json(item) for item in issue.left_out],
        "corrections": issue.corrections_applied,
        "size": {
            "html_bytes": html_bytes,
            "text_bytes": len(rendered.text.encode()),
            "clip_bytes": CLIP_BYTES,
            "degraded": rendered.degraded,
        },
        "articles": issue.article_count,
    }


def _left_out_json(item: LeftOut) -> dict[str, Any]:
    return {
        "title": item.article.title,
        "url": item.article.url,
        "why": item.why,
        "best_theme": item.best_theme,
        "best_score": item.best_score,
    }
