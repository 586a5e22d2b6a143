"""One story told twice: the same event from several feeds becomes one card, with the others as "also in" links.

Two articles tell the same story when their titles, and less so their teasers, share enough rare words
(IDF-weighted Jaccard within the issue: "Peru's Congress ousts interim President José Jerí" and "Peru ousts
interim president over corruption probe" share Peru, ousts, interim, president). Only articles of different
feeds fold. An editor splits a fold again with the corrections key `split: [<article id or URL>]`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace

from digest.feeds.clean import url_key
from digest.issue.terms import COMMON_WORDS, Words
from digest.models import Article, Issue, Placed, Section

# On the real week the 17 pairs folded at issue.fold_similarity = 0.28 (the default) are all the same event, by
# reading (tests/test_stories.py); the closest pairs left apart, 0.274 and 0.260, are an analysis of a news story
# and a reply to it. Titles weigh more than teasers, which differ most between outlets.
TITLE_WEIGHT = 0.75


def _words(text: str) -> set[str]:
    words = Words.of(text)
    return {s for s, r in zip(words.stems, words.raw, strict=True) if r.lower() not in COMMON_WORDS and not s.isdigit()}


class Likeness:
    """How alike the issue's articles are, word rarity measured within the issue."""

    def __init__(self, placed: list[Placed]) -> None:
        self.placed = placed
        self.title = {id(p): _words(p.article.title) for p in placed}
        self.whole = {id(p): self.title[id(p)] | _words(p.article.teaser) for p in placed}
        count: dict[str, int] = {}
        for words in self.whole.values():
            for word in words:
                count[word] = count.get(word, 0) + 1
        self.idf = {w: math.log((len(placed) + 1) / n) for w, n in count.items()}

    def _jaccard(self, x: set[str], y: set[str]) -> float:
        union = sum(self.idf[w] for w in x | y)
        return sum(self.idf[w] for w in x & y) / union if union else 0.0

    def of(self, a: Placed, b: Placed) -> float:
        title = self._jaccard(self.title[id(a)], self.title[id(b)])
        return TITLE_WEIGHT * title + (1 - TITLE_WEIGHT) * self._jaccard(self.whole[id(a)], self.whole[id(b)])

    def pairs(self, threshold: float) -> list[tuple[float, Placed, Placed]]:
        """Every pair of articles of different feeds at least `threshold` alike, most alike first.

        The shared weight of each pair is summed word by word from an inverted index, so only pairs that share
        a title word are looked at, each once."""
        shared_title = self._shared_titles()
        weight_title = {k: sum(self.idf[w] for w in words) for k, words in self.title.items()}
        weight_whole = {k: sum(self.idf[w] for w in words) for k, words in self.whole.items()}
        found = []
        for (i, j), common in shared_title.items():
            a, b = self.placed[i], self.placed[j]
            if a.article.feed == b.article.feed:
                continue
            title = common / (weight_title[id(a)] + weight_title[id(b)] - common)
            whole_common = sum(self.idf[w] for w in self.whole[id(a)] & self.whole[id(b)])
            whole_union = weight_whole[id(a)] + weight_whole[id(b)] - whole_common
            score = TITLE_WEIGHT * title + (1 - TITLE_WEIGHT) * (whole_common / whole_union if whole_union else 0.0)
            if score >= threshold:
                found.append((score, a, b))
        found.sort(key=lambda p: (-p[0], p[1].article.id, p[2].article.id))
        return found

    def _shared_titles(self) -> dict[tuple[int, int], float]:
        postings: dict[str, list[int]] = {}
        for i, placed in enumerate(self.placed):
            for word in self.title[id(placed)]:
                postings.setdefault(word, []).append(i)
        shared: dict[tuple[int, int], float] = {}
        for word, ids in postings.items():
            weight = self.idf[word]
            for x, i in enumerate(ids):
                for j in ids[x + 1 :]:
                    shared[(i, j)] = shared.get((i, j), 0.0) + weight
        return shared


def _rank(themed: bool, placed: Placed) -> tuple[bool, float, bool, int]:
    """The card that stays: a themed one first, then the higher score, a picture, the longer teaser."""
    article = placed.article
    return (themed, placed.score, bool(article.image), len(article.teaser))


def _stories(likeness: Likeness, threshold: float) -> list[list[Placed]]:
    """Stories grow by their most alike pairs, one article per feed. Two stories merge only when they are alike
    on the whole (their average likeness at least 3/4 of the threshold): A like B and B like C does not make
    A and C one story."""
    story_of: dict[int, list[Placed]] = {}
    for _, a, b in likeness.pairs(threshold):
        one, other = story_of.get(id(a), [a]), story_of.get(id(b), [b])
        if one is other or {m.article.feed for m in one} & {m.article.feed for m in other}:
            continue
        if len(one) > 1 and len(other) > 1:
            cross = [likeness.of(x, y) for x in one for y in other]
            if sum(cross) / len(cross) < 0.75 * threshold:
                continue
        merged = one + other
        for member in merged:
            story_of[id(member)] = merged
    return list({id(s): s for s in story_of.values()}.values())


def fold(sections: list[Section], threshold: float, catch_all: str) -> list[tuple[Placed, Placed]]:
    """Fold each story told by several feeds into its best card; return the (card, folded) pairs."""
    section_of = {id(p): s for s in sections for p in s.items}
    pairs: list[tuple[Placed, Placed]] = []
    for story in _stories(Likeness([p for s in sections for p in s.items]), threshold):
        head = max(story, key=lambda p: _rank(section_of[id(p)].slug != catch_all, p))
        for member in story:
            if member is not head:
                section_of[id(member)].items.remove(member)
                head.also.append(replace(member, also=[], home=section_of[id(member)].slug))
                pairs.append((head, member))
    return pairs


def _keys(article: Article) -> set[str]:
    keys = {article.id}
    if article.url:
        keys |= {article.url, url_key(article.url) or ""}
    return keys


def split(issue: Issue, refs: Iterable[str]) -> list[str]:
    """Undo folds: a folded article becomes its own card again, in the section it was filed in; naming a story's
    card splits the whole story. Returns the refs that match no folded story."""
    by_slug = {s.slug: s for s in issue.sections}
    cards = [p for s in issue.sections for p in s.items] + ([issue.lead] if issue.lead else [])
    missing = []
    for ref in refs:
        wanted = {str(ref), url_key(str(ref)) or ""}
        card = next((c for c in cards if c.also and (_keys(c.article) | _all_keys(c.also)) & wanted), None)
        if card is None:
            missing.append(str(ref))
            continue
        parts = list(card.also) if _keys(card.article) & wanted else [m for m in card.also if _keys(m.article) & wanted]
        for part in parts:
            card.also.remove(part)
            home = by_slug[part.home]
            home.items.insert(home.items.index(card) + 1 if card in home.items else 0, part)
    return missing


def _all_keys(placed: list[Placed]) -> set[str]:
    return set().union(*(_keys(p.article) for p in placed))
