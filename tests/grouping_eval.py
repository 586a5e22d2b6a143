"""Scoring the grouping against hand labels: precision, recall, F1 per theme.

Two sets of labels, each naming a feed file and a link, never the article text (read from tests/data/feeds):
- grouping_labels.csv: the tuning week, 371 articles of the 17 real-week feeds;
- grouping_unseen.csv: 649 articles of other outlets and other weeks, never tuned on, split by a hash of the link
  into a dev half (looked at while tuning) and a held-out half (scored only at the end). Its outlets are
  declared, as an editor would declare them, in grouping_unseen_feeds.yaml.
And three sets that carry their texts, under the same labelling guide and the same split (tests/data/README.md):
- huffpost/: HuffPost headlines and descriptions of 2018–2022;
- wcep/: events of Wikipedia's Current Events portal, 2002–2026;
- fakedes/: Spanish-language news of Mexican and Spanish outlets, 2010–2021.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from digest.config import Config
from digest.feeds.parse import parse_feed
from digest.issue.group import Grouper
from digest.models import Article

DATA = Path(__file__).parent / "data"
LABELS = DATA / "grouping_labels.csv"
UNSEEN = DATA / "grouping_unseen.csv"
UNSEEN_FEEDS = DATA / "grouping_unseen_feeds.yaml"
HUFFPOST = DATA / "huffpost"
WCEP = DATA / "wcep"
FAKEDES = DATA / "fakedes"
THEMES = ("latin-america", "labor", "palestine")


@dataclass
class Labelled:
    article: Article
    label: str
    also: str
    clear: bool
    kind: str = "tuning-week"
    lang: str = "en"
    split: str = ""


@dataclass
class Metrics:
    precision: float
    recall: float
    f1: float
    support: int


def load_labelled(feeds: Path, labels: Path = LABELS) -> list[Labelled]:
    rows = list(csv.DictReader(labels.open(encoding="utf-8")))
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
        extra = {k: row[k] for k in ("kind", "lang", "split") if row.get(k)}
        out.append(Labelled(article, row["label"], row["also"], row["clear"] == "yes", **extra))
    return out


def load_unseen(feeds: Path, split: str | None = None) -> list[Labelled]:
    """The unseen set, or one of its halves ('dev' or 'held-out')."""
    items = load_labelled(feeds, UNSEEN)
    return [i for i in items if split is None or i.split == split]


def load_huffpost(part: str, split: str | None = None) -> list[Labelled]:
    """The HuffPost set (tests/data/huffpost): its `random` part or its work-word `enriched` part, or one half."""
    return _load_texts(HUFFPOST, part, "link", _huffpost_article, split, lambda row: f"huffpost-{part}")


def load_wcep(part: str, split: str | None = None, kind: str | None = None) -> list[Labelled]:
    """The Wikipedia Current Events set (tests/data/wcep): its `older` (2002–2024) or `recent` (2025–2026) part,
    or one half, or one kind of draw (`random`, `work`, or the second work-word draw `work2`); or its `learning`
    part, all dev: events the rules filed under Labor and events with a word of workers' action they did not
    (`work3`, `work4`), drawn to learn from, so never pooled with the samples that measure."""
    items = _load_texts(WCEP, part, "id", _wcep_article, split, lambda row: f"wcep-{part}-{row['kind']}")
    return [i for i in items if kind is None or i.kind.endswith(f"-{kind}")]


def load_spanish(split: str | None = None) -> list[Labelled]:
    """The Spanish-language set (tests/data/fakedes): Mexican and Spanish outlets' news, or one half."""
    items = _load_texts(FAKEDES, "true", "id", _spanish_article, split, lambda row: "spanish")
    for item in items:
        item.lang = "es"
    return items


def _load_texts(
    folder: Path,
    part: str,
    key: str,
    article_of: Callable[[dict[str, Any]], Article],
    split: str | None,
    kind_of: Callable[[dict[str, str]], str],
) -> list[Labelled]:
    """A set that carries its texts: `<part>.jsonl` records, and `labels.csv` rows naming them by `key`."""
    articles = {}
    for line in (folder / f"{part}.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        articles[record[key]] = article_of(record)
    out = []
    for row in csv.DictReader((folder / "labels.csv").open(encoding="utf-8")):
        if row["part"] != part or (split is not None and row["split"] != split):
            continue
        item = Labelled(articles[row[key]], row["label"], row["also"], row["clear"] == "yes")
        item.kind, item.split = kind_of(row), row["split"]
        out.append(item)
    return out


HUFFPOST_PARTS = ("random", "enriched", "spring2018")
WCEP_PARTS = ("older", "recent")


def load_pooled(
    feeds: Path, split: str, parts: tuple[str, ...] = HUFFPOST_PARTS, wcep: tuple[str, ...] = WCEP_PARTS
) -> list[Labelled]:
    """One half of every unseen set together: the outlets of grouping_unseen.csv, the HuffPost samples, the
    Wikipedia Current Events samples and the Spanish-language news."""
    huffpost = [item for part in parts for item in load_huffpost(part, split)]
    current = [item for part in wcep for item in load_wcep(part, split)]
    return load_unseen(feeds, split) + huffpost + current + load_spanish(split)


def _huffpost_article(record: dict[str, str]) -> Article:
    """A record of the dataset as a feed would give it: headline, description as teaser, section as category."""
    return Article(
        id=record["link"],
        title=record["headline"],
        url=record["link"],
        feed="HuffPost",
        published=datetime.fromisoformat(record["date"]).replace(hour=12, tzinfo=UTC),
        teaser=record["short_description"],
        summary=record["short_description"],
        author=record["authors"],
        categories=[record["category"]],
    )


def _spanish_article(record: dict[str, Any]) -> Article:
    """A record as a Spanish-language outlet's feed would give it: headline, the text's opening as teaser, no
    category (the corpus's topics are its own, not the outlet's)."""
    return Article(
        id=record["id"],
        title=record["title"],
        url=record["url"],
        feed=record["source"].split(" via ")[0],
        published=datetime.fromisoformat(record["date"]).replace(hour=12, tzinfo=UTC),
        teaser=record["summary"],
        summary=record["summary"],
    )


# The outlets a Current Events line cites, "(Reuters) (BBC)", closing it in the older pages.
_CITED = re.compile(r"(\s*\([^()]{1,60}\))+\s*$")


def _wcep_article(record: dict[str, Any]) -> Article:
    """A portal's line as a headline-only feed would give it: the sentence as the title, no teaser, no category
    (the portal's section headings and story names are not an outlet's categories, and would name the answer)."""
    return Article(
        id=record["id"],
        title=_CITED.sub("", record["summary"]).strip(),
        url=record["wikipedia_url"] + "#" + record["id"],
        feed="Wikipedia Current Events",
        published=datetime.fromisoformat(record["date"]).replace(hour=12, tzinfo=UTC),
    )


def with_unseen_feeds(config: Config) -> Config:
    """The config with the unseen outlets declared as feeds (language, default theme), for their hints."""
    declared: list[dict[str, Any]] = yaml.safe_load(UNSEEN_FEEDS.read_text(encoding="utf-8"))["feeds"]
    data = config.model_dump(by_alias=True)
    data["feeds"] = declared
    return Config.model_validate(data)


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
