"""The editors' page as HTML: what the template `preview.html.j2` needs, taken from one desk snapshot."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from digest.config import Settings
from digest.errors import DigestError
from digest.issue import corrections
from digest.models import Issue
from digest.util import CLIP_BYTES
from digest.web import pages
from digest.web.desk import Snapshot, _section_of, corrections_problem


def _when(text: str | None, zone: ZoneInfo) -> str:
    if not text:
        return ""
    local = datetime.fromisoformat(text).astimezone(zone)
    return f"{local:%a %b} {local.day}, {local:%H:%M}"


def _corrections(settings: Settings, ident: str | None) -> tuple[dict[str, Any], str | None]:
    """The issue's corrections, or none and the sentence saying what is wrong with the file."""
    if not ident:
        return {}, None
    try:
        data = corrections.load(settings, ident)
    except DigestError as error:
        return {}, str(error)
    problem = corrections_problem(corrections.corrections_path(settings, ident), data)
    return ({}, problem) if problem else (data, None)


def _sections(
    data: dict[str, Any], corr: dict[str, Any], grouped: Issue | None, zone: ZoneInfo
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Each section's articles as the side panel lists them, and the lead story apart."""
    originals = {p.article.id: p for p in grouped.articles()} if grouped else {}
    home = {p.article.id: _section_of(grouped, p.article.id) for p in grouped.articles()} if grouped else {}
    moved = corr.get("move") or {}
    rewrites = corr.get("rewrite") or {}
    sections = []
    lead = None
    for section in data.get("sections", []):
        articles = []
        for article in section["articles"]:
            ref = article["id"]
            original = originals.get(ref)
            entry = {
                **article,
                "when": _when(article.get("published"), zone),
                "pinned": corr.get("lead") == ref,
                "moved": ref in moved,
                "rewritten": ref in rewrites,
                "original_title": original.article.title if original else article["title"],
                "original_teaser": original.article.teaser if original else article["teaser"],
                "home": home.get(ref),
            }
            if article.get("lead"):
                lead = {**entry, "section_title": section["title"]}
            else:
                articles.append(entry)
        sections.append({**section, "articles": articles})
    return sections, lead


def _dropped(corr: dict[str, Any], grouped: Issue | None) -> list[dict[str, str | None]]:
    originals = {p.article.id: p.article for p in grouped.articles()} if grouped else {}
    found = (originals.get(str(ref)) for ref in corr.get("drop") or [])
    return [{"id": a.id, "title": a.title, "url": a.url} for a in found if a is not None]


def page_context(snap: Snapshot, csrf: str) -> dict[str, Any]:
    """What the page template needs, as plain data."""
    settings = snap.settings
    zone = ZoneInfo(settings.model.newsletter.timezone)
    data = snap.manifest or {}
    grouped = snap.grouped
    ident = grouped.id if grouped else None
    corr, corr_error = _corrections(settings, ident)
    corr_path = corrections.corrections_path(settings, ident) if ident else None
    sections, lead = _sections(data, corr, grouped, zone)
    warnings = data.get("warnings", [])
    html_bytes = len(snap.html.encode())
    return {
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
            f"{_when(data['window']['start'], zone)} – {_when(data['window']['end'], zone)} "
            f"({settings.model.newsletter.timezone})"
            if data
            else ""
        ),
        "subject": data.get("subject", ""),
        "preheader": data.get("preheader", ""),
        "html_bytes": html_bytes,
        "clip_bytes": CLIP_BYTES,
        "budget": settings.model.issue.size_budget,
        "percent": round(100 * html_bytes / CLIP_BYTES),
        "degraded": data.get("size", {}).get("degraded", False),
        "articles": data.get("articles", 0),
        "lead": lead,
        "sections": sections,
        "choices": [(s.slug, s.title) for s in grouped.sections] if grouped else [],
        "dropped": _dropped(corr, grouped),
        "left_out": data.get("left_out", []),
        "feeds": data.get("feeds", []),
        "warnings": [w for w in warnings if not w.startswith("correction")],
        "gone": [w for w in warnings if w.startswith("correction")],
        "applied": data.get("corrections", []),
        "corrections_path": str(corr_path) if corr_path else "",
        "corrections_yaml": yaml.safe_dump(corr, allow_unicode=True, sort_keys=False) if corr else "",
        "corrections_error": corr_error,
        "intro": corr.get("intro") or "",
        "default_intro": settings.model.newsletter.intro,
        "test_to": settings.model.editors[0] if settings.model.editors else "",
        "text": snap.text,
    }


def render_page(snap: Snapshot, csrf: str) -> str:
    return pages.render("preview.html.j2", **page_context(snap, csrf))
