"""The demo issue, in each language it ships in, compared with stored expected files.

When a change to the output is intended, re-bless the files and review the diff:

    DIGEST_BLESS=1 .venv/bin/pytest tests/test_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("language", ["en", "es", "pt"])
@pytest.mark.parametrize("suffix", ["html", "txt"])
def test_demo_matches_the_golden_files(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, language: str
) -> None:
    monkeypatch.delenv("DIGEST_SECRET", raising=False)
    result = cli("build", "--demo", language, "--out", tmp_path)
    assert result.exit_code == 0, result.stderr
    built = (tmp_path / f"2024-W09.{suffix}").read_text(encoding="utf-8")
    name = "demo" if language == "en" else f"demo.{language}"  # demo.html stays the English one's name
    expected_path = GOLDEN / f"{name}.{suffix}"
    if os.environ.get("DIGEST_BLESS"):
        expected_path.write_text(built, encoding="utf-8")
    expected = expected_path.read_text(encoding="utf-8")
    assert built == expected, (
        f"the {language} demo's {suffix} changed; if intended, re-bless (see this file's docstring)"
    )
