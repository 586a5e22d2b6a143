"""Render: an Issue → the email's HTML (Jinja2 → MJML → mjml-python → premailer) and its plain text.

This is the one render path: build, preview, test sends and real sends all call `render()`.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import re
import sys
import textwrap
import types
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jinja2
import jinja2.sandbox
from markupsafe import Markup, escape
from mjml import mjml2html

from digest.config import Settings
from digest.errors import TemplateError
from digest.feeds.clean import add_utm
from digest.i18n import dates, install, translations
from digest.models import Article, Issue, Placed, Rendered, Section, Stage, Window
from digest.util import (
    CLIP_BYTES,
    PREFERENCES_PLACEHOLDER,
    UNSUBSCRIBE_PLACEHOLDER,
    clip,
    plural,
    preferences_url_of,
    shorten,
    subject_fields,
)

# Personal parts are placeholders in the rendered issue, substituted per recipient at send time.

_MSO_MERGE = re.compile(r"<!\[endif\]-->\s*?<!--\[if mso \| IE\]>")
_DOCTYPE = re.compile(r"^\s*<!doctype html>", re.I)


SHIPPED_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def template_dirs(settings: Settings | None) -> list[Path]:
    """The folders templates are read from: config's override first, then the shipped ones."""
    dirs = []
    if settings is not None and settings.model.templates:
        dirs.append(settings.resolve(settings.model.templates))
    dirs.append(SHIPPED_TEMPLATES)
    return dirs


def _wrap(text: str, width: int = 76, indent: str = "") -> str:
    return textwrap.fill(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


@lru_cache(maxsize=8)
def template_environment(dirs: tuple[Path, ...], html: bool, language: str = "en") -> jinja2.Environment:
    # Editors may change these templates (the `templates:` folder): sandboxed, a template can reach no file,
    # module or private attribute, only the values it is given.
    env = jinja2.sandbox.SandboxedEnvironment(
        loader=jinja2.FileSystemLoader([str(d) for d in dirs]),
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=True,
    )
    env.filters["wrap"] = _wrap
    install(env, language)
    return env


def _context(issue: Issue, settings: Settings, html: bool) -> dict[str, Any]:
    cfg = settings.model
    zone = ZoneInfo(cfg.newsletter.timezone)
    language = cfg.newsletter.language
    utm = cfg.utm

    def link(article: Article) -> str:
        assert article.url is not None
        if not utm.enabled:
            return article.url
        return add_utm(article.url, utm.source, utm.medium, issue.id)

    def meta_text(article: Article) -> str:
        parts = [article.author] if article.author else []
        if article.published and article.dated_by == "feed":
            parts.append(dates.day(article.published, language, zone))
        return " · ".join(parts)

    def meta(article: Article) -> Markup:
        text = meta_text(article)
        return Markup('<p class="meta">{}</p>').format(text) if text else Markup("")

    def also(placed: Placed) -> Markup:
        links = Markup(", ").join(
            Markup('<a href="{}" title="{}">{}</a>').format(link(p.article), p.article.title, p.article.feed)
            for p in placed.also
        )
        label = translations(language).gettext("Also in:")
        return Markup('<p class="also">{} {}</p>').format(label, links) if placed.also else Markup("")

    def also_text(placed: Placed) -> str:
        return "; ".join(f"{p.article.feed}: {link(p.article)}" for p in placed.also)

    def rtl(article: Article) -> Markup:
        return Markup(' dir="rtl" style="text-align:right"') if article.rtl else Markup("")

    web_url = issue_web_url(settings, issue.id)
    site = cfg.web.base_url
    return {
        "lang": cfg.newsletter.language,
        "title": cfg.newsletter.title,
        "subject": issue.subject,
        "issue": issue,
        "sections": [s for s in issue.sections if s.items or s.more],
        "lead": issue.lead,
        "intro": issue.intro,
        "cut_to": ", ".join(issue.cut_to),
        "date_line": date_line(issue, language, zone),
        "preheader": preheader(issue),
        "web_url": web_url,
        "site_url": site,
        "site_host": urlsplit(site).netloc if site else "",
        "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
        "preferences_url": PREFERENCES_PLACEHOLDER,
        "postal_address": cfg.newsletter.postal_address,
        "link": link,
        "meta": meta,
        "meta_text": meta_text,
        "also": also,
        "also_text": also_text,
        "rtl": rtl,
    }


def date_line(issue: Issue, language: str, zone: ZoneInfo) -> str:
    """'Feb 20, 2024 – Mar 1, 2024 · Issue 2024-W09', in the newsletter's language and time zone."""
    span = dates.day_span(issue.window.start, issue.window.end, language, zone)
    return translations(language).gettext("%(dates)s · Issue %(issue)s") % {"dates": span, "issue": issue.id}


def issue_web_url(settings: Settings, issue_id: str) -> str | None:
    web = settings.model.web
    if web.issues_url:
        return f"{web.issues_url}/{issue_id}.html"
    if web.base_url:
        return f"{web.base_url}/archive/{issue_id}.html"
    return None


def preheader(issue: Issue) -> str:
    """The inbox preview line: the first headlines, up to about 140 characters."""
    titles = [p.article.title for p in issue.articles()[:4]]
    text = " · ".join(titles)
    return text if len(text) <= 140 else text[:139].rsplit(" ", 1)[0] + "…"


@lru_cache(maxsize=4)
def _css(path: Path, mtime: float) -> str:
    return path.read_text(encoding="utf-8")


def own_css(settings: Settings | None) -> str:
    for directory in template_dirs(settings):
        path = directory / "email.css"
        if path.exists():
            return _css(path, path.stat().st_mtime)
    return ""


class _OnFirstUse(types.ModuleType):
    """Stands in for a module during one import, and imports the real one only when an attribute is read."""

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self.__name__), attribute)


