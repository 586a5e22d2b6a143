"""Agreement with the hand labels (tests/data/grouping_labels.csv), before and after scored themes.

Before: the first theme in config order whose category or keyword matches (PRODUCT.md's keyword lists).
After: the scored themes of the shipped config.yaml.

    .venv/bin/python bench/grouping.py
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from common import FEEDS  # noqa: E402
from grouping_eval import Labelled, evaluate, load_labelled, macro_f1, predict_with  # noqa: E402

from digest.config import load_config  # noqa: E402
from digest.feeds.clean import fold  # noqa: E402
from digest.issue.group import Term, Words  # noqa: E402
from digest.models import Article  # noqa: E402

# The themes of PRODUCT.md's example config, filed by the first match.
BEFORE = [
    (
        "latin-america",
        ["Latin America", "Peru", "Argentina", "Mexico", "Brazil", "Chile", "Bolivia"],
        ["Peru", "Argentina", "Bolivia", "Latin America"],
    ),
    ("labor", ["Labor Movement", "Strikes", "Unions"], ["strike", "union", "workers"]),
    ("palestine", ["Palestine", "Middle East"], ["Gaza", "Palestine", "Rafah", "West Bank"]),
]


def first_match(article: Article) -> str:
    text = Words.of(article.title + " " + article.teaser)
    categories = {fold(c) for c in article.categories}
    for slug, cats, keywords in BEFORE:
        if categories & {fold(c) for c in cats}:
            return slug
        if any(Term.of(k).stems and _contains(text, Term.of(k)) for k in keywords):
            return slug
    return "none"


def _contains(words: Words, term: Term) -> bool:
    n = len(term.stems)
    return any(tuple(words.stems[i : i + n]) == term.stems for i in range(len(words.stems)))


def report(name: str, items: list[Labelled], predict: object, clear_only: bool) -> None:
    metrics = evaluate(items, predict, clear_only)  # type: ignore[arg-type]
    cells = "  ".join(f"{t} P={m.precision:.2f} R={m.recall:.2f} F1={m.f1:.2f}" for t, m in metrics.items())
    print(f"  {name:<7} macro-F1 {macro_f1(metrics):.3f}  {cells}")


def main() -> None:
    items = load_labelled(FEEDS)
    after = predict_with(load_config(REPO / "config.yaml").model)
    clear = sum(1 for i in items if i.clear)
    print(f"{len(items)} labelled articles, {clear} clearly labelled")
    for clear_only in (True, False):
        print("clearly-labelled articles:" if clear_only else "all labelled articles:")
        report("before", items, first_match, clear_only)
        report("after", items, after, clear_only)


if __name__ == "__main__":
    main()
