"""The commands about one reader: `subscribers show` (their choices, consent and history), `subscribers forget`
(erase them, keeping only a keyed hash) and `subscribers purge` (erase the sign-ups never confirmed)."""

from __future__ import annotations

import click

from digest.cli import config_option, friendly, load, open_state, subscribers
from digest.errors import NotFound, SubscriberError
from digest.util import plural, printable


def _when(text: str | None) -> str:
    return text or "-"


@subscribers.command("show")
@config_option
@click.argument("address")
@friendly
def subscribers_show(config_path: str, address: str) -> None:
    """Print what is kept about one subscriber: status, choices, consent and history."""
    from digest.subscribers import choices, privacy

    settings = load(config_path)
    with open_state(settings) as state:
        record = privacy.record_of(state, address)
    if record is None:
        raise NotFound(f"{address.strip()} is not on the subscriber list")
    who = record.subscriber
    titles = {t.slug: t.title for t in choices.themes(settings)}
    paused = choices.paused_until(who)
    lines = [
        ("address", printable(who.email)),
        ("status", str(who.status)),
        ("name", printable(who.name) or "-"),
        ("language", who.language or f"- (the newsletter's, {settings.model.newsletter.language})"),
        ("themes", ", ".join(f"{titles.get(s, s)} ({s})" for s in who.themes) or "everything"),
        ("paused", f"until {paused.isoformat()}" if paused else "no"),
        ("joined", who.created_at + (f" (back on {who.rejoined_at})" if who.rejoined_at else "")),
        ("issues", f"{plural(record.received, 'issue')} received"
                   + (f", the last {record.last_issue}" if record.last_issue else "")),
        ("failures", str(who.failures)),
    ]  # fmt: skip
    for label, value in lines:
        click.echo(f"{label:<10}{value}")
    click.echo("consent")
    for consent in record.consents:
        where = f", from {consent.ip}" if consent.ip else ""
        wording = f", wording {consent.wording}" if consent.wording else ""
        state_ = f"confirmed {consent.confirmed_at}" if consent.confirmed_at else "not confirmed"
        click.echo(f"  {consent.source:<11}{consent.given_at}{where}{wording}; {state_}")
    if not record.consents:
        click.echo("  none recorded")
    click.echo("history")
    for event in record.history:
        detail = printable(event.detail)
        click.echo(f"  {event.at}  {event.event:<24}{detail}".rstrip())
    if not record.history:
        click.echo("  nothing recorded")


@subscribers.command("forget")
@config_option
@click.argument("address")
@friendly
def subscribers_forget(config_path: str, address: str) -> None:
    """Erase an address and all kept about it; only a keyed hash stays, so no import adds it back."""
    from digest.subscribers import privacy

    settings = load(config_path)
    secret = settings.secret()
    if secret is None:
        raise SubscriberError(
            f"the environment variable {settings.model.secret_env} (config key secret_env) is not set, and the hash "
            "that `forget` keeps is keyed with it; set it as for sending, nothing was erased"
        )
    with open_state(settings) as state:
        found = privacy.forget(state, secret, address)
    shown = printable(address.strip())
    if found is None:
        click.echo(f"{shown} was not on the list; its hash is kept, so no import adds it without fresh consent")
    else:
        click.echo(f"{printable(found.email)} erased; only a keyed hash is kept, so no import adds it back")


@subscribers.command("purge")
@config_option
@friendly
def subscribers_purge(config_path: str) -> None:
    """Erase the sign-ups not confirmed within subscribe.pending_days (`digest run` does it too)."""
    from digest.subscribers import optin

    settings = load(config_path)
    days = settings.model.subscribe.pending_days
    with open_state(settings) as state:
        erased = optin.purge(state, days)
    click.echo(f"erased {plural(erased, 'sign-up')} not confirmed within {days:g} days")
