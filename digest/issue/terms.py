"""Terms: keywords and phrases matched as whole words, and the context that decides whether a match counts.

A term matches any case or accent and simple inflections ("strikes", "striking"). A rule can ask more of it:
neighbours it requires or forbids within a window of words (a labour "strike" needs workers or a union near it;
a "drone strike" is not labour), a capitalised proper name ("La Paz" the city, not "la paz", peace), a common
word and not a name ("labour", not the Labour Party), the form as written ("strikers", not a football club's
"striker"), or the article's language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Literal

from digest.feeds.clean import fold

_WORD = re.compile(r"\w+")
# What ends a sentence: the next word may be capitalised for that reason alone.
_SENTENCE_END = re.compile(r"[.!?:;]\W*$")
# (suffix, shortest stem it may leave): conservative, so that "Andes" never becomes "and".
_SUFFIXES = (("ings", 3), ("ing", 3), ("ies", 3), ("ed", 4), ("es", 4), ("s", 3), ("e", 4))

# The commonest function words of the languages the newsletter reads: enough to tell them apart in a headline
# and a summary. A feed's declared language wins over this guess.
_FUNCTION_WORDS = {
    "en": "the of and to in is for on with that by from are was as at after over",
    "es": "el la los las de del que y en por para con una un se su al como más tras sobre",
    "pt": "o a os as do da dos das que e em no na por para com um uma não ao à pelo pela sobre após",
    "de": "der die das und ist mit von für den dem nicht ein eine auf im zu sich",
    "fr": "le la les des du et est dans pour une un sur que qui pas au aux avec",
}
# Words any headline may use, whatever its story: no evidence of a theme or of an event.
_HEADLINE_WORDS = """s says said say new after amid over into its it he she they his her their who what how why will
would could has have had be been not but than this these those more most about up out one two three first last year
years week day days people while against between under when where"""
COMMON_WORDS = frozenset(" ".join([*_FUNCTION_WORDS.values(), _HEADLINE_WORDS]).split())
_LANGUAGE_OF: dict[str, list[str]] = {}
for _lang, _words in _FUNCTION_WORDS.items():
    for _word in _words.split():
        _LANGUAGE_OF.setdefault(_word, []).append(_lang)


@lru_cache(maxsize=65536)
def stem(token: str) -> str:
    """A crude, consistent stem so that 'strikes', 'striking' and 'strike' meet."""
    for suffix, shortest in _SUFFIXES:
        if token.endswith(suffix) and len(token) - len(suffix) >= shortest:
            base = token[: -len(suffix)]
            return base + "y" if suffix == "ies" else base
    return token


@lru_cache(maxsize=131072)
def _stem_of(raw: str) -> str:
    return stem(fold(raw))


def tokens(text: str) -> list[str]:
    return [_stem_of(t) for t in _WORD.findall(text)]


def guess_language(raw: Iterable[str]) -> str:
    """The language whose function words are commonest in the text, or '' when none stands out."""
    counts: dict[str, int] = {}
    for word in raw:
        for lang in _LANGUAGE_OF.get(word.lower(), ()):
            counts[lang] = counts.get(lang, 0) + 1
    if not counts:
        return ""
    best = max(counts, key=lambda lang: counts[lang])
    ranked = sorted(counts.values(), reverse=True)
    return best if ranked[0] >= 2 and (len(ranked) == 1 or ranked[0] > ranked[1]) else ""


@dataclass
class Words:
    """A text as stems for matching, and as its raw words for case (CUT is not "cut", La Paz is not la paz)."""

    stems: list[str]
    raw: list[str]
    source: str = ""  # the text itself, read again only for where its sentences start

    @classmethod
    def of(cls, text: str) -> Words:
        raw = _WORD.findall(text)
        return cls(stems=[_stem_of(t) for t in raw], raw=raw, source=text)

    @cached_property
    def sentence_starts(self) -> frozenset[int]:
        """The words that open a sentence, whose capital says nothing of a name."""
        starts, previous = set(), 0
        for i, match in enumerate(_WORD.finditer(self.source)):
            if i == 0 or _SENTENCE_END.search(self.source[previous : match.start()]):
                starts.add(i)
            previous = match.end()
        return frozenset(starts)

    @cached_property
    def title_cased(self) -> bool:
        """Whether nearly every longer word is capitalised ("Union Workers Walk Out At Dawn"), so capitals say
        nothing of names. Shorter words are left out: some styles write "to", "of" and "a" in lower case."""
        longer = [w for w in self.raw if len(w) > 3 and w[:1].isalpha()]
        return len(longer) >= 3 and sum(1 for w in longer if w[:1].isupper()) >= 0.8 * len(longer)


@dataclass
class Text:
    """An article's title and summary, read once: each alone for weights, together for context and language."""

    title: Words
    body: Words
    language: str
    tags: Words = field(default_factory=lambda: Words([], []))  # the feed's categories, when they are trusted
    stems: list[str] = field(init=False)
    raw: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.stems = self.title.stems + self.body.stems
        self.raw = self.title.raw + self.body.raw

    @classmethod
    def of(cls, title: str, body: str, language: str | None = None, tags: Iterable[str] = ()) -> Text:
        title_words, body_words = Words.of(title), Words.of(body)
        lang = language or guess_language(title_words.raw + body_words.raw)
        return cls(title_words, body_words, lang, Words.of(" ; ".join(tags)))

    def common_at(self, at: int) -> bool:
        """Whether word `at` of the whole text is written as a common word: in lower case, or capitalised only
        because it opens a sentence or stands in a title that capitalises every word."""
        in_title = at < len(self.title.raw)
        words, i = (self.title, at) if in_title else (self.body, at - len(self.title.raw))
        word = words.raw[i]
        return not word[:1].isupper() or i in words.sentence_starts or (in_title and words.title_cased)

    def of_tags(self) -> Text:
        """The categories alone, as a text whose context rules look at the categories only."""
        return Text(self.tags, Words([], []), self.language)