def _import_premailer() -> Any:
    """premailer, without the ~60 ms of requests and urllib3 that its import costs every build.

    premailer imports requests only to fetch remote stylesheets, which we never allow (allow_network=False).
    During its import `requests` is a stand-in that would import the real module if premailer ever used it; the
    stand-in is gone from sys.modules afterwards, so any other `import requests` gets the real one.
    """
    if "premailer" in sys.modules or "requests" in sys.modules:
        return _styles_unchecked(importlib.import_module("premailer"))
    stand_in = _OnFirstUse("requests")
    sys.modules["requests"] = stand_in
    try:
        return _styles_unchecked(importlib.import_module("premailer"))
    finally:
        if sys.modules.get("requests") is stand_in:
            del sys.modules["requests"]


class _StylesUnchecked(types.ModuleType):
    """cssutils as premailer sees it: the real module, except that a style attribute is parsed without validation.

    premailer validates every element's style attribute whatever `disable_validation` says (in merge_styles, and
    where it looks for floating images). Validating a property only logs, at levels we silence
    (`cssutils_logging_level`), but first compiles cssutils' pattern for it: ~30 ms of every build (cProfile). The
    values premailer reads back are the same either way.
    """

    def __init__(self, cssutils: Any) -> None:
        super().__init__("cssutils")
        self._cssutils = cssutils

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._cssutils, attribute)

    def parseStyle(self, css_text: str, encoding: str = "utf-8", validate: bool = True) -> Any:
        return self._cssutils.parseStyle(css_text, encoding, validate=False)


def _styles_unchecked(premailer: Any) -> Any:
    """premailer, its two modules that parse style attributes given `_StylesUnchecked` in place of cssutils (a
    premailer laid out otherwise is left as it is: slower, the same output)."""
    for name in ("premailer.premailer", "premailer.merge_style"):
        module = sys.modules.get(name)
        found = getattr(module, "cssutils", None)
        if module is not None and found is not None and not isinstance(found, _StylesUnchecked):
            vars(module)["cssutils"] = _StylesUnchecked(found)
    return premailer


