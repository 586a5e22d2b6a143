"""The subscriber list: add, import a CSV with bad lines, remove, list, export, against real SQLite files."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from digest.config import load_config
from digest.store.db import State
from digest.subscribers import roster as subscribers
from digest.util import check_address

REPO = Path(__file__).resolve().parent.parent
DEMO_FEED = [{"name": "Left Voice", "url": str(REPO / "digest/demo/leftvoice-sample.xml")}]

BAD_ADDRESSES = [
    "no-at-sign.example.org",
    "two@@example.org",
    "@example.org",
    "someone@",
    "some one@example.org",
    "someone@example",
    "someone@exa_mple.org",
    "someone@-example.org",
    "some..one@example.org",
    ".someone@example.org",
    "Someone <someone@example.org>",
    "someone@example.123",
    "x" * 65 + "@example.org",
    "someone@" + "a" * 64 + ".org",
    "sömeone@example.org",
    "someone@example..org",
    "",
    "someone@example.org,other@example.org",
    "someone@[127.0.0.1]",
    "(comment)someone@example.org",
]


def write_csv(path: Path, bad_every: int = 51, good: int = 1000) -> tuple[list[str], list[int]]:
    """A CSV with a header, `good` distinct addresses and one bad line every `bad_every` lines; returns the
    good addresses and the bad lines' numbers."""
    lines = ["email,name,language,themes"]
    good_addresses: list[str] = []
    bad_lines: list[int] = []
    bad = iter(BAD_ADDRESSES)
    while len(good_addresses) < good:
        number = len(lines) + 1
        if number % bad_every == 0 and len(bad_lines) < len(BAD_ADDRESSES):
            lines.append(f'"{next(bad)}",Bad Line,en,labor')
            bad_lines.append(number)
            continue
        index = len(good_addresses)
        address = f"Reader.{index}@Example{index % 7}.org"
        good_addresses.append(address)
        lines.append(f"{address},Reader {index},{'es' if index % 3 else 'en'},{'labor;palestine' if index % 2 else ''}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return good_addresses, bad_lines


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Path:
    return write_config(DEMO_FEED)


def test_import_of_1000_with_20_bad_lines_imports_the_good_and_names_the_bad(
    config: Path, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    csv_path = tmp_path / "list.csv"
    good, bad_lines = write_csv(csv_path)
    assert len(good) == 1000 and len(bad_lines) == 20

    result = cli("subscribers", "import", csv_path, "--config", config)

    assert result.exit_code == 1  # some lines were bad: a script must notice
    reported = sorted(int(line.split(":")[1]) for line in result.stderr.splitlines() if line.startswith(str(csv_path)))
    assert reported == bad_lines
    assert "imported 1000 new subscribers" in result.stdout
    assert "20 lines of" in result.stderr and "the good lines were imported" in result.stderr

    listed = cli("subscribers", "list", "--config", config)
    assert listed.exit_code == 0
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert len(rows) == 1000
    assert {row[0].lower() for row in rows} == {a.lower() for a in good}
    assert {row[1] for row in rows} == {"active"}


def test_import_again_and_case_variants_add_nobody_twice(config: Path, tmp_path: Path, cli: Callable[..., Any]) -> None:
    first = tmp_path / "first.csv"
    first.write_text("Ann@Example.org,Ann\nbob@example.org,Bob\n", encoding="utf-8")
    second = tmp_path / "second.csv"
    second.write_text("ann@example.ORG,Ann again\nBOB@example.org,Bob again\nBob@Example.org,Bob thrice\n")

    assert cli("subscribers", "import", first, "--config", config).exit_code == 0
    result = cli("subscribers", "import", second, "--config", config)

    assert result.exit_code == 0
    assert "imported 0 new subscribers" in result.stdout and "2 already on the list" in result.stdout
    assert f"{second}:3: repeats the address of line 2" in result.stderr
    listed = cli("subscribers", "list", "--config", config).stdout.splitlines()
    assert listed == ["Ann@example.org\tactive\tAnn", "bob@example.org\tactive\tBob"]


def test_an_import_never_resubscribes_an_address_that_left(
    config: Path, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    assert cli("subscribers", "add", "ann@example.org", "--config", config).exit_code == 0
    assert cli("subscribers", "remove", "ANN@example.org", "--config", config).stdout.strip() == (
        "ann@example.org unsubscribed"
    )
    again = tmp_path / "again.csv"
    again.write_text("ann@example.org\n")
    cli("subscribers", "import", again, "--config", config)
    added = cli("subscribers", "add", "ann@example.org", "--config", config)

    assert "already on the list, unsubscribed: nothing changed" in added.stdout
    assert cli("subscribers", "list", "--config", config).stdout == "ann@example.org\tunsubscribed\t\n"
    back = cli("subscribers", "add", "ann@example.org", "--reactivate", "--config", config)
    assert back.stdout == "ann@example.org\tactive\n"


def test_remove_forget_erases_and_unknown_address_is_an_error(config: Path, cli: Callable[..., Any]) -> None:
    cli("subscribers", "add", "ann@example.org", "--config", config)
    assert cli("subscribers", "remove", "ann@example.org", "--forget", "--config", config).exit_code == 0
    assert cli("subscribers", "list", "--config", config).stdout == ""
    missing = cli("subscribers", "remove", "ann@example.org", "--config", config)
    assert missing.exit_code == 1
    assert missing.stderr.strip() == "error: ann@example.org is not on the subscriber list"


def test_add_refuses_a_bad_address_or_an_unknown_theme(config: Path, cli: Callable[..., Any]) -> None:
    bad = cli("subscribers", "add", "someone@example", "--config", config)
    assert bad.exit_code == 1 and "invalid domain" in bad.stderr
    theme = cli("subscribers", "add", "ann@example.org", "--themes", "labor,sports", "--config", config)
    assert theme.exit_code == 1 and "unknown theme 'sports'" in theme.stderr
    good = cli("subscribers", "add", "ann@example.org", "--themes", "labor,palestine", "--language", "pt-BR",
               "--config", config)  # fmt: skip
    assert good.exit_code == 0


def test_export_reads_back_with_import(config: Path, tmp_path: Path, cli: Callable[..., Any]) -> None:
    source = tmp_path / "source.csv"
    write_csv(source, good=30)
    cli("subscribers", "import", source, "--config", config)
    cli("subscribers", "remove", "reader.3@example3.org", "--config", config)
    exported = cli("subscribers", "export", "--config", config).stdout
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert len(rows) == 30
    assert rows[3]["email"] == "Reader.3@example3.org" and rows[3]["status"] == "unsubscribed"
    assert rows[1]["themes"] == "labor;palestine" and rows[1]["language"] == "es"

    settings = load_config(config)
    with State(tmp_path / "copy.db") as state:
        report = subscribers.import_csv(state, io.StringIO(exported), {"labor", "palestine", "latin-america"})
        copied = list(subscribers.all_subscribers(state))
    assert report.added == 30 and not report.bad
    with State(settings.state_path) as state:
        original = list(subscribers.all_subscribers(state))
    assert [(s.email, s.name, s.language, s.themes) for s in copied] == [
        (s.email, s.name, s.language, s.themes) for s in original
    ]


@pytest.mark.parametrize(
    "address",
    ["a@example.org", "first.last+tag@sub.example.co.uk", "o'brien@example.ie", "x@bücher.de", "UPPER@EXAMPLE.ORG"],
)
def test_good_addresses_pass(address: str) -> None:
    normalized = check_address(f"  {address} ")
    assert normalized.split("@")[0] == address.split("@")[0]
    assert normalized.isascii() and normalized.split("@")[1] == normalized.split("@")[1].lower()


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_bad_addresses_fail_with_a_reason(address: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_address(address)
    assert str(caught.value)


def test_every_subscribers_command_takes_config_and_has_help(cli: Callable[..., Any]) -> None:
    from digest.cli import subscribers as group

    for name, command in group.commands.items():
        assert command.help, name
        result = cli("subscribers", name, "--help")
        assert result.exit_code == 0 and "--config FILE" in result.stdout, name
