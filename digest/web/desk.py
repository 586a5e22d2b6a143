"""The desk behind the editors' page: the coming issue as the page shows it, kept current.

`Desk` watches the files: a change to config.yaml reloads it and gathers again; a change to a template or to
the corrections file only re-renders the gathered, grouped issue (`finish`: the same correct and render stages
every build uses, which leave the grouped issue as it was). Each change publishes a new `Snapshot`, which is all
a request reads. Gathering runs outside the desk's lock, so a slow feed never holds up the page; its result is
swapped in when it is complete.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from digest.config import Settings, load_config
from digest.errors import ConfigError, CorrectionsError, DigestError, IssueLocked
from digest.feeds.page import read_article_page
from digest.issue import corrections, variants
from digest.issue.approve import approve
from digest.issue.corrections import Added
from digest.issue.edits import apply_action
from digest.issue.pipeline import SAMPLE_RECIPIENT, Built, finish, grouped_issue
from digest.issue.render import personalize, template_dirs
from digest.mail.smtp import send_test
from digest.models import Issue, IssueRecord
from digest.store import issues
from digest.store import variants as variant_rows
from digest.store.db import State
from digest.subscribers.tokens import unsubscribe_url
from digest.util import plural, shorten

Clock = Callable[[Settings], datetime]
Stamp = tuple[tuple[str, int, int], ...]
LOCKED = ("sending", "sent")  # an issue in these states takes no more changes


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


@dataclass(frozen=True)
class Cut:
    """The coming issue as the readers of some sections get it: one of its variants, or nothing this week."""

    key: str | None  # None: every section they chose is empty, so they get nothing
    label: str  # "Palestine, Labor"
    subject: str = ""
    preheader: str = ""
    html: str = ""
    text: str = ""
    degraded: bool = False
    articles: int = 0


@dataclass(frozen=True)
class Readers:
    """How many of the list's active readers get one copy of the coming issue (key None: nothing)."""

    key: str | None
    label: str
    count: int
    frozen: bool  # approved with the issue (the whole issue always is)


