"""The public archive: each sent issue as a web page, an index, and an Atom feed of past issues."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path
from zoneinfo import ZoneInfo

from digest.config import Settings
from digest.i18n import dates, translations
from digest.issue.render import issue_web_url, personalize
from digest.store import issues
from digest.store.db import State, parse_iso
from digest.store.issues import Frozen
from digest.util import atomic_write


@dataclass
class Entry:
    id: str
    subject: str
    preheader: str
    sent_at: datetime
    url: str
    file: str


def sent_issues(state: State) -> list[Frozen]:
    return issues.sent(state)


def _entry(settings: Settings, frozen: Frozen) -> Entry:
    url = issue_web_url(settings, frozen.id) or f"{frozen.id}.html"
    sent = parse_iso(frozen.sent_at) if frozen.sent_at else frozen.window.end
    return Entry(frozen.id, frozen.rendered.subject, frozen.rendered.preheader, sent, url, f"{frozen.id}.html")


def generic_unsubscribe_url(settings: Settings) -> str:
    """The archive is public: its unsubscribe link leads to a page, not to anyone's token."""
    base = settings.model.web.base_url or ""
    return f"{base}/unsubscribe"


def archive_sent(settings: Settings, state: State) -> str | None:
    """The archive brought up to date after a send, when any issue has gone out (every issue's "View in your
    browser" link leads there); a sentence when the folder cannot be written, for the command to warn with."""
    sent = sent_issues(state)
    if not sent:
        return None
    try:
        write_archive(settings, state, sent)
    except OSError as error:
        return f"the archive could not be written to {settings.archive_dir}: {error.strerror or error}"
    return None


def write_archive(settings: Settings, state: State, sent: list[Frozen] | None = None) -> Path:
    """Write every sent issue's page (`sent`, when already read), the index and feed.xml into the archive folder;
    return the folder."""
    folder = settings.archive_dir
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for frozen in sent_issues(state) if sent is None else sent:
        entry = _entry(settings, frozen)
        page = folder / entry.file
        if not page.exists():
            atomic_write(page, personalize(frozen.rendered.html, generic_unsubscribe_url(settings), html=True))
        entries.append(entry)
    newsletter = settings.model.newsletter
    index = _index(newsletter.title, newsletter.language, entries, ZoneInfo(newsletter.timezone))
    atomic_write(folder / "index.html", index)
    atomic_write(folder / "feed.xml", _atom(settings, entries))
    return folder


def _index(title: str, language: str, entries: list[Entry], zone: ZoneInfo) -> str:
    items = "\n".join(_item(e, language, zone) for e in entries)
    heading = translations(language).gettext("%(title)s: past issues") % {"title": title}
    return (
        f'<!doctype html>\n<html lang="{escape(language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(heading)}</title><link rel="alternate" type="application/atom+xml" '
        f'href="feed.xml" title="{escape(title)}"></head>\n<body style="font-family:Georgia,serif;max-width:640px;'
        f'margin:2em auto;padding:0 1em;line-height:1.5"><h1>{escape(heading)}</h1>\n<ul>\n{items}\n</ul>\n'
        "</body></html>\n"
    )


def _item(entry: Entry, language: str, zone: ZoneInfo) -> str:
    sent = entry.sent_at.astimezone(zone)
    return (
        f'<li><a href="{escape(entry.file)}">{escape(entry.subject)}</a> <small><time datetime="{sent:%Y-%m-%d}">'
        f"{escape(dates.day(sent, language))}</time></small><br>{escape(entry.preheader)}</li>"
    )


def _atom(settings: Settings, entries: list[Entry]) -> str:
    cfg = settings.model
    base = cfg.web.issues_url or (f"{cfg.web.base_url}/archive" if cfg.web.base_url else "")
    updated = entries[0].sent_at.isoformat() if entries else "1970-01-01T00:00:00+00:00"
    items = "".join(
        f"<entry><id>{escape(e.url)}</id><title>{escape(e.subject)}</title>"
        f'<link rel="alternate" type="text/html" href="{escape(e.url)}"/>'
        f"<updated>{e.sent_at.isoformat()}</updated><summary>{escape(e.preheader)}</summary></entry>\n"
        for e in entries
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<id>{escape(base or cfg.newsletter.title)}/feed.xml</id><title>{escape(cfg.newsletter.title)}</title>"
        f'<link rel="self" href="{escape(base)}/feed.xml"/><link rel="alternate" href="{escape(base)}/"/>'
        f"<updated>{updated}</updated><author><name>{escape(cfg.newsletter.title)}</name></author>\n"
        f"{items}</feed>\n"
    )
