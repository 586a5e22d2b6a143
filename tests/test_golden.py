"""The demo issue compared with stored expected files.

When a change to the output is intended, re-bless the files and review the diff:

    DIGEST_BLESS=1 .venv/bin/pytest tests/test_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("suffix", ["html", "txt"])
def test_demo_matches_the_golden_files(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    monkeypatch.delenv("DIGEST_SECRET", raising=False)
    result = cli("build", "--demo", "--out", tmp_path)
    assert result.exit_code == 0, result.stderr
    built = (tmp_path / f"2024-W09.{suffix}").read_text(encoding="utf-8")
    expected_path = GOLDEN / f"demo.{suffix}"
    if os.environ.get("DIGEST_BLESS"):
        expected_path.write_text(built, encoding="utf-8")
    expected = expected_path.read_text(encoding="utf-8")
    assert built == expected, f"the demo's {suffix} changed; if intended, re-bless (see this file's docstring)"
