"""Learning from editors: each correction is a labelled example, and the examples suggest changes to the themes.

Every build of an issue that has corrections records, next to its corrections file, the issue's articles as the
grouper filed them (`corrections/<issue>.examples.json`). A `move` to a section says where an article belongs, a
`promote` (a left-out article brought in) and an `add` (an article from no feed, added by its URL) too; a `drop`
says it does not belong where it was. `digest themes
suggest` proposes the keywords and excludes that would file the corrected articles as the editors did, each with
how many placements it changes across every recorded issue, and `--apply` writes them into config.yaml.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digest.config import Config, Settings, TermRule
from digest.issue.terms import COMMON_WORDS, Text, Words
from digest.models import Article, Issue, Placed

SUFFIX = ".examples.json"
LABELLING = ("move", "drop", "promote", "add")  # the corrections that say where an article belongs, or not


@dataclass
class Example:
    """An article of a recorded issue, where the grouper filed it, and where an editor said it belongs."""

    article: Article
    machine: str
    editor: str | None = None  # a section slug; None: the editor let the machine's placement stand
    away_from: str | None = None  # a drop: the section it does not belong in
    issue: str = ""


def _article_json(article: Article) -> dict[str, Any]:
    return {
        "id": article.id,
        "url": article.url,
        "feed": article.feed,
        "title": article.title,
        "summary": article.summary or article.teaser,
        "categories": article.categories,
    }


def record(settings: Settings, issue: Issue, corrections: dict[str, Any]) -> Path | None:
    """Keep the issue's articles as filed, before the corrections apply, when there are corrections to learn from."""
    if not any(corrections.get(k) for k in LABELLING):
        return None
    filed: list[tuple[Placed, str]] = [(issue.lead, issue.lead_section or "")] if issue.lead else []
    for section in issue.sections:
        for placed in [*section.items, *section.more]:
            filed.append((placed, section.slug))
            filed.extend((member, member.home or section.slug) for member in placed.also)
    left = [{**_article_json(item.article), "machine": ""} for item in issue.left_out]
    added = corrections.get("add") or {}
    known = {p.article.url for p, _ in filed} | {item.article.url for item in issue.left_out}
    # An added article reaches the grouper only through the editor: its page's title and teaser are the example.
    left += [
        {"id": url, "url": url, "feed": facts.get("site", ""), "title": facts["title"],
         "summary": facts.get("teaser", ""), "categories": [], "machine": ""}
        for url, facts in added.items() if url not in known
    ]  # fmt: skip
    labels = {k: corrections[k] for k in LABELLING if corrections.get(k)}
    if added:
        labels["add"] = {url: facts["section"] for url, facts in added.items()}
    data = {
        "issue": issue.id,
        "articles": [{**_article_json(p.article), "machine": slug} for p, slug in filed] + left,
        "corrections": labels,
    }
    path = settings.corrections_dir / f"{issue.id}{SUFFIX}"
    text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    return path