def warm_render(settings: Settings) -> None:
    """Do ahead what the first render would do first: load the inliner, parse our CSS, compile the templates.

    The build does this while the feeds are parsed elsewhere. A cold render spends ~35 ms importing premailer
    (cssutils, lxml); the parse of our CSS (premailer keeps it) and of the two templates (their environments keep
    them) take ~25 ms more of it (cProfile). Whatever fails here fails again in the render, which says what.
    """
    with contextlib.suppress(Exception):
        inline_css('<html><head></head><body><p style="margin:0">.</p></body></html>', own_css(settings))
        dirs, language = tuple(template_dirs(settings)), settings.model.newsletter.language
        template_environment(dirs, True, language).get_template("email.mjml.j2")
        template_environment(dirs, False, language).get_template("email.txt.j2")


def inline_css(html: str, css: str) -> str:
    """Inline only our own CSS; MJML's head styles stay as they are (media queries, !important)."""
    premailer = _import_premailer()  # imported here: ~70 ms that only rendering should pay

    marked = re.sub(r"<style(?=[\s>])", '<style data-premailer="ignore"', html)
    inlined: str = premailer.Premailer(
        marked,
        css_text=css,
        allow_network=False,
        strip_important=False,
        keep_style_tags=True,
        remove_classes=False,
        disable_validation=True,
        disable_leftover_css=True,
        cssutils_logging_level=logging.CRITICAL,
        exclude_pseudoclasses=True,
        capitalize_float_margin=False,
    ).transform(pretty_print=False)
    inlined = inlined.replace(' data-premailer="ignore"', "")
    if not _DOCTYPE.match(inlined):
        inlined = "<!doctype html>\n" + re.sub(r"^\s*<!DOCTYPE[^>]*>\s*", "", inlined, flags=re.I)
    return inlined


def _fill(name: str, issue: Issue, settings: Settings, html: bool) -> str:
    """Render one template; whatever goes wrong in it is one sentence naming the template and the line."""
    dirs = tuple(template_dirs(settings))
    try:
        env = template_environment(dirs, html, settings.model.newsletter.language)
        return env.get_template(name).render(_context(issue, settings, html))
    except jinja2.TemplateSyntaxError as error:
        where = f"{error.filename or name}, line {error.lineno}"
        raise TemplateError(
            f"the template {where} is not valid Jinja: {clip(error.message or 'a syntax error')}"
        ) from None
    except jinja2.TemplateNotFound as error:
        folders = ", ".join(str(d) for d in dirs)
        raise TemplateError(f"the template {error.name} is in none of the template folders ({folders})") from None
    # An undefined name, something the sandbox refuses, or an expression that fails ({{ 1 / 0 }}).
    except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as error:
        where = _template_line(error, name)
        problem = str(error) if isinstance(error, jinja2.TemplateError) else f"{type(error).__name__}: {error}"
        raise TemplateError(f"the template {where} cannot be rendered: {clip(problem)}") from None


def _template_line(error: BaseException, name: str) -> str:
    """'/path/email.mjml.j2, line 12': Jinja puts the template's own lines into the traceback."""
    where = name
    trace = error.__traceback__
    while trace is not None:
        filename = trace.tb_frame.f_code.co_filename
        if filename.endswith(name):
            where = f"{filename}, line {trace.tb_lineno}"
        trace = trace.tb_next
    return where


def _compile(issue: Issue, settings: Settings) -> str:
    source = _fill("email.mjml.j2", issue, settings, True)
    # MRML rejects indentation or CRLF between head children: normalise before compiling.
    source = "\n".join(line.rstrip() for line in source.replace("\r\n", "\n").split("\n"))
    try:
        html: str = mjml2html(source, disable_comments=True, fonts={})
    except ValueError as error:
        raise TemplateError(
            f"the email's MJML cannot be compiled ({clip(str(error))}); check email.mjml.j2 and the "
            "texts it shows for control characters or broken tags"
        ) from None
    html = _MSO_MERGE.sub("", html)
    return inline_css(html, own_css(settings))


