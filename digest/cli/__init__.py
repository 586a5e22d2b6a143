"""The command line: each command parses its arguments, calls the library, and turns errors into a sentence."""

from __future__ import annotations

import functools
import importlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import click

from digest import __version__
from digest.config import Settings, load_config
from digest.errors import DigestError
from digest.store.db import State

F = TypeVar("F", bound=Callable[..., Any])


DEMO_LANGUAGES = ("en", "es", "pt")


def demo_config_path(language: str = "en") -> Path:
    """The demo's config: config.yaml in English, config.<lang>.yaml for the other editions."""
    name = "config.yaml" if language == "en" else f"config.{language}.yaml"
    return Path(str(resources.files("digest.demo").joinpath(name)))


def demo_option(what: str) -> Callable[[F], F]:
    """`--demo` alone is the English demo; `--demo es` or `--demo pt` its Spanish or Portuguese edition."""
    return click.option(
        "--demo",
        type=click.Choice(DEMO_LANGUAGES),
        is_flag=False,
        flag_value="en",
        default=None,
        help=f"{what} the sample issue shipped with digest (offline), in English or the given language.",
    )


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


def load(config_path: str, demo: str | None = None, strict: bool = False) -> Settings:
    from digest.issue.group import shadowed  # the grouping's words, read only where a command loads a config

    settings = load_config(demo_config_path(demo) if demo else Path(config_path), strict=strict)
    settings.warnings.extend(f"{settings.path}: {said}" for t in settings.model.themes for said in shadowed(t))
    for warning in settings.warnings:
        click.echo(f"warning: {warning}", err=True)
    return settings


@contextmanager
def open_state(settings: Settings, demo: str | None = None) -> Iterator[State]:
    """The state file; the demo keeps its state in a throw-away folder so it always builds the same issue."""
    if demo:
        with tempfile.TemporaryDirectory(prefix="digest-demo-") as folder, State(Path(folder) / "demo.db") as st:
            yield st
    else:
        with State(settings.state_target) as st:
            yield st


# The modules that add commands to `main`, imported when a command is asked for that is not defined yet, in this
# order until it is: `digest build` reads only the first (the others: ~3.5 ms of every build, python -X importtime).
# readers imports roster, whose `subscribers` group it adds to.
COMMAND_MODULES = ("digest.cli.issue", "digest.cli.readers", "digest.cli.bounces", "digest.cli.state")


class _Main(click.Group):
    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        for module in COMMAND_MODULES:
            if cmd_name in self.commands:
                break
            importlib.import_module(module)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        for module in COMMAND_MODULES:
            importlib.import_module(module)
        return super().list_commands(ctx)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="digest")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks for errors.")
def main(verbose: bool) -> None:
    """Build and send the weekly email digest of a news site's feeds."""


@main.command()
@config_option
@demo_option("Preview")
@click.option("--now", help="The clock the issue is built for (ISO 8601); defaults to now.")
@click.option("--host", help="The address to listen on; defaults to preview.host, 127.0.0.1.")
@click.option("--port", type=int, help="The port to listen on; defaults to preview.port, 8025 (0: any free one).")
@friendly
def preview(config_path: str, demo: str | None, now: str | None, host: str | None, port: int | None) -> None:
    """Serve the editors' page: the coming issue as sent, why each article is where it is, corrections."""
    import signal

    from digest.web.desk import Desk
    from digest.web.preview import serve_preview
    from digest.web.server import log_to_stderr

    settings = load(config_path, demo)
    host = host or settings.model.preview.host
    port = settings.model.preview.port if port is None else port
    with open_state(settings, demo) as state:
        # The demo's config lives inside the package: its corrections go beside its throw-away state.
        desk = Desk(
            settings.path,
            lambda s: parse_now(now, s),
            state,
            Path(state.target).parent / "corrections" if demo else None,
        )

        def ready(url: str) -> None:
            click.echo(f"preview of {desk.issue_id or 'the coming issue'} at {url} (Ctrl-C to stop)")
            for problem in desk.check().errors:
                click.echo(f"warning: {problem}", err=True)

        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        log_to_stderr()
        try:
            serve_preview(desk, host, port, ready)
        except KeyboardInterrupt:
            pass
        finally:
            desk.close()


@main.group()
def themes() -> None:
    """The themes of config.yaml, and what the editors' corrections say about them."""


@themes.command("suggest")
@config_option
@click.option("--apply", "write", is_flag=True, help="Write the suggested terms into config.yaml.")
@click.option("--limit", default=3, show_default=True, help="At most this many suggestions per theme.")
@friendly
def themes_suggest(config_path: str, write: bool, limit: int) -> None:
    """Propose the keywords and excludes that would file the articles editors corrected as they did."""
    from digest.issue import learn

    settings = load(config_path)
    found, chosen = learn.suggest(settings, limit)
    corrected = sum(1 for e in found if e.editor or e.away_from)
    issues = ", ".join(sorted({e.issue for e in found})) or "none recorded yet"
    click.echo(f"{corrected} corrected of {len(found)} articles recorded, issues: {issues}")
    for suggestion in chosen:
        click.echo(f"  {suggestion.describe()}")
    if not chosen:
        click.echo("  no keyword or exclude would file more corrected articles as the editors did")
    elif write:
        learn.apply(settings, chosen)
        click.echo(f"wrote {len(chosen)} term{'s' if len(chosen) != 1 else ''} into {settings.path}")