@dataclass(frozen=True, eq=False)
class Term:
    """A keyword or phrase, ready to match whole words; an all-capitals term matches only in capitals."""

    text: str
    stems: tuple[str, ...]
    exact: bool = False
    requires: TermIndex | None = None
    forbids: TermIndex | None = None
    window: int = 12
    # proper: only where capitalised as in the term (a name); common: not where capitalised inside a sentence
    case: Literal["any", "proper", "common"] = "any"
    languages: frozenset[str] = frozenset()
    written: tuple[str, ...] = ()  # only in these folded forms, without inflections ("strikers", not "striker")

    @classmethod
    def of(
        cls,
        text: str,
        requires: TermIndex | None = None,
        forbids: TermIndex | None = None,
        window: int = 12,
        case: Literal["any", "proper", "common"] = "any",
        languages: frozenset[str] = frozenset(),
        as_written: bool = False,
    ) -> Term:
        exact = len(text) >= 2 and text.isupper() and text.isalpha()
        stems = (text,) if exact else tuple(tokens(text))
        written = tuple(fold(w) for w in _WORD.findall(text)) if as_written else ()
        return cls(text, stems, exact, requires, forbids, window, case, languages, written)

    @property
    def key(self) -> tuple[tuple[str, ...], bool]:
        """What makes two terms one: the same words (plurals and accents match), and capitals alike or not."""
        return self.stems, self.exact

    @property
    def has_rules(self) -> bool:
        return bool(self.requires or self.forbids or self.case != "any" or self.languages or self.written)

    def check(self, text: Text, at: int) -> tuple[bool, str]:
        """Whether the match at word `at` of the whole text counts, and why when a rule decided it."""
        if self.languages and text.language not in self.languages:
            return False, f"only in {'/'.join(sorted(self.languages))}, not {text.language or 'an unknown language'}"
        if self.case == "proper" and not self._capitalised(text.raw, at):
            return False, "not as a proper name"
        if self.case == "common" and not text.common_at(at):
            return False, "as a name"
        if self.written and tuple(fold(w) for w in text.raw[at : at + len(self.written)]) != self.written:
            return False, f"not as '{self.text}'"
        lo, hi = max(0, at - self.window), at + len(self.stems) + self.window
        if self.forbids is not None:
            found = self.forbids.first(text, lo, hi, skip=(at, at + len(self.stems)))
            if found:
                return False, f"'{found}' nearby"
        if self.requires is not None:
            found = self.requires.first(text, lo, hi, skip=(at, at + len(self.stems)))
            if not found:
                return False, f"no {self.requires.describe()} within {self.window} words"
            return True, f"with '{found}'"
        return True, ""

    def _capitalised(self, raw: list[str], at: int) -> bool:
        written = _WORD.findall(self.text)
        return all(not w[:1].isupper() or raw[at + i][:1].isupper() for i, w in enumerate(written[: len(self.stems)]))


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

    def __bool__(self) -> bool:
        return bool(self.terms)

    def positions(self, words: Words) -> dict[Term, list[int]]:
        """Where each term starts in the words."""
        found: dict[Term, list[int]] = {}
        for sequence, index in ((words.stems, self.by_stem), (words.raw, self.by_raw)):
            for i, word in enumerate(sequence):
                for term in index.get(word, ()):
                    n = len(term.stems)
                    if n == 1 or tuple(sequence[i : i + n]) == term.stems:
                        found.setdefault(term, []).append(i)
        return found

    def first(self, text: Text, lo: int, hi: int, skip: tuple[int, int] = (0, 0)) -> str:
        """The first term found between words lo and hi of the text (outside `skip`), or ''."""
        for sequence, index in ((text.stems, self.by_stem), (text.raw, self.by_raw)):
            for i in range(lo, min(hi, len(sequence))):
                if skip[0] <= i < skip[1]:
                    continue
                for term in index.get(sequence[i], ()):
                    n = len(term.stems)
                    if n == 1 or tuple(sequence[i : i + n]) == term.stems:
                        return term.text
        return ""

    def describe(self) -> str:
        shown = [t.text for t in self.terms[:3]]
        return "'" + "', '".join(shown) + "'" + (" or the like" if len(self.terms) > 3 else "")


