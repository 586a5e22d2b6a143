"""The editors' page: the coming issue through the very render of the send, corrections, approval, test sends.

`Desk` holds what the page shows and keeps it current: a change to config.yaml reloads it and gathers
again; a change to a template or to the corrections file only re-renders the gathered, grouped issue
(build.finish: the same corrections and render every build uses). `serve` puts it on 127.0.0.1.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parseaddr
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import jinja2
import yaml

from digest.config import Settings, load_config
from digest.errors import ConfigError, DigestError
from digest.issue import corrections
from digest.issue.approve import approve
from digest.issue.pipeline import SAMPLE_RECIPIENT, Built, Collected, assemble, collect, finish, manifest
from digest.issue.render import personalize, template_dirs
from digest.mail.smtp import send_test
from digest.models import Issue
from digest.store import issues
from digest.store.db import State
from digest.subscribers.tokens import unsubscribe_url
from digest.util import CLIP_BYTES

Clock = Callable[[Settings], datetime]
Stamp = tuple[tuple[str, int, int], ...]
MAX_BODY = 64 * 1024
WATCH_INTERVAL = 0.02  # seconds between looks at the files while a page waits for a change
LONG_POLL = 15.0  # seconds a page's wait for a change is held open before it asks again
COOKIE = "digest_preview"


def _stamp(paths: list[Path]) -> Stamp:
    """What the files are now (name, mtime, size); a missing file simply has no entry."""
    out = []
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            continue
        out.append((str(path), info.st_mtime_ns, info.st_size))
    return tuple(out)


def _template_files(settings: Settings) -> list[Path]:
    files: list[Path] = []
    for folder in template_dirs(settings):
        try:
            files.extend(sorted(p for p in folder.iterdir() if p.is_file()))
        except OSError:
            continue
    return files


@dataclass
class Snapshot:
    """One consistent state of the page: everything a request reads, replaced whole on each change."""

    version: str
    settings: Settings
    built: Built | None
    grouped: Issue | None
    collected: Collected | None
    manifest: dict[str, Any] | None
    html: str
    text: str
    status: str | None
    stale: bool = False  # approved, but the issue has changed since: what is shown is not what would be sent
    errors: list[str] = field(default_factory=list)
    notice: str = ""


class Desk:
    """The coming issue as the page shows it, rebuilt when its config, templates or corrections change."""

    def __init__(self, config_path: Path, clock: Clock, state: State, corrections_dir: Path | None = None) -> None:
        self.config_path = config_path
        self.clock = clock
        self.state = state
        self.corrections_dir = corrections_dir  # the demo's: its config lives read-only inside the package
        self.lock = threading.RLock()
        self.settings = self._load()
        self.collected: Collected | None = None
        self.grouped: Issue | None = None  # grouped, before corrections: each re-render starts from a copy
        self.built: Built | None = None
        self.gather_error: str | None = None
        self.render_error: str | None = None
        self.config_error: str | None = None
        self.notice = ""
        self.status: str | None = None
        self.config_stamp = _stamp([config_path])
        self.render_stamp: Stamp = ()
        self.snapshot: Snapshot | None = None
        self.closed = False  # set on shutdown: the state file is about to close under the serving threads
        self.regather()

    def _load(self) -> Settings:
        settings = load_config(self.config_path)
        if self.corrections_dir is not None:
            settings.model.corrections_dir = str(self.corrections_dir)
        return settings

    @property
    def issue_id(self) -> str | None:
        return self.grouped.id if self.grouped is not None else None

    def corrections_file(self) -> Path | None:
        ident = self.issue_id
        return corrections.corrections_path(self.settings, ident) if ident else None

    def _render_paths(self) -> list[Path]:
        path = self.corrections_file()
        return _template_files(self.settings) + ([path] if path else [])

    def regather(self) -> None:
        """Gather the feeds again and group; then render."""
        with self.lock:
            try:
                collected = collect(self.settings, self.clock(self.settings), self.state)
                self.grouped = assemble(
                    self.settings, collected.articles, collected.window, collected.feeds, collected.warnings
                )
                self.collected, self.gather_error = collected, None
            except DigestError as error:
                self.gather_error = str(error)
            self.compose()

    def compose(self) -> None:
        """Apply the corrections to a copy of the grouped issue and render it: the last steps of every build."""
        with self.lock:
            self.render_stamp = _stamp(self._render_paths())
            if self.grouped is not None:
                try:
                    self.built = finish(self.settings, copy.deepcopy(self.grouped))
                    self.render_error = None
                # A template being edited may be broken in any way Jinja or MJML can report: keep the page up
                # with the last good render and show the error, rather than dying mid-edit.
                except Exception as error:
                    self.render_error = f"the issue cannot be rendered: {type(error).__name__}: {error}"
            self.publish()

    def publish(self) -> None:
        with self.lock:
            ident = self.issue_id
            built = self.built
            stale = False
            if ident and not self.closed:
                self.status = issues.status_of(self.state, ident)
                if self.status == "approved" and built is not None:
                    frozen = issues.get(self.state, ident)
                    stale = frozen is not None and frozen.rendered.html != built.rendered.html
            data = manifest(built, self.settings) if built else None
            if built is not None:
                sample = unsubscribe_url(self.settings, 0, SAMPLE_RECIPIENT)
                html = personalize(built.rendered.html, sample, html=True)
                text = personalize(built.rendered.text, sample, html=False)
            else:
                html = text = ""
            errors = [e for e in (self.config_error, self.gather_error, self.render_error) if e]
            digest = hashlib.sha256()
            for part in (html, text, json.dumps(data, sort_keys=True, default=str), *errors, self.notice):
                digest.update(part.encode() + b"\0")
            digest.update(f"{self.status} {stale}".encode())
            self.snapshot = Snapshot(
                version=digest.hexdigest()[:16],
                settings=self.settings,
                built=built,
                grouped=self.grouped,
                collected=self.collected,
                manifest=data,
                html=html,
                text=text,
                status=self.status,
                stale=stale,
                errors=errors,
                notice=self.notice,
            )

    def check(self) -> Snapshot:
        """Notice changed files: config.yaml → reload and gather; a template or the corrections → re-render."""
        with self.lock:
            if self.closed and self.snapshot is not None:
                return self.snapshot
            config_stamp = _stamp([self.config_path])
            if config_stamp != self.config_stamp:
                self.config_stamp = config_stamp
                try:
                    self.settings = self._load()
                    self.config_error = None
                except ConfigError as error:
                    self.config_error = f"config.yaml was not reloaded: {error}"
                    self.publish()
                else:
                    self.regather()
            elif _stamp(self._render_paths()) != self.render_stamp:
                self.compose()
            else:
                ident = self.issue_id
                status = issues.status_of(self.state, ident) if ident else None
                if status != self.status:
                    self.publish()
            assert self.snapshot is not None
            return self.snapshot

    def _open(self) -> None:
        if self.closed:
            raise DigestError("the preview is shutting down; nothing was changed")

    def close(self) -> None:
        """Stop looking at the files and the state; requests still in flight get the last snapshot."""
        with self.lock:
            self.closed = True

    def say(self, notice: str) -> None:
        with self.lock:
            self.notice = notice
            self.publish()

    # corrections made in the page

    def correct(self, form: dict[str, str]) -> str:
        """Apply one correction from the page to the issue's corrections file; return what was done."""
        with self.lock:
            self._open()
            if self.grouped is None or self.built is None:
                raise DigestError("there is no issue to correct yet; fix the error shown at the top of the page")
            ident = self.grouped.id
            data = corrections.load(self.settings, ident)
            done = edit(data, form, self.grouped, self.built.issue)
            corrections.save(self.settings, ident, data)
            self.compose()
            return done

    def approve(self) -> str:
        with self.lock:
            self._open()
            if self.built is None or self.collected is None:
                raise DigestError("there is no issue to approve yet; see the error at the top of the page")
            if self.config_error or self.gather_error or self.render_error:
                raise DigestError("the page shows an error, so it may not show the issue as it is: fix it first")
            done = approve(self.settings, self.built, self.collected, self.state)
            return (
                f"approved {done.id}: {done.articles} articles, {done.html_bytes:,} bytes; "
                "`digest send` will send exactly this"
            )

    def test_send(self, address: str) -> str:
        with self.lock:
            built, settings = self.built, self.settings
        if built is None:
            raise DigestError("there is no rendered issue to send yet")
        subject = send_test(settings, built.rendered, address, datetime.now(UTC))
        return f"test sent to {address}: “{subject}” (no subscriber was mailed, nothing is marked as sent)"


