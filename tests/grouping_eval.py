"""Scoring the grouping against hand labels (tests/data/grouping_labels.csv): precision, recall, F1 per theme.

The labels name a feed file and a link, never the article text: the text is read from tests/data/feeds.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from digest.config import Config
from digest.feeds.parse import parse_feed
from digest.issue.group import Grouper
from digest.models import Article

LABELS = Path(__file__).parent / "data" / "grouping_labels.csv"
THEMES = ("latin-america", "labor", "palestine")


@dataclass
class Labelled:
    article: Article
    label: str
    also: str
    clear: bool


@dataclass
class Metrics:
    precision: float
    recall: float
    f1: float
    support: int


def load_labelled(feeds: Path) -> list[Labelled]:
    rows = list(csv.DictReader(LABELS.open(encoding="utf-8")))
    by_file: dict[str, dict[str, Article]] = {}
    out = []
    for row in rows:
        if row["feed_file"] not in by_file:
            path = feeds / row["feed_file"]
            parsed = parse_feed(path.read_bytes(), path.stem, "https://example.org/feed/")
            by_file[row["feed_file"]] = {a.url or "": a for a in parsed.articles}
        article = by_file[row["feed_file"]].get(row["link"])
        if article is None:
            raise AssertionError(f"labelled link not found in {row['feed_file']}: {row['link']}")
        out.append(Labelled(article, row["label"], row["also"], row["clear"] == "yes"))
    return out


def predict_with(config: Config) -> Callable[[Article], str]:
    grouper = Grouper(config)

    def predict(article: Article) -> str:
        winner, _ = grouper.best(article)
        return winner.slug if winner else "none"

    return predict


def evaluate(items: list[Labelled], predict: Callable[[Article], str], clear_only: bool = True) -> dict[str, Metrics]:
    chosen = [i for i in items if i.clear or not clear_only]
    predictions = [(i, predict(i.article)) for i in chosen]
    result = {}
    for theme in THEMES:
        tp = sum(1 for i, p in predictions if p == theme and i.label == theme)
        fp = sum(1 for i, p in predictions if p == theme and i.label != theme)
        fn = sum(1 for i, p in predictions if p != theme and i.label == theme)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        result[theme] = Metrics(precision, recall, f1, tp + fn)
    return result


def macro_f1(metrics: dict[str, Metrics]) -> float:
    return sum(m.f1 for m in metrics.values()) / len(metrics)


def mistakes(items: list[Labelled], predict: Callable[[Article], str]) -> list[tuple[str, str, Labelled]]:
    """(predicted, expected, item) for every clear item filed wrongly."""
    wrong = []
    for item in items:
        if not item.clear:
            continue
        predicted = predict(item.article)
        if predicted != item.label:
            wrong.append((predicted, item.label, item))
    return wrong
