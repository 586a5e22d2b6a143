"""What the tests of variants share: readers with themes, and the sections a received message holds."""

from __future__ import annotations

import email
import email.policy
import io
import itertools
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from servers import SmtpSink

from digest.config import load_config
from digest.store.db import State
from digest.subscribers import roster

NOW = "2024-03-01T12:00:00Z"
ISSUE = "2024-W09"
# The demo issue's sections, in reading order.
DEMO_SECTIONS = ["Latin America", "Labor", "Palestine", "More from the week"]


def add_readers(config: Path, readers: dict[str, str]) -> None:
    """address → themes (slugs separated by commas; '' for everything), imported as one list."""
    text = "email,name,language,themes\n" + "".join(f'{a},,,"{t}"\n' for a, t in readers.items())
    settings = load_config(config)
    known = {t.slug for t in settings.model.themes} | {settings.model.catch_all.slug}
    with State(settings.state_target) as state:
        report = roster.import_csv(state, io.StringIO(text), known)
    assert not report.bad and report.added == len(readers), report


class _Headings(HTMLParser):
    """The text of each h2 of an email, and whether it is the lead story's."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []  # (class, text)
        self.open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h2":
            self.open = dict(attrs).get("class") or ""
            self.found.append((self.open, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self.open = None

    def handle_data(self, data: str) -> None:
        if self.open is not None:
            kind, text = self.found[-1]
            self.found[-1] = (kind, text + data)


def html_sections(html: str) -> list[str]:
    """The section headings of an email's HTML, in order (the lead story's title is not one)."""
    parser = _Headings()
    parser.feed(html)
    return [text.strip() for kind, text in parser.found if "lead-title" not in kind]


def html_lead(html: str) -> str | None:
    parser = _Headings()
    parser.feed(html)
    return next((text.strip() for kind, text in parser.found if "lead-title" in kind), None)


def text_sections(text: str) -> list[str]:
    """The section headings of the plain-text part: a title in capitals over a line of '='."""
    lines = text.splitlines()
    return [line for line, under in itertools.pairwise(lines) if under and set(under) == {"="}]


def parts(raw: bytes) -> tuple[str, str, str]:
    """(subject, html, text) of a received message."""
    message: Any = email.message_from_bytes(raw, policy=email.policy.default)
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    return str(message["Subject"]).strip(), html, text  # a subject folded whole onto its second line


def by_recipient(sink: SmtpSink) -> dict[str, list[bytes]]:
    found: dict[str, list[bytes]] = {}
    with sink.handler.lock:
        for _, rcpts, raw in sink.handler.messages:
            for rcpt in rcpts:
                found.setdefault(rcpt.lower(), []).append(raw)
    return found


def ledger_variants(config: Path) -> dict[str, tuple[str, str | None]]:
    """address → (delivery status, variant) in the ledger."""
    with State(load_config(config).state_target) as state:
        rows = state.execute(
            "SELECT s.email, d.status, d.variant FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
        ).fetchall()
    return {address.lower(): (status, variant) for address, status, variant in rows}


def demo_article_url(tmp_path: Path, cli: Any, config: Path, section: str) -> str:
    """The URL of the first article of a section of the demo issue, read from a build's .json."""
    out = tmp_path / "probe"
    assert cli("build", "--config", config, "--now", NOW, "--out", out).exit_code == 0
    record = json.loads((out / f"{ISSUE}.json").read_text())
    url: str = next(s for s in record["sections"] if s["slug"] == section)["articles"][0]["url"]
    return url