def _ref_in(issue: Issue, ref: str) -> bool:
    return any(p.article.id == ref for p in issue.articles())


def _section_of(issue: Issue, ref: str) -> str | None:
    if issue.lead is not None and issue.lead.article.id == ref:
        return issue.lead_section
    for section in issue.sections:
        if any(p.article.id == ref for p in section.items + section.more):
            return section.slug
    return None


def _forget(data: dict[str, Any], ref: str, kinds: tuple[str, ...]) -> None:
    """Remove `ref` from the given kinds of correction."""
    if "lead" in kinds and data.get("lead") == ref:
        del data["lead"]
    if "drop" in kinds and ref in (data.get("drop") or []):
        data["drop"] = [r for r in data["drop"] if r != ref]
    if "move" in kinds:
        (data.get("move") or {}).pop(ref, None)
    if "order" in kinds:
        for slug, refs in list((data.get("order") or {}).items()):
            data["order"][slug] = [r for r in refs or [] if r != ref]


def edit(data: dict[str, Any], form: dict[str, str], grouped: Issue, shown: Issue) -> str:
    """Change the corrections `data` as one page action asks; `grouped` is the issue before corrections."""
    action = form.get("action", "")
    ref = form.get("id", "")
    slugs = {s.slug: s.title for s in grouped.sections}
    if action == "intro":
        data["intro"] = form.get("intro", "").strip()
        return "intro note saved" if data["intro"] else "intro note removed"
    if action == "unpin":
        data.pop("lead", None)
        return "lead story unpinned"
    if not _ref_in(grouped, ref):
        raise DigestError(f"no article with the id {ref!r} in issue {grouped.id}; reload the page")
    if action == "drop":
        _forget(data, ref, ("lead", "move", "order"))
        data["drop"] = [*(data.get("drop") or []), ref]
        return "article dropped"
    if action == "restore":
        _forget(data, ref, ("drop",))
        return "article restored"
    if action == "lead":
        _forget(data, ref, ("drop",))
        data["lead"] = ref
        return "article pinned as the lead story"
    if action == "move":
        slug = form.get("section", "")
        if slug not in slugs:
            raise DigestError(f"no section {slug!r} in this issue")
        _forget(data, ref, ("drop", "lead", "move", "order"))
        if _section_of(grouped, ref) != slug or (grouped.lead is not None and grouped.lead.article.id == ref):
            data.setdefault("move", {})
            data["move"] = {**(data["move"] or {}), ref: slug}
        return f"article moved to {slugs[slug]}"
    if action in ("rewrite", "unrewrite"):
        rewrites = dict(data.get("rewrite") or {})
        rewrites.pop(ref, None)
        if action == "rewrite":
            original = next(p.article for p in grouped.articles() if p.article.id == ref)
            change: dict[str, str] = {}
            title, teaser = form.get("title", "").strip(), form.get("teaser", "").strip()
            if title and title != original.title:
                change["title"] = title
            if teaser != original.teaser:
                change["teaser"] = teaser
            if change:
                rewrites[ref] = change
        data["rewrite"] = rewrites
        return "article re-worded" if ref in rewrites else "article's own wording restored"
    if action in ("up", "down"):
        section = next((s for s in shown.sections if any(p.article.id == ref for p in s.items + s.more)), None)
        if section is None:
            raise DigestError("only an article inside a section can be moved up or down")
        order = [p.article.id for p in section.items + section.more]
        at = order.index(ref)
        to = at - 1 if action == "up" else at + 1
        if 0 <= to < len(order):
            order[at], order[to] = order[to], order[at]
        data["order"] = {**(data.get("order") or {}), section.slug: order}
        return f"{section.title} reordered"
    raise DigestError(f"unknown action {action!r}")


