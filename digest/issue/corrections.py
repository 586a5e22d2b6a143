"""Editors' corrections, one YAML file per issue, applied by every build and kept across rebuilds.

intro: "A word from the editors"
lead: <article id or URL>            # pinned as the lead story
drop: [<id or URL>, ...]
move: {<id or URL>: <section slug>}
rewrite: {<id or URL>: {title: ..., teaser: ...}}
order: {<section slug>: [<id or URL>, ...]}   # listed first, in this order
split: [<id or URL>, ...]            # a story folded from several feeds shown apart again (stories.py)

`Corrections` is the file as a typed value: `load` reads it (anything malformed is one sentence naming the file,
the key and the fix), `apply` returns the corrected issue, `save` writes it back. The page's edit actions on it
are in `digest.issue.edits`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, field_validator, model_validator

from digest.config import Settings
from digest.errors import CorrectionsError
from digest.feeds import clean
from digest.issue import learn, stories
from digest.models import Issue, Placed, Section, Stage
from digest.util import YamlRefused, atomic_write, email_text, load_yaml, shorten

KINDS = ("intro", "lead", "drop", "move", "rewrite", "order", "split")

# What each key holds, and how to write it: the two halves of every sentence about a malformed file.
SHAPES = {
    "intro": "a text",
    "lead": "an article id or URL",
    "drop": "a list of article ids or URLs",
    "move": "a mapping of article ids or URLs to section slugs",
    "rewrite": "a mapping of article ids or URLs to {title, teaser}",
    "order": "a mapping of section slugs to lists of article ids or URLs",
    "split": "a list of article ids or URLs",
}
EXAMPLES = {
    "intro": 'intro: "A word from the editors"',
    "lead": "lead: https://example.org/a-story/",
    "drop": "drop: [https://example.org/a-story/]",
    "move": "move: {https://example.org/a-story/: labor}",
    "rewrite": 'rewrite: {https://example.org/a-story/: {title: "A shorter title"}}',
    "order": "order: {labor: [https://example.org/a-story/]}",
    "split": "split: [https://example.org/a-story/]",
}


def _ref(value: object) -> object:
    """An article id or URL; a guid that YAML read as a number is its digits."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _none_is(empty: object) -> BeforeValidator:
    """A key left empty in YAML (`drop:`) means none."""
    return BeforeValidator(lambda value: empty if value is None else value)


Ref = Annotated[str, BeforeValidator(_ref)]
Refs = Annotated[tuple[Ref, ...], _none_is(())]


