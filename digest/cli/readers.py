"""The commands about one reader: `subscribers show` (their choices, consent, history, bounces and complaints),
`subscribers forget` (erase them, keeping only a keyed hash) and `subscribers purge` (erase the sign-ups never
confirmed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from digest.cli import config_option, friendly, load, open_state
from digest.cli.roster import subscribers
from digest.config import Settings
from digest.errors import NotFound, SubscriberError
from digest.util import plural, printable

if TYPE_CHECKING:
    from digest.subscribers.privacy import Record


@subscribers.command("show")
@config_option
@click.argument("address")
@friendly
def subscribers_show(config_path: str, address: str) -> None:
    """One subscriber: status, choices, consent and history, and every bounce and complaint with its source, date,
    code and text."""
    from digest.subscribers import privacy
    from digest.subscribers.bounces import history_of

    settings = load(config_path)
    with open_state(settings) as state:
        record = privacy.record_of(state, address)
        if record is None:
            raise NotFound(f"{printable(address.strip())} is not on the subscriber list")
        bounces = history_of(state, record.subscriber.id)
    who = record.subscriber
    click.echo(f"{printable(who.email)}\t{who.status}\t{printable(who.name)}")
    for line in [*_choices(settings, record), *_consents(record), *_history(record)]:
        click.echo(line)
    click.echo("bounces and complaints")
    if not bounces:
        click.echo("  no bounce or complaint recorded")
    for row in bounces:
        code = row.status or (str(row.code) if row.code is not None else "-")
        changed = f"  → {row.changed_to}" if row.changed_to else ""
        click.echo(
            f"  {row.created_at}  {row.kind:9}  {row.source:8}  issue {row.issue_id or '?':10}  {code:7}  "
            f"{printable(row.detail)}{changed}"
        )


def _choices(settings: Settings, record: Record) -> list[str]:
    from digest.subscribers import choices

    who = record.subscriber
    titles = {t.slug: t.title for t in choices.themes(settings)}
    paused = choices.paused_until(who)
    received = f"{plural(record.received, 'issue')} received" + (
        f", the last {record.last_issue}" if record.last_issue else ""
    )
    lines = [
        ("language", who.language or f"- (the newsletter's, {settings.model.newsletter.language})"),
        ("themes", ", ".join(f"{titles.get(s, s)} ({s})" for s in who.themes) or "everything"),
        ("paused", f"until {paused.isoformat()}" if paused else "no"),
        ("joined", who.created_at + (f", rejoined {who.rejoined_at}" if who.rejoined_at else "")),
        ("issues", received + (f"; issues in a row that bounced: {who.failures}" if who.failures else "")),
    ]
    return [f"  {label:<10}{value}" for label, value in lines]


def _consents(record: Record) -> list[str]:
    lines = ["consent"]
    for consent in record.consents:
        where = f", from {consent.ip}" if consent.ip else ""
        wording = f", wording {consent.wording}" if consent.wording else ""
        state_ = f"confirmed {consent.confirmed_at}" if consent.confirmed_at else "not confirmed"
        lines.append(f"  {consent.source:<11}{consent.given_at}{where}{wording}; {state_}")
    return lines if record.consents else [*lines, "  none recorded"]


def _history(record: Record) -> list[str]:
    lines = ["history"] + [f"  {e.at}  {e.event:<24}{printable(e.detail)}".rstrip() for e in record.history]
    return lines if record.history else [*lines, "  nothing recorded"]


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