def _refs(value: Any) -> dict[str, str | None]:
    """A correction's article references: {ref: target slug or None}."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list):
        return {str(k): None for k in value}
    return {}


def examples(settings: Settings) -> list[Example]:
    """Every recorded article of every corrected issue, labelled by the corrections."""
    from digest.feeds.clean import url_key

    catch_all = settings.model.catch_all.slug
    found: list[Example] = []
    for path in sorted(settings.corrections_dir.glob(f"*{SUFFIX}")):
        data = json.loads(path.read_text(encoding="utf-8"))
        labels = data["corrections"]
        moves = {**_refs(labels.get("add")), **_refs(labels.get("promote")), **_refs(labels.get("move"))}
        drops = _refs(labels.get("drop"))
        for row in data["articles"]:
            article = Article(
                id=row["id"], title=row["title"], url=row["url"], feed=row["feed"], published=None,
                teaser=row["summary"], summary=row["summary"], categories=row["categories"],
            )  # fmt: skip
            keys = {row["id"], row["url"] or "", url_key(row["url"]) or ""}
            example = Example(article, row["machine"] or "", issue=data["issue"])
            for ref, slug in moves.items():
                if {ref, url_key(ref) or ""} & keys:
                    example.editor = "none" if slug == catch_all else slug
            if any({ref, url_key(ref) or ""} & keys for ref in drops):
                example.away_from = example.machine
            found.append(example)
    return found


@dataclass
class Suggestion:
    slug: str
    kind: str  # "keywords" or "exclude"
    term: str
    fixes: list[Example] = field(default_factory=list)  # corrected articles it files as the editor did
    breaks: list[Example] = field(default_factory=list)  # corrected articles it files wrongly again
    moves: int = 0  # other articles (no correction) whose placement it changes

    @property
    def changes(self) -> int:
        return len(self.fixes) + len(self.breaks) + self.moves

    def describe(self) -> str:
        verb = "add keyword" if self.kind == "keywords" else "add exclude"
        fixed = f"files {len(self.fixes)} corrected article{'s' if len(self.fixes) != 1 else ''} as the editors did"
        broken = f", undoes {len(self.breaks)}" if self.breaks else ""
        return f"{self.slug:<16} {verb} {self.term!r}: {fixed}{broken}; changes {self.changes} placement(s)"


def _agrees(example: Example, placed: str) -> bool | None:
    """Whether a placement agrees with the editor (None: the editor said nothing about this article)."""
    if example.editor is not None:
        return placed == example.editor
    if example.away_from:
        return placed != example.away_from
    return None


def _candidates(article: Article) -> dict[tuple[str, ...], str]:
    """Single words and two-word phrases of the title and summary, by stems, with a written form of each."""
    found: dict[tuple[str, ...], str] = {}
    for text in (article.title, article.summary):
        words = Words.of(text)
        usable = [
            len(r) >= 4 and not r.isdigit() and r.lower() not in COMMON_WORDS for r in words.raw
        ]  # fmt: skip
        for i, raw in enumerate(words.raw):
            if usable[i]:
                found.setdefault((words.stems[i],), raw)
            if i + 1 < len(words.raw) and usable[i] and usable[i + 1]:
                found.setdefault((words.stems[i], words.stems[i + 1]), f"{raw} {words.raw[i + 1]}")
    return found


def _with_term(config: Config, slug: str, kind: str, term: str) -> Config:
    data = config.model_dump(by_alias=True)
    for theme in data["themes"]:
        if theme["slug"] == slug:
            theme[kind] = [*theme[kind], TermRule(term=term).model_dump()]
    return Config.model_validate(data)


def _placement(config: Config, article: Article) -> str:
    from digest.issue.group import Grouper

    won, _ = Grouper(config).best(article)
    return won.slug if won else "none"


def _holds(article: Article, stems: tuple[str, ...]) -> bool:
    text = Text.of(article.title, article.summary)
    n = len(stems)
    return any(tuple(text.stems[i : i + n]) == stems for i in range(len(text.stems)))


def suggest(settings: Settings, limit: int = 3) -> tuple[list[Example], list[Suggestion]]:
    """The recorded examples, and the fewest term changes that file most corrected articles as the editors did."""
    from digest.issue.group import Grouper

    config = settings.model
    found = examples(settings)
    now_grouper = Grouper(config)
    now = {id(e): _slug(now_grouper, e.article) for e in found}
    stems = {id(e): Text.of(e.article.title, e.article.summary).stems for e in found}
    proposals: dict[tuple[str, str, tuple[str, ...]], Suggestion] = {}
    slugs = {t.slug for t in config.themes}
    for example in (e for e in found if _agrees(e, now[id(e)]) is False):
        for key, written in _candidates(example.article).items():
            if example.editor in slugs:
                proposals.setdefault((example.editor, "keywords", key), Suggestion(example.editor, "keywords", written))
            if now[id(example)] in slugs:
                wrong = now[id(example)]
                proposals.setdefault((wrong, "exclude", key), Suggestion(wrong, "exclude", written))
    for (slug, kind, key), proposal in proposals.items():
        trial = Grouper(_with_term(config, slug, kind, proposal.term))
        for example in (e for e in found if _contains(stems[id(e)], key)):
            after = _slug(trial, example.article)
            if after == now[id(example)]:
                continue
            before, verdict = _agrees(example, now[id(example)]), _agrees(example, after)
            if verdict and not before:
                proposal.fixes.append(example)
            elif before and verdict is False:
                proposal.breaks.append(example)
            else:
                proposal.moves += 1
    return found, _chosen(list(proposals.values()), limit)


def _slug(grouper: Any, article: Article) -> str:
    won, _ = grouper.best(article)
    return won.slug if won else "none"


def _contains(sequence: list[str], key: tuple[str, ...]) -> bool:
    n = len(key)
    return any(tuple(sequence[i : i + n]) == key for i in range(len(sequence) - n + 1))


def _chosen(proposals: list[Suggestion], limit: int) -> list[Suggestion]:
    """The best proposals that each file some corrected article no better one already files: most corrections
    set right first, then the fewest other placements changed, then phrases before single words."""
    useful = [p for p in proposals if len(p.fixes) > len(p.breaks)]
    useful.sort(key=lambda p: (len(p.breaks) - len(p.fixes), p.moves, -len(p.term.split()), p.term.lower()))
    chosen: list[Suggestion] = []
    covered: set[int] = set()
    for proposal in useful:
        new = {id(e) for e in proposal.fixes} - covered
        per_theme = sum(1 for c in chosen if c.slug == proposal.slug)
        if new and per_theme < limit:
            chosen.append(proposal)
            covered |= new
    return chosen


def _scalar(term: str) -> str:
    """The term as a YAML flow scalar: plain when that reads back the same, quoted when not."""
    plain = term.strip() == term and not any(c in term for c in ":,[]{}#&*!|>'\"%@`") and term[:1] not in "-?"
    return term if plain else json.dumps(term, ensure_ascii=False)


def _block(lines: list[str], slug: str) -> tuple[int, int, str]:
    """The lines of the theme `slug` in config.yaml: (first, end, indentation of its keys)."""
    for first, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith("- slug:") and stripped[7:].strip().strip("'\"") == slug:
            dash = len(line) - len(stripped)
            end = first + 1
            while end < len(lines):
                text = lines[end]
                indent = len(text) - len(text.lstrip())
                if text.strip() and (indent < dash or (indent == dash and text.lstrip().startswith("- "))):
                    break
                end += 1
            return first, end, " " * (dash + 2)
    raise ValueError(f"no theme with the slug {slug!r}")


def _insert(lines: list[str], slug: str, kind: str, term: str) -> None:
    """Add one term to a theme's list in config.yaml's lines, keeping every other line and comment as it was."""
    first, end, keys = _block(lines, slug)
    for at in range(first + 1, end):
        if not lines[at].startswith(f"{keys}{kind}:"):
            continue
        value = lines[at].split(":", 1)[1].strip()
        if not value.startswith("["):  # a block list: one more "- term" after its last line, indented as its items
            last, dash = at, None
            for i in range(at + 1, end):
                text, indent = lines[i], len(lines[i]) - len(lines[i].lstrip())
                item = text.lstrip().startswith("- ")
                if text.strip() and (indent < len(keys) or (indent == len(keys) and not item)):
                    break
                if item and dash is None:
                    dash = text[:indent]
                last = i if text.strip() else last
            lines.insert(last + 1, f"{dash if dash is not None else keys + '  '}- {_scalar(term)}")
            return
        close = next(i for i in range(at, end) if lines[i].rstrip().endswith("]"))
        if lines[close].strip() == "]":  # a flow list closed on its own line: a new line before it
            previous = lines[close - 1]
            lines.insert(close, f"{previous[: len(previous) - len(previous.lstrip())]}{_scalar(term)},")
        else:
            body = lines[close].rstrip()[:-1].rstrip()
            separator = " " if body.endswith(("[", ",")) else ", "
            lines[close] = f"{body}{separator}{_scalar(term)}]"
        return
    lines.insert(first + 1, f"{keys}{kind}: [{_scalar(term)}]")


def apply(settings: Settings, chosen: list[Suggestion]) -> None:
    """Write the suggestions into config.yaml and check that it reads back with them; the file is untouched if not."""
    from digest.config import load_config
    from digest.errors import ConfigError

    path = settings.path
    original = path.read_text(encoding="utf-8")
    lines = original.split("\n")
    for suggestion in chosen:
        _insert(lines, suggestion.slug, suggestion.kind, suggestion.term)
    temporary = path.with_suffix(".yaml.tmp")
    temporary.write_text("\n".join(lines), encoding="utf-8")
    temporary.replace(path)
    try:
        themes = {t.slug: t for t in load_config(path).model.themes}
        for s in chosen:
            if s.term not in [rule.term for rule in getattr(themes[s.slug], s.kind)]:
                raise ConfigError(str(path), [f"themes: '{s.term}' did not read back in {s.slug}.{s.kind}"])
    except ConfigError:
        path.write_text(original, encoding="utf-8")
        raise