def render_text(issue: Issue, settings: Settings) -> str:
    text = _fill("email.txt.j2", issue, settings, False)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


# A card turned into a headline saves about 600 bytes; dividing the overshoot by more than that moves
# fewer cards than needed, so the budget is approached from above in a few compiles, never overshot.
BYTES_PER_MOVE = 1000


def _degrade(issue: Issue, count: int = 1) -> Issue | None:
    """Move the last cards of the longest sections into their "more headlines" lists; None when none is left."""
    sections = [replace(s, items=list(s.items), more=list(s.more)) for s in issue.sections]
    moved = 0
    while moved < count:
        candidates = [s for s in sections if s.items]
        if not candidates:
            break
        longest = max(candidates, key=lambda s: len(s.items))
        longest.more.insert(0, longest.items.pop())
        moved += 1
    return replace(issue, sections=sections) if moved else None


# Inboxes show a subject's first 60 or so characters; past this it is only a long header line.
SUBJECT_WARN = 150


def subject_line(settings: Settings, issue_id: str, window: Window, sections: list[str]) -> str:
    """newsletter.subject filled in: {title}, {date}, {issue}, and {sections}, the titles of the sections the
    copy holds (a variant names only the reader's themes)."""
    cfg = settings.model.newsletter
    date = dates.long_day(window.end, cfg.language, ZoneInfo(cfg.timezone))
    return cfg.subject.format(title=cfg.title, date=date, issue=issue_id, sections=", ".join(sections))


def shown_sections(issue: Issue) -> list[Section]:
    """The sections the email shows: those holding an article, or the lead story."""
    return [s for s in issue.sections if s.items or s.more or (issue.lead is not None and issue.lead_section == s.slug)]


def _name_sections(issue: Issue, settings: Settings) -> Issue:
    """The subject again when it names the sections: corrections and cuts change which ones the copy holds."""
    if "sections" not in subject_fields(settings.model.newsletter.subject):
        return issue
    titles = [s.title for s in shown_sections(issue)]
    return replace(issue, subject=subject_line(settings, issue.id, issue.window, titles))


def render(issue: Issue, settings: Settings) -> tuple[Issue, Rendered]:
    """Render an issue; past the size budget, turn cards into headlines until it fits. One path for all.

    Returns the issue as rendered (a new value, with any headlines and warnings) and the rendering."""
    budget = settings.model.issue.size_budget
    issue = _name_sections(issue, settings)
    html = _compile(issue, settings)
    degraded = False
    first_size = len(html.encode())
    while (size := len(html.encode())) > budget:
        smaller = _degrade(issue, max(1, (size - budget) // BYTES_PER_MOVE))
        if smaller is None:
            break
        issue, degraded = smaller, True
        html = _compile(issue, settings)
    if degraded:
        moved = sum(len(s.more) for s in issue.sections)
        issue = issue.warned(
            Stage.RENDER,
            f"the email would be {first_size:,} bytes, over the {budget:,}-byte budget (Gmail clips near "
            f"{CLIP_BYTES:,}): {plural(moved, 'article')} became short headlines to fit",
        )
    if len(issue.subject) > SUBJECT_WARN:
        issue = issue.warned(
            Stage.RENDER,
            f"the subject is {len(issue.subject):,} characters long ({shorten(issue.subject)}): inboxes show "
            "its first 60 or so; shorten newsletter.subject or newsletter.title",
        )
    text = render_text(issue, settings)
    return issue, Rendered(html=html, text=text, preheader=preheader(issue), subject=issue.subject, degraded=degraded)


def personalize(content: str, unsubscribe_url: str, html: bool) -> str:
    """One recipient's copy: substitute the personal parts (the preferences page has the same token), no re-render."""
    preferences_url = preferences_url_of(unsubscribe_url)
    if html:
        unsubscribe_url, preferences_url = str(escape(unsubscribe_url)), str(escape(preferences_url))
    return content.replace(UNSUBSCRIBE_PLACEHOLDER, unsubscribe_url).replace(PREFERENCES_PLACEHOLDER, preferences_url)
