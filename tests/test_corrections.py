"""Editors' corrections: the YAML file per issue that every build applies, kept across rebuilds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import yaml
from conftest import load_manifest

NOW = "2026-02-18T12:00:00Z"
ISSUE = "2026-W08"

# (guid, title, category, day of February 2026)
ARTICLES = {
    "a": ("Teachers strike across Chicago schools", "Strikes", 15),
    "b": ("Gaza ceasefire talks collapse again", "Palestine", 16),
    "c": ("Peru's new government faces mass protests", "Peru", 17),
    "d": ("Union drive at a warehouse wins its vote", "Unions", 14),
    "e": ("Rafah crossing stays closed to aid", "Palestine", 13),
    "f": ("Dockworkers strike in the port of Santos", "Strikes", 17),
    "g": ("Raids across the West Bank overnight", "Palestine", 17),
}


def url(key: str) -> str:
    return f"https://news.example.org/2026/02/{key}-story/"


def rss(keys: list[str], titles: dict[str, str] | None = None) -> str:
    items = []
    for key in keys:
        title, category, day = ARTICLES[key]
        title = (titles or {}).get(key, title)
        items.append(
            f"<item><title>{escape(title)}</title><link>{url(key)}</link>"
            f'<guid isPermaLink="false">story-{key}</guid><category>{category}</category>'
            f"<pubDate>{['Sat', 'Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri'][(day - 14) % 7]}, {day:02d} Feb 2026 "
            f"10:00:00 +0000</pubDate><description>{escape(title)}: the story in one line.</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>News</title>'
        f"<link>https://news.example.org/</link><description>News</description>{''.join(items)}</channel></rss>"
    )


def placed(manifest: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Article id → (section slug, article) for every article of the issue."""
    return {a["id"]: (s["slug"], a) for s in manifest["sections"] for a in s["articles"]}


def build(cli: Any, config: Path, out: Path) -> tuple[dict[str, Any], Any]:
    result = cli("build", "--config", config, "--now", NOW, "--out", out)
    assert result.exit_code == 0, result.output
    return load_manifest(out), result


def test_a_rebuild_after_new_articles_keeps_the_corrections_and_reports_those_whose_article_is_gone(
    cli: Any, tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(rss(["a", "b", "c", "d", "e"]))
    config = write_config([{"name": "News", "url": "feed.xml"}])
    first, _ = build(cli, config, tmp_path / "out1")
    where = placed(first)
    assert where["story-a"][0] == "labor" and where["story-d"][0] == "labor"
    assert where["story-c"][0] == "latin-america" and where["story-b"][0] == "palestine"
    assert not any(a.get("lead") for _, a in where.values())  # no pictures: no lead of the machine's own

    corrections = tmp_path / "corrections" / f"{ISSUE}.yaml"
    corrections.parent.mkdir()
    corrections.write_text(
        yaml.safe_dump(
            {
                "intro": "A word from the editors.",
                "lead": "story-c",
                "drop": ["story-a"],
                "move": {url("d"): "palestine"},  # keyed by URL rather than id: both work
                "rewrite": {"story-e": {"title": "Rafah: the crossing stays shut", "teaser": "Shorter."}},
                "order": {"palestine": ["story-e", "story-b"]},
            },
            sort_keys=False,
        )
    )
    written = corrections.read_bytes()
    second, _ = build(cli, config, tmp_path / "out2")
    where = placed(second)
    assert "story-a" not in where
    assert where["story-c"][1].get("lead") is True
    assert where["story-d"][0] == "palestine" and where["story-d"][1]["reason"].startswith("moved here by an editor")
    palestine = [a["id"] for s in second["sections"] if s["slug"] == "palestine" for a in s["articles"]]
    assert palestine[:2] == ["story-e", "story-b"]
    assert where["story-e"][1]["title"] == "Rafah: the crossing stays shut"
    assert where["story-e"][1]["teaser"] == "Shorter."
    html = (tmp_path / "out2" / f"{ISSUE}.html").read_text()
    assert "A word from the editors." in html and "Rafah: the crossing stays shut" in html
    assert ARTICLES["a"][0] not in html
    assert not [w for w in second["warnings"] if w.startswith("correction")]

    # New articles arrive; the dropped one and the moved one leave the feed.
    feed.write_text(rss(["b", "c", "e", "f", "g"]))
    third, result = build(cli, config, tmp_path / "out3")
    where = placed(third)
    assert where["story-f"][0] == "labor" and where["story-g"][0] == "palestine"
    assert where["story-c"][1].get("lead") is True
    assert where["story-e"][1]["title"] == "Rafah: the crossing stays shut"
    palestine = [a["id"] for s in third["sections"] if s["slug"] == "palestine" for a in s["articles"]]
    assert palestine[:2] == ["story-e", "story-b"]
    assert "A word from the editors." in (tmp_path / "out3" / f"{ISSUE}.html").read_text()
    gone = sorted(w for w in third["warnings"] if w.startswith("correction"))
    assert gone == [
        "correction 'drop story-a' no longer applies: the article is not in this issue any more",
        f"correction 'move {url('d')}' no longer applies: the article is not in this issue any more",
    ]
    assert all(w in result.stderr for w in gone)
    assert corrections.read_bytes() == written  # kept as the editors wrote it, gone ones included


def test_a_broken_corrections_file_stops_the_build_with_a_sentence_naming_it(
    cli: Any, tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    (tmp_path / "feed.xml").write_text(rss(["a", "b"]))
    config = write_config([{"name": "News", "url": "feed.xml"}])
    corrections = tmp_path / "corrections" / f"{ISSUE}.yaml"
    corrections.parent.mkdir()
    corrections.write_text("pin: story-a\n")
    result = cli("build", "--config", config, "--now", NOW, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert str(corrections) in result.stderr and "'pin'" in result.stderr
    assert "Traceback" not in result.output


def test_corrections_can_live_in_a_configured_folder(
    cli: Any, tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    (tmp_path / "feed.xml").write_text(rss(["a", "b", "c"]))
    config = write_config([{"name": "News", "url": "feed.xml"}], corrections_dir="desk/fixes")
    (tmp_path / "desk" / "fixes").mkdir(parents=True)
    (tmp_path / "desk" / "fixes" / f"{ISSUE}.yaml").write_text("drop: [story-b]\n")
    manifest, _ = build(cli, config, tmp_path / "out")
    assert "story-b" not in placed(manifest) and "story-a" in placed(manifest)
