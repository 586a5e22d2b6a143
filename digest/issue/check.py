"""`digest check`: lint a built issue (.html or .eml) against the email checklist.

The checklist is section 1 of notes/email-standards-measured.md: Gmail's clip point, accessibility
(lang, headings, alt, link text, contrast, font size), safety (no active content or remote CSS), dark
mode, and for a message also MIME order, the required and one-click unsubscribe headers, line length
and DKIM coverage. Colours and sizes are read statically from inline styles, as a mail client sees them.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage, MIMEPart
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Literal

from digest.errors import DigestError
from digest.i18n import same_language
from digest.util import CLIP_BYTES, PREFERENCES_PLACEHOLDER, UNSUBSCRIBE_PLACEHOLDER, WARN_BYTES, plural

Level = Literal["PASS", "WARN", "FAIL"]
MIN_FONT_PX = 14.0
MIN_WORDS = 50
MAX_LINE = 998  # RFC 5322 §2.1.1
PLACEHOLDER_HOSTS = tuple(p.split("/")[2] for p in (UNSUBSCRIBE_PLACEHOLDER, PREFERENCES_PLACEHOLDER))  # per recipient

RGBA = tuple[float, float, float, float]
WHITE: RGBA = (255.0, 255.0, 255.0, 1.0)
BLACK: RGBA = (0.0, 0.0, 0.0, 1.0)
LINK_BLUE: RGBA = (0.0, 0.0, 238.0, 1.0)  # the browsers' default for a:link, which does not inherit


@dataclass(frozen=True)
class Finding:
    """One line of the report: a check, its verdict, and what or where (the offending element or value)."""

    level: Level
    check: str
    detail: str = ""


# --- colours -----------------------------------------------------------------------------------------

NAMED = {
    "black": "#000000", "white": "#ffffff", "red": "#ff0000", "green": "#008000", "blue": "#0000ff",
    "yellow": "#ffff00", "gray": "#808080", "grey": "#808080", "silver": "#c0c0c0", "maroon": "#800000",
    "purple": "#800080", "fuchsia": "#ff00ff", "magenta": "#ff00ff", "lime": "#00ff00", "olive": "#808000",
    "navy": "#000080", "teal": "#008080", "aqua": "#00ffff", "cyan": "#00ffff", "orange": "#ffa500",
    "darkgray": "#a9a9a9", "darkgrey": "#a9a9a9", "lightgray": "#d3d3d3", "lightgrey": "#d3d3d3",
    "dimgray": "#696969", "dimgrey": "#696969", "gainsboro": "#dcdcdc", "whitesmoke": "#f5f5f5",
    "darkred": "#8b0000", "darkblue": "#00008b", "darkgreen": "#006400", "pink": "#ffc0cb",
}  # fmt: skip
_COLOR_TOKEN = re.compile(r"#[0-9a-f]{3,8}\b|rgba?\([^)]*\)|\b[a-z]+\b", re.I)


def parse_color(value: str) -> RGBA | None:
    """A CSS colour as (r, g, b, alpha); None for 'transparent', keywords and anything unparseable."""
    text = value.strip().lower().replace("!important", "").strip()
    text = NAMED.get(text, text)
    if text.startswith("#"):
        digits = text[1:]
        if len(digits) in (3, 4):
            digits = "".join(c * 2 for c in digits)
        if len(digits) not in (6, 8) or not re.fullmatch(r"[0-9a-f]+", digits):
            return None
        alpha = int(digits[6:8], 16) / 255 if len(digits) == 8 else 1.0
        return (float(int(digits[0:2], 16)), float(int(digits[2:4], 16)), float(int(digits[4:6], 16)), alpha)
    match = re.fullmatch(r"rgba?\(([^)]*)\)", text)
    if match:
        parts = [p for p in re.split(r"[\s,/]+", match.group(1)) if p]
        if len(parts) not in (3, 4):
            return None
        try:
            rgb = [float(p[:-1]) * 2.55 if p.endswith("%") else float(p) for p in parts[:3]]
            alpha = 1.0
            if len(parts) == 4:
                alpha = float(parts[3][:-1]) / 100 if parts[3].endswith("%") else float(parts[3])
        except ValueError:
            return None
        return (rgb[0], rgb[1], rgb[2], alpha)
    return None


def background_color(value: str) -> RGBA | None:
    """The colour in a `background` shorthand (which may also hold an image, a position …)."""
    for token in _COLOR_TOKEN.findall(value):
        if token.lower() == "transparent":
            return (0.0, 0.0, 0.0, 0.0)
        color = parse_color(token)
        if color is not None:
            return color
    return None


def over(top: RGBA, below: RGBA) -> RGBA:
    """`top` composited over an opaque `below`."""
    a = top[3]
    return (top[0] * a + below[0] * (1 - a), top[1] * a + below[1] * (1 - a), top[2] * a + below[2] * (1 - a), 1.0)


def _luminance(color: RGBA) -> float:
    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color[0]) + 0.7152 * channel(color[1]) + 0.0722 * channel(color[2])


def contrast_ratio(first: RGBA | str, second: RGBA | str) -> float:
    """WCAG 2.x contrast ratio of two colours (1.0 … 21.0)."""
    a = parse_color(first) if isinstance(first, str) else first
    b = parse_color(second) if isinstance(second, str) else second
    if a is None or b is None:
        raise ValueError(f"not a colour: {first!r} / {second!r}")
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def hex_color(color: RGBA) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(round(c) for c in color[:3]))


# --- a small tolerant HTML tree --------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
CLOSES_P = {"p", "div", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr"}
HIDDEN_TAGS = {"head", "title", "style", "script", "template", "noscript", "xml"}
URL_ATTRS = {"href", "src", "action", "formaction", "background", "poster", "xlink:href", "srcset", "lowsrc", "dynsrc"}
BAD_TAGS = {"script", "iframe", "object", "embed", "applet", "frame", "frameset"}
HEADING_SCALE = {"h1": 2.0, "h2": 1.5, "h3": 1.17, "h4": 1.0, "h5": 0.83, "h6": 0.67, "small": 0.83}
BOLD_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "b", "strong", "th"}
INVISIBLE_CHARS = "\u034f\u200b\u200c\u200d\u2060\ufeff\xad"


@dataclass(eq=False)
class Node:
    tag: str
    attrs: dict[str, str]
    parent: Node | None = None
    children: list[Node | str] = field(default_factory=list)
    position: tuple[int, int] = (1, 0)

    def style(self) -> dict[str, str]:
        return parse_style(self.attrs.get("style", ""))

    def iter(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def text(self) -> str:
        parts: list[str] = []
        for child in self.children:
            parts.append(child if isinstance(child, str) else child.text())
        return "".join(parts)

    def describe(self, text: str | None = None) -> str:
        """`<p class="meta">` plus a snippet of its text: enough to find it in the file."""
        label = self.tag
        for name in ("id", "class"):
            if self.attrs.get(name):
                label += f' {name}="{self.attrs[name]}"'
        snippet = " ".join((self.text() if text is None else text).split())
        snippet = snippet.strip(INVISIBLE_CHARS)
        if len(snippet) > 48:
            snippet = snippet[:47] + "…"
        return f"<{label}>" + (f" {snippet!r}" if snippet else "")


def parse_style(value: str) -> dict[str, str]:
    declarations: dict[str, str] = {}
    for part in value.split(";"):
        name, sep, val = part.partition(":")
        if sep and name.strip():
            declarations[name.strip().lower()] = val.strip()
    return declarations


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.declarations: list[str] = []

    def _append(self, tag: str, attrs: list[tuple[str, str | None]]) -> Node:
        values: dict[str, str] = {}
        for name, value in attrs:
            values.setdefault(name.lower(), value or "")  # the first of a repeated attribute wins, as in browsers
        if tag in CLOSES_P and self.stack[-1].tag == "p":
            self.stack.pop()
        if tag == "li" and self.stack[-1].tag == "li":
            self.stack.pop()
        node = Node(tag, values, self.stack[-1], position=self.getpos())
        self.stack[-1].children.append(node)
        return node

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = self._append(tag, attrs)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._append(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)

    def handle_decl(self, decl: str) -> None:
        self.declarations.append(decl)


def parse_html(html: str) -> tuple[Node, list[str]]:
    """The element tree and the <!…> declarations; conditional comments (Outlook's copy) are skipped."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root, builder.declarations


# --- what a reader sees: each run of text with its colour, backdrop and size ------------------------


@dataclass(frozen=True)
class Look:
    color: RGBA = BLACK
    background: RGBA = WHITE
    font_px: float = 16.0
    bold: bool = False
    hidden: bool = False


@dataclass(frozen=True)
class TextRun:
    text: str
    node: Node
    look: Look
    alt: bool = False  # an image's alt text, which clients show in its place when images are off

    def where(self) -> str:
        return self.node.describe(self.text) + (" (alt text, shown when images are off)" if self.alt else "")


def _font_px(value: str, parent_px: float) -> float | None:
    value = value.replace("!important", "").strip().lower()
    keywords = {"xx-small": 9, "x-small": 10, "small": 13, "medium": 16, "large": 18, "x-large": 24, "xx-large": 32}
    if value in keywords:
        return float(keywords[value])
    if value == "smaller":
        return parent_px / 1.2
    if value == "larger":
        return parent_px * 1.2
    match = re.fullmatch(r"(-?[\d.]+)\s*(px|pt|em|rem|%)?", value)
    if not match:
        return None
    number, unit = float(match.group(1)), match.group(2) or "px"
    return {
        "px": number,
        "pt": number * 4 / 3,
        "em": number * parent_px,
        "rem": number * 16,
        "%": number * parent_px / 100,
    }[unit]


def _is_hidden(node: Node, style: dict[str, str]) -> bool:
    def value(name: str) -> str:
        return style.get(name, "").replace("!important", "").strip().lower()

    if node.tag in HIDDEN_TAGS or "hidden" in node.attrs:
        return True
    if value("display") == "none" or value("visibility") == "hidden":
        return True
    if value("opacity") in ("0", "0.0", "0%"):
        return True
    return value("max-height") in ("0", "0px") and value("overflow") == "hidden"


def _look(node: Node, inherited: Look) -> Look:
    style = node.style()
    color = inherited.color
    if ("color" in style and (parsed := parse_color(style["color"])) is not None) or (
        node.tag == "font" and (parsed := parse_color(node.attrs.get("color", ""))) is not None
    ):
        color = parsed
    elif node.tag == "a" and "href" in node.attrs:
        color = LINK_BLUE
    background = inherited.background
    for source in (style.get("background-color"), style.get("background"), node.attrs.get("bgcolor")):
        if source and (found := background_color(source)) is not None:
            background = over(found, inherited.background)
            break
    if color[3] < 1:
        color = over(color, background)
    font_px = inherited.font_px
    if "font-size" in style:
        font_px = _font_px(style["font-size"], inherited.font_px) or font_px
    elif node.tag in HEADING_SCALE:
        font_px = inherited.font_px * HEADING_SCALE[node.tag]
    weight = style.get("font-weight", "").replace("!important", "").strip().lower()
    bold = inherited.bold or node.tag in BOLD_TAGS
    if weight:
        bold = weight in ("bold", "bolder") or (weight.isdigit() and int(weight) >= 600)
    hidden = inherited.hidden or _is_hidden(node, style) or font_px < 1
    return Look(color=color, background=background, font_px=font_px, bold=bold, hidden=hidden)


def text_runs(root: Node) -> list[TextRun]:
    """Every non-blank piece of text (and image alt text) in document order, with how it looks, hidden included."""
    runs: list[TextRun] = []

    def walk(node: Node, look: Look) -> None:
        for child in node.children:
            if isinstance(child, Node):
                child_look = _look(child, look)
                if child.tag == "img" and child.attrs.get("alt", "").strip():
                    runs.append(TextRun(child.attrs["alt"], child, child_look, alt=True))
                walk(child, child_look)
            elif child.strip().strip(INVISIBLE_CHARS).strip():
                runs.append(TextRun(child, node, look))

    walk(root, Look())
    return runs


def is_large(look: Look) -> bool:
    """WCAG's large text: ≥ 24px, or ≥ 18.66px (14pt) bold."""
    return look.font_px >= 24 or (look.bold and look.font_px >= 18.66)


# --- the HTML checks ---------------------------------------------------------------------------------


def _verdict(ok: bool, check: str, passed: str, failed: str, level: Level = "FAIL") -> Finding:
    return Finding("PASS", check, passed) if ok else Finding(level, check, failed)


def _examples(items: list[str], limit: int = 3) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")


def _size(check: str, size: int, what: str) -> Finding:
    detail = f"{size:,} bytes {what}"
    if size >= CLIP_BYTES:
        return Finding("FAIL", check, f"{detail}: Gmail clips at about {CLIP_BYTES:,}")
    if size >= WARN_BYTES:
        return Finding("WARN", check, f"{detail}: within {CLIP_BYTES - size:,} bytes of Gmail's clip point")
    return Finding("PASS", check, f"{detail} (clip point {CLIP_BYTES:,})")


def _c1(check: str, text: str) -> Finding:
    found = [(i, ch) for i, ch in enumerate(text) if "\x80" <= ch <= "\x9f"]
    if not found:
        return Finding("PASS", check, "none")
    where = ", ".join(f"U+{ord(ch):04X} at offset {i}: {text[max(0, i - 20) : i]!r}" for i, ch in found[:3])
    return Finding("FAIL", check, f"{len(found)} found (Gmail clips such emails): {where}")


def _link_text(node: Node) -> str:
    parts = [node.attrs.get("aria-label", "")]
    parts += [c.attrs.get("alt", "") for c in node.iter() if c.tag == "img"]
    return " ".join(" ".join([*parts, node.text()]).split()).strip(INVISIBLE_CHARS).strip()


GENERIC_LINK_TEXT = {
    "read more", "click here", "here", "more", "learn more", "read on", "continue reading", "continue", "link",
    "this link", "click", "click this", "details", "more info", "more information", "see more", "view more",
    "find out more", "this", "go", "read the article", "read article", "full story", "read the full story",
    "read full article", "read the rest", "keep reading", "more here", "tap here", "go here", "view",
}  # fmt: skip


def _is_generic(text: str) -> bool:
    return re.sub(r"[^\w\s]", "", text.lower()).strip() in GENERIC_LINK_TEXT or not re.search(r"\w", text)


def _style_texts(root: Node) -> list[str]:
    return [node.text() for node in root.iter() if node.tag == "style"]


def dark_blocks(css: str) -> list[str]:
    """The bodies of every `@media … (prefers-color-scheme: dark) …` block in a style sheet."""
    blocks = []
    for match in re.finditer(r"@media[^{]*prefers-color-scheme\s*:\s*dark[^{]*\{", css, re.I):
        depth, start = 1, match.end()
        i = start
        while i < len(css) and depth:
            depth += {"{": 1, "}": -1}.get(css[i], 0)
            i += 1
        blocks.append(css[start : i - 1])
    return blocks


def palette(css: str) -> tuple[list[str], list[str]]:
    """The text colours and the background colours a style sheet declares, as written."""
    texts = re.findall(r"(?<![-\w])color\s*:\s*([^;}]+)", css, re.I)
    backgrounds = re.findall(r"(?<![-\w])background(?:-color)?\s*:\s*([^;}]+)", css, re.I)
    return [t.strip() for t in texts], [b.strip() for b in backgrounds]


def palette_problems(css: str, minimum: float = 4.5) -> tuple[list[str], int]:
    """Each text colour against each background of a palette below `minimum`; and how many pairs were measured."""
    texts, backgrounds = palette(css)
    inks = {hex_color(c) for t in texts if (c := parse_color(t)) is not None}
    papers = {hex_color(c) for b in backgrounds if (c := background_color(b)) is not None and c[3] > 0}
    problems = []
    for ink in sorted(inks):
        for paper in sorted(papers):
            ratio = contrast_ratio(ink, paper)
            if ratio < minimum:
                problems.append(f"{ink} on {paper} = {ratio:.2f}:1 (needs {minimum}:1)")
    return problems, len(inks) * len(papers)


def _dark_mode(root: Node) -> list[Finding]:
    meta = [
        n.attrs.get("content", "")
        for n in root.iter()
        if n.tag == "meta" and n.attrs.get("name", "").lower() == "color-scheme"
    ]
    css = "\n".join(_style_texts(root))
    blocks = dark_blocks(css)
    findings = [
        _verdict(
            any("dark" in m for m in meta),
            "color-scheme meta",
            f'content="{meta[0]}"' if meta else "",
            '<meta name="color-scheme" content="light dark"> is missing: clients may recolour the email',
            "WARN",
        ),
        _verdict(
            bool(blocks),
            "dark mode rules",
            f"{len(blocks)} @media (prefers-color-scheme: dark) block(s)",
            "no @media (prefers-color-scheme: dark) rules: Apple Mail and Outlook will invert colours themselves",
            "WARN",
        ),
    ]
    if blocks:
        dark = "\n".join(blocks)
        problems, pairs = palette_problems(dark)
        _, backgrounds = palette(dark)
        if not backgrounds:
            findings.append(Finding("WARN", "dark palette contrast", "the dark rules set no background colour"))
        else:
            findings.append(
                _verdict(
                    not problems,
                    "dark palette contrast",
                    f"{pairs} text/background pairs ≥ 4.5:1",
                    _examples(problems),
                )
            )
    return findings


def _contrast(runs: list[TextRun]) -> Finding:
    low: dict[tuple[str, str, float], list[TextRun]] = {}
    for run in runs:
        need = 3.0 if is_large(run.look) else 4.5
        ratio = contrast_ratio(run.look.color, run.look.background)
        if ratio < need:
            low.setdefault((hex_color(run.look.color), hex_color(run.look.background), need), []).append(run)
    if not low:
        return Finding("PASS", "contrast", f"{len(runs)} runs of text ≥ 4.5:1 (3:1 when ≥ 24px)")
    items = [
        f"{fg} on {bg} = {contrast_ratio(fg, bg):.2f}:1 (needs {need}:1) at {group[0].where()}"
        + (f" and {len(group) - 1} more" if len(group) > 1 else "")
        for (fg, bg, need), group in low.items()
    ]
    return Finding("FAIL", "contrast", _examples(items))


def _font_size(runs: list[TextRun]) -> Finding:
    small = [r for r in runs if r.look.font_px < MIN_FONT_PX]
    if not small:
        smallest = min((r.look.font_px for r in runs), default=0)
        return Finding("PASS", "font size", f"smallest visible text {smallest:g}px")
    items = [f"{r.look.font_px:g}px at {r.where()}" for r in small]
    return Finding(
        "FAIL",
        "font size",
        f"{plural(len(small), 'run')} of text under {MIN_FONT_PX:g}px: " + _examples(items),
    )


def _preheader(body: Node | None, runs: list[TextRun]) -> Finding:
    first_visible = next((i for i, r in enumerate(runs) if not r.look.hidden), len(runs))
    hidden = [r for r in runs[:first_visible] if r.look.hidden and body is not None and _inside(r.node, body)]
    if not hidden:
        return Finding(
            "WARN", "preheader", "no hidden preheader before the first visible text: inboxes show boilerplate"
        )
    look = hidden[0].look
    ratio = contrast_ratio(look.color, look.background)
    if hex_color(look.color) == "#ffffff" or ratio < 1.5:
        return Finding(
            "WARN",
            "preheader",
            f"the hidden preheader is {hex_color(look.color)} on {hex_color(look.background)}: SpamAssassin's "
            "HTML_FONT_LOW_CONTRAST (+0.7) fires on it",
        )
    return Finding("PASS", "preheader", f"{hex_color(look.color)}: {' '.join(hidden[0].text.split())[:60]!r}")


def _inside(node: Node, ancestor: Node) -> bool:
    current: Node | None = node
    while current is not None:
        if current is ancestor:
            return True
        current = current.parent
    return False


def _visible(node: Node) -> bool:
    current: Node | None = node
    while current is not None:
        if _is_hidden(current, current.style()):
            return False
        current = current.parent
    return True


def _headings(elements: list[Node]) -> list[Finding]:
    headings = [n for n in elements if re.fullmatch(r"h[1-6]", n.tag) and _visible(n)]
    h1 = [n for n in headings if n.tag == "h1"]
    skips, previous = [], 0
    for node in headings:
        level = int(node.tag[1])
        if level > previous + 1:
            after = f"h{previous}" if previous else "the start"
            skips.append(f"{node.describe()} follows {after}")
        previous = level
    return [
        _verdict(
            len(h1) == 1,
            "one h1",
            h1[0].describe() if h1 else "",
            f"{len(h1)} <h1> elements" + (f": {_examples([n.describe() for n in h1])}" if h1 else ""),
        ),
        _verdict(not skips, "heading levels", f"{len(headings)} headings, none skipped", _examples(skips)),
    ]


def _active_content(elements: list[Node], css: str) -> list[Finding]:
    tags = [n.describe("") for n in elements if n.tag in BAD_TAGS]
    handlers = [f"{n.describe('')} {name}=" for n in elements for name in n.attrs if name.startswith("on")]
    urls = []
    for node in elements:
        for name, value in node.attrs.items():
            compact = re.sub(r"[\s\x00-\x1f]+", "", value).lower()
            if name in URL_ATTRS and compact.startswith(("javascript:", "vbscript:", "data:")):
                urls.append(f'{node.describe("")} {name}="{value[:40]}"')
        if re.search(r"url\(\s*['\"]?\s*(javascript|vbscript|data):", node.attrs.get("style", ""), re.I):
            urls.append(f"{node.describe('')} style=url(…)")
    if re.search(r"url\(\s*['\"]?\s*(javascript|vbscript):", css, re.I):
        urls.append("<style> url(javascript:…)")
    sheets = [
        n.describe("") + f' href="{n.attrs.get("href", "")}"'
        for n in elements
        if n.tag == "link" and "stylesheet" in n.attrs.get("rel", "").lower()
    ]
    imports = re.findall(r"@import\s+[^;]+", css + " ".join(n.attrs.get("style", "") for n in elements), re.I)
    return [
        _verdict(not tags, "no script/iframe/object", "none", _examples(tags)),
        _verdict(not handlers, "no event handlers", "none", _examples(handlers)),
        _verdict(not urls, "no javascript:/data: URLs", "none", _examples(urls)),
        _verdict(not sheets and not imports, "no remote CSS", "none", _examples(sheets + imports)),
    ]


def _tables(elements: list[Node]) -> Finding:
    tables = [n for n in elements if n.tag == "table"]
    data = {id(t) for t in tables if t.attrs.get("role") in ("table", "grid") or any(
        c.tag in ("th", "caption") for c in t.iter())}  # fmt: skip
    layout = [t for t in tables if id(t) not in data]
    missing = [t for t in layout if t.attrs.get("role", "").lower() not in ("presentation", "none")]
    return _verdict(
        not missing,
        "layout tables",
        f'{len(layout)}/{len(layout)} have role="presentation"',
        f'{len(missing)} of {len(layout)} lack role="presentation": '
        + _examples([f"{t.describe('')} at line {t.position[0]}, column {t.position[1]}" for t in missing]),
    )


def _lang(declared: str, expected: str | None) -> Finding:
    """The lang attribute is there, and names the newsletter's language when that is known."""
    if declared and expected and not same_language(declared, expected):
        return Finding("FAIL", "html lang", f'lang="{declared}" but the newsletter\'s language is {expected!r}')
    return _verdict(bool(declared), "html lang", f'lang="{declared}"', "<html> has no lang attribute")


def check_html(html: str, language: str | None = None) -> list[Finding]:
    """Lint an email's HTML: size, accessibility, dark mode and safety; `language`: the lang it must declare."""
    root, declarations = parse_html(html)
    elements = list(root.iter())[1:]
    html_node = next((n for n in elements if n.tag == "html"), None)
    body = next((n for n in elements if n.tag == "body"), None)
    runs = text_runs(root)
    visible = [r for r in runs if not r.look.hidden]
    css = "\n".join(_style_texts(root))
    findings = [_size("html size", len(html.encode("utf-8")), "of HTML"), _c1("no C1 control characters", html)]

    findings.append(
        _verdict(
            bool(re.match(r"\ufeff?\s*<!doctype html\s*>", html, re.I)),
            "doctype",
            "<!doctype html>",
            "the file does not start with <!doctype html>: clients fall back to quirks mode"
            + (f" (found <!{declarations[0]}>)" if declarations else ""),
        )
    )
    lang = html_node.attrs.get("lang", "").strip() if html_node else ""
    findings.append(_lang(lang, language))
    direction = html_node.attrs.get("dir", "") if html_node else ""
    findings.append(_verdict(bool(direction), "html dir", f'dir="{direction}"', "<html> has no dir attribute", "WARN"))
    titles = [" ".join(n.text().split()) for n in elements if n.tag == "title"]
    findings.append(
        _verdict(bool(titles and titles[0]), "title", repr(titles[0]) if titles else "", "no non-empty <title>")
    )
    findings += _headings(elements)

    images = [n for n in elements if n.tag == "img"]
    no_alt = [f'<img src="{n.attrs.get("src", "")[:60]}">' for n in images if "alt" not in n.attrs]
    findings.append(_verdict(not no_alt, "img alt", f"{len(images)}/{len(images)} images have alt", _examples(no_alt)))
    pixels = [
        f'<img src="{n.attrs.get("src", "")[:60]}">'
        for n in images
        if n.attrs.get("width") in ("0", "1") or n.attrs.get("height") in ("0", "1")
    ]
    findings.append(_verdict(not pixels, "no tracking pixels", "none", _examples(pixels)))

    links = [n for n in elements if n.tag == "a" and "href" in n.attrs]
    empty = [f'<a href="{n.attrs["href"][:60]}">' for n in links if not _link_text(n)]
    findings.append(_verdict(not empty, "link text", f"{len(links)} links, none empty", "empty: " + _examples(empty)))
    generic = [
        f"{_link_text(n)!r} → {n.attrs['href'][:60]}" for n in links if _link_text(n) and _is_generic(_link_text(n))
    ]
    findings.append(
        _verdict(
            not generic,
            "descriptive link text",
            "every link names its target",
            "link text that says nothing about where it goes: " + _examples(generic),
        )
    )
    unsubscribe = [
        n
        for n in links
        if _visible(n) and ("unsubscribe" in n.attrs["href"].lower() or "unsubscribe" in _link_text(n).lower())
    ]
    findings.append(
        _verdict(
            bool(unsubscribe),
            "unsubscribe link",
            repr(_link_text(unsubscribe[0])) if unsubscribe else "",
            "no visible link whose text or address says 'unsubscribe'",
        )
    )
    findings.append(_contrast(visible))
    findings.append(_font_size(visible))
    findings.append(_preheader(body, runs))
    findings += _dark_mode(root)
    findings.append(_tables(elements))
    findings += _active_content(elements, css)
    return findings


# --- the message checks ------------------------------------------------------------------------------

REQUIRED_ONCE = ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version")


def _headers(msg: EmailMessage) -> list[Finding]:
    problems = []
    for name in REQUIRED_ONCE:
        count = len(msg.get_all(name) or [])
        if count != 1:
            problems.append(f"{name} appears {count} times" if count else f"{name} is missing")
    senders = getaddresses([str(v) for v in msg.get_all("From") or []])
    if len(senders) > 1 or (senders and "@" not in senders[0][1]):
        problems.append(f"From must hold one address, not {msg['From']!r}")
    if msg["Date"]:
        try:
            parsedate_to_datetime(str(msg["Date"]))
        except (TypeError, ValueError):
            problems.append(f"Date is not an RFC 5322 date: {msg['Date']!r}")
    mid = str(msg["Message-ID"] or "")
    if mid and not re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", mid.strip()):
        problems.append(f"Message-ID is malformed: {mid!r}")
    return [_verdict(not problems, "headers", "/".join(REQUIRED_ONCE) + " once each", _examples(problems, 6))]


_HEAD_END = re.compile(rb"\r?\n\r?\n")


def _header_lines(raw: bytes) -> Finding:
    """RFC 5322 §2.1, §2.2.3: every header line ends in CRLF (a bare CR or LF is read differently by each
    relay and client, and can smuggle a header in) and holds at most 998 octets (relays refuse longer)."""
    end = _HEAD_END.search(raw)
    head = raw[: end.start()] if end else raw
    problems = []
    bare_lf = len(re.findall(rb"(?<!\r)\n", head))
    bare_cr = len(re.findall(rb"\r(?!\n)", head))
    if bare_lf:
        problems.append(f"{plural(bare_lf, 'line')} folded or ended with a bare LF")
    if bare_cr:
        problems.append(f"{plural(bare_cr, 'bare CR')}")
    long = [line for line in re.split(rb"\r\n|\r|\n", head) if len(line) > MAX_LINE]
    if long:
        name = long[0].split(b":", 1)[0][:40].decode("ascii", "replace")
        problems.append(
            f"{plural(len(long), 'header line')} over {MAX_LINE} octets (the first, {name}, "
            f"{max(len(line) for line in long):,})"
        )
    longest = max((len(line) for line in re.split(rb"\r\n|\r|\n", head)), default=0)
    return _verdict(
        not problems, "header lines", f"CRLF line ends, ≤ {MAX_LINE} octets (longest {longest})", "; ".join(problems)
    )


def _placeholders(content: str) -> list[str]:
    return [host for host in PLACEHOLDER_HOSTS if host in content]


def _unsubscribe_headers(msg: EmailMessage) -> list[Finding]:
    values = [str(v) for v in msg.get_all("List-Unsubscribe") or []]
    uris = re.findall(r"<([^>]*)>", " ".join(values))
    https = [u for u in uris if u.lower().startswith("https://")]
    if not values:
        unsub = Finding("FAIL", "List-Unsubscribe", "the List-Unsubscribe header is missing")
    elif len(values) > 1:
        unsub = Finding("FAIL", "List-Unsubscribe", f"appears {len(values)} times")
    else:
        unsub = _verdict(
            bool(https), "List-Unsubscribe", f"<{https[0]}>" if https else "", f"no https URI in {values[0]!r}"
        )
    posts = [" ".join(str(v).split()) for v in msg.get_all("List-Unsubscribe-Post") or []]
    post = _verdict(
        posts == ["List-Unsubscribe=One-Click"],
        "List-Unsubscribe-Post",
        "List-Unsubscribe=One-Click",
        "the List-Unsubscribe-Post header is missing (RFC 8058 one-click)"
        if not posts
        else f"expected exactly 'List-Unsubscribe=One-Click' once but found {posts!r}",
    )
    return [unsub, post]


def _dkim(msg: EmailMessage) -> Finding:
    signatures = [str(v) for v in msg.get_all("DKIM-Signature") or []]
    if not signatures:
        return Finding("PASS", "DKIM h=", "not signed (signing happens when config has a dkim key)")
    problems = []
    for signature in signatures:
        tags = dict(
            (k.strip().lower(), v)
            for k, _, v in (t.partition("=") for t in re.sub(r"\s+", "", signature).split(";"))
            if k.strip()
        )
        signed = {h.lower() for h in tags.get("h", "").split(":")}
        missing = {"list-unsubscribe", "list-unsubscribe-post"} - signed
        if missing:
            problems.append(f"s={tags.get('s', '?')} d={tags.get('d', '?')} h= lacks {', '.join(sorted(missing))}")
    return _verdict(not problems, "DKIM h=", "covers list-unsubscribe and list-unsubscribe-post", _examples(problems))


def _qp_lines(parts: list[MIMEPart]) -> Finding:
    """RFC 2045 §6.7: an encoded quoted-printable line holds at most 76 characters."""
    long = []
    for part in parts:
        if str(part.get("Content-Transfer-Encoding", "")).lower() != "quoted-printable":
            continue
        payload = part.get_payload(decode=False)
        lengths = [len(line.rstrip("\r")) for line in str(payload).split("\n")]
        long += [f"{part.get_content_type()}: a line of {n}" for n in lengths if n > 76]
    return _verdict(
        not long,
        "quoted-printable lines",
        "every encoded line ≤ 76 characters",
        f"{len(long)} encoded lines over 76 characters (RFC 2045; SpamAssassin MIME_QP_LONG_LINE): " + _examples(long),
        "WARN",
    )


def check_eml(raw: bytes, language: str | None = None) -> list[Finding]:
    """Lint a message: headers, MIME order, one-click unsubscribe, line length, DKIM coverage, and its HTML."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    findings = [*_headers(msg), _header_lines(raw), *_unsubscribe_headers(msg)]
    parts: list[MIMEPart] = list(msg.iter_parts()) if msg.is_multipart() else [msg]
    types = [p.get_content_type() for p in parts]
    structure_ok = (
        msg.get_content_type() == "multipart/alternative"
        and types[:1] == ["text/plain"]
        and types[-1:] == ["text/html"]
    )
    findings.append(
        _verdict(
            structure_ok,
            "MIME structure",
            "multipart/alternative: text/plain first, text/html last",
            f"expected multipart/alternative with text/plain first and text/html last, found {msg.get_content_type()}"
            + (f" of [{', '.join(types)}]" if msg.is_multipart() else ""),
        )
    )
    lengths = [len(line.rstrip(b"\r")) for line in raw.split(b"\n")]
    long_lines = [n for n in lengths if n > MAX_LINE]
    findings.append(
        _verdict(
            not long_lines,
            "line length",
            f"every line ≤ {MAX_LINE} octets (longest {max(lengths)})",
            f"{len(long_lines)} lines over {MAX_LINE} octets, the longest {max(long_lines, default=0):,}",
        )
    )
    findings.append(_qp_lines(parts))
    findings.append(_dkim(msg))
    findings.append(_size("message size", len(raw), "in the whole message"))
    if findings[-1].level == "FAIL":  # the conservative reading: report it, the decoded HTML is what Gmail gates on
        findings[-1] = Finding("WARN", findings[-1].check, findings[-1].detail)

    text_parts = [p for p in parts if p.get_content_type() == "text/plain"]
    html_parts = [p for p in parts if p.get_content_type() == "text/html"]
    if text_parts:
        text = str(text_parts[0].get_content())
        words = len(re.findall(r"\w+", text))
        findings.append(
            _verdict(
                words > MIN_WORDS,
                "text part",
                f"{words:,} words",
                f"the text/plain part has {words} words: a stub (SpamAssassin MPART_ALT_DIFF +2.2)",
            )
        )
        findings.append(_c1("no C1 control characters (text part)", text))
        findings.append(
            _verdict(
                not _placeholders(text),
                "personalised (text part)",
                "unsubscribe and preferences URLs substituted",
                f"the text part still holds the placeholder {', '.join(_placeholders(text))}",
            )
        )
    else:
        findings.append(Finding("FAIL", "text part", "no text/plain part"))
    if not html_parts:
        findings.append(Finding("FAIL", "html part", "no text/html part"))
        return findings
    html_part = html_parts[0]
    html = str(html_part.get_content())
    encoded = html_part.get_payload(decode=False)
    encoded_size = len(encoded.encode("utf-8", "surrogateescape")) if isinstance(encoded, str) else 0
    cte = str(html_part.get("Content-Transfer-Encoding", "7bit")).lower()
    findings.append(_size("html size as encoded", encoded_size, f"of {cte} HTML as sent"))
    findings.append(
        _verdict(
            not _placeholders(html),
            "personalised (html part)",
            "unsubscribe and preferences URLs substituted",
            f"the HTML part still holds the placeholder {', '.join(_placeholders(html))}",
        )
    )
    return findings + check_html(html, language)


# --- files and the report ----------------------------------------------------------------------------


_HEADER_FIELD = re.compile(rb"[!-9;-~]+:")  # an email's first line: a header field's name and its colon (RFC 5322)


def check_file(path: Path, language: str | None = None) -> list[Finding]:
    """Check a built .html or .eml (by extension; otherwise by content), its lang against `language` if given."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DigestError(f"{path}: cannot read it ({error.strerror})") from None
    suffix = path.suffix.lower()
    looks_html = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<"
    if suffix == ".eml" or (suffix not in (".html", ".htm") and not looks_html):
        if suffix != ".eml" and not _HEADER_FIELD.match(data.lstrip(b"\xef\xbb\xbf")):
            raise DigestError(f"{path}: neither HTML nor an email message; give a built .html or .eml")
        return check_eml(data, language)
    try:
        return check_html(data.decode("utf-8"), language)
    except UnicodeDecodeError as error:
        raise DigestError(f"{path}: not UTF-8 at byte {error.start}; digest writes its HTML as UTF-8") from None


def failed(findings: list[Finding]) -> bool:
    return any(f.level == "FAIL" for f in findings)


def report(findings: list[Finding], name: str = "") -> str:
    """A plain aligned table, one finding a line, and a summary line."""
    width = max((len(f.check) for f in findings), default=0)
    lines = [f"{f.level:<4}  {f.check:<{width}}  {f.detail}".rstrip() for f in findings]
    counts = {level: sum(f.level == level for f in findings) for level in ("FAIL", "WARN", "PASS")}
    summary = ", ".join(f"{n} {level}" for level, n in counts.items())
    lines.append(f"{name + ': ' if name else ''}{summary}")
    return "\n".join(lines)
