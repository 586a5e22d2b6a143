"""Group: articles → sections, by scored evidence for each theme; every placement carries its reason."""

from __future__ import annotations

from dataclasses import dataclass, field

from digest.config import Config, FeedConfig, TermRule, Theme, Weights
from digest.feeds.clean import fold
from digest.issue.terms import Lookup, Term, TermIndex, Text, Words, index_of
from digest.models import Article, LeftOut, Placed, Section

__all__ = ["CompiledTheme", "Grouper", "Score", "Term", "Words", "explain", "score"]

Found = dict[str, dict[Term, list[int]]]  # "kind:where" → term → where each match starts


def _compile(rules: list[TermRule], context: dict[str, TermIndex]) -> TermIndex:
    """Terms with their rules, one per stem form: 'Peru' and 'Perú' are one piece of evidence."""
    seen: dict[tuple[tuple[str, ...], bool], Term] = {}
    for rule in rules:
        sides = [
            context[r] if isinstance(r, str) else (index_of(r) if r else None) for r in (rule.requires, rule.forbids)
        ]
        term = Term.of(
            rule.term,
            requires=sides[0],
            forbids=sides[1],
            window=rule.window,
            case=rule.case,
            languages=frozenset(rule.languages),
            as_written=rule.form == "written",
        )
        seen.setdefault(term.key, term)
    return TermIndex(list(seen.values()))


@dataclass
class CompiledTheme:
    theme: Theme
    categories: dict[str, str]
    keywords: TermIndex
    title_keywords: TermIndex
    exclude: TermIndex
    order: dict[Term, int] = field(default_factory=dict)  # config order, for the order of the evidence

    def __post_init__(self) -> None:
        self.order = {t: i for i, t in enumerate(self.keywords.terms + self.title_keywords.terms)}

    def indexes(self, prefix: str = "") -> dict[str, TermIndex]:
        """The theme's terms by "kind:where", the keys of a Found."""
        return {
            f"{prefix}keywords:title": self.keywords,
            f"{prefix}keywords:summary": self.keywords,
            f"{prefix}keywords:tags": self.keywords,
            f"{prefix}title_keywords:title": self.title_keywords,
            f"{prefix}exclude:title": self.exclude,
            f"{prefix}exclude:summary": self.exclude,
        }

    def find(self, text: Text) -> Found:
        return _find(Lookup(self.indexes()), text)

    @classmethod
    def of(cls, theme: Theme) -> CompiledTheme:
        context = {name: index_of(words) for name, words in theme.context.items()}
        return cls(
            theme=theme,
            categories={fold(c).strip(): c for c in theme.categories},
            keywords=_compile(theme.keywords, context),
            title_keywords=_compile(theme.title_keywords, context),
            exclude=_compile(theme.exclude, context),
        )


_PLAIN = TermRule(term="x").model_dump(exclude={"term"})  # a term with no rules of its own: a spelling, not a rule


def shadowed(theme: Theme) -> list[str]:
    """The terms of a theme whose own rules never apply: a later term of the same list with the same words (plurals
    and accents match) but other rules, which `_compile` drops for the first one's."""
    said = []
    for key in ("keywords", "title_keywords", "exclude"):
        first: dict[tuple[tuple[str, ...], bool], tuple[int, TermRule]] = {}
        for index, rule in enumerate(getattr(theme, key)):
            at, earlier = first.setdefault(Term.of(rule.term).key, (index, rule))
            if at == index:
                continue
            own = rule.model_dump(exclude={"term"})
            if own != _PLAIN and own != earlier.model_dump(exclude={"term"}):
                said.append(
                    f"themes[{theme.slug}].{key}[{index}]: '{rule.term}' is the same term as '{earlier.term}' "
                    f"({key}[{at}]; plurals and accents match), so its own rules never apply; give them to "
                    f"'{earlier.term}' or remove '{rule.term}'"
                )
    return said


