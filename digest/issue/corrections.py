"""Editors' corrections, one YAML file per issue, applied by every build and kept across rebuilds.

intro: "A word from the editors"
lead: <article id or URL>            # pinned as the lead story
drop: [<id or URL>, ...]
move: {<id or URL>: <section slug>}
rewrite: {<id or URL>: {title: ..., teaser: ...}}
order: {<section slug>: [<id or URL>, ...]}   # listed first, in this order
split: [<id or URL>, ...]            # a story folded from several feeds shown apart again (digest/stories.py)
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from digest.config import Settings
from digest.errors import DigestError
from digest.feeds import clean
from digest.models import Article, Issue, Placed, Section
from digest.util import atomic_write

KINDS = ("intro", "lead", "drop", "move", "rewrite", "order", "split")


def corrections_path(settings: Settings, issue_id: str) -> Path:
    return settings.corrections_dir / f"{issue_id}.yaml"


def load(settings: Settings, issue_id: str) -> dict[str, Any]:
    path = corrections_path(settings, issue_id)
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise DigestError(f"{path}: not valid YAML ({error}); fix or delete the file") from None
    if not isinstance(data, dict):
        raise DigestError(f"{path}: expected a mapping with keys {', '.join(KINDS)}")
    unknown = [k for k in data if k not in KINDS]
    if unknown:
        raise DigestError(f"{path}: unknown correction '{unknown[0]}'; use one of {', '.join(KINDS)}")
    return data


def save(settings: Settings, issue_id: str, data: dict[str, Any]) -> Path:
    path = corrections_path(settings, issue_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = {k: data[k] for k in KINDS if data.get(k)}
    atomic_write(path, yaml.safe_dump(kept, allow_unicode=True, sort_keys=False))
    return path


def _keys(article: Article) -> set[str]:
    keys = {article.id}
    if article.url:
        keys.add(article.url)
        key = clean.url_key(article.url)
        if key:
            keys.add(key)
    return keys


def _find(issue: Issue, ref: str) -> tuple[Section | None, Placed] | None:
    wanted = {str(ref), clean.url_key(str(ref)) or ""}
    if issue.lead is not None and _keys(issue.lead.article) & wanted:
        return None, issue.lead
    for section in issue.sections:
        for placed in section.items:
            if _keys(placed.article) & wanted:
                return section, placed
    return None


def _take(issue: Issue, ref: str) -> Placed | None:
    found = _find(issue, ref)
    if found is None:
        return None
    section, placed = found
    if section is None:
        issue.lead, issue.lead_section = None, None
    else:
        section.items.remove(placed)
    return placed


def apply_corrections(settings: Settings, issue: Issue) -> None:
    """Apply the issue's corrections; report each one whose article is no longer in the issue."""
    data = load(settings, issue.id)
    if not data:
        return
    applied = issue.corrections_applied
    missing: list[str] = []
    by_slug = {s.slug: s for s in issue.sections}
    if data.get("intro"):
        issue.intro = str(data["intro"])
        applied.append("intro note")
    for ref in data.get("drop") or []:
        if _take(issue, str(ref)) is None:
            missing.append(f"drop {ref}")
        else:
            applied.append(f"dropped {ref}")
    for ref, changes in (data.get("rewrite") or {}).items():
        found = _find(issue, str(ref))
        if found is None:
            missing.append(f"rewrite {ref}")
            continue
        placed = found[1]
        changes = changes or {}
        if changes.get("title"):
            placed.article = replace(placed.article, title=clean.plain_text(str(changes["title"])))
        if "teaser" in changes:
            placed.article = replace(placed.article, teaser=clean.plain_text(str(changes["teaser"] or "")))
        applied.append(f"rewrote {', '.join(k for k in ('title', 'teaser') if k in changes)} of {ref}")
    for ref, slug in (data.get("move") or {}).items():
        target = by_slug.get(str(slug))
        if target is None:
            issue.warnings.append(f"correction: cannot move {ref} to '{slug}': no such section")
            continue
        placed_or_none = _take(issue, str(ref))
        if placed_or_none is None:
            missing.append(f"move {ref}")
            continue
        target.items.insert(
            0, replace(placed_or_none, reason=f"moved here by an editor (was: {placed_or_none.reason})")
        )
        applied.append(f"moved {ref} to {slug}")
    if data.get("lead"):
        ref = str(data["lead"])
        found = _find(issue, ref)
        if found is None:
            missing.append(f"lead {ref}")
        elif (section := found[0]) is not None:
            placed = found[1]
            if issue.lead is not None and issue.lead_section in by_slug:
                by_slug[issue.lead_section].items.insert(0, issue.lead)
            section.items.remove(placed)
            issue.lead, issue.lead_section = placed, section.slug
            applied.append(f"pinned {ref} as the lead")
    for slug, refs in (data.get("order") or {}).items():
        section = by_slug.get(str(slug))
        if section is None:
            continue
        front = []
        for ref in refs or []:
            found = _find(issue, str(ref))
            if found and found[0] is section:
                section.items.remove(found[1])
                front.append(found[1])
        section.items[:0] = front
        applied.append(f"reordered {slug}")
    for item in missing:
        issue.warnings.append(f"correction '{item}' no longer applies: the article is not in this issue any more")