# the page


@dataclass
class Guard:
    """Who may use the page: the Host header on loopback; a secret elsewhere; a per-process token for POSTs."""

    host: str
    port: int
    secret: str | None  # required when bound to a non-loopback address
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def loopback(self) -> bool:
        return self.secret is None

    def host_allowed(self, header: str | None) -> bool:
        # On loopback, a page of another site that re-points its own name at 127.0.0.1 (DNS rebinding)
        # still sends its own name as Host: only our own names are served.
        if not self.loopback:
            return True
        names = {"127.0.0.1", "localhost", "[::1]", self.host}
        return header in {f"{name}:{self.port}" for name in names}

    def session(self) -> str:
        assert self.secret is not None
        return hmac.new(self.secret.encode(), b"digest-preview-session", hashlib.sha256).hexdigest()

    def authorized(self, handler: BaseHTTPRequestHandler) -> bool:
        if self.loopback:
            return True
        auth = handler.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and hmac.compare_digest(auth[7:].encode(), self.secret_bytes()):
            return True
        for part in handler.headers.get("Cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and hmac.compare_digest(value.encode(), self.session().encode()):
                return True
        return False

    def secret_bytes(self) -> bytes:
        assert self.secret is not None
        return self.secret.encode()

    def same_origin(self, handler: BaseHTTPRequestHandler) -> bool:
        """A POST must come from this page: matching Origin (or Referer), not a cross-site fetch."""
        if handler.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return False
        host = handler.headers.get("Host", "")
        origin = handler.headers.get("Origin") or handler.headers.get("Referer")
        if origin is None:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc == host


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@functools.lru_cache(maxsize=1)
def _page_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def _when(text: str | None, zone: ZoneInfo) -> str:
    if not text:
        return ""
    local = datetime.fromisoformat(text).astimezone(zone)
    return f"{local:%a %b} {local.day}, {local:%H:%M}"


def page_context(snap: Snapshot, csrf: str) -> dict[str, Any]:
    """What the page template needs, as plain data."""
    settings = snap.settings
    zone = ZoneInfo(settings.model.newsletter.timezone)
    data = snap.manifest or {}
    grouped = snap.grouped
    ident = grouped.id if grouped else None
    corr: dict[str, Any] = {}
    corr_error = None
    corr_path = corrections.corrections_path(settings, ident) if ident else None
    if ident:
        try:
            corr = corrections.load(settings, ident)
        except DigestError as error:
            corr_error = str(error)
    originals = {p.article.id: p for p in grouped.articles()} if grouped else {}
    home = {p.article.id: _section_of(grouped, p.article.id) for p in grouped.articles()} if grouped else {}
    moved = corr.get("move") or {}
    rewrites = corr.get("rewrite") or {}
    sections = []
    lead = None
    for section in data.get("sections", []):
        articles = []
        for article in section["articles"]:
            ref = article["id"]
            original = originals.get(ref)
            entry = {
                **article,
                "when": _when(article.get("published"), zone),
                "pinned": corr.get("lead") == ref,
                "moved": ref in moved,
                "rewritten": ref in rewrites,
                "original_title": original.article.title if original else article["title"],
                "original_teaser": original.article.teaser if original else article["teaser"],
                "home": home.get(ref),
            }
            if article.get("lead"):
                lead = {**entry, "section_title": section["title"]}
            else:
                articles.append(entry)
        sections.append({**section, "articles": articles})
    gone = [w for w in data.get("warnings", []) if w.startswith("correction")]
    dropped = []
    for ref in corr.get("drop") or []:
        original = originals.get(str(ref))
        if original is not None:
            dropped.append({"id": original.article.id, "title": original.article.title, "url": original.article.url})
    size = data.get("size", {})
    html_bytes = len(snap.html.encode())
    return {
        "csrf": csrf,
        "version": snap.version,
        "errors": snap.errors,
        "notice": snap.notice,
        "title": settings.model.newsletter.title,
        "config_path": str(settings.path),
        "issue": ident,
        "status": snap.status or "not approved",
        "stale": snap.stale,
        "window": (
            f"{_when(data['window']['start'], zone)} – {_when(data['window']['end'], zone)} "
            f"({settings.model.newsletter.timezone})"
            if data
            else ""
        ),
        "subject": data.get("subject", ""),
        "preheader": data.get("preheader", ""),
        "html_bytes": html_bytes,
        "clip_bytes": CLIP_BYTES,
        "budget": settings.model.issue.size_budget,
        "percent": round(100 * html_bytes / CLIP_BYTES),
        "degraded": size.get("degraded", False),
        "articles": data.get("articles", 0),
        "lead": lead,
        "sections": sections,
        "choices": [(s.slug, s.title) for s in grouped.sections] if grouped else [],
        "dropped": dropped,
        "left_out": data.get("left_out", []),
        "feeds": data.get("feeds", []),
        "warnings": [w for w in data.get("warnings", []) if not w.startswith("correction")],
        "gone": gone,
        "applied": data.get("corrections", []),
        "corrections_path": str(corr_path) if corr_path else "",
        "corrections_yaml": yaml.safe_dump(corr, allow_unicode=True, sort_keys=False) if corr else "",
        "corrections_error": corr_error,
        "intro": corr.get("intro") or "",
        "default_intro": settings.model.newsletter.intro,
        "test_to": settings.model.editors[0] if settings.model.editors else "",
        "text": snap.text,
    }


def render_page(snap: Snapshot, csrf: str) -> str:
    return _page_environment().get_template("preview.html.j2").render(page_context(snap, csrf))


def make_handler(desk: Desk, guard: Guard) -> type[BaseHTTPRequestHandler]:
    """The request handler, closed over the desk and the guard."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "digest-preview"
        # Headers and body go out in two writes: without this, Nagle's algorithm holds the body back
        # until the browser's delayed ACK, some 40 ms on every answer.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def reply(
            self, status: int, body: str | bytes, kind: str = "text/plain", headers: dict[str, str] | None = None
        ) -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "same-origin")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            try:
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the page went away while it waited: nothing to tell it

        def admitted(self) -> bool:
            if not guard.host_allowed(self.headers.get("Host")):
                self.reply(HTTPStatus.MISDIRECTED_REQUEST, "this preview answers only to its own address\n")
                return False
            if not guard.authorized(self):
                self.reply(
                    HTTPStatus.UNAUTHORIZED,
                    "this preview needs its secret: open /?token=<the value of "
                    f"{desk.settings.model.preview.token_env}> once\n",
                )
                return False
            return True

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if not guard.loopback and url.path == "/" and "token" in parse_qs(url.query):
                given = parse_qs(url.query)["token"][0].encode()
                if hmac.compare_digest(given, guard.secret_bytes()):
                    cookie = f"{COOKIE}={guard.session()}; HttpOnly; SameSite=Strict; Path=/"
                    self.reply(HTTPStatus.SEE_OTHER, "", headers={"Location": "/", "Set-Cookie": cookie})
                    return
            if not self.admitted():
                return
            snap = desk.check()
            if url.path == "/":
                self.reply(
                    HTTPStatus.OK,
                    render_page(snap, guard.csrf),
                    "text/html",
                    {"Content-Security-Policy": _PAGE_CSP, "X-Frame-Options": "DENY"},
                )
            elif url.path == "/version":
                # A long poll: with ?after=V, answer as soon as the version differs from V (or after a while).
                after = parse_qs(url.query).get("after", [None])[0]
                deadline = time.monotonic() + LONG_POLL
                while snap.version == after and time.monotonic() < deadline and not desk.closed:
                    time.sleep(WATCH_INTERVAL)
                    snap = desk.check()
                self.reply(HTTPStatus.OK, json.dumps({"version": snap.version}), "application/json")
            elif url.path == "/email.html":
                self.reply(HTTPStatus.OK, snap.html, "text/html", {"Content-Security-Policy": _EMAIL_CSP})
            elif url.path == "/email.txt":
                self.reply(HTTPStatus.OK, snap.text)
            elif url.path == "/manifest.json":
                self.reply(HTTPStatus.OK, json.dumps(snap.manifest, indent=2, ensure_ascii=False), "application/json")
            else:
                self.reply(HTTPStatus.NOT_FOUND, "not found\n")

        do_HEAD = do_GET

        def form(self) -> dict[str, str] | None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the form is too large\n")
                return None
            raw = self.rfile.read(length).decode("utf-8", errors="replace")
            return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}

        def do_POST(self) -> None:
            if not self.admitted():
                return
            form = self.form()
            if form is None:
                return
            token = self.headers.get("X-Digest-CSRF") or form.get("csrf", "")
            if not hmac.compare_digest(token.encode(), guard.csrf.encode()) or not guard.same_origin(self):
                self.reply(
                    HTTPStatus.FORBIDDEN,
                    "refused: changes are accepted only from the preview page itself (missing or wrong token, "
                    "or another origin)\n",
                )
                return
            path = urlsplit(self.path).path
            try:
                if path == "/correct":
                    notice = desk.correct(form)
                elif path == "/approve":
                    notice = desk.approve()
                elif path == "/refresh":
                    desk.regather()
                    notice = "feeds gathered again"
                elif path == "/test-send":
                    address = form.get("address", "").strip()
                    if "@" not in parseaddr(address)[1] or any(c in address for c in "\r\n,;"):
                        raise DigestError(f"{address!r} is not one e-mail address")
                    notice = desk.test_send(address)
                else:
                    self.reply(HTTPStatus.NOT_FOUND, "not found\n")
                    return
            except DigestError as error:
                notice = f"error: {error}"
            desk.say(notice)
            self.reply(HTTPStatus.SEE_OTHER, "", headers={"Location": "/"})

    return Handler


# The page runs only its own inline script; the email frames run nothing at all.
_PAGE_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src * data:; "
    "frame-ancestors 'none'"
)
_EMAIL_CSP = (
    "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; font-src *; "
    "sandbox allow-popups allow-popups-to-escape-sandbox"
)


def serving_guard(settings: Settings, host: str, port: int) -> Guard:
    """The guard for an address; a non-loopback one needs the secret from the environment."""
    if is_loopback(host):
        return Guard(host=host, port=port, secret=None)
    env = settings.model.preview.token_env
    secret = os.environ.get(env)
    if not secret or len(secret) < 16:
        raise DigestError(
            f"the preview would listen on {host}, beyond this machine: set the environment variable {env} "
            "(preview.token_env) to a secret of at least 16 characters, or use --host 127.0.0.1"
        )
    return Guard(host=host, port=port, secret=secret)


class _ThreadingHTTPServer6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def make_server(desk: Desk, host: str, port: int) -> tuple[ThreadingHTTPServer, Guard]:
    guard = serving_guard(desk.settings, host, port)
    server_class = _ThreadingHTTPServer6 if ":" in host else ThreadingHTTPServer
    try:
        server = server_class((host, port), make_handler(desk, guard))
    except OSError as error:
        raise DigestError(f"cannot listen on {host}:{port} ({error.strerror}); choose another --port") from None
    server.daemon_threads = True
    guard.port = server.server_address[1]
    return server, guard
