"""build_issue(): gather → drop already sent → group → correct → render, as the README draws it. It sends nothing.

Each stage returns a new value and leaves its input as it was: the preview keeps the grouped issue and runs
the last two stages again on it whenever the corrections or a template change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from digest.config import Settings
from digest.feeds import clean
from digest.feeds.gather import Gathered, gather
from digest.issue import corrections
from digest.issue.group import Grouper
from digest.issue.record import issue_record
from digest.issue.render import render, subject_line, warm_render
from digest.models import (
    Article,
    FeedResult,
    Issue,
    IssueRecord,
    IssueWarning,
    Placed,
    Rendered,
    Section,
    Stage,
    Window,
)
from digest.store import articles as article_rows
from digest.store.db import State
from digest.util import plural

SAMPLE_RECIPIENT = "subscriber@example.org"


@dataclass(frozen=True)
class Built:
    """An issue through every stage: as corrected and rendered, and as it was grouped, before corrections."""

    issue: Issue
    rendered: Rendered
    grouped: Issue

    def record(self) -> IssueRecord:
        return issue_record(self.issue, self.rendered)


@dataclass(frozen=True)
class Fresh:
    """The window's gathered articles that no earlier issue carried, and what gathering had to say."""

    window: Window
    articles: list[Article]
    feeds: list[FeedResult]
    warnings: list[IssueWarning]


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


# the stages


def drop_sent(gathered: Gathered, window: Window, state: State, issue_id_: str) -> Fresh:
    """Leave out the articles an earlier issue already carried (even if their feed re-dated them)."""
    sent_ids, sent_keys = article_rows.sent_keys(state, exclude_issue=issue_id_)
    fresh = [a for a in gathered.articles if a.id not in sent_ids and clean.url_key(a.url) not in sent_keys]
    warnings = [IssueWarning(Stage.GATHER, text) for text in gathered.warnings]
    if len(fresh) < len(gathered.articles):
        repeated = len(gathered.articles) - len(fresh)
        warnings.append(
            IssueWarning(Stage.DROP_SENT, f"{plural(repeated, 'article')} already sent in an earlier issue left out")
        )
    return Fresh(window=window, articles=fresh, feeds=gathered.feeds, warnings=warnings)


def group(settings: Settings, fresh: Fresh) -> Issue:
    """File the articles under the themes (the strongest themed one with a picture leads): the Issue."""
    cfg = settings.model
    sections, left_out = Grouper(cfg).group(fresh.articles)
    ident = issue_id(fresh.window, cfg.newsletter.timezone)
    lead: Placed | None = None
    lead_section: str | None = None
    if cfg.issue.lead_story:
        sections, lead, lead_section = _choose_lead(sections, cfg.catch_all.slug)
    capped = [
        IssueWarning(
            Stage.GROUP,
            f"section '{section.title}' holds {plural(section.left_out, 'more article')} than its cap "
            f"(issue.max_per_section = {cfg.issue.max_per_section})",
        )
        for section in sections
        if section.left_out
    ]
    return Issue(
        id=ident,
        title=cfg.newsletter.title,
        subject=subject_line(
            settings, ident, fresh.window, [s.title for s in sections if s.items or s.more or s.slug == lead_section]
        ),
        window=fresh.window,
        sections=sections,
        feeds=fresh.feeds,
        warnings=[*(IssueWarning(Stage.CONFIG, w) for w in settings.warnings), *fresh.warnings, *capped],
        lead=lead,
        lead_section=lead_section,
        intro=cfg.newsletter.intro,
        left_out=left_out,
    )


def correct(settings: Settings, issue: Issue) -> Issue:
    """Apply the editors' corrections file of the issue, if there is one."""
    return corrections.correct(settings, issue)


# the pipeline


def build_issue(settings: Settings, now: datetime, state: State, window: Window | None = None) -> Built:
    """The issue for the clock `now`, through every stage; nothing is written or sent."""
    window = window or period_window(settings, state, now)
    gathered = gather(settings, window, state, now, meanwhile=lambda: warm_render(settings))
    fresh = drop_sent(gathered, window, state, issue_id(window, settings.model.newsletter.timezone))
    grouped = group(settings, fresh)
    corrected = correct(settings, grouped)
    issue, rendered = render(corrected, settings)
    return Built(issue=issue, rendered=rendered, grouped=grouped)


# the two halves, for the preview: it gathers and groups once, then corrects and renders at every change


def gather_fresh(settings: Settings, now: datetime, state: State, window: Window | None = None) -> Fresh:
    """The stages that read the feeds: gather → drop already sent."""
    window = window or period_window(settings, state, now)
    gathered = gather(settings, window, state, now)
    return drop_sent(gathered, window, state, issue_id(window, settings.model.newsletter.timezone))


def grouped_issue(settings: Settings, now: datetime, state: State, window: Window | None = None) -> Issue:
    """gather → drop already sent → group: what the preview keeps while only corrections or templates change."""
    return group(settings, gather_fresh(settings, now, state, window))


def finish(settings: Settings, grouped: Issue) -> Built:
    """The stages every re-render repeats on the same grouped issue: correct → render."""
    corrected = correct(settings, grouped)
    issue, rendered = render(corrected, settings)
    return Built(issue=issue, rendered=rendered, grouped=grouped)


def _choose_lead(sections: list[Section], catch_all_slug: str) -> tuple[list[Section], Placed | None, str | None]:
    """The strongest themed article with a picture leads the issue; the sections without it are returned."""
    best: tuple[Placed, Section] | None = None
    for section in sections:
        if section.slug == catch_all_slug:
            continue
        for placed in section.items:
            if placed.article.image and (best is None or placed.score > best[0].score):
                best = (placed, section)
    if best is None:
        return sections, None, None
    placed, home = best
    rest = [replace(s, items=[p for p in s.items if p is not placed]) if s is home else s for s in sections]
    return rest, placed, home.slug
