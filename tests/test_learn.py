"""Learning from editors: a correction is recorded as a labelled example and turned into a suggestion for the themes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from digest.config import load_config
from digest.issue.group import Grouper
from digest.issue.learn import examples
from digest.models import Article

NOW = "2026-03-06T12:00:00Z"
ITEMS = [
    (
        "pickers-cars",
        "Orchard pickers sleep in their cars through the harvest",
        "The seasonal crews say the season no longer covers fuel and rent.",
    ),
    (
        "pickers-shade",
        "Orchard pickers ask the growers for shade and water",
        "Several collapsed in the heat last summer.",
    ),
    ("olive-harvest", "Settlers attack olive harvest near Nablus", "Palestinian farmers were beaten, witnesses said."),
    ("lima-beans", "Lima beans are the star of this spring's menus", "Chefs are rediscovering a humble legume."),
    ("film-festival", "Film festival announces its lineup", "Forty films from twenty countries."),
]


def feed_xml() -> str:
    items = "".join(
        f"<item><title>{title}</title><link>https://desk.example/{slug}</link><description>{teaser}</description>"
        f"<pubDate>Wed, 04 Mar 2026 10:00:00 GMT</pubDate></item>"
        for slug, title, teaser in ITEMS
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>{items}</channel></rss>'


def test_a_correction_is_recorded_and_becomes_a_suggestion_applied_to_config(
    write_config: Callable[..., Path], cli: Callable[..., Any], tmp_path: Path
) -> None:
    (tmp_path / "desk.xml").write_text(feed_xml())
    config = write_config([{"name": "Desk", "url": "desk.xml"}])
    before = config.read_text()
    corrections = tmp_path / "corrections"
    corrections.mkdir()
    moves = {"https://desk.example/pickers-cars": "labor", "https://desk.example/pickers-shade": "labor",
             "https://desk.example/lima-beans": "more"}  # fmt: skip
    (corrections / "2026-W10.yaml").write_text(yaml.safe_dump({"move": moves}))

    built = cli("build", "--config", config, "--now", NOW, "--out", tmp_path / "out")
    assert built.exit_code == 0, built.stderr
    recorded = json.loads((corrections / "2026-W10.examples.json").read_text())
    filed = {a["url"].rsplit("/", 1)[1]: a["machine"] for a in recorded["articles"]}
    assert filed == {"pickers-cars": "more", "pickers-shade": "more", "olive-harvest": "palestine",
                     "lima-beans": "latin-america", "film-festival": "more"}  # fmt: skip
    labels = {e.article.url: e.editor for e in examples(load_config(config)) if e.editor}
    assert labels == {**moves, "https://desk.example/lima-beans": "none"}

    suggested = cli("themes", "suggest", "--config", config)
    assert suggested.exit_code == 0, suggested.stderr
    assert "3 corrected of 5 articles recorded, issues: 2026-W10" in suggested.output
    assert "labor            add keyword 'Orchard pickers': files 2 corrected articles as the editors did" in (
        suggested.output
    )
    assert "latin-america    add exclude" in suggested.output
    assert config.read_text() == before  # only --apply writes

    applied = cli("themes", "suggest", "--config", config, "--apply")
    assert applied.exit_code == 0 and "wrote 2 terms into" in applied.output, applied.stderr + applied.output
    settings = load_config(config, strict=True)
    labor = next(t for t in settings.model.themes if t.slug == "labor")
    assert "Orchard pickers" in [rule.term for rule in labor.keywords]
    grouper = Grouper(settings.model)
    for slug, title, teaser in ITEMS:
        article = Article(id=slug, title=title, url=f"https://desk.example/{slug}", feed="Desk", published=None,
                          teaser=teaser, summary=teaser)  # fmt: skip
        won, _ = grouper.best(article)
        expected = {"pickers-cars": "labor", "pickers-shade": "labor", "olive-harvest": "palestine"}.get(slug)
        assert (won.slug if won else None) == expected, title
    again = cli("themes", "suggest", "--config", config)
    assert "no keyword or exclude would file more corrected articles" in again.output


def test_without_corrections_nothing_is_recorded_or_suggested(
    write_config: Callable[..., Path], cli: Callable[..., Any], tmp_path: Path
) -> None:
    (tmp_path / "desk.xml").write_text(feed_xml())
    config = write_config([{"name": "Desk", "url": "desk.xml"}])
    assert cli("build", "--config", config, "--now", NOW, "--out", tmp_path / "out").exit_code == 0
    assert not list(tmp_path.glob("corrections/*.examples.json"))
    result = cli("themes", "suggest", "--config", config)
    assert "0 corrected of 0 articles recorded, issues: none recorded yet" in result.output


def test_suggested_terms_go_into_the_shipped_config_without_touching_its_other_lines(tmp_path: Path) -> None:
    from digest.issue.learn import Suggestion, apply

    shipped = (Path(__file__).resolve().parent.parent / "config.yaml").read_text()
    config = tmp_path / "config.yaml"
    config.write_text(shipped)
    additions = [
        Suggestion("labor", "keywords", "orchard pickers"),  # a flow list closed on its own line
        Suggestion("latin-america", "exclude", "New Mexico State"),  # a flow list over two lines
        Suggestion("palestine", "exclude", "Palestine, Texas"),  # no exclude yet; a comma needs quotes
    ]
    before = {t.slug: t for t in load_config(config).model.themes}
    excluded = [r.term for r in before["latin-america"].exclude]
    apply(load_config(config), additions)
    themes = {t.slug: t for t in load_config(config, strict=True).model.themes}
    assert "orchard pickers" in [r.term for r in themes["labor"].keywords]
    assert [r.term for r in themes["latin-america"].exclude] == [*excluded, "New Mexico State"]
    assert [r.term for r in themes["palestine"].exclude] == ["Palestine, Texas"]
    removed = [line for line in shipped.splitlines() if line not in config.read_text().splitlines()]
    assert removed == ["              Copa América, Albiceleste, Brasileirão, Chivas, Rayados]"]  # the list's last line


def test_a_suggestion_joins_a_flow_list_on_one_line(tmp_path: Path) -> None:
    from digest.issue.learn import Suggestion, apply

    shipped = (Path(__file__).resolve().parent.parent / "config.yaml").read_text()
    start = shipped.index("    exclude: [Dominican Order")
    end = shipped.index("]", start) + 1
    one_line = "    exclude: [Dominican Order, New Mexico]"
    config = tmp_path / "config.yaml"
    config.write_text(shipped[:start] + one_line + shipped[end:])
    apply(load_config(config), [Suggestion("latin-america", "exclude", "New Mexico State")])
    themes = {t.slug: t for t in load_config(config, strict=True).model.themes}
    assert [r.term for r in themes["latin-america"].exclude] == ["Dominican Order", "New Mexico", "New Mexico State"]
    assert one_line not in config.read_text().splitlines()
