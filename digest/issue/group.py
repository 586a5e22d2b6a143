"""Group: articles → sections, by scored evidence for each theme; every placement carries its reason."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from digest.config import Config, Theme, Weights
from digest.feeds.clean import fold
from digest.models import Article, LeftOut, Placed, Section

_WORD = re.compile(r"\w+")
# (suffix, shortest stem it may leave): conservative, so that "Andes" never becomes "and".
_SUFFIXES = (("ings", 3), ("ing", 3), ("ies", 3), ("ed", 4), ("es", 4), ("s", 3), ("e", 4))


@lru_cache(maxsize=65536)
def stem(token: str) -> str:
    """A crude, consistent stem so that 'strikes', 'striking' and 'strike' meet."""
    for suffix, shortest in _SUFFIXES:
        if token.endswith(suffix) and len(token) - len(suffix) >= shortest:
            base = token[: -len(suffix)]
            return base + "y" if suffix == "ies" else base
    return token


def tokens(text: str) -> list[str]:
    return [stem(t) for t in _WORD.findall(fold(text))]


@dataclass
class Words:
    """A text as stems for matching, and as its raw words for acronyms (CUT is not "cut")."""

    stems: list[str]
    raw: list[str]

    @classmethod
    def of(cls, text: str) -> Words:
        return cls(stems=tokens(text), raw=_WORD.findall(text))


@dataclass(frozen=True)
class Term:
    """A keyword or phrase, ready to match whole words; an all-capitals term matches only in capitals."""

    text: str
    stems: tuple[str, ...]
    exact: bool = False

    @classmethod
    def of(cls, text: str) -> Term:
        exact = len(text) >= 2 and text.isupper() and text.isalpha()
        return cls(text=text, stems=(text,) if exact else tuple(tokens(text)), exact=exact)


@dataclass
class TermIndex:
    """Terms keyed by their first word, so a text is read once whatever the number of terms."""

    terms: list[Term]
    by_stem: dict[str, list[Term]] = field(default_factory=dict)
    by_raw: dict[str, list[Term]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for term in self.terms:
            if term.stems:
                (self.by_raw if term.exact else self.by_stem).setdefault(term.stems[0], []).append(term)

    def counts(self, words: Words) -> dict[Term, int]:
        found: dict[Term, int] = {}
        for sequence, index in ((words.stems, self.by_stem), (words.raw, self.by_raw)):
            for i, word in enumerate(sequence):
                for term in index.get(word, ()):
                    n = len(term.stems)
                    if n == 1 or tuple(sequence[i : i + n]) == term.stems:
                        found[term] = found.get(term, 0) + 1
        return found


def _terms(texts: list[str]) -> TermIndex:
    """Compile terms, keeping one per stem form: 'Peru' and 'Perú' are one piece of evidence."""
    seen: dict[tuple[tuple[str, ...], bool], Term] = {}
    for text in texts:
        term = Term.of(text)
        seen.setdefault((term.stems, term.exact), term)
    return TermIndex(list(seen.values()))


@dataclass
class CompiledTheme:
    theme: Theme
    categories: dict[str, str]
    keywords: TermIndex
    title_keywords: TermIndex
    exclude: TermIndex

    @classmethod
    def of(cls, theme: Theme) -> CompiledTheme:
        return cls(
            theme=theme,
            categories={fold(c).strip(): c for c in theme.categories},
            keywords=_terms(theme.keywords),
            title_keywords=_terms(theme.title_keywords),
            exclude=_terms(theme.exclude),
        )


def article_words(article: Article) -> tuple[Words, Words]:
    """The title's words and the summary's (or teaser's), read once per article."""
    return Words.of(article.title), Words.of(article.summary or article.teaser)


@dataclass
class Score:
    slug: str
    total: float = 0.0
    evidence: list[tuple[str, float]] = field(default_factory=list)

    def reason(self) -> str:
        return ", ".join(f"{what} {points:.1f}" for what, points in self.evidence)


def score(article: Article, theme: CompiledTheme, weights: Weights, words: tuple[Words, Words] | None = None) -> Score:
    """The evidence that an article belongs to a theme, and its total."""
    result = Score(slug=theme.theme.slug)
    title_words, teaser_words = words or article_words(article)
    vetoes = theme.exclude.counts(title_words) or theme.exclude.counts(teaser_words)
    if vetoes:
        term = next(iter(vetoes))
        result.evidence.append((f"excluded by '{term.text}'", 0.0))
        return result
    for category in article.categories:
        name = theme.categories.get(fold(category).strip())
        if name is not None:
            result.evidence.append((f"category '{category}'", weights.category))
    title_hits = theme.keywords.counts(title_words)
    for term, count in theme.title_keywords.counts(title_words).items():
        title_hits.setdefault(term, count)
    teaser_hits = theme.keywords.counts(teaser_words)
    for term in theme.keywords.terms + theme.title_keywords.terms:
        in_title = title_hits.get(term, 0)
        in_teaser = teaser_hits.get(term, 0)
        if in_title:
            points = weights.title + weights.repeat * (in_title - 1 + in_teaser)
            result.evidence.append((f"title '{term.text}'", points))
        elif in_teaser:
            points = weights.teaser + weights.repeat * (in_teaser - 1)
            result.evidence.append((f"summary '{term.text}'", points))
    result.total = round(sum(points for _, points in result.evidence), 3)
    return result


@dataclass
class Grouper:
    """The configured themes, compiled once, and the rules that file an article."""

    config: Config
    themes: list[CompiledTheme] = field(init=False)

    def __post_init__(self) -> None:
        self.themes = [CompiledTheme.of(t) for t in self.config.themes]

    def scores(self, article: Article) -> list[Score]:
        words = article_words(article)
        return [score(article, theme, self.config.weights, words) for theme in self.themes]

    def minimum(self, theme: CompiledTheme) -> float:
        value = theme.theme.min_score
        return self.config.weights.min_score if value is None else value

    def best(self, article: Article) -> tuple[Score | None, Score | None]:
        """(the winning theme's score or None, the best score even if below the minimum).

        The winner is the highest score among the themes whose minimum it reaches; ties go to config order.
        """
        winner: Score | None = None
        best: Score | None = None
        for theme, result in zip(self.themes, self.scores(article), strict=True):
            if best is None or result.total > best.total:
                best = result
            qualifies = result.total > 0 and result.total >= self.minimum(theme)
            if qualifies and (winner is None or result.total > winner.total):
                winner = result
        return winner, best

    def group(self, articles: list[Article]) -> tuple[list[Section], list[LeftOut]]:
        """Each article in exactly one section: its best theme, or the catch-all; newest first; capped."""
        cfg = self.config
        sections = {t.slug: Section(slug=t.slug, title=t.title) for t in cfg.themes}
        catch_all = Section(slug=cfg.catch_all.slug, title=cfg.catch_all.title)
        left_out: list[LeftOut] = []
        for article in articles:
            winner, best = self.best(article)
            if winner is not None:
                sections[winner.slug].items.append(Placed(article, winner.reason(), winner.total))
                continue
            hint = best.slug if best and best.total > 0 else None
            points = best.total if best else 0.0
            if cfg.catch_all.enabled:
                why = f"no theme reached the minimum score (best: {hint} {points:.1f})" if hint else "no theme matched"
                catch_all.items.append(Placed(article, why, 0.0))
            else:
                left_out.append(LeftOut(article, "below the minimum score", hint, points))
        ordered = list(sections.values()) + ([catch_all] if cfg.catch_all.enabled else [])
        for section in ordered:
            section.items.sort(
                key=lambda p: p.article.published.timestamp() if p.article.published else 0, reverse=True
            )
            cap = cfg.issue.max_per_section
            if len(section.items) > cap:
                for extra in section.items[cap:]:
                    left_out.append(
                        LeftOut(extra.article, f"over the cap of {cap} in '{section.title}'", section.slug, extra.score)
                    )
                section.left_out = len(section.items) - cap
                section.items = section.items[:cap]
        return ordered, left_out


def explain(article: Article, config: Config) -> str:
    """A human-readable account of every theme's score for one article."""
    grouper = Grouper(config)
    winner, _ = grouper.best(article)
    lines = [f"{article.title}", f"  {article.url or '(no link)'}  [{article.feed}]"]
    if article.categories:
        lines.append(f"  categories: {', '.join(article.categories)}")
    for result in grouper.scores(article):
        detail = result.reason() or "no evidence"
        lines.append(f"  {result.slug:<16} {result.total:5.1f}  {detail}")
    if winner is not None:
        lines.append(f"  → {winner.slug} (highest score; config order breaks ties)")
    else:
        where = config.catch_all.slug if config.catch_all.enabled else "left out"
        lines.append(f"  → {where}: no theme reached its minimum score")
    return "\n".join(lines)
