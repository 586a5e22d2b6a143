"""Email templates that editors may change (`templates:`): sandboxed, and every mistake in one is one sentence."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import DEMO_FEED, REPO

NOW = "2024-03-01T12:00:00Z"


def edited(tmp_path: Path, name: str, change: Callable[[str], str]) -> None:
    templates = tmp_path / "templates"
    templates.mkdir(exist_ok=True)
    for shipped in ("email.mjml.j2", "email.txt.j2", "email.css"):
        shutil.copy(REPO / "digest" / "templates" / shipped, templates / shipped)
    source = (templates / name).read_text()
    (templates / name).write_text(change(source))


def build(cli: Callable[..., Any], config: Path, tmp_path: Path) -> Any:
    return cli("build", "--config", config, "--now", NOW, "--out", tmp_path / "out")


BROKEN = {
    "unclosed tag": ("email.mjml.j2", lambda s: s.replace("{% for section in sections %}", "{% for section in"), 1),
    "undefined name": ("email.txt.j2", lambda s: s.replace("{{ title }}", "{{ titel }}", 1), 1),
    "unknown filter": ("email.txt.j2", lambda s: s.replace("{{ title }}", "{{ title | shout }}", 1), 1),
    "failing expression": ("email.mjml.j2", lambda s: s.replace("{{ title }}", "{{ 1 / 0 }}", 1), 1),
    "broken MJML": ("email.mjml.j2", lambda s: s.replace("<mj-body", "<mj-body\x1b", 1), 1),
}


@pytest.mark.parametrize(("name", "change", "code"), BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_template_is_one_sentence_naming_it(
    cli: Callable[..., Any],
    write_config: Callable[..., Path],
    tmp_path: Path,
    name: str,
    change: Callable[[str], str],
    code: int,
) -> None:
    edited(tmp_path, name, change)
    config = write_config(DEMO_FEED, templates="templates", issue={"window_days": 10})
    result = build(cli, config, tmp_path)
    assert result.exit_code == code, result.output
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: ") and ("email.mjml.j2" in line or name in line), line
    assert "Traceback" not in result.output and len(line) < 400


def test_an_undefined_name_is_reported_with_its_template_line(
    cli: Callable[..., Any], write_config: Callable[..., Path], tmp_path: Path
) -> None:
    edited(tmp_path, "email.txt.j2", lambda s: s.replace("{{ date_line }}", "{{ date_lines }}", 1))
    config = write_config(DEMO_FEED, templates="templates", issue={"window_days": 10})
    result = build(cli, config, tmp_path)
    assert result.exit_code == 1
    assert f"{tmp_path / 'templates' / 'email.txt.j2'}, line 2" in result.stderr
    assert "'date_lines' is undefined" in result.stderr


def test_an_edited_template_can_neither_run_commands_nor_reach_modules(
    cli: Callable[..., Any], write_config: Callable[..., Path], tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    attack = f"{{{{ cycler.__init__.__globals__.os.system('touch {marker}') }}}}"
    edited(tmp_path, "email.txt.j2", lambda s: attack + "\n" + s)
    config = write_config(DEMO_FEED, templates="templates", issue={"window_days": 10})
    result = build(cli, config, tmp_path)
    assert not marker.exists()
    assert result.exit_code == 1 and "email.txt.j2" in result.stderr and "unsafe" in result.stderr
    assert "Traceback" not in result.output
