"""Reading one article's page for an editor who adds it by its URL: its Open Graph and meta tags, nothing else.

The page is fetched by the feeds' own fetcher (size cap, timeouts, User-Agent, http(s) only, redirects checked),
and what it says is cleaned like feed text: a page is as hostile as any feed.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit

from digest.config import Settings
from digest.errors import PageError
from digest.feeds import clean
from digest.feeds.fetch import fetch_all
from digest.models import FeedState, FeedStatus

# Open Graph and meta tags sit in the head: 2 MB is far more than any real head needs.
PAGE_MAX_BYTES = 2_000_000
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9"
MAX_URL = 2000
MAX_TITLE = 300
HTML_TYPES = ("text/html", "application/xhtml+xml")
_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_.:-]+)""", re.I)
_BODY = re.compile(r"<body[\s>]", re.I)


@dataclass(frozen=True)
class PageFacts:
    """What an article's page says about itself, as plain text and http(s) links."""

    url: str
    title: str
    teaser: str = ""
    image: str | None = None
    published: datetime | None = None
    site: str = ""


class _Meta(HTMLParser):
    """The page's <meta property|name=… content=…> and its <title>, first of each."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            values = {name.lower(): value or "" for name, value in attrs}
            key = (values.get("property") or values.get("name") or "").lower()
            if key and "content" in values:
                self.meta.setdefault(key, values["content"])
        self._in_title = tag == "title" and not self.title

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def checked_url(raw: str) -> str:
    """The URL an editor typed, when it is an absolute http(s) link; PageError says what is wrong otherwise."""
    url = raw.strip()
    if not url:
        raise PageError("give the article's address, such as https://example.org/a-story/")
    if len(url) > MAX_URL:
        raise PageError(f"the address is {len(url):,} characters long; give one of at most {MAX_URL:,}")
    if clean.absolute_url(url) != url:
        raise PageError(
            f"{clean.plain_text(url)[:80]!r} is not an http(s) address; give one such as https://example.org/a-story/"
        )
    return url


def read_article_page(raw_url: str, settings: Settings) -> PageFacts:
    """Fetch an article's page and read its title, teaser, picture, date and site; PageError in one sentence."""
    url = checked_url(raw_url)
    cfg = settings.model
    contact = cfg.newsletter.contact_url or cfg.web.base_url
    cap = min(cfg.gather.max_bytes, PAGE_MAX_BYTES)
    fetched = asyncio.run(
        fetch_all([FeedState(url=url)], contact, cfg.gather.timeout, cfg.gather.connect_timeout, 1, cap, PAGE_ACCEPT)
    )[0]
    if fetched.status != FeedStatus.OK:
        if fetched.too_large:
            reason = f"the page is larger than {cap:,} bytes, more than an article's page should be"
        elif fetched.code is not None and fetched.code not in (301, 302, 303, 307, 308):
            reason = f"the server answered HTTP {fetched.code}"
        else:
            reason = fetched.error or "it could not be fetched"
        raise PageError(f"{url} could not be added: {reason}")
    kind = fetched.content_type.split(",")[0].split(";")[0].strip().lower()  # a repeated header joins with ","
    if kind and kind not in HTML_TYPES:
        raise PageError(f"{url} could not be added: it is not a web page but {clean.plain_text(kind)[:60]!r}")
    return facts_of(fetched.body, fetched.content_type, url, fetched.final_url or url, cfg.issue.teaser_words)


def _decode(body: bytes, content_type: str) -> str:
    declared = re.search(r"charset=([A-Za-z0-9_.:-]+)", content_type)
    sniffed = _CHARSET.search(body[:2048])
    for name in (declared.group(1) if declared else None, sniffed.group(1).decode() if sniffed else None, "utf-8"):
        if name:
            try:
                return body.decode(name, errors="replace")
            except LookupError:
                continue
    return body.decode("utf-8", errors="replace")


def _when(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def facts_of(body: bytes, content_type: str, url: str, final_url: str, teaser_words: int = 40) -> PageFacts:
    """The article's facts from its page's head; PageError when the page names no title."""
    text = _decode(body, content_type)
    head = text[: found.start()] if (found := _BODY.search(text)) else text
    parser = _Meta()
    parser.feed(head)
    parser.close()
    meta = parser.meta
    title = clean.plain_text(meta.get("og:title") or meta.get("twitter:title") or parser.title)
    if not title:
        raise PageError(
            f"{url} could not be added: its page gives no title (no og:title meta tag and no <title>); "
            "check that the address is an article's page"
        )
    description = meta.get("og:description") or meta.get("description") or meta.get("twitter:description") or ""
    site = clean.plain_text(meta.get("og:site_name")) or (urlsplit(url).hostname or "").removeprefix("www.")
    return PageFacts(
        url=url,
        title=title[:MAX_TITLE],
        teaser=clean.teaser(description, teaser_words),
        image=clean.absolute_url(meta.get("og:image") or meta.get("twitter:image"), final_url),
        published=_when(meta.get("article:published_time", "")),
        site=site[:MAX_TITLE],
    )