# subscribers, send, serve


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextmanager
def finishing_on_sigterm() -> Iterator[None]:
    """A stopped service (SIGTERM) ends a send like Ctrl-C: messages in flight finish, the ledger keeps its place."""
    import signal

    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_if_unfinished(summary: Any) -> None:
    """A send that gave up or stopped early exits non-zero, saying that the same command resumes it."""
    from digest.errors import SendFailed, SendIncomplete

    if summary.error:
        raise SendFailed(f"{summary.error}; the ledger keeps its place: run the same command again to resume")
    if summary.stopped:
        raise SendIncomplete(summary.stopped)


@main.command()
@config_option
@click.option("--now", help="The clock of the issue to build when none is approved (ISO 8601); defaults to now.")
@click.option("--test-to", metavar="ADDR", help="Send one copy marked [TEST] to ADDR only; nothing is recorded.")
@click.option("--dry-run", is_flag=True, help="Say what would be sent, to how many; send and record nothing.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes sharing the issue's recipients, each over smtp.connections connections.",
)
@click.option("--worker-of", metavar="ISSUE", hidden=True, help="Join the send of ISSUE as one of its workers.")
@friendly
def send(
    config_path: str, now: str | None, test_to: str | None, dry_run: bool, workers: int, worker_of: str | None
) -> None:
    """Mail the issue to every active subscriber exactly once; run it again to resume after any stop."""
    from rich.console import Console

    from digest.errors import SubscriberError
    from digest.jobs.archive import archive_sent
    from digest.mail.send import NothingToSend, choose_issue, send_issue
    from digest.mail.smtp import send_test
    from digest.mail.summary import describe
    from digest.util import check_address

    settings = load(config_path)
    clock = parse_now(now, settings)
    if worker_of:
        import json

        from digest.mail.delivery.workers import work_on

        with finishing_on_sigterm(), open_state(settings) as state:
            click.echo(json.dumps(work_on(settings, state, worker_of)))
        return
    if test_to:
        try:
            address = check_address(test_to)
        except ValueError as error:
            raise SubscriberError(f"--test-to: {error}") from None
        with open_state(settings) as state:
            chosen = choose_issue(settings, state, clock, store=False, test=True)
        if isinstance(chosen, NothingToSend):
            click.echo(chosen.reason)
            return
        subject = send_test(settings, chosen.frozen.rendered, address, clock)
        click.echo(f"sent a test of issue {chosen.frozen.id} to {address}: {subject!r}")
        return
    with finishing_on_sigterm(), open_state(settings) as state:
        summary = send_issue(settings, state, clock, dry_run=dry_run, console=Console(stderr=True), workers=workers)
        problem = archive_sent(settings, state) if summary.complete and not dry_run else None
    for line in describe(summary):
        click.echo(line)
    if problem is not None:
        click.echo(f"warning: {problem}", err=True)
    stop_if_unfinished(summary)


@main.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="The port to listen on.")
@click.option("--schedule", "with_schedule", is_flag=True, help="Also run the weekly job at its scheduled time.")
@friendly
def serve(config_path: str, host: str, port: int, with_schedule: bool) -> None:
    """Serve the public pages: sign-up and confirmation, preferences, one-click unsubscribe, the archive."""
    import logging

    from digest.web.serve import serve as run_server
    from digest.web.server import log_to_stderr

    settings = load(config_path)
    log_to_stderr()

    def ready(url: str) -> None:
        logging.getLogger("digest.web").info(
            "the public pages on %s: /subscribe, /preferences/<token>, /unsubscribe/<token>, /archive/; Ctrl-C stops",
            url,
        )

    with suppress(KeyboardInterrupt):
        run_server(settings, host, port, ready, schedule=with_schedule)


@main.command()
@config_option
@click.option("--now", help="The clock of the period to run for (ISO 8601); defaults to now.")
@friendly
def run(config_path: str, now: str | None) -> None:
    """The scheduled job: build and send the current period's issue once, archive it, report to the editors."""
    from rich.console import Console

    from digest.jobs.run import run_job

    settings = load(config_path)
    clock = parse_now(now, settings)
    with finishing_on_sigterm(), open_state(settings) as state:
        result = run_job(settings, state, clock, console=Console(stderr=True))
    click.echo(result.outcome)
    for line in [*result.lines[1:], *result.bounces, *result.housekeeping]:
        click.echo(line)
    for note in result.notes:
        click.echo(f"warning: {note}", err=True)
    if result.summary is not None:
        stop_if_unfinished(result.summary)


@main.command()
@config_option
@click.option("--install", is_flag=True, help="Write digest.service and digest.timer into --unit-dir.")
@click.option(
    "--unit-dir",
    type=click.Path(file_okay=False),
    default="~/.config/systemd/user",
    show_default=True,
    help="Where --install writes the systemd units.",
)
@friendly
def schedule(config_path: str, install: bool, unit_dir: str) -> None:
    """Print the crontab line and systemd units for the configured schedule (or install the units)."""
    from digest.jobs.schedule import install as install_units
    from digest.jobs.schedule import next_run, units

    settings = load(config_path)
    made = units(settings)
    coming = next_run(settings, parse_now(None))
    if install:
        for path in install_units(settings, Path(unit_dir).expanduser()):
            click.echo(f"wrote {path}")
        click.echo("now run: systemctl --user daemon-reload && systemctl --user enable --now digest.timer")
        click.echo(f"next run: {coming.isoformat()}")
        return
    click.echo(f"# next run: {coming.isoformat()}")
    click.echo("# crontab (crontab -e):")
    click.echo(made.crontab)
    click.echo("# systemd: ~/.config/systemd/user/digest.service")
    click.echo(made.service)
    click.echo("# systemd: ~/.config/systemd/user/digest.timer")
    click.echo(made.timer)
