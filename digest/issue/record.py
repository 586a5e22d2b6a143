"""The issue as data: an `IssueRecord` made from the rendered issue, for the .json, the preview and the freeze."""

from __future__ import annotations

from digest.models import (
    AlsoRecord,
    ArticleRecord,
    FeedRecord,
    Issue,
    IssueRecord,
    LeftOutRecord,
    Placed,
    Rendered,
    SectionRecord,
    SizeRecord,
    WindowRecord,
)
from digest.util import CLIP_BYTES


def article_record(placed: Placed, lead: bool = False, headline_only: bool = False) -> ArticleRecord:
    article = placed.article
    return ArticleRecord(
        id=article.id,
        title=article.title,
        url=article.url,
        teaser=article.teaser,
        author=article.author,
        published=article.published,
        dated_by=article.dated_by,
        feed=article.feed,
        categories=article.categories,
        image=article.image,
        rtl=article.rtl,
        reason=placed.reason,
        score=placed.score,
        also=[
            AlsoRecord(id=p.article.id, title=p.article.title, url=p.article.url, feed=p.article.feed)
            for p in placed.also
        ],
        lead=lead,
        headline_only=headline_only,
    )


def issue_record(issue: Issue, rendered: Rendered) -> IssueRecord:
    """What is in the issue and why, what happened to each feed, its warnings and its size."""
    sections = []
    for section in issue.sections:
        articles = [article_record(p) for p in section.items]
        if issue.lead is not None and issue.lead_section == section.slug:
            articles.insert(0, article_record(issue.lead, lead=True))
        articles += [article_record(p, headline_only=True) for p in section.more]
        sections.append(
            SectionRecord(slug=section.slug, title=section.title, articles=articles, left_out=section.left_out)
        )
    return IssueRecord(
        id=issue.id,
        title=issue.title,
        subject=issue.subject,
        preheader=rendered.preheader,
        window=WindowRecord(start=issue.window.start, end=issue.window.end),
        sections=sections,
        feeds=[FeedRecord(name=f.name, url=f.url, status=f.status, items=f.items, error=f.error) for f in issue.feeds],
        warnings=[w.text for w in issue.warnings],
        left_out=[
            LeftOutRecord(
                title=item.article.title,
                url=item.article.url,
                why=item.why,
                best_theme=item.best_theme,
                best_score=item.best_score,
            )
            for item in issue.left_out
        ],
        corrections_applied=issue.corrections_applied,
        size=SizeRecord(
            html_bytes=len(rendered.html.encode()),
            text_bytes=len(rendered.text.encode()),
            clip_bytes=CLIP_BYTES,
            degraded=rendered.degraded,
        ),
        article_count=issue.article_count,
    )