class Rewrite(BaseModel):
    """New wording for one article; a field not given keeps the feed's."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    title: str | None = None
    teaser: str | None = None

    @field_validator("teaser", mode="before")
    @classmethod
    def _empty_teaser(cls, value: object) -> object:
        return "" if value is None else value  # `teaser:` left empty removes the teaser


class Corrections(BaseModel):
    """One issue's corrections file."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    intro: Annotated[str, _none_is("")] = ""
    lead: Ref | None = None
    drop: Refs = ()
    move: Annotated[dict[Ref, str], _none_is({})] = {}
    rewrite: Annotated[dict[Ref, Annotated[Rewrite, _none_is({})]], _none_is({})] = {}
    order: Annotated[dict[str, Refs], _none_is({})] = {}
    split: Refs = ()

    @field_validator("intro")
    @classmethod
    def _text(cls, value: str) -> str:
        return email_text(value)

    @model_validator(mode="before")
    @classmethod
    def _a_mapping(cls, data: object) -> object:
        if not isinstance(data, dict):
            raise ValueError(f"expected a mapping with keys {', '.join(KINDS)} but found {shorten(data)}")
        return data

    # reading and writing

    @classmethod
    def load(cls, path: Path) -> Corrections:
        """The file at `path`, or no corrections when there is none; CorrectionsError says what is wrong."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return NONE
        except (OSError, UnicodeDecodeError) as error:
            raise CorrectionsError(f"{path}: cannot be read ({error}); fix or delete the file") from None
        try:
            data = load_yaml(text)
        except YamlRefused as error:
            raise CorrectionsError(f"{path}: is refused: {error}") from None
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(error, "problem", None) or "invalid YAML"
            raise CorrectionsError(f"{path}: not valid YAML{where} ({problem}); fix or delete the file") from None
        try:
            return cls.model_validate(data if data is not None else {})
        except ValidationError as error:
            raise CorrectionsError(f"{path}: {problem_sentence(error, data)}") from None

    def to_data(self) -> dict[str, Any]:
        """The file's content: only the kinds that say something, in the documented order."""
        data: dict[str, Any] = {
            "intro": self.intro,
            "lead": self.lead,
            "drop": list(self.drop),
            "move": dict(self.move),
            "rewrite": {ref: change.model_dump(exclude_unset=True) for ref, change in self.rewrite.items()},
            "order": {slug: list(refs) for slug, refs in self.order.items()},
            "split": list(self.split),
        }
        return {kind: value for kind, value in data.items() if value}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_data(), allow_unicode=True, sort_keys=False)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, self.to_yaml())

    # applying

    def check_sections(self, issue: Issue, path: Path) -> None:
        """Every section named by `move` and `order` is one of the issue's: CorrectionsError otherwise."""
        slugs = [s.slug for s in issue.sections]
        named = [(f"move: {shorten(ref, 80)}", slug) for ref, slug in self.move.items()]
        named += [("order", slug) for slug in self.order]
        for where, slug in named:
            if slug not in slugs:
                raise CorrectionsError(
                    f"{path}: {where}: {shorten(slug)} is not a section of this issue; use one of {', '.join(slugs)}"
                )

    def apply(self, issue: Issue) -> Issue:
        """The issue with the corrections applied (the issue given is not changed); each correction whose article
        is no longer in the issue becomes a warning."""
        if not self.to_data():
            return issue
        draft = _Draft(issue)
        draft.split(self.split)
        if self.intro:
            draft.intro = self.intro
            draft.applied.append("intro note")
        for ref in self.drop:
            draft.note(draft.take(ref) is not None, f"dropped {ref}", f"drop {ref}")
        for ref, change in self.rewrite.items():
            draft.note(draft.rewrite(ref, change), _rewrote(ref, change), f"rewrite {ref}")
        for ref, slug in self.move.items():
            draft.note(draft.move(ref, slug), f"moved {ref} to {slug}", f"move {ref}")
        if self.lead and (pinned := draft.pin(self.lead)) is not None:  # None: it leads already
            draft.note(pinned, f"pinned {self.lead} as the lead", f"lead {self.lead}")
        for slug, refs in self.order.items():
            if draft.reorder(slug, refs):
                draft.applied.append(f"reordered {slug}")
        return draft.issue()

    def forget(self, ref: str, *kinds: str) -> Corrections:
        """The same corrections with `ref` taken out of the given kinds."""
        changes: dict[str, Any] = {}
        if "lead" in kinds and self.lead == ref:
            changes["lead"] = None
        if "drop" in kinds:
            changes["drop"] = tuple(r for r in self.drop if r != ref)
        if "move" in kinds:
            changes["move"] = {r: slug for r, slug in self.move.items() if r != ref}
        if "rewrite" in kinds:
            changes["rewrite"] = {r: change for r, change in self.rewrite.items() if r != ref}
        if "order" in kinds:
            changes["order"] = {slug: tuple(r for r in refs if r != ref) for slug, refs in self.order.items()}
        return self.model_copy(update=changes)


# No corrections file: most builds. Built without validation so that the model's schema is built only when a
# file is there to be read (defer_build), some milliseconds of every `digest build`.
NONE = Corrections.model_construct()


def _rewrote(ref: str, change: Rewrite) -> str:
    return f"rewrote {', '.join(k for k in ('title', 'teaser') if k in change.model_fields_set)} of {ref}"


def problem_sentence(error: ValidationError, data: object) -> str:
    """The first problem pydantic found in `data`, as "'key' should be …, not …; write it as …"."""
    problems = error.errors()
    first = problems[0]
    loc = first["loc"]
    kind = str(loc[0]) if loc else ""
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden" and len(loc) == 1:
        return f"unknown correction {shorten(kind)}; use one of {', '.join(KINDS)}"
    if kind not in SHAPES:
        return message + more
    if first["type"] == "value_error":
        return f"'{kind}': {message}{more}"
    value = data.get(kind) if isinstance(data, dict) else None
    if first["type"] == "extra_forbidden":
        inner = f", but {_where(loc[:-1])} has the unknown field {shorten(loc[-1])}"
    else:
        inner = f", not {shorten(value)}" + (
            f" ({_where(loc)} is {shorten(first.get('input'))})" if len(loc) > 1 else ""
        )
    return f"'{kind}' should be {SHAPES[kind]}{inner}; write it as {EXAMPLES[kind]}{more}"


def _where(loc: tuple[int | str, ...]) -> str:
    out = str(loc[0])
    for part in loc[1:]:
        if part != "[key]":
            out += f"[{part}]" if isinstance(part, int) else f"[{shorten(part, 80)}]"
    return out


