"""Editors' corrections, one YAML file per issue, applied by every build and kept across rebuilds.

intro: "A word from the editors"
lead: <article id or URL>            # pinned as the lead story
drop: [<id or URL>, ...]
move: {<id or URL>: <section slug>}
rewrite: {<id or URL>: {title: ..., teaser: ...}}
order: {<section slug>: [<id or URL>, ...]}   # listed first, in this order
split: [<id or URL>, ...]            # a story folded from several feeds shown apart again (stories.py)
promote: {<id or URL>: <section slug>}  # an article the machine left out, brought into a section
add: {<URL>: {section: ..., title: ..., teaser: ..., image: ..., published: ..., site: ...}}
                                     # an article from no feed, its facts read once from its page's meta tags

`Corrections` is the file as a typed value: `load` reads it (anything malformed is one sentence naming the file,
the key and the fix), `apply` returns the corrected issue, `save` writes it back. The page's edit actions on it
are in `digest.issue.edits`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, field_validator, model_validator

from digest.config import Settings
from digest.errors import CorrectionsError
from digest.feeds import clean
from digest.issue.draft import Draft
from digest.models import Issue
from digest.util import YamlRefused, atomic_write, email_text, load_yaml, shorten

KINDS = ("intro", "lead", "drop", "move", "rewrite", "order", "split", "promote", "add")

# What each key holds, and how to write it: the two halves of every sentence about a malformed file.
SHAPES = {
    "intro": "a text",
    "lead": "an article id or URL",
    "drop": "a list of article ids or URLs",
    "move": "a mapping of article ids or URLs to section slugs",
    "rewrite": "a mapping of article ids or URLs to {title, teaser}",
    "order": "a mapping of section slugs to lists of article ids or URLs",
    "split": "a list of article ids or URLs",
    "promote": "a mapping of article ids or URLs to section slugs",
    "add": "a mapping of article URLs to {section, title, teaser, image, published, site}",
}
EXAMPLES = {
    "intro": 'intro: "A word from the editors"',
    "lead": "lead: https://example.org/a-story/",
    "drop": "drop: [https://example.org/a-story/]",
    "move": "move: {https://example.org/a-story/: labor}",
    "rewrite": 'rewrite: {https://example.org/a-story/: {title: "A shorter title"}}',
    "order": "order: {labor: [https://example.org/a-story/]}",
    "split": "split: [https://example.org/a-story/]",
    "promote": "promote: {https://example.org/a-story/: labor}",
    "add": 'add: {https://example.org/a-story/: {section: labor, title: "A title", site: example.org}}',
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


def _web_link(value: str) -> str:
    link = clean.absolute_url(value)
    if link is None or link != value.strip():
        raise ValueError(f"{shorten(value)} is not an absolute http(s) link")
    return link


class Added(BaseModel):
    """An article an editor added by its URL: the facts read once from its page, so no rebuild reads it again."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    section: str
    title: str
    teaser: str = ""
    image: str | None = None
    published: datetime | None = None
    site: str = ""

    @field_validator("title", "teaser", "site", mode="before")
    @classmethod
    def _plain(cls, value: object) -> object:
        # A hand-edited file is no safer than a page: the same cleaning as feed text.
        return "" if value is None else clean.plain_text(value) if isinstance(value, str) else value

    @field_validator("title")
    @classmethod
    def _titled(cls, value: str) -> str:
        if not value:
            raise ValueError("an added article needs a title")
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        return _web_link(value) if value else None

    @field_validator("published")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("published needs a time zone, as in 2026-02-17T10:00:00+00:00")
        return value


def _links(value: object) -> object:
    """`add` is keyed by links: each must be an absolute http(s) URL."""
    if isinstance(value, dict):
        for key in value:
            _web_link(str(key))
    return value


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
    promote: Annotated[dict[Ref, str], _none_is({})] = {}
    add: Annotated[dict[str, Added], _none_is({}), BeforeValidator(_links)] = {}

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
            "promote": dict(self.promote),
            "add": {url: added.model_dump(mode="json", exclude_defaults=True) for url, added in self.add.items()},
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
        named += [(f"promote: {shorten(ref, 80)}", slug) for ref, slug in self.promote.items()]
        named += [(f"add: {shorten(url, 80)}", added.section) for url, added in self.add.items()]
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
        draft = Draft(issue)
        draft.split(self.split)
        for url, added in self.add.items():
            draft.applied.append(draft.add(url, added))
        for ref, slug in self.promote.items():
            draft.note(draft.promote(ref, slug), f"promoted {ref} to {slug}", f"promote {ref}")
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
        if "promote" in kinds:
            changes["promote"] = {r: slug for r, slug in self.promote.items() if r != ref}
        if "add" in kinds:
            changes["add"] = {url: added for url, added in self.add.items() if url != ref}
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
    elif first["type"] == "missing" and len(loc) > 1:
        inner = f", but {_where(loc[:-1])} has no {loc[-1]}"
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
    data = found.to_data()
    if data:  # an issue without corrections (most builds) has nothing to keep
        from digest.issue import learn  # imported here: ~3 ms of every build (python -X importtime)

        learn.record(settings, issue, data)
    return found.apply(issue)