def _find(lookup: Lookup, text: Text) -> Found:
    """Every term of the lookup in the title and the summary, keyed by "[theme/]kind:where"."""
    found = {k: v for k, v in lookup.find(text.title).items() if k.endswith(":title")}
    found.update({k: v for k, v in lookup.find(text.body).items() if k.endswith(":summary")})
    if text.tags.stems:
        found.update({k: v for k, v in lookup.find(text.tags).items() if k.endswith(":tags")})
    return found


def article_text(article: Article, feed: FeedConfig | None = None, named: frozenset[str] = frozenset()) -> Text:
    """The title's, the summary's (or teaser's) and the trusted categories' words, read once per article.

    Categories a theme names (`named`, folded) count as categories, not again as words."""
    tags = [c for c in article.categories if fold(c).strip() not in named]
    if feed is not None and not feed.trust_categories:
        tags = [c for c in tags if c in feed.categories]
    return Text.of(article.title, article.summary or article.teaser, feed.language if feed else None, tags)


@dataclass
class Score:
    slug: str
    total: float = 0.0
    evidence: list[tuple[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # matches a context rule set aside: shown by `digest explain`

    def reason(self) -> str:
        return ", ".join(f"{what} {points:.1f}" for what, points in self.evidence)


def _counted(found: Found, key: str, text: Text, result: Score) -> tuple[dict[Term, int], dict[Term, str]]:
    """How often each term counts in the title or the body, with a note for the rules that let it count."""
    where = key.split(":")[1]
    offset = len(text.title.stems) if where == "summary" else 0
    text = text.of_tags() if where == "tags" else text
    counts: dict[Term, int] = {}
    why: dict[Term, str] = {}
    terms = found.get(key, {})
    # A rule set aside inside a phrase that counts ("strike" in "general strike") goes without saying.
    inside = {
        i
        for t, at in terms.items()
        if len(t.stems) > 1 and not t.has_rules
        for s in at
        for i in range(s, s + len(t.stems))
    }
    for term, starts in terms.items():
        for start in starts:
            counts.setdefault(term, 0)
            if not term.has_rules:
                counts[term] += 1
                continue
            ok, note = term.check(text, offset + start)
            if ok:
                counts[term] += 1
                why.setdefault(term, note)
            elif start not in inside:
                result.notes.append(f"{where} '{term.text}' set aside: {note}")
    return {t: n for t, n in counts.items() if n}, why


def _vetoed(found: Found, text: Text, result: Score) -> bool:
    for where in ("title", "summary"):
        hits, _ = _counted(found, f"exclude:{where}", text, result)
        if hits:
            result.evidence.append((f"excluded by '{next(iter(hits)).text}'", 0.0))
            return True
    return False


def score(
    article: Article,
    theme: CompiledTheme,
    weights: Weights,
    text: Text | None = None,
    feed: FeedConfig | None = None,
    found: Found | None = None,
) -> Score:
    """The evidence that an article belongs to a theme, and its total."""
    result = Score(slug=theme.theme.slug)
    text = text or article_text(article)
    found = found if found is not None else theme.find(text)
    if _vetoed(found, text, result):
        return result
    trusted = feed is None or feed.trust_categories
    for category in article.categories:
        name = theme.categories.get(fold(category).strip())
        if name is not None and (trusted or category in feed.categories):  # type: ignore[union-attr]
            result.evidence.append((f"category '{category}'", weights.category))
    if feed is not None and feed.theme == theme.theme.slug:
        result.evidence.append((f"feed '{feed.name}' default", weights.feed))
    tagged = sorted(_counted(found, "keywords:tags", text, result)[0], key=theme.order.__getitem__)
    title_hits, title_why = _counted(found, "keywords:title", text, result)
    for term, count in _counted(found, "title_keywords:title", text, result)[0].items():
        title_hits.setdefault(term, count)
    teaser_hits, teaser_why = _counted(found, "keywords:summary", text, result)
    for term in sorted(title_hits.keys() | teaser_hits.keys(), key=theme.order.__getitem__):
        in_title = title_hits.get(term, 0)
        in_teaser = teaser_hits.get(term, 0)
        note = title_why.get(term) or teaser_why.get(term)
        label = f"'{term.text}'" + (f" ({note})" if note else "")
        if in_title:
            points = weights.title + weights.repeat * (in_title - 1 + in_teaser)
            result.evidence.append((f"title {label}", points))
        elif in_teaser:
            points = weights.teaser + weights.repeat * (in_teaser - 1)
            result.evidence.append((f"summary {label}", points))
    if tagged and result.evidence:  # a feed's tags are many and loose: they corroborate, once, and never alone
        result.evidence.append((f"categories '{tagged[0].text}'", weights.category_term))
    result.total = round(sum(points for _, points in result.evidence), 3)
    return result


@dataclass
class Grouper:
    """The configured themes, compiled once, and the rules that file an article."""

    config: Config
    themes: list[CompiledTheme] = field(init=False)
    feeds: dict[str, FeedConfig] = field(init=False)
    named: frozenset[str] = field(init=False)  # every theme's categories, folded

    lookup: Lookup = field(init=False)

    def __post_init__(self) -> None:
        self.themes = [CompiledTheme.of(t) for t in self.config.themes]
        self.feeds = {f.name: f for f in self.config.feeds}
        self.named = frozenset(name for theme in self.themes for name in theme.categories)
        indexes: dict[str, TermIndex] = {}
        for theme in self.themes:
            indexes.update(theme.indexes(f"{theme.theme.slug}/"))
        self.lookup = Lookup(indexes)

    def text(self, article: Article) -> Text:
        return article_text(article, self.feeds.get(article.feed), self.named)

    def scores(self, article: Article, text: Text | None = None) -> list[Score]:
        text = text or self.text(article)
        feed = self.feeds.get(article.feed)
        found: dict[str, Found] = {t.theme.slug: {} for t in self.themes}
        for key, terms in _find(self.lookup, text).items():
            slug, kind = key.split("/", 1)
            found[slug][kind] = terms
        weights = self.config.weights
        return [score(article, theme, weights, text, feed, found[theme.theme.slug]) for theme in self.themes]

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
        """Each article in exactly one section: its best theme, or the catch-all; one card per story told by
        several feeds (issue.fold_stories); newest first; capped."""
        sections, left_out = self.place(articles)
        if self.config.issue.fold_stories:
            from digest.issue.stories import fold

            fold(sections, self.config.issue.fold_similarity, self.config.catch_all.slug)
        return self.cap(sections, left_out)

    def place(self, articles: list[Article]) -> tuple[list[Section], list[LeftOut]]:
        """Each article in its best theme's section, or the catch-all (or left out when there is none)."""
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
        return list(sections.values()) + ([catch_all] if cfg.catch_all.enabled else []), left_out

    def cap(self, ordered: list[Section], left_out: list[LeftOut]) -> tuple[list[Section], list[LeftOut]]:
        """Newest first, and no more than issue.max_per_section in a section: the rest is left out."""
        cfg = self.config
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
    """A human-readable account of every theme's score for one article, with the context rules that decided."""
    grouper = Grouper(config)
    winner, _ = grouper.best(article)
    feed = grouper.feeds.get(article.feed)
    text = grouper.text(article)
    lines = [f"{article.title}", f"  {article.url or '(no link)'}  [{article.feed}]"]
    declared = "declared by the feed" if feed and feed.language else "guessed from its words"
    lines.append(f"  language: {text.language or 'unknown'} ({declared})")
    if article.categories:
        trusted = "" if feed is None or feed.trust_categories else " (the feed's own categories are not trusted)"
        lines.append(f"  categories: {', '.join(article.categories)}{trusted}")
    for result in grouper.scores(article, text):
        detail = result.reason() or "no evidence"
        lines.append(f"  {result.slug:<16} {result.total:5.1f}  {detail}")
        lines.extend(f"  {'':<16}        {note}" for note in dict.fromkeys(result.notes))
    if winner is not None:
        lines.append(f"  → {winner.slug} (highest score; config order breaks ties)")
    else:
        where = config.catch_all.slug if config.catch_all.enabled else "left out"
        lines.append(f"  → {where}: no theme reached its minimum score")
    return "\n".join(lines)