class _Draft:
    """A working copy of an issue's sections and lead for the corrections to change; the issue stays as it was."""

    def __init__(self, issue: Issue) -> None:
        self.original = issue
        # Cards are copied with their "also in" lists, which a split changes.
        self.sections = [replace(s, items=[_own(p) for p in s.items], more=list(s.more)) for s in issue.sections]
        self.by_slug = {s.slug: s for s in self.sections}
        self.lead, self.lead_section = (_own(issue.lead) if issue.lead else None), issue.lead_section
        self.intro = issue.intro
        self.applied: list[str] = []
        self.missing: list[str] = []
        self.unsplit: list[str] = []

    def split(self, refs: tuple[str, ...]) -> None:
        if refs:
            working = replace(self.original, sections=self.sections, lead=self.lead)
            self.unsplit = stories.split(working, refs)

    def note(self, done: bool, applied: str, missing: str) -> None:
        if done:
            self.applied.append(applied)
        else:
            self.missing.append(missing)

    def find(self, ref: str) -> tuple[Section | None, Placed] | None:
        wanted = {ref, clean.url_key(ref) or ""}
        if self.lead is not None and _keys(self.lead) & wanted:
            return None, self.lead
        for section in self.sections:
            for placed in section.items:
                if _keys(placed) & wanted:
                    return section, placed
        return None

    def take(self, ref: str) -> Placed | None:
        found = self.find(ref)
        if found is None:
            return None
        section, placed = found
        if section is None:
            self.lead, self.lead_section = None, None
        else:
            section.items.remove(placed)
        return placed

    def rewrite(self, ref: str, change: Rewrite) -> bool:
        found = self.find(ref)
        if found is None:
            return False
        section, placed = found
        article = placed.article
        if change.title:
            article = replace(article, title=clean.plain_text(change.title))
        if change.teaser is not None:
            article = replace(article, teaser=clean.plain_text(change.teaser))
        reworded = replace(placed, article=article)
        if section is None:
            self.lead = reworded
        else:
            section.items[section.items.index(placed)] = reworded
        return True

    def move(self, ref: str, slug: str) -> bool:
        target = self.by_slug[slug]  # check_sections made sure it exists
        placed = self.take(ref)
        if placed is None:
            return False
        target.items.insert(0, replace(placed, reason=f"moved here by an editor (was: {placed.reason})"))
        return True

    def pin(self, ref: str) -> bool | None:
        """Pin as the lead: True, None when it already leads, False when it is not in the issue."""
        found = self.find(ref)
        if found is None:
            return False
        section, placed = found
        if section is None:
            return None
        home = self.by_slug.get(self.lead_section or "")
        if self.lead is not None and home is not None:
            home.items.insert(0, self.lead)
        section.items.remove(placed)
        self.lead, self.lead_section = placed, section.slug
        return True

    def reorder(self, slug: str, refs: tuple[str, ...]) -> bool:
        section = self.by_slug.get(slug)
        if section is None:
            return False
        front = []
        for ref in refs:
            found = self.find(ref)
            if found and found[0] is section:
                section.items.remove(found[1])
                front.append(found[1])
        section.items[:0] = front
        return True

    def issue(self) -> Issue:
        gone = [f"correction 'split {r}' no longer applies: no story in this issue folds it" for r in self.unsplit]
        gone += [f"correction '{m}' no longer applies: the article is not in this issue any more" for m in self.missing]
        return replace(
            self.original,
            sections=self.sections,
            lead=self.lead,
            lead_section=self.lead_section,
            intro=self.intro,
            corrections_applied=[*self.original.corrections_applied, *self.applied],
        ).warned(Stage.CORRECT, *gone)


def _own(placed: Placed) -> Placed:
    return replace(placed, also=list(placed.also)) if placed.also else placed


def _keys(placed: Placed) -> set[str]:
    article = placed.article
    keys = {article.id}
    if article.url:
        keys.add(article.url)
        key = clean.url_key(article.url)
        if key:
            keys.add(key)
    return keys


# the issue's file


def corrections_path(settings: Settings, issue_id: str) -> Path:
    return settings.corrections_dir / f"{issue_id}.yaml"


def load(settings: Settings, issue_id: str) -> Corrections:
    return Corrections.load(corrections_path(settings, issue_id))


def save(settings: Settings, issue_id: str, corrections: Corrections) -> Path:
    path = corrections_path(settings, issue_id)
    corrections.save(path)
    return path


def correct(settings: Settings, issue: Issue) -> Issue:
    """The issue with its corrections file applied; CorrectionsError for a file that cannot be. The issue as the
    grouper filed it is kept beside a file that moves or drops articles: examples for `digest themes suggest`."""
    path = corrections_path(settings, issue.id)
    found = Corrections.load(path)
    found.check_sections(issue, path)
    learn.record(settings, issue, found.to_data())
    return found.apply(issue)
