"""One story told twice: one card with "also in" links, on the real week and by hand, and split again by an editor."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from conftest import REAL_WEEK_NOW, load_manifest

from digest.config import load_config
from digest.issue.group import Grouper
from digest.issue.pipeline import build_issue, gather_fresh
from digest.issue.stories import fold
from digest.models import Article, Placed, Section
from digest.store.db import State

NOW = datetime(2026, 2, 18, 12, tzinfo=UTC)

# Every story folded on the real week, read one by one: each is one event told by several outlets.
# (Closest pairs left apart: an analysis of Bangladesh's new prime minister, and Hamas's reply to the Board of Peace.)
REAL_WEEK_STORIES = [
    {
        "Peru Votes to Impeach President José Jerí",
        "Peru’s Congress ousts interim President José Jerí",
        "Peru ousts interim president over corruption probe",
        "Peru’s Congress votes to impeach President Jose Jeri in government shake-up",
    },
    {
        "France arrests nine in right-wing activist's death",
        "France arrests nine over killing of far-right activist Quentin Deranque",
    },
    {
        "Jesse Jackson, veteran US civil rights activist, dies at 84",
        "Tributes pour in after US civil rights icon Jesse Jackson dies at 84",
    },
    {
        "Hollywood legend Robert Duvall, star of ‘The Godfather’ and ‘Apocalypse Now,’ dies at 95",
        "'Apocalypse Now' actor Robert Duvall dies aged 95",
    },
    {
        "Tarique Rahman sworn in as Bangladesh’s PM after landslide election victory",
        "Tarique Rahman sworn in as Prime Minister of Bangladesh",
    },
    {
        "Austria Charges Man in Thwarted Attack on Taylor Swift Concert",
        "Austria files terror charges in alleged Taylor Swift concert plot",
    },
    {
        "France’s Macron eyes Rafale fighter jet deal in India",
        "France's Macron in India to boost Rafale deal talks, AI ties",
    },
    {
        "Suspect in Canada shooting is identified as an 18-year-old with history of police visits to her home",
        "18-Year-Old Suspect Identified in Canada’s Deadliest School Shooting in Decades: What We Know",
    },
    {
        "The United States kills 11 people in three new strikes on alleged drug‑running boats in the Caribbean "
        "and the Pacific",
        "Pentagon conducts strikes on three more alleged drug boats, killing 11",
        "US kills 11 people in three strikes on alleged drug-trafficking vessels",
    },
    {
        "U.S. releases new details on alleged secret Chinese nuclear test",
        "U.S. offers more details on claim China conducted secret nuclear weapons test",
    },
    {
        "Iran FM says agreed with US ‘on guiding principles’ for deal",
        "US and Iran reach ‘guiding principles’ in Geneva nuclear talks",
    },
    {
        "Rubio praises Orban and Hungary ahead of crunch election",
        "Rubio lends hand to Hungary’s Orban as he faces tough election",
    },
    {
        "A Colombian congresswoman who supports Trump denounces her son’s arrest by ICE: "
        "‘He has been chained up for 20 days’",
        "Colombian pro-Trump lawmaker asks Petro for help after ICE arrests her son",
    },
]


def test_the_real_week_folds_exactly_the_stories_checked_by_reading(real_week_config: Path) -> None:
    settings = load_config(real_week_config)
    with State(":memory:") as state:
        collected = gather_fresh(settings, NOW, state)
    sections, _ = Grouper(settings.model).place(collected.articles)
    pairs = fold(sections, settings.model.issue.fold_similarity, settings.model.catch_all.slug)
    stories: dict[int, set[str]] = {}
    for card, folded in pairs:
        stories.setdefault(id(card), {card.article.title}).add(folded.article.title)
    assert sorted(map(sorted, stories.values())) == sorted(map(sorted, REAL_WEEK_STORIES))
    assert all(card.article.feed != folded.article.feed for card, folded in pairs)


def article(title: str, feed: str, teaser: str = "") -> Article:
    return Article(
        id=f"{feed}/{title}",
        title=title,
        url=f"https://{feed}.example/{abs(hash(title))}",
        feed=feed,
        published=NOW,
        teaser=teaser,
    )


def test_one_feed_telling_a_story_twice_is_not_folded() -> None:
    a = Placed(article("Port strike enters second week", "A"), "", 3.0)
    b = Placed(article("Port strike enters second week, talks stall", "A"), "", 2.0)
    c = Placed(article("Port strike enters its second week", "B"), "", 2.5)
    section = Section("labor", "Labor", [a, b, c])
    pairs = fold([section], 0.28, "more")
    assert [(p[0].article.feed, p[1].article.feed) for p in pairs] == [("A", "B")]
    assert section.items == [a, b] and a.also[0].article.feed == "B" and a.also[0].home == "labor"


def test_the_email_shows_one_card_with_also_in_links_and_an_editor_can_split_it(
    real_week_config: Path, cli: Callable[..., Any], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert cli("build", "--config", real_week_config, "--now", REAL_WEEK_NOW, "--out", out).exit_code == 0
    manifest = load_manifest(out)
    cards = [a for s in manifest["sections"] for a in s["articles"]]
    peru = next(a for a in cards if a["title"] == "Peru Votes to Impeach President José Jerí")
    assert [a["feed"] for a in peru["also"]] == [
        "news_mercopress_rss2",
        "news_dw_english_rss1_rdf",
        "wp_aljazeera_rss2",
    ]
    assert not any("Peru ousts interim president" in a["title"] for a in cards)
    html = (out / f"{manifest['issue']}.html").read_text()
    assert 'Also in: <a href="https://en.mercopress.com/2026/02/17/peru-s-congress-ousts' in html
    text = (out / f"{manifest['issue']}.txt").read_text()
    assert "Also in: news_mercopress_rss2: https://en.mercopress.com/" in text

    dw = peru["also"][1]["url"]
    corrections = real_week_config.parent / "corrections"
    corrections.mkdir()
    (corrections / f"{manifest['issue']}.yaml").write_text(yaml.safe_dump({"split": [dw]}))
    settings = load_config(real_week_config)
    with State(":memory:") as state:
        issue = build_issue(settings, NOW, state).issue
    latin = next(s for s in issue.sections if s.slug == "latin-america")
    titles = [p.article.title for p in latin.items]
    assert "Peru ousts interim president over corruption probe" in titles
    cards = [*latin.items, *([issue.lead] if issue.lead else [])]
    head = next(p for p in cards if p.article.title == "Peru Votes to Impeach President José Jerí")
    assert [p.article.feed for p in head.also] == ["news_mercopress_rss2", "wp_aljazeera_rss2"]


def test_a_split_that_matches_no_story_is_reported(real_week_config: Path) -> None:
    settings = load_config(real_week_config)
    (real_week_config.parent / "corrections").mkdir()
    (real_week_config.parent / "corrections" / "2026-W08.yaml").write_text("split: [https://example.org/none]\n")
    with State(":memory:") as state:
        issue = build_issue(settings, NOW, state).issue
    assert "correction 'split https://example.org/none' no longer applies" in " ".join(w.text for w in issue.warnings)
