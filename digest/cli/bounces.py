"""`digest bounces fetch | import` and `digest subscribers show`: the list cleans itself, and says how."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from digest.cli import config_option, friendly, load, main, open_state, subscribers
from digest.config import Settings
from digest.errors import DigestError, NotFound, SecretMissing
from digest.util import printable

if TYPE_CHECKING:  # the mailbox's modules (imaplib, ssl, flufl.bounce) load only for these commands
    from digest.subscribers.intake import Policy
    from digest.subscribers.mailbox import Outcome


@main.group()
def bounces() -> None:
    """Bounces and complaints: from the bounce mailbox over IMAP, or from returned messages saved as files."""


def _policy(settings: Settings, doing: str) -> Policy:
    from digest.subscribers.mailbox import policy_of

    secret = settings.secret()
    if secret is None:
        raise SecretMissing(settings.model.secret_env, doing, "verify the delivery tokens that bounces carry")
    return policy_of(settings, secret)


def _print(outcome: Outcome) -> None:
    for line in outcome.lines:
        click.echo(f"  {line}")
    click.echo(outcome.summary())
    for address, status in outcome.changes:
        click.echo(f"now {status}: {printable(address)}")


@bounces.command("fetch")
@config_option
@friendly
def bounces_fetch(config_path: str) -> None:
    """Read the bounce mailbox (bounces.imap): file the reports about our mail, leave the rest unread."""
    from digest.subscribers import mailbox

    settings = load(config_path)
    policy = _policy(settings, "`digest bounces fetch`")
    with open_state(settings) as state:
        outcome = mailbox.fetch(settings, state, policy, datetime.now(UTC))
    _print(outcome)
    if outcome.filed:
        folder = settings.model.bounces.imap.processed_folder if settings.model.bounces.imap else ""
        click.echo(f"filed {outcome.filed} into {folder}; {outcome.left} left where they were, unread")


@bounces.command("import")
@config_option
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@friendly
def bounces_import(config_path: str, files: tuple[Path, ...]) -> None:
    """Take the bounces and complaints in raw RFC 822 files: saved messages, or a Maildir folder."""
    from digest.subscribers import mailbox

    settings = load(config_path)
    missing = [str(path) for path in files if not path.exists()]
    if missing:
        raise DigestError(f"{printable(missing[0])}: no such file or folder; nothing was imported")
    policy = _policy(settings, "`digest bounces import`")
    with open_state(settings) as state:
        outcome = mailbox.import_files(state, policy, list(files), datetime.now(UTC))
    _print(outcome)
    if outcome.counts.get("unreadable"):
        raise DigestError(f"{outcome.counts['unreadable']} file(s) could not be read (listed above); the rest were")


@subscribers.command("show")
@config_option
@click.argument("address")
@friendly
def subscribers_show(config_path: str, address: str) -> None:
    """One subscriber: status, and every bounce and complaint with its source, date, code and text."""
    from digest.subscribers import roster
    from digest.subscribers.bounces import history_of

    settings = load(config_path)
    with open_state(settings) as state:
        found = roster.get(state, address)
        if found is None:
            raise NotFound(f"{printable(address.strip())} is not on the subscriber list")
        rows = history_of(state, found.id)
    click.echo(f"{printable(found.email)}\t{found.status}\t{printable(found.name)}")
    click.echo(f"  joined {found.created_at}" + (f", rejoined {found.rejoined_at}" if found.rejoined_at else ""))
    if found.failures:
        click.echo(f"  issues in a row that bounced: {found.failures}")
    if not rows:
        click.echo("  no bounce or complaint recorded")
    for row in rows:
        code = row.status or (str(row.code) if row.code is not None else "-")
        changed = f"  → {row.changed_to}" if row.changed_to else ""
        click.echo(
            f"  {row.created_at}  {row.kind:9}  {row.source:8}  issue {row.issue_id or '?':10}  {code:7}  "
            f"{printable(row.detail)}{changed}"
        )
