"""The command line as a contract: every command documented, and the README's first command works as written."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import click
import pytest
from conftest import REPO, modules_loaded_by_demo_build

from digest.cli import main

CONTRACT = {"build", "preview", "approve", "send", "run", "serve", "schedule", "subscribers", "check", "explain"}


def commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command under `group`, as click lists them (`main` imports its command modules when asked)."""
    found = []
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, name
        found.append(((*prefix, name), command))
        if isinstance(command, click.Group):
            found.extend(commands(command, (*prefix, name)))
    return found


def test_every_command_of_the_contract_exists() -> None:
    names = {path for path, _ in commands(main)}
    assert {path[0] for path in names} >= CONTRACT
    assert {path[1] for path in names if path[0] == "subscribers" and len(path) == 2} >= {
        "add", "import", "remove", "list", "export", "show", "forget", "purge"
    }  # fmt: skip


def test_build_imports_no_other_command_module(tmp_path: Path) -> None:
    """`digest build` loads only the commands' module it needs (digest/cli/__init__.py, COMMAND_MODULES)."""
    assert [m for m in modules_loaded_by_demo_build(tmp_path) if m.startswith("digest.cli.")] == ["digest.cli.issue"]


@pytest.mark.parametrize("path", [p for p, _ in commands(main)], ids=" ".join)
def test_every_command_has_help_and_takes_config(cli: Any, path: tuple[str, ...]) -> None:
    command = dict(commands(main))[path]
    assert command.help and command.help.strip(), f"digest {' '.join(path)} has no help text"
    result = cli(*path, "--help")
    assert result.exit_code == 0
    if not isinstance(command, click.Group):
        assert "--config" in result.output, f"digest {' '.join(path)} does not take --config"
        for option in command.params:
            if isinstance(option, click.Option):
                assert option.help, f"digest {' '.join(path)} {option.opts[0]} has no help text"


def readme_first_command() -> str:
    text = (REPO / "README.md").read_text()
    block = re.search(r"```console\n(.*?)```", text, re.S)
    assert block, "the README has no console block"
    line = next(line for line in block.group(1).splitlines() if line.startswith("$ "))
    return line[2:]


@pytest.mark.slow
def test_the_readme_first_command_runs_the_demo_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    command = readme_first_command()
    assert "digest build --demo" in command and "venv" in command
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    copy = tmp_path / "digest"
    for name in listed.stdout.splitlines():
        source = REPO / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    done = subprocess.run(command, shell=True, cwd=copy, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    written = sorted(p.name for p in (copy / "out").iterdir())
    assert {"2024-W09.html", "2024-W09.txt", "2024-W09.json"} <= set(written)
    manifest = json.loads((copy / "out" / "2024-W09.json").read_text())
    assert {"issue", "window", "sections", "feeds", "warnings"} <= manifest.keys()
