"""`digest state migrate --to URL`: the SQLite state copied into an empty PostgreSQL database."""

from __future__ import annotations

import click

from digest.cli import config_option, friendly, load, main
from digest.errors import DigestError
from digest.util import POSTGRES_SCHEMES, check_state_target


@main.group()
def state() -> None:
    """The state: the feed cache, articles seen, issues, subscribers and deliveries."""


@state.command("migrate")
@config_option
@click.option("--to", "target", required=True, metavar="URL", help="postgresql://user@host:port/database (empty).")
@friendly
def migrate(config_path: str, target: str) -> None:
    """Copy the SQLite state into an empty PostgreSQL database, every table, and count the rows on both sides."""
    from digest.store.copy import copy_state
    from digest.store.db import State

    settings = load(config_path)
    if settings.state_url:
        raise DigestError(f"the state is already a PostgreSQL database ({settings.state_url}); nothing to migrate")
    if not target.startswith(POSTGRES_SCHEMES):
        raise DigestError(f"--to: expected a postgresql:// URL but received {target!r}")
    try:
        check_state_target(target)
    except ValueError as error:
        raise DigestError(f"--to: {error}") from None
    if not settings.state_path.is_file():
        raise DigestError(f"the state file {settings.state_path} does not exist, so there is nothing to copy")

    def told(table: str, rows: int) -> None:
        click.echo(f"  {table:<24} {rows:>10,} rows", err=True)

    with State(settings.state_path) as source:
        copied = copy_state(source, target, told)
    total = sum(rows for _, rows in copied)
    click.echo(
        f"copied {len(copied)} tables, {total:,} rows; every table holds as many rows as in {settings.state_path.name}"
    )
    click.echo(f"now set `state: {target}` in {settings.path.name} (the password in DIGEST_DATABASE_PASSWORD)")
