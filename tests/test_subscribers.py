"""The subscriber list: add, import a CSV with bad lines, remove, list, export, against real SQLite files."""

from __future__ import annotations

import csv
import io
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from digest.config import load_config
from digest.store.db import State
from digest.subscribers import roster as subscribers
from digest.util import check_address

ENGINES = ("sqlite", "postgresql")  # the tests that reach the state run on both (conftest.py)

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


def test_a_header_naming_an_unknown_column_or_semicolons_stop_the_import_before_any_line(
    config: Path, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    french = tmp_path / "abonnes.csv"
    french.write_text("mail,nom\nann@example.org,Ann\n")
    result = cli("subscribers", "import", french, "--config", config)
    assert result.exit_code != 0
    assert f"{french}: line 1: the header names a column 'nom' that is not one of email, name" in result.stderr
    semicolons = tmp_path / "excel.csv"
    semicolons.write_text("email;name\nbo@example.org;Bo\n")
    result = cli("subscribers", "import", semicolons, "--config", config)
    assert result.exit_code != 0 and "separated by ';', not ','" in result.stderr
    no_header = tmp_path / "plain.csv"
    no_header.write_text("not an address\n")
    result = cli("subscribers", "import", no_header, "--config", config)
    assert result.exit_code != 0 and "no line was good" in result.stderr
    assert cli("subscribers", "list", "--config", config).output.strip() == ""


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


def test_remove_forget_erases_and_unknown_address_is_an_error(
    config: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("subscribers", "add", "ann@example.org", "--config", config)
    # the erasure keeps a hash keyed with the secret: without it, nothing is erased
    refused = cli("subscribers", "remove", "ann@example.org", "--forget", "--config", config)
    assert refused.exit_code == 1 and "DIGEST_SECRET" in refused.stderr and "nothing was erased" in refused.stderr
    assert cli("subscribers", "list", "--config", config).stdout == "ann@example.org\tactive\t\n"
    monkeypatch.setenv("DIGEST_SECRET", "a-test-secret-that-signs-unsubscribe-links")
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
    with State(settings.state_target) as state:
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
    from digest.cli import readers  # noqa: F401  (adds show, forget and purge to the group)
    from digest.cli.roster import subscribers as group

    for name, command in group.commands.items():
        assert command.help, name
        result = cli("subscribers", name, "--help")
        assert result.exit_code == 0 and "--config FILE" in result.stdout, name


# hardening


FORMULAS = ['=HYPERLINK("https://evil.example/","click")', "+1+2", "-3+4", "@SUM(A1:A9)", "'=already quoted"]


def test_export_neutralises_formulas_and_import_takes_them_back(
    config: Path, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    for n, name in enumerate(FORMULAS):
        assert cli("subscribers", "add", f"reader{n}@example.org", "--name", name, "--config", config).exit_code == 0
    assert cli("subscribers", "add", "=cmd@example.org", "--name", "Eq", "--config", config).exit_code == 0
    assert cli("subscribers", "add", "--config", config, "--", "-minus@example.org").exit_code == 0

    exported = cli("subscribers", "export", "--config", config).stdout
    cells = [cell for row in list(csv.reader(io.StringIO(exported)))[1:] for cell in row]
    assert cells and not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@")]
    assert "'=HYPERLINK(" in exported and "''=already quoted" in exported and "'=cmd@example.org" in exported

    with State(tmp_path / "copy.db") as state:
        report = subscribers.import_csv(state, io.StringIO(exported))
        copied = [(s.email, s.name) for s in subscribers.all_subscribers(state)]
    assert report.added == 7 and not report.bad
    assert copied == [(f"reader{n}@example.org", name) for n, name in enumerate(FORMULAS)] + [
        ("=cmd@example.org", "Eq"),
        ("-minus@example.org", ""),
    ]


def test_an_unclosed_quote_costs_its_own_line_and_no_other(
    config: Path, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    lines = ["email,name"] + [f"reader{n}@example.org,Reader {n}" for n in range(1000)]
    lines[3] = 'reader2@example.org,"Reader 2'  # the quote never closes
    lines[10] = 'reader9@example.org,"Reader'  # a name holding a line break: two lines, neither an address row
    lines.insert(11, 'Nine"')
    csv_path = tmp_path / "list.csv"
    csv_path.write_text("\n".join(lines) + '\nlast@example.org,"Open at the end', encoding="utf-8")

    result = cli("subscribers", "import", csv_path, "--config", config)

    assert result.exit_code == 1
    assert "imported 998 new subscribers" in result.stdout and "4 bad lines" in result.stdout, result.output
    reported = [line for line in result.stderr.splitlines() if line.startswith(str(csv_path))]
    assert [int(line.split(":")[1]) for line in reported] == [4, 11, 12, 1003]
    assert "quote opened on this line is not closed" in reported[0] and "not closed" in reported[-1]
    listed = {line.split("\t")[0] for line in cli("subscribers", "list", "--config", config).stdout.splitlines()}
    assert len(listed) == 998 and "reader999@example.org" in listed and "last@example.org" not in listed


@pytest.mark.sqlite_only
def test_list_escapes_control_characters_that_an_older_digest_stored(config: Path, cli: Callable[..., Any]) -> None:
    assert cli("subscribers", "add", "ann@example.org", "--name", "Ann", "--config", config).exit_code == 0
    db = sqlite3.connect(load_config(config).state_path)  # as an older digest, with no check on names, left it
    db.execute(
        "INSERT INTO subscribers (email, name, status, created_at, updated_at) VALUES (?, ?, 'active', '', '')",
        ("eve@example.org", "Eve\x1b[2J\x1b[H\nfake@example.org\tactive\tFake\u202e"),
    )
    db.commit()
    db.close()

    listed = cli("subscribers", "list", "--config", config)

    assert listed.exit_code == 0
    rows = listed.stdout.splitlines()
    assert len(rows) == 2 and "\x1b" not in listed.stdout and "\u202e" not in listed.stdout
    assert rows[1] == "eve@example.org\tactive\tEve\\x1b[2J\\x1b[H\\nfake@example.org\\tactive\\tFake\\u202e"


def _one_sentence(result: Any) -> str:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    return str(result.stderr)


@pytest.mark.sqlite_only
def test_a_damaged_state_file_is_one_sentence(config: Path, cli: Callable[..., Any]) -> None:
    state = load_config(config).state_path
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_bytes(b"this is not what digest wrote " * 200)
    said = _one_sentence(cli("subscribers", "list", "--config", config))
    assert "is not a SQLite database, or is damaged" in said


@pytest.mark.sqlite_only
def test_a_state_path_that_is_a_folder_is_one_sentence(config: Path, cli: Callable[..., Any]) -> None:
    load_config(config).state_path.mkdir(parents=True)
    said = _one_sentence(cli("subscribers", "add", "ann@example.org", "--config", config))
    assert "is a folder" in said


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """The file made read-only for this process: by its mode, or for root (whom modes do not stop) immutable."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", path], capture_output=True).returncode:
        pytest.skip("running as root without chattr +i: no way to make a file read-only")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", path], check=True)


@pytest.mark.sqlite_only
def test_a_read_only_state_file_is_one_sentence(config: Path, cli: Callable[..., Any]) -> None:
    assert cli("subscribers", "add", "ann@example.org", "--config", config).exit_code == 0
    state = load_config(config).state_path
    with read_only(state):
        said = _one_sentence(cli("subscribers", "add", "bob@example.org", "--config", config))
    assert "cannot be written" in said and str(state) in said


# Runs `digest` and prints its own peak resident memory (VmHWM, kB) last on stderr: a forked child's ru_maxrss
# would count the pages it shared with pytest before exec.
PEAK = """
import atexit, sys
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            print(line.split()[1], file=sys.stderr)
atexit.register(peak)
from digest.cli import main
sys.argv[0] = "digest"
main()
"""


def peak_mb(args: list[Any], cwd: Path) -> float:
    """The peak resident memory (MB) of one `digest` command in its own process."""
    done = subprocess.run([sys.executable, "-c", PEAK, *map(str, args)], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return int(done.stderr.split()[-1]) / 1024


def test_import_and_export_of_a_long_list_take_the_memory_of_a_short_one(config: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "long.csv"
    csv_path.write_text("".join(f"reader{n}@example{n % 97}.org,Reader Number {n},en,\n" for n in range(60_000)))
    idle = peak_mb(["subscribers", "list", "--status", "bounced", "--config", config], tmp_path)
    imported = peak_mb(["subscribers", "import", csv_path, "--config", config], tmp_path)
    exported = peak_mb(["subscribers", "export", "--out", tmp_path / "out.csv", "--config", config], tmp_path)
    assert len((tmp_path / "out.csv").read_text().splitlines()) == 60_001
    # 60,000 rows held at once take 30-45 MB more than no row at all; streamed, a few MB of SQLite's cache
    assert imported - idle < 12, (idle, imported)
    assert exported - idle < 12, (idle, exported)
