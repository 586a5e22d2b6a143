"""The command line: each command parses its arguments, calls the library, and turns errors into a sentence."""

from __future__ import annotations

import functools
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .config import Settings, load_config
from .errors import DigestError
from .state import State

F = TypeVar("F", bound=Callable[..., Any])


def demo_config_path() -> Path:
    return Path(str(resources.files("digest.demo").joinpath("config.yaml")))


def parse_now(value: str | None, settings: Settings | None = None) -> datetime:
    """The clock an issue is defined by: --now, else the config's pinned `now`, else the wall clock."""
    text = value or (settings.model.now if settings else None)
    if not text:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DigestError(
            f"--now: expected an ISO 8601 time such as 2026-02-18T12:00:00Z but received {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def friendly(func: F) -> F:
    """Print library errors as one sentence on stderr with a non-zero exit; tracebacks only with -v."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DigestError as error:
            if click.get_current_context().find_root().params.get("verbose"):
                raise
            click.echo(f"error: {error}", err=True)
            sys.exit(error.exit_code)

    return wrapper  # type: ignore[return-value]


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default="config.yaml",
        show_default=True,
        help="The config file; paths in it are relative to it.",
    )(func)


def load(config_path: str, demo: bool = False, strict: bool = False) -> Settings:
    settings = load_config(demo_config_path() if demo else Path(config_path), strict=strict)
    for warning in settings.warnings:
        click.echo(f"warning: {warning}", err=True)
    return settings


@contextmanager
def open_state(settings: Settings, demo: bool = False) -> Iterator[State]:
    """The state file; the demo keeps its state in a throw-away folder so it always builds the same issue."""
    if demo:
        with tempfile.TemporaryDirectory(prefix="digest-demo-") as folder, State(Path(folder) / "demo.db") as st:
            yield st
    else:
        with State(settings.state_path) as st:
            yield st


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="digest")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks for errors.")
def main(verbose: bool) -> None:
    """Build and send the weekly email digest of a news site's feeds."""


@main.command()
@config_option
@click.option("--demo", is_flag=True, help="Build the sample issue from the feed shipped with digest (offline).")
@click.option("--now", help="The clock the issue is built for (ISO 8601); defaults to now.")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="out",
    show_default=True,
    help="Folder for <issue>.html, .txt, .json and .eml.",
)
@click.option("--strict", is_flag=True, help="Treat config warnings (unknown keys) as errors.")
@friendly
def build(config_path: str, demo: bool, now: str | None, out: str, strict: bool) -> None:
    """Gather the feeds, group the articles and render the issue into --out."""
    from .build import build_issue, write_outputs

    settings = load(config_path, demo, strict)
    clock = parse_now(now, settings)
    with open_state(settings, demo) as state:
        built = build_issue(settings, clock, state)
    paths = write_outputs(built, settings, Path(out), clock)
    issue = built.issue
    for warning in issue.warnings[len(settings.warnings) :]:
        click.echo(f"warning: {warning}", err=True)
    failed = [f for f in issue.feeds if f.status not in ("ok", "not-modified")]
    sections = ", ".join(f"{s.title} {len(s.items) + len(s.more)}" for s in issue.sections if s.items or s.more)
    lead = f"lead + {sections}" if issue.lead else sections
    click.echo(
        f"built {issue.id}: {issue.article_count} articles ({lead}); "
        f"{len(issue.feeds) - len(failed)}/{len(issue.feeds)} feeds ok; "
        f"{len(built.rendered.html.encode()):,} bytes of HTML"
    )
    for kind in ("html", "txt", "json", "eml"):
        click.echo(f"  {paths[kind]}")


@main.command()
@config_option
@click.argument("query")
@click.option("--now", help="The clock of the issue to look in (ISO 8601).")
@friendly
def explain(config_path: str, query: str, now: str | None) -> None:
    """Explain why an article (by URL or part of its title) sits in its section."""
    from .build import default_window
    from .errors import NotFound
    from .gather import gather
    from .group import explain as explain_article

    settings = load(config_path)
    clock = parse_now(now, settings)
    with open_state(settings) as state:
        gathered = gather(settings, default_window(settings, clock), state, clock)
    needle = query.strip().lower()
    matches = [a for a in gathered.articles if needle == (a.url or "").lower() or needle in a.title.lower()]
    if not matches:
        raise NotFound(f"no article of this issue's window has the URL or a title containing {query!r}")
    for article in matches[:5]:
        click.echo(explain_article(article, settings.model))


@main.command()
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@friendly
def check(config_path: str, file: str) -> None:
    """Lint a built .html or .eml: size, accessibility, safety and headers; exit 1 on any FAIL."""
    from .check import check_file, failed, report

    findings = check_file(Path(file))
    click.echo(report(findings, file))
    if failed(findings):
        sys.exit(1)


@main.command()
@config_option
@click.option("--demo", is_flag=True, help="Preview the sample issue shipped with digest (offline).")
@click.option("--now", help="The clock the issue is built for (ISO 8601); defaults to now.")
@click.option("--host", help="The address to listen on; defaults to preview.host, 127.0.0.1.")
@click.option("--port", type=int, help="The port to listen on; defaults to preview.port, 8025 (0: any free one).")
@friendly
def preview(config_path: str, demo: bool, now: str | None, host: str | None, port: int | None) -> None:
    """Serve the editors' page: the coming issue as sent, why each article is where it is, corrections."""
    import signal

    from .preview import Desk, make_server

    settings = load(config_path, demo)
    host = host or settings.model.preview.host
    port = settings.model.preview.port if port is None else port
    with open_state(settings, demo) as state:
        # The demo's config lives inside the package: its corrections go beside its throw-away state.
        desk = Desk(
            settings.path, lambda s: parse_now(now, s), state, state.path.parent / "corrections" if demo else None
        )
        server, guard = make_server(desk, host, port)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"preview of {desk.issue_id or 'the coming issue'} at http://{shown}:{guard.port}/ (Ctrl-C to stop)")
        for problem in desk.check().errors:
            click.echo(f"warning: {problem}", err=True)
        try:
            server.serve_forever(poll_interval=0.25)
        except KeyboardInterrupt:
            pass
        finally:
            desk.close()
            server.server_close()


@main.command()
@config_option
@click.option("--now", help="The clock the issue is built for (ISO 8601); defaults to now.")
@friendly
def approve(config_path: str, now: str | None) -> None:
    """Freeze the coming issue, corrections applied, as `digest send` will send it."""
    from .approve import approve_coming

    settings = load(config_path)
    clock = parse_now(now, settings)
    with open_state(settings) as state:
        done, built = approve_coming(settings, clock, state)
    for warning in built.issue.warnings[len(settings.warnings) :]:
        click.echo(f"warning: {warning}", err=True)
    again = " (replacing the earlier approval)" if done.replaced else ""
    click.echo(
        f"approved {done.id}{again}: {done.articles} articles, {done.html_bytes:,} bytes of HTML; "
        "`digest send` will send exactly this"
    )


if __name__ == "__main__":  # pragma: no cover
    main()
