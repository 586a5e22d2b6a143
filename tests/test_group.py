"""Grouping: scored themes, their explanations, and agreement with an editor's hand labels."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import REAL_WEEK_NOW
from grouping_eval import (
    HUFFPOST_PARTS,
    WCEP_PARTS,
    Labelled,
    evaluate,
    load_huffpost,
    load_labelled,
    load_pooled,
    load_spanish,
    load_wcep,
    macro_f1,
    predict_with,
    with_unseen_feeds,
)

from digest.config import Config, load_config
from digest.issue.group import Grouper, explain
from digest.models import Article

REPO = Path(__file__).resolve().parent.parent


def config(themes: list[dict[str, Any]], **extra: Any) -> Config:
    return Config.model_validate(
        {
            "newsletter": {"title": "T", "from": "t@example.org"},
            "feeds": [{"name": "F", "url": "f.xml"}],
            "themes": themes,
            **extra,
        }
    )


def article(title: str, teaser: str = "", categories: list[str] | None = None) -> Article:
    return Article(
        id=title,
        title=title,
        url="https://example.org/" + str(abs(hash(title))),
        feed="F",
        published=datetime(2026, 2, 17, tzinfo=UTC),
        teaser=teaser,
        categories=categories or [],
    )


TWO = [
    {"slug": "labor", "title": "Labor", "categories": ["Labor Movement"], "keywords": ["strike", "union"]},
    {"slug": "palestine", "title": "Palestine", "categories": ["Palestine"], "keywords": ["Gaza", "West Bank"]},
]


def winner(cfg: Config, item: Article) -> str | None:
    won, _ = Grouper(cfg).best(item)
    return won.slug if won else None


def test_a_category_beats_a_title_term() -> None:
    item = article("Union leaders meet", categories=["Palestine"])
    assert winner(config(TWO), item) == "palestine"


def test_the_highest_score_wins_not_the_first_theme() -> None:
    item = article("Gaza: the West Bank under siege", "a strike was called")
    assert winner(config(TWO), item) == "palestine"


def test_an_exclude_term_vetoes_its_theme() -> None:
    themes = [{**TWO[0], "exclude": ["air strike"]}, TWO[1]]
    assert winner(config(themes), article("Strike on the docks")) == "labor"
    assert winner(config(themes), article("Air strike hits a strike meeting")) is None


def test_a_phrase_matches_across_punctuation_and_case() -> None:
    assert winner(config(TWO), article("Settlers in the west-bank: a report")) == "palestine"
    assert winner(config(TWO), article("Settlers in the West Bank, again")) == "palestine"
    assert winner(config(TWO), article("West of the river, a bank opens")) is None


def test_accents_and_plurals_match() -> None:
    themes = [{"slug": "la", "title": "LA", "keywords": ["Perú", "strike"]}]
    assert winner(config(themes), article("Peru votes")) == "la"
    assert winner(config(themes), article("PERÚ VOTES")) == "la"
    assert winner(config(themes), article("Dockers are striking again")) == "la"
    assert winner(config(themes), article("Three strikes in a row")) == "la"


def test_short_words_are_not_stemmed_into_other_words() -> None:
    themes = [{"slug": "la", "title": "LA", "keywords": ["Andes"]}]
    assert winner(config(themes), article("Bread and roses and more")) is None


def test_all_capital_terms_match_only_in_capitals() -> None:
    themes = [{"slug": "labor", "title": "Labor", "keywords": ["CUT", "CGT"]}]
    assert winner(config(themes), article("The CUT calls a national protest")) == "labor"
    assert winner(config(themes), article("Budget cuts hit schools")) is None


def test_ties_go_to_config_order() -> None:
    themes = [
        {"slug": "first", "title": "First", "keywords": ["alpha"]},
        {"slug": "second", "title": "Second", "keywords": ["beta"]},
    ]
    assert winner(config(themes), article("alpha and beta")) == "first"
    assert winner(config(list(reversed(themes))), article("alpha and beta")) == "second"


def test_below_the_minimum_score_goes_to_the_catch_all() -> None:
    cfg = config(TWO)
    sections, left_out = Grouper(cfg).group([article("A quiet week", "a union meeting happened")])
    catch_all = sections[-1]
    assert catch_all.slug == "more" and len(catch_all.items) == 1
    assert "minimum" in catch_all.items[0].reason
    off = config(TWO, catch_all={"enabled": False})
    sections, left_out = Grouper(off).group([article("A quiet week", "a union meeting happened")])
    assert [s.slug for s in sections] == ["labor", "palestine"]
    assert left_out[0].best_theme == "labor" and left_out[0].best_score == 1.0


def test_a_theme_below_its_minimum_gives_way_to_the_next_that_reaches_it() -> None:
    themes = [
        {"slug": "la", "title": "LA", "keywords": ["Peru", "Lima"], "min_score": 5},
        {"slug": "pal", "title": "Pal", "keywords": ["Gaza"], "min_score": 1},
    ]
    assert winner(config(themes), article("Lima and Peru", "Gaza")) == "pal"


def test_repeated_and_distinct_terms_add_up_and_reasons_name_them() -> None:
    grouper = Grouper(config(TWO))
    once = grouper.best(article("A strike"))[0]
    twice = grouper.best(article("A strike, and a union strike"))[0]
    assert once is not None and twice is not None
    assert twice.total > once.total
    assert "title 'strike'" in twice.reason() and "title 'union'" in twice.reason()
    item = article("Docks", categories=["Labor Movement"])
    placed = grouper.group([item])[0][0].items[0]
    assert placed.reason == "category 'Labor Movement' 3.0"


def test_explain_prints_every_theme_and_the_verdict() -> None:
    text = explain(article("Strike in Gaza's ports", categories=["Palestine"]), config(TWO))
    assert "labor" in text and "palestine" in text
    assert "category 'Palestine' 3.0" in text
    assert "→ palestine" in text


def test_explain_command_finds_an_article_by_title(cli: Any, real_week_config: Path) -> None:
    result = cli("explain", "--config", real_week_config, "--now", REAL_WEEK_NOW, "general strike")
    assert result.exit_code == 0, result.stderr
    assert "Argentina’s CGT calls 24-hour general strike" in result.output
    assert "→ labor" in result.output
    missing = cli("explain", "--config", real_week_config, "--now", REAL_WEEK_NOW, "no such headline anywhere")
    assert missing.exit_code != 0 and "no article" in missing.stderr
    many = cli("explain", "--config", real_week_config, "--now", REAL_WEEK_NOW, "the")
    assert many.output.count("\n  → ") == 5  # five accounts, each ending in its verdict
    assert "more articles match 'the': give more of the title, or the URL" in many.output


def test_explain_has_help(cli: Any) -> None:
    result = cli("explain", "--help")
    assert result.exit_code == 0 and "why an article" in result.output.lower()


# Measured with the shipped config.yaml on the clearly-labelled articles (see the CHANGELOG):
# Latin America 0.91, Labor 0.89, Palestine 0.98, macro 0.925. The floors leave a small margin.
FLOOR_MACRO = 0.90
FLOOR_THEME = 0.85


def test_grouping_agrees_with_the_hand_labels(test_feeds: Path) -> None:
    items = load_labelled(test_feeds)
    assert len(items) >= 150
    assert all(
        datetime(2026, 2, 11, 12, tzinfo=UTC) <= i.article.published < datetime(2026, 2, 18, 12, tzinfo=UTC)
        for i in items
        if i.article.published
    )
    metrics = evaluate(items, predict_with(load_config(REPO / "config.yaml").model))
    report = ", ".join(f"{t} P={m.precision:.2f} R={m.recall:.2f} F1={m.f1:.2f}" for t, m in metrics.items())
    assert macro_f1(metrics) >= FLOOR_MACRO, report
    for theme, m in metrics.items():
        assert m.f1 >= FLOOR_THEME, f"{theme}: {report}"


@pytest.mark.parametrize("theme", ["latin-america", "labor", "palestine"])
def test_the_evaluation_set_covers_every_theme(test_feeds: Path, theme: str) -> None:
    items = load_labelled(test_feeds)
    assert sum(1 for i in items if i.label == theme and i.clear) >= 8


@pytest.mark.parametrize(
    ("folder", "parts", "load"),
    [
        ("huffpost", HUFFPOST_PARTS, load_huffpost),
        ("wcep", (*WCEP_PARTS, "learning"), load_wcep),
        ("fakedes", ("true",), lambda part: load_spanish()),
    ],
)
def test_a_set_with_its_texts_is_whole_and_unchanged(
    folder: str, parts: tuple[str, ...], load: Callable[[str], list[Labelled]]
) -> None:
    here = REPO / "tests" / "data" / folder
    manifest = json.loads((here / "manifest.json").read_text(encoding="utf-8"))
    for name in (*(f"{part}.jsonl" for part in parts), "labels.csv"):
        assert hashlib.sha256((here / name).read_bytes()).hexdigest() == manifest[name], name
    for part in parts:
        items = load(part)
        lines = (here / f"{part}.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(items) == len(lines) == len({i.article.id for i in items})
        assert {i.split for i in items} == ({"dev"} if part == "learning" else {"dev", "held-out"})


def test_the_current_events_events_are_headlines_without_their_story_names() -> None:
    for part in WCEP_PARTS:
        items = load_wcep(part)
        assert {i.kind for i in items} == {f"wcep-{part}-random", f"wcep-{part}-work", f"wcep-{part}-work2"}
        assert all(not i.article.categories and not i.article.teaser for i in items)  # no story name gives it away
    cited = next(i for i in load_wcep("older") if i.article.id == "wcep-2004-07-13-3677")
    assert cited.article.title.endswith("release in November.")  # the cited outlet, "(BBC)", is cut


def test_the_unseen_dev_halves_hold_the_floors(test_feeds: Path) -> None:
    """The halves looked at while tuning: a change to the themes that loses them fails here first."""
    config = with_unseen_feeds(load_config(REPO / "config.yaml").model)
    metrics = evaluate(load_pooled(test_feeds, "dev"), predict_with(config))
    report = ", ".join(f"{t} P={m.precision:.2f} R={m.recall:.2f} F1={m.f1:.2f}" for t, m in metrics.items())
    assert macro_f1(metrics) >= FLOOR_MACRO, report
    for theme, m in metrics.items():
        assert m.f1 >= FLOOR_THEME, f"{theme}: {report}"


def test_the_learning_draws_are_new_events_and_hold_labors_floor() -> None:
    """The Current Events drawn from the rules' own Labor placements (all dev): none is one of the measuring samples,
    and a change that files their work-word news under Labor again fails here first."""
    learning = load_wcep("learning")
    measured = {i.article.id for part in WCEP_PARTS for i in load_wcep(part)}
    assert learning and not measured & {i.article.id for i in learning}
    labor = evaluate(learning, predict_with(load_config(REPO / "config.yaml").model))["labor"]
    assert labor.f1 >= FLOOR_THEME, f"labor P={labor.precision:.2f} R={labor.recall:.2f} F1={labor.f1:.2f}"
