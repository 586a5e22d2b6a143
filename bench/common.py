"""What the benchmarks share: the real week's 17 feeds and a config that builds them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
FEEDS = REPO / "tests" / "data" / "feeds"
NOW = "2026-02-18T12:00:00Z"


def real_week_files() -> list[Path]:
    """The 17 feeds captured on 17–18 Feb 2026: one real week."""
    manifest = json.loads((FEEDS / "manifest.json").read_text())
    return [
        FEEDS / row["file"]
        for row in manifest
        if row["repo"] == "kagisearch/fastfeedparser" and row["file"].startswith("real/")
    ]


def write_config(folder: Path, feeds: list[dict[str, str]] | None = None, templates: bool = False) -> Path:
    """The shipped config's newsletter and themes over the real week (or `feeds`), its state in `folder`."""
    shipped = yaml.safe_load((REPO / "config.yaml").read_text())
    data: dict[str, Any] = {
        "newsletter": shipped["newsletter"],
        "feeds": feeds or [{"name": f.stem, "url": str(f)} for f in real_week_files()],
        "themes": shipped["themes"],
        "catch_all": shipped["catch_all"],
        "weights": shipped["weights"],
        "web": shipped["web"],
        "state": "state.db",
    }
    if templates:  # a copy of the shipped templates that a benchmark may edit
        (folder / "templates").mkdir()
        for name in ("email.mjml.j2", "email.txt.j2", "email.css"):
            shutil.copy(REPO / "digest" / "templates" / name, folder / "templates" / name)
        data["templates"] = "templates"
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path
