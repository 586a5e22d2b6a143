"""Turning what a feed says into safe plain text, safe HTML and exact, absolute links."""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import nh3

_C0 = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_C1 = re.compile(r"[\x80-\x9f]")
_SPACE = re.compile(r"\s+")
_WP_FOOTER = re.compile(r"\s*The post .{1,300}? appeared first on .{1,200}?\.?\s*$", re.S)
_READ_MORE = re.compile(r"\s*(\[(…|\.\.\.|&hellip;)\]|Continue reading.*|Read more.*|\(more…\))\s*$", re.I)
_RTL = re.compile(r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")
_LETTER = re.compile(r"[^\W\d_]")
_SENTENCE_END = re.compile(r"[.!?][\"”’)]?(?= [\"“‘(]?[A-Z0-9])")
# "U.S." or "Dr." ending a cut is not the end of a sentence.
_ABBREVIATION = re.compile(r"(\b[A-Z]\.|\b(?:Mr|Mrs|Ms|Dr|St|Sr|Jr|Gen|Gov|Sen|Rep|Prof|No|vs|etc|e\.g|i\.e)\.)$")


def _c1_to_cp1252(match: re.Match[str]) -> str:
    # U+0080–U+009F in decoded text almost always are Windows-1252 bytes read as Latin-1.
    try:
        return bytes([ord(match.group())]).decode("cp1252")
    except UnicodeDecodeError:
        return ""


def strip_controls(text: str) -> str:
    """Drop C0 controls (tab and newlines kept) and repair or drop C1 controls, which Gmail clips on."""
    return _C1.sub(_c1_to_cp1252, _C0.sub("", text))


def plain_text(fragment: str | None) -> str:
    """Any feed field, HTML or not, as one line of plain text: tags and scripts gone, entities decoded."""
    if not fragment:
        return ""
    text = fragment
    if "<" in text or "&" in text:
        text = nh3.clean(text, tags={"p", "br", "li", "div"}, attributes={}, clean_content_tags={"script", "style"})
        text = re.sub(r"<[^>]*>", " ", text)
        text = html.unescape(text)
    return _SPACE.sub(" ", strip_controls(text)).strip()


def teaser(summary: str | None, words: int = 40) -> str:
    """A plain-text teaser cut on a word boundary at about `words` words, with an ellipsis when cut."""
    text = plain_text(summary)
    text = _WP_FOOTER.sub("", text)
    text = _READ_MORE.sub("", text)
    parts = text.split(" ")
    if len(parts) <= words:
        return text
    cut = " ".join(parts[:words]).rstrip(",;:—–-")
    # End on a full sentence when one closes in the last third of the cut.
    ends = [m.end() for m in _SENTENCE_END.finditer(cut) if not _ABBREVIATION.search(cut[: m.start() + 1])]
    if ends and ends[-1] > len(cut) * 2 // 3:
        return cut[: ends[-1]]
    return cut + "…"


def absolute_url(raw: str | None, base: str | None = None) -> str | None:
    """An absolute http(s) URL, or None: javascript:, data:, tag: and relative links without a base die."""
    if not raw:
        return None
    candidate = _SPACE.sub("", strip_controls(raw))
    if not candidate:
        return None
    if base and not urlsplit(candidate).scheme:
        base_parts = urlsplit(base)
        if base_parts.scheme in ("http", "https"):
            candidate = urljoin(base, candidate)
    parts = urlsplit(candidate)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return candidate


def url_key(url: str | None) -> str | None:
    """The form two links share when they name the same article (scheme, case, www., slash, utm_*, #)."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.netloc.lower()
    host = host.removeprefix("www.")
    if host.endswith(":80") or host.endswith(":443"):
        host = host.rsplit(":", 1)[0]
    path = parts.path.rstrip("/") or "/"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.lower().startswith("utm_")]
    return urlunsplit(("", host, path, urlencode(sorted(query)), ""))


def add_utm(url: str, source: str, medium: str, campaign: str) -> str:
    """The link with utm_* parameters added; its own query string and fragment kept as they were."""
    parts = urlsplit(url)
    existing = {k.lower() for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
    extra = [
        (k, v)
        for k, v in (("utm_source", source), ("utm_medium", medium), ("utm_campaign", campaign))
        if k not in existing
    ]
    if not extra:
        return url
    query = parts.query + ("&" if parts.query else "") + urlencode(extra)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def is_rtl(text: str) -> bool:
    """True when most letters of the text are in a right-to-left script."""
    letters = _LETTER.findall(text)
    if not letters:
        return False
    return len(_RTL.findall(text)) * 2 > len(letters)


def fold(text: str) -> str:
    """Case- and accent-insensitive form for matching: 'Perú' and 'peru' fold alike."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
