"""`digest bounces fetch | import`: the list cleans itself, and says how (`digest subscribers show`, in
cli/readers.py, prints a reader's bounces and complaints)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from digest.cli import config_option, friendly, load, main, open_state
from digest.config import Settings
from digest.errors import DigestError, SecretMissing
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