@dataclass
class Snapshot:
    """One consistent state of the page: everything a request reads, replaced whole on each change."""

    version: str
    settings: Settings
    built: Built | None
    grouped: Issue | None
    record: IssueRecord | None
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
        self.gathering = threading.Lock()  # one gather at a time, apart from the desk's lock
        self.settings = self._load()
        self.grouped: Issue | None = None  # grouped, before corrections: each re-render starts from it
        self.built: Built | None = None
        self.gather_error: str | None = None
        self.render_error: str | None = None
        self.config_error: str | None = None
        self.notice = ""
        self.status: str | None = None
        self.config_stamp = _stamp([config_path])
        self.render_stamp: Stamp = ()
        self.snapshot: Snapshot | None = None
        self.cuts: dict[tuple[str, str | None], Cut] = {}  # (version, key) → the variant as last rendered
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
        """Gather the feeds again and group, with the desk open to readers meanwhile; then swap in and render."""
        with self.gathering:
            with self.lock:
                settings = self.settings
            # Its own connection: the page's requests keep using the desk's while the feeds are read.
            with self.state.another() as own:
                try:
                    grouped = grouped_issue(settings, self.clock(settings), own)
                except DigestError as error:
                    failed: str | None = str(error)
                else:
                    failed = None
            with self.lock:
                if settings is not self.settings:
                    return  # config.yaml changed meanwhile: the gather that change started is the one to show
                if failed is None:
                    self.grouped = grouped
                self.gather_error = failed
                self.compose()

    def compose(self) -> None:
        """Apply the corrections to the grouped issue and render it: the last steps of every build."""
        with self.lock:
            self.render_stamp = _stamp(self._render_paths())
            if self.grouped is not None:
                try:
                    self.built = finish(self.settings, self.grouped)
                    self.render_error = None
                except CorrectionsError as error:  # the file as the editors left it: its own sentence
                    self.render_error = str(error)
                # A template being edited may be broken in any way Jinja or MJML can report: keep the page up
                # with the last good render and show the error, rather than dying mid-edit.
                except Exception as error:
                    problem = str(error) if isinstance(error, DigestError) else f"{type(error).__name__}: {error}"
                    self.render_error = f"the issue cannot be rendered: {problem}"
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
            record = built.record() if built else None
            if built is not None:
                sample = unsubscribe_url(self.settings, 0, SAMPLE_RECIPIENT)
                html = personalize(built.rendered.html, sample, html=True)
                text = personalize(built.rendered.text, sample, html=False)
            else:
                html = text = ""
            errors = [e for e in (self.config_error, self.gather_error, self.render_error) if e]
            digest = hashlib.sha256()
            data = record.model_dump_json() if record else "null"
            for part in (html, text, data, *errors, self.notice):
                digest.update(part.encode() + b"\0")
            digest.update(f"{self.status} {stale}".encode())
            self.snapshot = Snapshot(
                version=digest.hexdigest()[:16],
                settings=self.settings,
                built=built,
                grouped=self.grouped,
                record=record,
                html=html,
                text=text,
                status=self.status,
                stale=stale,
                errors=errors,
                notice=self.notice,
            )

    def check(self) -> Snapshot:
        """Notice changed files: config.yaml → reload and gather; a template or the corrections → re-render."""
        gather = False
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
                    gather = True
            elif _stamp(self._render_paths()) != self.render_stamp:
                self.compose()
            else:
                ident = self.issue_id
                status = issues.status_of(self.state, ident) if ident else None
                if status != self.status:
                    self.publish()
        if gather:
            self.regather()
        assert self.snapshot is not None
        return self.snapshot

    def _open(self) -> None:
        if self.closed:
            raise DigestError("the preview is shutting down; nothing was changed")

    def _unlocked(self) -> str:
        """The coming issue's id, when it may still change; IssueLocked when it is being sent or went out."""
        ident = self.issue_id
        if ident is None:
            raise DigestError("there is no issue to change yet; fix the error shown at the top of the page")
        status = issues.status_of(self.state, ident)
        if status in LOCKED:
            raise IssueLocked(ident, status)
        return ident

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
        added = self._read_page(form) if form.get("action") == "add" else None
        with self.lock:
            self._open()
            if self.grouped is None or self.built is None:
                raise DigestError("there is no issue to correct yet; fix the error shown at the top of the page")
            ident = self._unlocked()
            found = corrections.load(self.settings, ident)  # a malformed file: its sentence, and nothing written
            changed, done = apply_action(found, form, self.grouped, self.built.issue, added)
            corrections.save(self.settings, ident, changed)
            self.compose()
            return done

    def _read_page(self, form: dict[str, str]) -> Added:
        """The facts of the article an editor adds by its URL, read from its page outside the desk's lock: a slow
        page delays only this answer, never the page for the others."""
        with self.lock:
            self._open()
            self._unlocked()
            settings = self.settings
            slugs = [s.slug for s in self.grouped.sections] if self.grouped else []
        section = form.get("section", "")
        if section not in slugs:
            raise DigestError(f"no section {section[:60]!r} in this issue")
        facts = read_article_page(form.get("url", ""), settings)
        form["url"] = facts.url
        return Added(
            section=section,
            title=facts.title,
            teaser=facts.teaser,
            image=facts.image,
            published=facts.published,
            site=facts.site,
        )

    def approve(self) -> str:
        with self.lock:
            self._open()
            if self.built is None:
                raise DigestError("there is no issue to approve yet; see the error at the top of the page")
            self._unlocked()
            if self.config_error or self.gather_error or self.render_error:
                raise DigestError("the page shows an error, so it may not show the issue as it is: fix it first")
            done = approve(self.settings, self.built, self.state)
            cut = f" and {plural(len(done.variants), 'variant')} for readers' themes" if done.variants else ""
            return (
                f"approved {done.id}{cut}: {done.articles} articles, {done.html_bytes:,} bytes; "
                "`digest send` will send exactly this"
            )

    def test_send(self, address: str, wanted: list[str] | None = None) -> str:
        """One copy marked [TEST] to `address`: the whole issue, or the copy readers of the `wanted` sections get
        (the one the page shows)."""
        with self.lock:
            built, settings = self.built, self.settings
        if built is None:
            raise DigestError("there is no rendered issue to send yet")
        rendered, which = built.rendered, ""
        if wanted:
            key, _ = _key_of(built, wanted)
            if key is None:
                raise DigestError(
                    f"readers of {', '.join(wanted)} get nothing this week, so there is no copy of theirs to send"
                )
            if key != variants.WHOLE:
                done = variants.render_variant(built.issue, key, settings)
                rendered, which = done.rendered, f" (the copy for readers of {done.label})"
        subject = send_test(settings, rendered, address, datetime.now(UTC))
        return f"test sent to {address}{which}: “{subject}” (no subscriber was mailed, nothing is marked as sent)"

    # the issue as each reader gets it (issue/variants.py)

    def readers(self) -> list[Readers]:
        """Readers per copy of the coming issue, most first; whether each variant was frozen by the approval."""
        with self.lock:
            built, ident = self.built, self.issue_id
            if built is None or ident is None or self.closed:
                return []
            needed = variants.needed(built.issue, self.state)
            approved = self.status in ("approved", *LOCKED)
            frozen = set(variant_rows.of_issue(self.state, ident)) if approved else set()
        shape = variants.shape_of(built.issue)
        rows = [
            Readers(key, variants.label(key, shape), count, key == variants.WHOLE or key in frozen)
            for key, count in needed.items()
        ]
        return sorted(rows, key=lambda r: (r.key != variants.WHOLE, r.key is None, -r.count, r.label))

    def cut(self, wanted: list[str]) -> Cut | None:
        """The coming issue as readers of the `wanted` section slugs get it; None when that is the whole issue.
        A slug the issue does not have is one sentence (DigestError)."""
        snap = self.check()
        built = snap.built
        if built is None or not wanted:
            return None
        key, known = _key_of(built, wanted)
        if key == variants.WHOLE:
            return None
        if key is None:
            return Cut(None, ", ".join(known[w.lower()] for w in wanted))
        with self.lock:
            found = self.cuts.get((snap.version, key))
        if found is None:
            done = variants.render_variant(built.issue, key, snap.settings)
            sample = unsubscribe_url(snap.settings, 0, SAMPLE_RECIPIENT)
            found = Cut(
                key=key,
                label=done.label,
                subject=done.rendered.subject,
                preheader=done.rendered.preheader,
                html=personalize(done.rendered.html, sample, html=True),
                text=personalize(done.rendered.text, sample, html=False),
                degraded=done.rendered.degraded,
                articles=done.issue.article_count,
            )
            with self.lock:
                # Only the current version's variants are kept: an editor looks at a few at a time.
                self.cuts = {k: v for k, v in self.cuts.items() if k[0] == snap.version}
                self.cuts[(snap.version, key)] = found
        return found


def _key_of(built: Built, wanted: list[str]) -> tuple[str | None, dict[str, str]]:
    """The variant key of readers of the `wanted` section slugs (None: nothing this week), and the issue's section
    titles by slug; a slug the issue does not have is one sentence (DigestError)."""
    shape = variants.shape_of(built.issue)
    known = {slug.lower(): title for slug, title, _ in shape}
    unknown = [w for w in wanted if w.lower() not in known]
    if unknown:
        raise DigestError(
            f"{shorten(unknown[0])} is not a section of issue {built.issue.id}; use one of {', '.join(known)}"
        )
    return variants.key_for(variants.choice(wanted), shape), known