class Lookup:
    """Several term indexes read in one pass over a text: the words are looked up once, not once per index."""

    def __init__(self, indexes: dict[str, TermIndex]) -> None:
        self.by_stem: dict[str, list[tuple[str, Term]]] = {}
        self.by_raw: dict[str, list[tuple[str, Term]]] = {}
        for key, index in indexes.items():
            for first, terms in index.by_stem.items():
                self.by_stem.setdefault(first, []).extend((key, t) for t in terms)
            for first, terms in index.by_raw.items():
                self.by_raw.setdefault(first, []).extend((key, t) for t in terms)

    def find(self, words: Words) -> dict[str, dict[Term, list[int]]]:
        """Per index key, where each of its terms starts in the words."""
        found: dict[str, dict[Term, list[int]]] = {}
        for sequence, index in ((words.stems, self.by_stem), (words.raw, self.by_raw)):
            for i, word in enumerate(sequence):
                for key, term in index.get(word, ()):
                    n = len(term.stems)
                    if n == 1 or tuple(sequence[i : i + n]) == term.stems:
                        found.setdefault(key, {}).setdefault(term, []).append(i)
        return found


def index_of(texts: Iterable[str]) -> TermIndex:
    """Plain terms, one per stem form: 'Peru' and 'Perú' are one piece of evidence."""
    seen: dict[tuple[tuple[str, ...], bool], Term] = {}
    for text in texts:
        term = Term.of(text)
        seen.setdefault(term.key, term)
    return TermIndex(list(seen.values()))
