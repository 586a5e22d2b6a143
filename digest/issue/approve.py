"""Approval: freeze the issue as the editors saw it, and notice at send time what changed since."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from digest.config import Settings
from digest.errors import AllFeedsFailed, SendRefused
from digest.feeds import clean
from digest.feeds.gather import gather
from digest.issue import variants
from digest.issue.pipeline import Built, build_issue
from digest.models import IssueStatus
from digest.store import issues
from digest.store.db import State
from digest.store.issues import Frozen
from digest.util import plural


@dataclass
class Approved:
    id: str
    articles: int
    html_bytes: int
    replaced: bool  # an earlier approval of the same issue was replaced
    variants: list[tuple[str, int, int]] = field(default_factory=list)  # each frozen: label, readers, HTML bytes
    warnings: list[str] = field(default_factory=list)  # what the variants' renders had to say


def approve(settings: Settings, built: Built, state: State) -> Approved:
    """Freeze `built` for sending, with every variant the list's readers need this week (issue/variants.py);
    refuse when the issue already went out (or is going out)."""
    issue = built.issue
    status = issues.status_of(state, issue.id)
    if status in ("sending", "sent"):
        raise SendRefused(f"issue {issue.id} is already {status}; an issue that went out cannot be approved again")
    if issue.article_count == 0:
        raise SendRefused(f"issue {issue.id} holds no article, so there is nothing to approve")
    # Each article's title as its feed gave it (before any rewrite): what approval_drift compares with at send.
    ids = {placed.article.id for placed in issue.articles()}
    feed_titles = {p.article.id: p.article.title for p in built.grouped.articles() if p.article.id in ids}
    readers = variants.needed(issue, state)
    cut = variants.render_variants(issue, readers, settings)
    with state.transaction():
        issues.freeze(state, issue.id, issue.window, built.rendered, built.record(), IssueStatus.APPROVED, feed_titles)
        variants.freeze(state, issue.id, cut)
    return Approved(
        id=issue.id,
        articles=issue.article_count,
        html_bytes=len(built.rendered.html.encode()),
        replaced=status == "approved",
        variants=[(v.label, readers.get(v.key, 0), len(v.rendered.html.encode())) for v in cut],
        warnings=[f"{v.label}: {w.text}" for v in cut for w in v.issue.warnings],
    )


def approve_coming(settings: Settings, now: datetime, state: State) -> tuple[Approved, Built]:
    """Build the issue for `now` as every build does (corrections applied) and freeze it."""
    built = build_issue(settings, now, state)
    return approve(settings, built, state), built


def approval_drift(settings: Settings, frozen: Frozen, now: datetime, state: State) -> list[str]:
    """Warnings for approved articles whose title changed in their feed, or which left it, since approval.

    Re-gathers the frozen issue's window (conditional GETs make that cheap) and compares with the frozen
    record; a feed that cannot be read now is reported as unchecked rather than as articles gone.
    """
    approved_articles = list(frozen.record.articles())
    try:
        gathered = gather(settings, frozen.window, state, now)
    except AllFeedsFailed as error:
        count = len(approved_articles)
        return [
            f"no feed can be read now, so none of the {count} approved articles could be checked for changes: {error}"
        ]
    by_id = {a.id: a for a in gathered.articles}
    by_key = {key: a for a in gathered.articles if (key := clean.url_key(a.url))}
    unreadable = {f.name for f in gathered.feeds if f.status not in ("ok", "not-modified")}
    configured = {f.name for f in gathered.feeds}
    warnings: list[str] = []
    unchecked: dict[str, int] = {}
    for approved in approved_articles:
        feed, shown = approved.feed, approved.title
        if feed not in configured:  # added by an editor from its page: no feed to compare with
            continue
        if feed in unreadable:
            unchecked[feed] = unchecked.get(feed, 0) + 1
            continue
        current = by_id.get(approved.id) or by_key.get(clean.url_key(approved.url) or "")
        if current is None:
            warnings.append(
                f"'{shown}' ({approved.url}) is no longer in the feed '{feed}' since issue {frozen.id} "
                "was approved: it may have been unpublished or moved; check the link before sending"
            )
            continue
        was = frozen.feed_titles.get(approved.id, shown)
        if current.title != was:
            warnings.append(
                f"'{was}' ({approved.url}) is now titled '{current.title}' in the feed '{feed}' since issue "
                f"{frozen.id} was approved; the approved email still shows '{shown}'"
            )
    for feed, count in unchecked.items():
        warnings.append(
            f"feed '{feed}' cannot be read now, so {plural(count, 'approved article')} "
            "from it could not be checked for changes"
        )
    return warnings
