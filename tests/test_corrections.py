"""Editors' corrections: the YAML file per issue that every build applies, kept across rebuilds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
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


def alias_bomb(levels: int) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


# (what the editors wrote, the key the sentence names, words of the fix it gives)
MALFORMED = {
    "scalar drop": ("drop: story-a\n", "'drop' should be a list of article ids or URLs, not 'story-a'", "drop: ["),
    "string rewrite": ("rewrite: story-a\n", "'rewrite' should be a mapping", "rewrite: {"),
    "rewrite to a string": (
        "rewrite: {story-a: A shorter title}\n",
        "'rewrite' should be a mapping of article ids or URLs to {title, teaser}, not {'story-a': 'A shorter title'} "
        "(rewrite['story-a'] is 'A shorter title')",
        "{title:",
    ),
    "unknown field in a rewrite": (
        "rewrite: {story-a: {headline: x}}\n",
        "rewrite['story-a'] has the unknown field 'headline'",
        "{title:",
    ),
    "unknown key": ("pin: story-a\n", "'pin'", "use one of intro, lead, drop"),
    "move to an unknown section": ("move: {story-a: lab0r}\n", "move: 'story-a'", "use one of latin-america"),
    "order of an unknown section": ("order: {lab0r: [story-a]}\n", "order", "use one of latin-america"),
    "non-string intro": ("intro: [1, 2]\n", "'intro' should be a text, not [1, 2]", 'intro: "'),
    "numeric intro": ("intro: 2026\n", "'intro' should be a text, not 2026", 'intro: "'),
    "escape in the intro": ('intro: "Hello \\e[2J reader"\n', "'intro'", "U+001B"),
    "scalar split": ("split: story-a\n", "'split' should be a list", "split: ["),
    "a list for a file": ("- story-a\n", "expected a mapping", "intro, lead, drop"),
    "bad YAML": ("drop: [story-a\n", "not valid YAML", "fix or delete the file"),
    "an alias bomb": (alias_bomb(6) + "intro: *l5\n", "alias", "write the values out"),
    "a loop": ("drop: &d [*d]\n", "alias", "contain itself"),
}


@pytest.mark.parametrize(("text", "key", "fix"), list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_corrections_file_is_one_sentence_naming_the_file_the_key_and_the_fix(
    cli: Any, tmp_path: Path, write_config: Callable[..., Path], text: str, key: str, fix: str
) -> None:
    (tmp_path / "feed.xml").write_text(rss(["a", "b", "c"]))
    config = write_config([{"name": "News", "url": "feed.xml"}])
    corrections = tmp_path / "corrections" / f"{ISSUE}.yaml"
    corrections.parent.mkdir()
    corrections.write_text(text)
    result = cli("build", "--config", config, "--now", NOW, "--out", tmp_path / "out")
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {corrections}: ") and key in line and fix in line, line
    assert len(line) < 400 and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
