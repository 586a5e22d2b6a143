"""The editors' page as HTML: what the template `preview.html.j2` needs, taken from one desk snapshot."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from digest.config import Settings
from digest.errors import DigestError
from digest.issue import corrections
from digest.issue.corrections import Corrections
from digest.issue.edits import section_of
from digest.issue.render import shown_sections
from digest.models import ArticleRecord, Issue, IssueRecord, Placed, Stage
from digest.util import CLIP_BYTES
from digest.web import pages
from digest.web.desk import Cut, Readers, Snapshot


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(zone)
    return f"{local:%a %b} {local.day}, {local:%H:%M}"


def _corrections(settings: Settings, ident: str | None) -> tuple[Corrections, str | None]:
    """The issue's corrections, or none and the sentence saying what is wrong with the file."""
    if not ident:
        return Corrections(), None
    try:
        return corrections.load(settings, ident), None
    except DigestError as error:
        return Corrections(), str(error)


def _entry(
    article: ArticleRecord, original: Placed | None, grouped: Issue | None, corr: Corrections, zone: ZoneInfo
) -> dict[str, Any]:
    """One article of the side panel: as the email shows it, and what the editors did to it."""
    ref = article.id
    return {
        **article.model_dump(),
        "when": _when(article.published, zone),
        "pinned": corr.lead == ref,
        "moved": ref in corr.move,
        "promoted": ref in corr.promote,
        "added": ref in corr.add,
        "rewritten": ref in corr.rewrite,
        "original_title": original.article.title if original else article.title,
        "original_teaser": original.article.teaser if original else article.teaser,
        "home": section_of(grouped, ref) if grouped else None,
    }


def _sections(
    record: IssueRecord | None, corr: Corrections, grouped: Issue | None, zone: ZoneInfo
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Each section's articles as the side panel lists them, and the lead story apart."""
    originals = {p.article.id: p for p in grouped.articles()} if grouped else {}
    sections = []
    lead = None
    for section in record.sections if record else []:
        articles = []
        for article in section.articles:
            entry = _entry(article, originals.get(article.id), grouped, corr, zone)
            if article.lead:
                lead = {**entry, "section_title": section.title}
            else:
                articles.append(entry)
        sections.append({**section.model_dump(exclude={"articles"}), "articles": articles})
    return sections, lead


def _dropped(corr: Corrections, grouped: Issue | None) -> list[dict[str, str | None]]:
    originals = {p.article.id: p.article for p in grouped.articles()} if grouped else {}
    found = (originals.get(ref) for ref in corr.drop)
    return [{"id": a.id, "title": a.title, "url": a.url} for a in found if a is not None]


def _left_out(snap: Snapshot) -> list[dict[str, Any]]:
    """The articles the machine left out (and no editor promoted), each with what the Promote button needs."""
    issue = snap.built.issue if snap.built else snap.grouped
    found = issue.left_out if issue else []
    return [
        {"id": i.article.id, "title": i.article.title, "url": i.article.url, "feed": i.article.feed, "why": i.why,
         "best_theme": i.best_theme}
        for i in found
    ]  # fmt: skip


def nothing_text(label: str) -> str:
    return f"Readers of {label} get nothing this week: every section they chose is empty in this issue.\n"


def nothing_page(label: str) -> str:
    """What the email frames show for a choice that gets no message this week."""
    return pages.render("nothing.html.j2", text=nothing_text(label))


def _as_reader(cut: Cut | None, readers: list[Readers], wanted: Sequence[str]) -> dict[str, Any]:
    """The page's parts that follow the copy shown: the whole issue, or what readers of some sections get."""
    # The frames ask for the same copy: its key, or the sections chosen when they get nothing this week.
    shown = "" if cut is None else cut.key or ",".join(w.lower() for w in wanted)
    return {
        "wanted": [w.lower() for w in wanted],
        "cut": cut,
        "variant_query": "&" + urlencode({"variant": shown}) if shown else "",
        "variant_key": shown,
        "readers": readers,
        "readers_total": sum(r.count for r in readers),
    }


def page_context(
    snap: Snapshot, csrf: str, cut: Cut | None = None, readers: list[Readers] | None = None, wanted: Sequence[str] = ()
) -> dict[str, Any]:
    """What the page template needs, as plain data; with `cut`, the header and the text show that copy."""
    settings = snap.settings
    zone = ZoneInfo(settings.model.newsletter.timezone)
    record = snap.record
    grouped = snap.grouped
    ident = grouped.id if grouped else None
    corr, corr_error = _corrections(settings, ident)
    corr_path = corrections.corrections_path(settings, ident) if ident else None
    sections, lead = _sections(record, corr, grouped, zone)
    warnings = snap.built.issue.warnings if snap.built else []
    html_bytes = len(snap.html.encode())
    context = {
        "csrf": csrf,
        "version": snap.version,
        "errors": snap.errors,
        "notice": snap.notice,
        "title": settings.model.newsletter.title,
        "config_path": str(settings.path),
        "issue": ident,
        "status": snap.status or "not approved",
        "stale": snap.stale,
        "window": (
            f"{_when(record.window.start, zone)} – {_when(record.window.end, zone)} "
            f"({settings.model.newsletter.timezone})"
            if record
            else ""
        ),
        "subject": record.subject if record else "",
        "preheader": record.preheader if record else "",
        "html_bytes": html_bytes,
        "clip_bytes": CLIP_BYTES,
        "budget": settings.model.issue.size_budget,
        "percent": round(100 * html_bytes / CLIP_BYTES),
        "degraded": record.size.degraded if record else False,
        "articles": record.article_count if record else 0,
        "lead": lead,
        "sections": sections,
        "choices": [(s.slug, s.title) for s in grouped.sections] if grouped else [],
        "dropped": _dropped(corr, grouped),
        "left_out": _left_out(snap),
        "feeds": [feed.model_dump() for feed in record.feeds] if record else [],
        "warnings": [w.text for w in warnings if w.stage is not Stage.CORRECT],
        "gone": [w.text for w in warnings if w.stage is Stage.CORRECT],
        "applied": record.corrections_applied if record else [],
        "corrections_path": str(corr_path) if corr_path else "",
        "corrections_yaml": corr.to_yaml() if corr.to_data() else "",
        "corrections_error": corr_error,
        "intro": corr.intro,
        "default_intro": settings.model.newsletter.intro,
        "test_to": settings.model.editors[0] if settings.model.editors else "",
        "text": snap.text,
        "reader_sections": [(s.slug, s.title) for s in shown_sections(snap.built.issue)] if snap.built else [],
        **_as_reader(cut, readers or [], list(wanted)),
    }
    if cut is not None:  # the copy those readers get: its own subject, size and text
        html_bytes = len(cut.html.encode())
        context.update(
            subject=cut.subject,
            preheader=cut.preheader,
            html_bytes=html_bytes,
            percent=round(100 * html_bytes / CLIP_BYTES),
            degraded=cut.degraded,
            articles=cut.articles,
            text=cut.text or nothing_text(cut.label),
        )
    return context


def render_page(
    snap: Snapshot, csrf: str, cut: Cut | None = None, readers: list[Readers] | None = None, wanted: Sequence[str] = ()
) -> str:
    return pages.render("preview.html.j2", **page_context(snap, csrf, cut, readers, wanted))
