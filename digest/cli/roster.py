"""`digest subscribers add | import | remove | list | export`: the list, edited by hand or from a CSV."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from digest.cli import config_option, friendly, load, main, open_state
from digest.config import Settings
from digest.errors import DigestError
from digest.models import SubscriberStatus
from digest.util import plural


@main.group()
def subscribers() -> None:
    """Manage the subscriber list kept in the state file."""


def _known_themes(settings: Settings) -> set[str] | None:
    # The catch-all section is a theme a reader may choose like the others.
    catch_all = {settings.model.catch_all.slug} if settings.model.catch_all.enabled else set()
    return {theme.slug for theme in settings.model.themes} | catch_all or None


@subscribers.command("add")
@config_option
@click.argument("address")
@click.option("--name", default="", help="The subscriber's name, shown in the To header.")
@click.option("--language", default="", help="A language tag such as en or pt-BR.")
@click.option("--themes", default="", help="Theme slugs from config.yaml, separated by commas.")
@click.option("--reactivate", is_flag=True, help="Make an unsubscribed, bounced or pending address active again.")
@click.option("--consented", is_flag=True, help="Its owner consented afresh (needed for an address erased by forget).")
@friendly
def subscribers_add(
    config_path: str, address: str, name: str, language: str, themes: str, reactivate: bool, consented: bool
) -> None:
    """Add one address, active at once (you vouch for its consent); one already there keeps its status."""
    from digest.subscribers import roster as subscriber_list

    settings = load(config_path)
    with open_state(settings) as state:
        found, changed = subscriber_list.add(
            state, address, name, language, themes, _known_themes(settings), reactivate, settings.secret(), consented
        )
    if changed:
        click.echo(f"{found.email}\t{found.status}")
    else:
        hint = "" if found.status == "active" else " (--reactivate makes it active again, if its owner asked)"
        click.echo(f"{found.email} is already on the list, {found.status}: nothing changed{hint}")


@subscribers.command("import")
@config_option
@click.argument("file", type=click.Path(dir_okay=False))
@friendly
def subscribers_import(config_path: str, file: str) -> None:
    """Import a CSV of email, name, language, themes; bad lines are reported by number, good ones imported."""
    from digest.errors import SubscriberError
    from digest.subscribers import roster as subscriber_list

    settings = load(config_path)

    def tell(line: int, reason: str) -> None:
        click.echo(f"{file}:{line}: {reason}", err=True)

    with open_state(settings) as state:
        report = subscriber_list.import_file(state, Path(file), _known_themes(settings), tell, settings.secret())
    erased = f", {report.forgotten_lines} erased at their owner's request" if report.forgotten_lines else ""
    click.echo(
        f"imported {plural(report.added, 'new subscriber')} from {file}; "
        f"{report.existing} already on the list, {report.duplicate_lines} duplicate lines, "
        f"{report.bad_lines} bad lines{erased}"
    )
    if report.bad_lines:
        rest = "the good lines were imported" if report.added or report.existing else "no line was good"
        raise SubscriberError(
            f"{plural(report.bad_lines, 'line')} of {file} could not be imported (listed above); {rest}"
        )


@subscribers.command("remove")
@config_option
@click.argument("address")
@click.option("--forget", is_flag=True, help="Erase the address and all kept about it, as `subscribers forget`.")
@friendly
def subscribers_remove(config_path: str, address: str, forget: bool) -> None:
    """Unsubscribe an address (kept, so no later import adds it back), or erase it with --forget."""
    from digest.subscribers import roster as subscriber_list

    settings = load(config_path)
    with open_state(settings) as state:
        found = subscriber_list.remove(state, address, forget, settings.secret())
    click.echo(f"{found.email} {'erased' if forget else 'unsubscribed'}")


@subscribers.command("list")
@config_option
@click.option("--status", type=click.Choice([s.value for s in SubscriberStatus]), help="Only this status.")
@friendly
def subscribers_list(config_path: str, status: str | None) -> None:
    """Print one subscriber a line: address, status, name (tab-separated; control characters escaped)."""
    from digest.subscribers import roster as subscriber_list
    from digest.util import printable

    settings = load(config_path)
    with open_state(settings) as state:
        for found in subscriber_list.all_subscribers(state, status):
            click.echo(f"{printable(found.email)}\t{found.status}\t{printable(found.name)}")


@subscribers.command("export")
@config_option
@click.option("--out", type=click.Path(dir_okay=False), default="-", help="The CSV file to write (default stdout).")
@friendly
def subscribers_export(config_path: str, out: str) -> None:
    """Write the whole list as CSV (email, name, language, themes, status, ...) that `import` reads back."""
    from digest.subscribers import roster as subscriber_list

    settings = load(config_path)
    with open_state(settings) as state:
        everyone = subscriber_list.all_subscribers(state)  # read as written: any length takes the same memory
        if out == "-":
            subscriber_list.export_csv(everyone, sys.stdout)
            return
        try:
            with open(out, "w", encoding="utf-8", newline="") as stream:
                count = subscriber_list.export_csv(everyone, stream)
        except OSError as error:
            raise DigestError(f"{out}: cannot be written ({error.strerror or error})") from None
    click.echo(f"exported {count} subscribers to {out}", err=True)
