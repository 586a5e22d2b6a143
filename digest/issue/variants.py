"""Variants: the issue cut to a reader's themes.

A reader's choice is a set of section slugs (the stored `themes`; the catch-all's slug is a theme like the
others). Against this week's issue it comes down to a key, the slugs of the chosen sections that hold something,
in the issue's order ("labor,palestine"):

    no choice, or only slugs the issue does not have   → WHOLE: the whole issue, as everyone got it before
    a choice covering every section that holds something → WHOLE too (nothing to leave out)
    a choice whose sections are all empty this week      → None: nothing for this reader this week
    anything else                                        → the key of its variant

Readers with the same key get the same variant, so an issue costs one render per distinct key, not per reader.
A variant keeps the intro, the lead story only when its section is chosen, and every article of the chosen
sections: it is rendered from the whole issue's sections as corrected (before the size budget turned any card
into a headline), so it has its own subject, preheader and size budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from digest.config import Settings
from digest.issue.render import render, shown_sections
from digest.models import Issue, IssueRecord, Rendered
from digest.store import subscribers as subscriber_rows
from digest.store import variants as variant_rows
from digest.store.db import State
from digest.store.variants import FrozenVariant

WHOLE = ""  # the key of the whole issue

Shape = list[tuple[str, str, bool]]  # each section in reading order: slug, title, whether it holds anything


def choice(themes: str | Iterable[str]) -> frozenset[str]:
    """A reader's themes as a set of slugs: from the stored 'labor,palestine' or a list."""
    parts = themes.split(",") if isinstance(themes, str) else themes
    return frozenset(p.strip().lower() for p in parts if p.strip())


def shape_of(issue: Issue) -> Shape:
    shown = {s.slug for s in shown_sections(issue)}
    return [(s.slug, s.title, s.slug in shown) for s in issue.sections]


def shape_of_record(record: IssueRecord) -> Shape:
    """The same from an issue's record (a frozen issue): a section with the lead story has it among its articles."""
    return [(s.slug, s.title, bool(s.articles)) for s in record.sections]


def key_for(chosen: frozenset[str], shape: Shape) -> str | None:
    """The variant a reader with this choice gets: WHOLE, a key, or None for nothing this week."""
    if not any(slug.lower() in chosen for slug, _, _ in shape):
        return WHOLE
    filled = [slug for slug, _, full in shape if full]
    kept = [slug for slug in filled if slug.lower() in chosen]
    if not kept:
        return None
    return WHOLE if len(kept) == len(filled) else ",".join(kept)


def label(key: str | None, shape: Shape) -> str:
    """What people read for a key: 'the whole issue', 'Palestine, Labor', 'nothing this week'."""
    if key is None:
        return "nothing this week"
    if key == WHOLE:
        return "the whole issue"
    titles = {slug: title for slug, title, _ in shape}
    return ", ".join(titles.get(slug, slug) for slug in key.split(","))


def keys_of(choices: Mapping[str, int], shape: Shape) -> dict[str | None, int]:
    """Readers per key, from readers per stored choice (subscribers.choices): what a list needs this week."""
    found: dict[str | None, int] = {}
    for themes, count in choices.items():
        key = key_for(choice(themes), shape)
        found[key] = found.get(key, 0) + count
    return found


def cut(issue: Issue, key: str) -> Issue:
    """The issue holding only the sections of `key` (and the lead story when its section is one of them).

    Cards the size budget turned into headlines in the whole issue are cards again: the variant is smaller,
    and its own render decides what fits."""
    kept = set(key.split(","))
    sections = [replace(s, items=[*s.items, *s.more], more=[]) for s in issue.sections if s.slug in kept]
    keep_lead = issue.lead is not None and issue.lead_section in kept
    variant = replace(
        issue,
        sections=sections,
        lead=issue.lead if keep_lead else None,
        lead_section=issue.lead_section if keep_lead else None,
        warnings=[],  # the whole issue's are reported once; a variant's render adds its own
    )
    return replace(variant, cut_to=tuple(s.title for s in shown_sections(variant)))


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    issue: Issue  # as rendered: with its own headlines and warnings
    rendered: Rendered


def render_variant(issue: Issue, key: str, settings: Settings) -> Variant:
    """One variant of the (corrected) whole issue, through the one render path."""
    rendered_issue, rendered = render(cut(issue, key), settings)
    return Variant(key, label(key, shape_of(issue)), rendered_issue, rendered)


def render_variants(issue: Issue, keys: Iterable[str | None], settings: Settings) -> list[Variant]:
    """Each distinct variant among `keys` rendered once (the whole issue and 'nothing' need no render)."""
    wanted = sorted({k for k in keys if k})
    return [render_variant(issue, key, settings) for key in wanted]


def needed(issue: Issue, state: State) -> dict[str | None, int]:
    """Readers per key among the list's active readers: the variants this week's issue needs, and how many
    readers get nothing (key None)."""
    return keys_of(subscriber_rows.choices(state), shape_of(issue))


def freeze(state: State, issue_id: str, cut: list[Variant]) -> None:
    """Store the variants beside the frozen whole issue, replacing any frozen before."""
    variant_rows.replace_all(
        state, issue_id, [FrozenVariant(v.key, v.label, v.rendered, v.issue.article_count) for v in cut]
    )
