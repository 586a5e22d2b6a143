"""The repository stands alone: tests, benchmarks and CI read nothing outside it."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from conftest import FEEDS, REPO

# What a reach outside the clone looks like: the old sibling folder, an environment override for it, or a path
# built from the repository's parent. (Spelt in pieces so that this file does not match itself.)
SIBLING = "sha" + "red"
OUTSIDE = re.compile(rf"\.\./{SIBLING}|DIGEST_{SIBLING.upper()}|REPO\.parent|parent\.parent\.parent|/ \"{SIBLING}\"")


def _sources() -> list[Path]:
    files = [*REPO.glob("tests/*.py"), *REPO.glob("bench/*.py"), *REPO.glob(".ci/*")]
    return [f for f in files if f.name != Path(__file__).name]


def test_no_test_benchmark_or_ci_script_reaches_outside_the_repository() -> None:
    reaching = [
        f"{f.relative_to(REPO)}:{n}: {line.strip()}"
        for f in _sources()
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert reaching == [], "\n".join(reaching)


def test_the_pattern_catches_the_old_ways_of_reaching_out() -> None:
    for line in (
        f'FEEDS = Path(os.environ.get("DIGEST_{SIBLING.upper()}_FEEDS", REPO.parent / "{SIBLING}" / "feeds"))',
        f"path = '../{SIBLING}/feeds/manifest.json'",
        f'root = Path(__file__).parent.parent.parent / "{SIBLING}"',
    ):
        assert OUTSIDE.search(line), line


def test_every_feed_fixture_is_in_the_repository_with_its_provenance() -> None:
    manifest = json.loads((FEEDS / "manifest.json").read_text())
    assert len(manifest) == 77
    provenance = (FEEDS / "PROVENANCE.md").read_text()
    licences = {p.name for p in (FEEDS / "LICENSES").iterdir()}
    for row in manifest:
        data = (FEEDS / row["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"], row["file"]
        assert f"### {row['file']}" in provenance, row["file"]
        owner = row["repo"].split("/")[0]
        assert any(name.startswith(owner) for name in licences), row["repo"]
