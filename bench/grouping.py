"""Agreement with the hand labels, per theme, on the tuning week and on the unseen set, and the group stage's time.

Rows: first-match keyword rules (PRODUCT.md's lists); v1, the scored themes as shipped before context rules
(bench/data/themes_v1.yaml), read by today's code (which adds category words and feed hints to them); now, the
shipped config.yaml. Sets: the tuning week (tests/data/grouping_labels.csv); the unseen outlets
(tests/data/grouping_unseen.csv); HuffPost 2018–2022 (tests/data/huffpost) and Wikipedia's Current Events portal
2002–2026 (tests/data/wcep), each a random sample and a sample of stories that use a work word, and the portal's
events drawn from what the rules filed under Labor, to learn from (dev only, never pooled); Spanish-language
news of Mexican and Spanish outlets, 2010–2021 (tests/data/fakedes); each unseen set in
its dev half (looked at while tuning) and its held-out half (only scored), and all unseen sets pooled.

    .venv/bin/python bench/grouping.py [--all]     # --all: also count the unclear labels
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from common import FEEDS, real_week_files  # noqa: E402
from grouping_eval import (  # noqa: E402
    Labelled,
    evaluate,
    load_huffpost,
    load_labelled,
    load_pooled,
    load_spanish,
    load_unseen,
    load_wcep,
    macro_f1,
    predict_with,
    with_unseen_feeds,
)

from digest.config import Config, load_config  # noqa: E402
from digest.feeds.clean import fold  # noqa: E402
from digest.feeds.parse import parse_feed  # noqa: E402
from digest.issue.group import Grouper  # noqa: E402
from digest.issue.terms import Term, Words  # noqa: E402
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


def v1_config(shipped: Config) -> Config:
    old = yaml.safe_load((REPO / "bench" / "data" / "themes_v1.yaml").read_text(encoding="utf-8"))
    return Config.model_validate({**shipped.model_dump(by_alias=True), **old})


def report(name: str, items: list[Labelled], predict: Callable[[Article], str], clear_only: bool) -> None:
    metrics = evaluate(items, predict, clear_only)
    cells = "  ".join(
        f"{t} P={m.precision:.2f} R={m.recall:.2f} F1={m.f1:.2f} (n={m.support})" for t, m in metrics.items()
    )
    print(f"    {name:<12} macro-F1 {macro_f1(metrics):.3f}  {cells}")


def group_stage_ms(config: Config, runs: int = 9) -> float:
    """The median time to group the real week's articles (the group stage of bench/build.py, without I/O)."""
    articles = []
    for path in real_week_files():
        articles.extend(parse_feed(path.read_bytes(), path.stem, "https://example.org/feed/").articles)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        Grouper(config).group(articles)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def work_words(split: str) -> list[Labelled]:
    """HuffPost's stories that use a word of work: 2018–2022, and spring 2018 (labelled later, from another copy)."""
    return load_huffpost("enriched", split) + load_huffpost("spring2018", split)


def wcep(split: str, kind: str) -> list[Labelled]:
    """The Current Events portal's events of one draw (`random`, `work` or the second work-word draw `work2`), 2002–2024
    and 2025–2026 together."""
    return load_wcep("older", split, kind) + load_wcep("recent", split, kind)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--all", action="store_true", help="also count the articles whose label is unclear")
    clear_only = not parser.parse_args().all
    shipped = load_config(REPO / "config.yaml").model
    configs = {"v1": v1_config(shipped), "now": shipped}
    sets = {
        "tuning week": (load_labelled(FEEDS), lambda c: c),
        "unseen, dev": (load_unseen(FEEDS, "dev"), with_unseen_feeds),
        "unseen, held-out": (load_unseen(FEEDS, "held-out"), with_unseen_feeds),
        "unseen, all": (load_unseen(FEEDS), with_unseen_feeds),
        "HuffPost random, dev": (load_huffpost("random", "dev"), with_unseen_feeds),
        "HuffPost random, held-out": (load_huffpost("random", "held-out"), with_unseen_feeds),
        "HuffPost work words, dev": (work_words("dev"), with_unseen_feeds),
        "HuffPost work words, held-out": (work_words("held-out"), with_unseen_feeds),
        "Current Events random, dev": (wcep("dev", "random"), with_unseen_feeds),
        "Current Events random, held-out": (wcep("held-out", "random"), with_unseen_feeds),
        "Current Events work words, dev": (wcep("dev", "work"), with_unseen_feeds),
        "Current Events work words, held-out": (wcep("held-out", "work"), with_unseen_feeds),
        "Current Events second work-word draw, dev": (wcep("dev", "work2"), with_unseen_feeds),
        "Current Events second work-word draw, held-out": (wcep("held-out", "work2"), with_unseen_feeds),
        "Current Events drawn from the rules' own Labor placements (learning draws, dev only)": (
            load_wcep("learning"),
            with_unseen_feeds,
        ),
        "Spanish-language news, dev": (load_spanish("dev"), with_unseen_feeds),
        "Spanish-language news, held-out": (load_spanish("held-out"), with_unseen_feeds),
        "all unseen, dev": (load_pooled(FEEDS, "dev"), with_unseen_feeds),
        "all unseen, held-out": (load_pooled(FEEDS, "held-out"), with_unseen_feeds),
        "all unseen, held-out, without the work-word samples": (
            load_pooled(FEEDS, "held-out", ("random",), ()) + wcep("held-out", "random"),
            with_unseen_feeds,
        ),
    }
    print("clearly-labelled articles" if clear_only else "all labelled articles, clear or not")
    for title, (items, declare) in sets.items():
        counted = sum(1 for i in items if i.clear or not clear_only)
        print(f"  {title}: {counted} articles")
        report("first-match", items, first_match, clear_only)
        for name, config in configs.items():
            report(name, items, predict_with(declare(config)), clear_only)
    for name, config in configs.items():
        print(f"  group stage, real week, {name}: {group_stage_ms(config):.1f} ms (median of 9)")


if __name__ == "__main__":
    main()
