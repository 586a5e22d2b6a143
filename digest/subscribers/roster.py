"""The subscriber list: add, import a CSV, remove, list, export.

Addresses are checked for syntax only (no DNS) and compared without regard to case. Imports and exports stream:
a list of any length takes the same memory.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from digest.errors import NotFound, SubscriberError
from digest.models import ConsentSource, Subscriber, SubscriberStatus
from digest.store import consents
from digest.store import subscribers as rows
from digest.store.db import State, utcnow_iso
from digest.subscribers import privacy
from digest.util import check_address, check_name

__all__ = ["COLUMNS", "STATUSES", "ImportReport", "Subscriber"]  # Subscriber: the record is in digest.models

STATUSES = tuple(SubscriberStatus)
COLUMNS = ("email", "name", "language", "themes")
EXPORTED_ONLY = ("status", "failures", "created_at", "paused_until")  # written by export, passed over by import
BATCH = 1000  # rows written at a time during an import

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
_THEME_SPLIT = re.compile(r"[\s,;|]+")
_HEADER_NAMES = {"email": "email", "e-mail": "email", "address": "email", "mail": "email"}

# A cell a spreadsheet would run as a formula: export writes it with a leading apostrophe (which spreadsheets
# read as "this is text"), import takes one off. Apostrophes already there are counted in, so a cell that
# really starts with "'=" comes back as it went: the round trip changes nothing.
_FORMULA = re.compile(r"^'*[=+\-@\t\r]")
_NEUTRALISED = re.compile(r"^'+[=+\-@\t\r]")

UNCLOSED = "a quote opened on this line is not closed on it (a name cannot hold a line break)"
FORGOTTEN = (
    "{email} was erased at its owner's request (`digest subscribers forget`); it is left out: only the person's own "
    "sign-up through the form, or `digest subscribers add {email} --consented` with their fresh consent, adds it back"
)
NO_SECRET = (
    "addresses were erased with `digest subscribers forget`, and checking others against them needs the secret "
    "they were hashed with: set DIGEST_SECRET (or the variable config key secret_env names)"
)


def _forgotten(state: State, secret: bytes | None, email: str) -> bool:
    if consents.any_forgotten(state) and secret is None:
        raise SubscriberError(NO_SECRET)
    return privacy.is_forgotten(state, secret, email)


@dataclass
class ImportReport:
    """What an import did; `bad` holds (line number, reason) for every line left out, unless those went to a
    listener as they were read (`import_csv`'s `tell`)."""

    added: int = 0
    existing: int = 0  # already on the list: left as they are (an unsubscribed address stays unsubscribed)
    duplicates: list[tuple[int, int]] = field(default_factory=list)  # (line, line it repeats)
    bad: list[tuple[int, str]] = field(default_factory=list)
    bad_lines: int = 0
    duplicate_lines: int = 0
    forgotten_lines: int = 0  # addresses erased at their owner's request: left out, they need fresh consent


Tell = Callable[[int, str], None]  # (line number, what is wrong with it)


def _themes(text: str, known: set[str] | None) -> list[str]:
    themes = [t for t in _THEME_SPLIT.split(text.strip().lower()) if t]
    if known is not None:
        unknown = [t for t in themes if t not in known]
        if unknown:
            raise ValueError(f"unknown theme {unknown[0]!r} (config.yaml themes: {', '.join(sorted(known))})")
    return themes


def _language(text: str) -> str:
    language = text.strip()
    if language and not _LANGUAGE.match(language):
        raise ValueError(f"language {language!r} is not a language tag such as 'en' or 'pt-BR'")
    return language


def get(state: State, address: str) -> Subscriber | None:
    return rows.by_email(state, address.strip())


def by_id(state: State, subscriber_id: int) -> Subscriber | None:
    return rows.by_id(state, subscriber_id)


def add(
    state: State,
    address: str,
    name: str = "",
    language: str = "",
    themes: str = "",
    known_themes: set[str] | None = None,
    reactivate: bool = False,
    secret: bytes | None = None,
    consented: bool = False,
) -> tuple[Subscriber, bool]:
    """Add one subscriber (single opt-in: the consent recorded is the editors'); returns it and whether anything
    changed. An existing address keeps its status unless `reactivate` is given (a person who unsubscribed must
    ask to come back); an erased one (`forget`) comes back only when `consented` says its owner asked again."""
    try:
        email = check_address(address)
        fields = (check_name(name), _language(language), ",".join(_themes(themes, known_themes)))
    except ValueError as error:
        raise SubscriberError(str(error)) from None
    existing = get(state, email)
    if existing is not None:
        if not reactivate or existing.status == SubscriberStatus.ACTIVE:
            return existing, False
        rows.reactivate(state, existing.id)
        privacy.record_consent(state, existing.id, ConsentSource.CLI, "reactivated", "by `digest subscribers add`")
        return _must_get(state, email), True
    if _forgotten(state, secret, email):
        if not consented:
            raise SubscriberError(FORGOTTEN.format(email=email))
        assert secret is not None
        privacy.unforget(state, secret, email)
    rows.insert(state, email, *fields)
    added = _must_get(state, email)
    privacy.record_consent(state, added.id, ConsentSource.CLI, "added", "by `digest subscribers add`")
    return added, True


def _must_get(state: State, email: str) -> Subscriber:
    found = get(state, email)
    if found is None:
        raise NotFound(f"{email} is not on the subscriber list")
    return found


# import


def _cells(line: str) -> list[str]:
    """The cells of one line of CSV; a record never spans lines, so a broken quote costs one line, not the
    rest of the file. ValueError when a quote opened on the line is not closed on it."""
    if '"' not in line:
        return line.rstrip("\r\n").split(",")
    if not line.endswith(("\n", "\r")):
        line += "\n"  # the last line of a file: an unclosed quote must show the same way as on any other
    cells = next(csv.reader((line,)), [])
    if any("\n" in cell or "\r" in cell for cell in cells):
        raise ValueError(UNCLOSED)
    return cells


def _unneutralise(cell: str) -> str:
    return cell[1:] if _NEUTRALISED.match(cell) else cell


def _parse(values: dict[str, str], known_themes: set[str] | None) -> tuple[str, str, str, str]:
    """(email, name, language, themes) of one line; ValueError says what is wrong with it."""
    email = check_address(values.get("email", ""))
    name = check_name(values.get("name", ""))
    language = _language(values.get("language", ""))
    themes = ",".join(_themes(values.get("themes", ""), known_themes))
    return email, name, language, themes


def _good_lines(
    stream: TextIO, known_themes: set[str] | None, problem: Callable[[int, str], None]
) -> Iterator[tuple[int, str, str, str, str]]:
    """Each good line as (number, email, name, language, themes); every bad one goes to `problem`."""
    columns = list(COLUMNS)
    started = False  # a header may only come before every other line
    number = 0
    try:
        for number, line in enumerate(stream, start=1):
            try:
                cells = [_unneutralise(c.strip()) for c in _cells(line)]
            except ValueError as error:
                started = True
                problem(number, str(error))
                continue
            if not any(cells) or cells[0].startswith("#"):
                continue
            if not started and len(cells) == 1 and ";" in cells[0]:
                # no address holds a ";": a spreadsheet's export with semicolons, every line of it bad
                raise SubscriberError(
                    f"line {number}: the cells are separated by ';', not ','; save the file as CSV with commas"
                )
            if not started and cells[0].lower() in _HEADER_NAMES:
                columns = [_HEADER_NAMES.get(c.lower(), c.lower()) for c in cells]
                unknown = [c for c in columns if c not in COLUMNS and c not in EXPORTED_ONLY]
                if unknown:
                    raise SubscriberError(
                        f"line {number}: the header names a column {unknown[0]!r} that is not one of "
                        f"{', '.join(COLUMNS)}; rename it, or remove the column"
                    )
                started = True
                continue
            started = True
            try:
                yield (number, *_parse(dict(zip(columns, cells, strict=False)), known_themes))
            except ValueError as error:
                problem(number, str(error))
    except UnicodeDecodeError as error:
        raise SubscriberError(f"line {number + 1} of the CSV cannot be read: {error}") from None


def import_csv(
    state: State,
    stream: TextIO,
    known_themes: set[str] | None = None,
    tell: Tell | None = None,
    secret: bytes | None = None,
) -> ImportReport:
    """Import rows of email, name, language, themes (a header line naming them is optional and may
    reorder them). Good lines are imported even when others are bad; all in one transaction, and each new
    subscriber's consent recorded as the import's. Each bad or repeated line goes to `tell` as it is read (else
    into the report's lists); an address erased with `forget` is left out and told (its hash needs `secret`)."""
    report = ImportReport()
    held_back = consents.any_forgotten(state)
    if held_back and secret is None:
        raise SubscriberError(NO_SECRET)

    def problem(number: int, reason: str, repeats: int | None = None) -> None:
        if repeats is None:
            report.bad_lines += 1
        else:
            report.duplicate_lines += 1
            reason = f"repeats the address of line {repeats}; left out"
        if tell is not None:
            tell(number, reason)
        elif repeats is None:
            report.bad.append((number, reason))
        else:
            report.duplicates.append((number, repeats))

    def flush(batch: list[tuple[int, str, str, str, str]]) -> None:
        if held_back:
            assert secret is not None
            digests = {row[0]: privacy.address_digest(secret, row[1]) for row in batch}
            erased = consents.forgotten_among(state, list(digests.values()))
            for number, email, *_ in (row for row in batch if digests[row[0]] in erased):
                report.forgotten_lines += 1
                if tell is not None:
                    tell(number, FORGOTTEN.format(email=email))
            batch[:] = [row for row in batch if digests[row[0]] not in erased]
        added, repeats = rows.import_rows(state, batch)
        report.added += added
        report.existing += len(batch) - len(repeats) - added
        for number, first in repeats:
            problem(number, "", first)
        batch.clear()

    batch: list[tuple[int, str, str, str, str]] = []
    with state.transaction():
        rows.start_import(state)
        try:
            for row in _good_lines(stream, known_themes, problem):
                batch.append(row)
                if len(batch) >= BATCH:
                    flush(batch)
            flush(batch)
            consents.record_unrecorded(state, ConsentSource.IMPORT, utcnow_iso())
        finally:
            rows.end_import(state)
    return report


def import_file(
    state: State, path: Path, known_themes: set[str] | None = None, tell: Tell | None = None,
    secret: bytes | None = None,
) -> ImportReport:  # fmt: skip
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            return import_csv(state, stream, known_themes, tell, secret)
    except SubscriberError as error:
        raise SubscriberError(f"{path}: {error}") from None
    except FileNotFoundError:
        raise SubscriberError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SubscriberError(f"{path}: is a folder, not a CSV file") from None
    except OSError as error:
        raise SubscriberError(f"{path}: cannot be read ({error.strerror})") from None


# remove, list, export


def remove(state: State, address: str, forget: bool = False, secret: bytes | None = None) -> Subscriber:
    """Unsubscribe an address (kept, so no later import adds it back), or with `forget` erase it and all that is
    kept about it but a keyed hash (`secret`), which keeps a later import from adding it back."""
    found = get(state, address)
    if found is None:
        raise NotFound(f"{address.strip()} is not on the subscriber list")
    if forget:
        if secret is None:
            raise SubscriberError(
                f"erasing {found.email} keeps a hash of it, made with the secret: set DIGEST_SECRET (or the variable "
                "config key secret_env names) as for sending; nothing was erased"
            )
        privacy.forget(state, secret, found.email)
        return found
    with state.transaction():
        if rows.set_status(state, found.id, SubscriberStatus.UNSUBSCRIBED):
            consents.add_event(state, found.id, utcnow_iso(), "unsubscribed", "by `digest subscribers remove`")
        consents.drop_requests(state, found.id)
    return found


def unsubscribe(state: State, subscriber_id: int) -> None:
    rows.set_status(state, subscriber_id, SubscriberStatus.UNSUBSCRIBED)


def all_subscribers(state: State, status: SubscriberStatus | str | None = None) -> Iterator[Subscriber]:
    """Every subscriber (or those of one status), read one at a time."""
    return rows.iterate(state, SubscriberStatus(status) if status is not None else None)


def counts(state: State) -> dict[SubscriberStatus, int]:
    return rows.counts(state)


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would run as a formula, made text by a leading apostrophe (import takes it off)."""
    return "'" + cell if _FORMULA.match(cell) else cell


def export_csv(subscribers: Iterable[Subscriber], stream: TextIO) -> int:
    """Write the list as CSV that `import_csv` reads back, one row at a time; returns the number of rows."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([*COLUMNS, *EXPORTED_ONLY])
    count = 0
    for sub in subscribers:
        writer.writerow([neutralise(sub.email), neutralise(sub.name), neutralise(sub.language),
                         neutralise(";".join(sub.themes)), sub.status, sub.failures, sub.created_at,
                         sub.paused_until or ""])  # fmt: skip
        count += 1
    return count


def export_text(subscribers: Iterable[Subscriber]) -> str:
    buffer = io.StringIO()
    export_csv(subscribers, buffer)
    return buffer.getvalue()
