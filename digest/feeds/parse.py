"""Feed bytes → Articles: defuse the bytes, let feedparser read them, clean every field."""

from __future__ import annotations

import calendar
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import feedparser

from digest.feeds import clean
from digest.models import Article

_DOCTYPE = re.compile(rb"<!DOCTYPE[^>\[]*(\[.*?\]\s*)?>", re.S | re.I)
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.I)
_CDATA = re.compile(rb"(<!\[CDATA\[.*?\]\]>)", re.S)
# An ampersand that cannot start an entity reference: escape it so "&copy=2" stays "&copy=2".
_BARE_AMP = re.compile(rb"&(?!(?:[A-Za-z][\w.-]{0,31}|#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6});)")
_C0_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_DECLARED = re.compile(rb"^(\s*<\?xml[^>]*encoding=[\"'])([A-Za-z0-9_.:-]+)([\"'])", re.I)
_SINGLE_BYTE = {b"iso-8859-1", b"latin-1", b"latin1", b"windows-1252", b"cp1252", b"iso-8859-15", b"us-ascii"}
_IMG = re.compile(r"<img\b[^>]*>", re.I)
_ATTR = re.compile(r"""(\w+)\s*=\s*("([^"]*)"|'([^']*)'|([^\s>]+))""")


class NotAFeed(Exception):
    """The bytes are not a feed: an HTML page, an empty document, or XML with no feed in it."""


@dataclass
class Parsed:
    title: str
    articles: list[Article]
    notes: list[str] = field(default_factory=list)  # per-feed warnings: entries dropped, entities refused


def defuse(raw: bytes) -> tuple[bytes, list[str]]:
    """Remove what could hurt before the XML parser sees it: entity-declaring DTDs, illegal bytes."""
    notes = []
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        # UTF-16: byte-level repairs would corrupt it; re-encode as UTF-8 and carry on.
        text = raw.decode("utf-16")
        raw = re.sub(r'^(\s*<\?xml[^>]*encoding=["\'])utf-16(["\'])', r"\1utf-8\2", text, flags=re.I).encode()
    head = raw[:65536]
    doctype = _DOCTYPE.search(head)
    if doctype:
        if _ENTITY_DECL.search(doctype.group(0)):
            notes.append("the feed declares XML entities in a DTD; they were refused and not expanded")
        raw = raw[: doctype.start()] + raw[doctype.end() :]
    raw = _C0_BYTES.sub(b"", raw)
    pieces = _CDATA.split(raw)
    raw = b"".join(p if p.startswith(b"<![CDATA[") else _BARE_AMP.sub(b"&amp;", p) for p in pieces)
    declared = _DECLARED.match(raw)
    if declared and declared.group(2).lower() in _SINGLE_BYTE:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if not raw.isascii():
                # Valid multi-byte UTF-8 is almost never Latin-1 text by accident: trust the bytes.
                raw = raw[: declared.start(2)] + b"utf-8" + raw[declared.end(2) :]
    return raw, notes


def _when(entry: Any) -> datetime | None:
    # dict.get bypasses feedparser's deprecated updated→published mapping (and its warning).
    parsed = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError):
        return None


def _author(entry: Any) -> str:
    names = [clean.plain_text(a.get("name")) for a in entry.get("authors", []) if a.get("name")]
    names = [n for n in names if n]
    if not names and entry.get("author"):
        names = [clean.plain_text(entry.get("author"))]
    unique = list(dict.fromkeys(names))
    return ", ".join(unique)[:200]


def _categories(entry: Any) -> list[str]:
    found = []
    for tag in entry.get("tags", []) or []:
        term = clean.plain_text(tag.get("term") or tag.get("label") or "")
        for part in term.split(",") if "," in term and len(term) > 60 else [term]:
            part = part.strip()
            if part and part not in found:
                found.append(part)
    return found


def _image(entry: Any, base: str | None) -> tuple[str | None, str]:
    candidates: list[tuple[str | None, str]] = []
    for media in entry.get("media_content", []) or []:
        kind = (media.get("medium") or media.get("type") or "image").lower()
        if "image" in kind:
            candidates.append((media.get("url"), ""))
    for thumb in entry.get("media_thumbnail", []) or []:
        candidates.append((thumb.get("url"), ""))
    for link in entry.get("links", []) or []:
        if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/"):
            candidates.append((link.get("href"), ""))
    bodies = [c.get("value", "") for c in entry.get("content", []) or []] + [entry.get("summary", "")]
    for body in bodies:
        for tag in _IMG.findall(body or "")[:1]:
            attrs = {m.group(1).lower(): m.group(3) or m.group(4) or m.group(5) or "" for m in _ATTR.finditer(tag)}
            candidates.append((attrs.get("src"), clean.plain_text(attrs.get("alt", ""))))
    alt = clean.plain_text(entry.get("media_description") or "") if entry.get("media_description") else ""
    for url, img_alt in candidates:
        absolute = clean.absolute_url(url, base)
        if absolute and absolute.startswith("https://"):
            return absolute, img_alt or alt
    return None, ""


def parse_feed(raw: bytes, feed_name: str, url: str, teaser_words: int = 40) -> Parsed:
    """Parse one feed's bytes into cleaned Articles; raise NotAFeed when there is no feed in them."""
    data, notes = defuse(raw)
    base = url if url.startswith(("http://", "https://")) else None
    headers = {"content-type": "application/rss+xml"}
    if base:
        headers["content-location"] = base
    parsed = feedparser.parse(data, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        looks_html = b"<html" in data[:2048].lower()
        if looks_html:
            raise NotAFeed("the address returned an HTML page, not a feed; find the page's RSS/Atom link")
        if problem:
            raise NotAFeed(f"not a readable feed ({type(problem).__name__}: {str(problem)[:120]})")
        raise NotAFeed("the document holds no feed (no RSS or Atom root element)")
    title = clean.plain_text(parsed.feed.get("title")) or feed_name
    articles: list[Article] = []
    missing_link = 0
    for entry in parsed.entries:
        entry_title = clean.plain_text(entry.get("title"))
        link = clean.absolute_url(entry.get("link"), base)
        if link is None:
            for alt_link in entry.get("links", []) or []:
                if alt_link.get("rel", "alternate") == "alternate":
                    link = clean.absolute_url(alt_link.get("href"), base)
                    if link:
                        break
        summary = entry.get("summary") or ""
        if not summary and entry.get("content"):
            summary = entry["content"][0].get("value", "")
        text = clean.teaser(summary, teaser_words)
        if not entry_title:
            entry_title = clean.teaser(summary, 12) if summary else ""
        if not entry_title:
            missing_link += 1 if link is None else 0
            continue
        if link is None:
            missing_link += 1
            continue
        guid = entry.get("id") or ""
        stable = clean.plain_text(guid) or link or hashlib.sha1((entry_title + summary).encode()).hexdigest()
        image, alt = _image(entry, link or base)
        articles.append(
            Article(
                id=stable[:500],
                title=entry_title[:300],
                url=link,
                feed=feed_name,
                published=_when(entry),
                teaser=text,
                summary=" ".join(clean.plain_text(summary).split(" ")[:120]),
                author=_author(entry),
                categories=_categories(entry),
                image=image,
                image_alt=alt,  # empty when the feed gives none: the headline follows the picture
                rtl=clean.is_rtl(entry_title + " " + text),
            )
        )
    if missing_link:
        notes.append(
            f"{missing_link} entr{'y' if missing_link == 1 else 'ies'} without a title or an http(s) link were dropped"
        )
    return Parsed(title=title, articles=articles, notes=notes)
