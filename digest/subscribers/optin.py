"""Double opt-in: a sign-up through the form makes a pending subscriber (or a request of an address that had
left), a signed link confirms it, and what is not confirmed within `subscribe.pending_days` is erased.

Whatever the address's standing, a sign-up answers the same, and the confirmation goes by email to the address
alone: nobody learns from the form who is subscribed. A reader already active is left as they are (a stranger
could otherwise change their choices), and so is an address that complained (it is mailed nothing, ever); an
address that unsubscribed or bounced must confirm again, and its old unsubscribe links stop working once it does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from digest.config import Settings
from digest.i18n import N_, translations
from digest.models import Consent, ConsentSource, Subscriber, SubscriberStatus
from digest.store import consents, signups
from digest.store import subscribers as rows
from digest.store.db import State, iso
from digest.subscribers import privacy
from digest.subscribers.tokens import confirm_claim

CONSENT = N_("I want to receive %(title)s by email, and can unsubscribe at any time with one click.")


def consent_text(settings: Settings, language: str) -> str:
    """The consent sentence the form shows: config's `subscribe.consent`, else digest's own, in `language`."""
    own = settings.model.subscribe.consent
    return own or translations(language).gettext(CONSENT) % {"title": settings.model.newsletter.title}


def wording_version(text: str) -> str:
    """The version of a consent text the record keeps: a hash of it, so any change of wording is a new one."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class SignUp:
    """One post of the form, checked: the address, the reader's choices, and what the consent record keeps."""

    email: str
    name: str = ""
    language: str = ""
    themes: tuple[str, ...] = ()
    ip: str = ""
    wording: str = ""  # the version of the consent text the form showed


def _precise(moment: datetime) -> str:
    # Confirmation times are compared with tokens dated to the millisecond: kept to the microsecond.
    return moment.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class ToConfirm:
    """A confirmation email to send now: to whom, and the turn it took (given back if it cannot go)."""

    subscriber_id: int
    taken_at: str
    before: str | None


def sign_up(state: State, request: SignUp, resend_hours: float, now: datetime | None = None) -> ToConfirm | None:
    """Record a sign-up; the confirmation email to send now, or None: the address is active already, or a
    confirmation went to it less than `resend_hours` ago."""
    now = now or datetime.now(UTC)
    consent = Consent(
        ConsentSource.FORM, iso(now), request.ip, request.wording, None, request.name, request.language,
        list(request.themes),
    )  # fmt: skip
    with state.transaction():
        existing = rows.by_email(state, request.email)
        if existing is None:
            subscriber_id = signups.insert_pending(
                state, request.email, request.name, request.language, ",".join(request.themes)
            )
            consents.add(state, subscriber_id, consent)
            consents.add_event(state, subscriber_id, iso(now), "signed up", f"through the form from {request.ip}")
        elif existing.status in (SubscriberStatus.ACTIVE, SubscriberStatus.COMPLAINED):
            # Written like any other sign-up (one commit), so that the answer takes the same time. An address that
            # marked our mail as spam is sent nothing, not even a confirmation: only the editors bring it back.
            consents.add_event(
                state,
                existing.id,
                iso(now),
                "signed up again",
                f"while {existing.status}, from {request.ip}; nothing changed",
            )
            return None
        else:
            # Beside any request still open, not in its place: a link already mailed confirms the request it was
            # sent for, whatever a stranger posts with the same address afterwards.
            subscriber_id = existing.id
            consents.add(state, subscriber_id, consent)
            consents.add_event(state, subscriber_id, iso(now), "signed up again", f"through the form from {request.ip}")
        taken_at = _precise(now)
        taken, before = signups.claim_confirmation(
            state, subscriber_id, taken_at, _precise(now - timedelta(hours=resend_hours))
        )
    return ToConfirm(subscriber_id, taken_at, before) if taken else None


def attempt(state: State, client: str, per_hour: int, now: datetime | None = None) -> bool:
    """Count one sign-up of a client (`formguard.client_key`); False when it made `per_hour` in the last hour."""
    now = now or datetime.now(UTC)
    return signups.note_attempt(state, client, _precise(now), _precise(now - timedelta(hours=1)), per_hour)


def confirmation_sent(state: State, sent: ToConfirm) -> None:
    consents.add_event(state, sent.subscriber_id, iso(datetime.now(UTC)), "confirmation email sent")


def confirmation_failed(state: State, failed: ToConfirm, error: str) -> None:
    """The relay did not take the email: its turn is given back, so that signing up again sends one."""
    with state.transaction():
        signups.release_confirmation(state, failed.subscriber_id, failed.taken_at, failed.before)
        consents.add_event(state, failed.subscriber_id, iso(datetime.now(UTC)), "confirmation email failed", error)


class Confirmation(StrEnum):
    """What a confirmation link can do."""

    READY = "ready"  # good: its POST confirms
    DONE = "done"  # its subscriber is active already: nothing to do
    INVALID = "invalid"  # forged, altered, or of a sign-up that is gone (erased, or refused by its reader)
    EXPIRED = "expired"  # older than subscribe.pending_days


@dataclass(frozen=True)
class Checked:
    outcome: Confirmation
    subscriber: Subscriber | None = None
    request: Consent | None = None


def check(state: State, secret: bytes, token: str, pending_days: float, now: datetime | None = None) -> Checked:
    """What a confirmation link would do, changing nothing (a GET, or a mail scanner, only looks)."""
    claim = confirm_claim(secret, token)
    if claim is None or claim.made is None:
        return Checked(Confirmation.INVALID)
    now = now or datetime.now(UTC)
    if now.timestamp() * 1000 - claim.made > pending_days * 86_400_000:
        return Checked(Confirmation.EXPIRED)
    holder = rows.by_id(state, claim.subscriber_id)
    if holder is None or claim.made < int(holder.joined().timestamp() * 1000):
        return Checked(Confirmation.INVALID)
    made = datetime.fromtimestamp(claim.made / 1000, UTC)
    request = consents.open_request(state, holder.id, iso(made))
    if request is None:
        done = holder.status == SubscriberStatus.ACTIVE
        return Checked(Confirmation.DONE if done else Confirmation.INVALID, holder)
    return Checked(Confirmation.READY, holder, request)


def confirm(state: State, secret: bytes, token: str, pending_days: float, now: datetime | None = None) -> Checked:
    """Confirm the sign-up a link stands for: the subscriber becomes active with the choices they signed up
    with. An address that had left comes back from the moment its last confirmation email went out, so the
    unsubscribe links it had before stop working and those of that email keep working."""
    now = now or datetime.now(UTC)
    with state.transaction():
        checked = check(state, secret, token, pending_days, now)
        if checked.outcome != Confirmation.READY:
            return checked
        holder, request = checked.subscriber, checked.request
        assert holder is not None and request is not None
        rejoined = None
        if holder.status != SubscriberStatus.PENDING:
            rejoined = signups.confirmation_sent_at(state, holder.id) or _precise(now)
        themes = ",".join(request.themes)
        signups.confirm(state, holder.id, request.name or holder.name, request.language, themes, rejoined)
        consents.confirm_request(state, holder.id, request, iso(now))
        consents.add_event(state, holder.id, iso(now), "confirmed", "the sign-up, through the emailed link")
        privacy.unforget(state, secret, holder.email)
        confirmed = rows.by_id(state, holder.id)
    return Checked(Confirmation.READY, confirmed, request)


def unsubscribe(state: State, subscriber_id: int, how: str) -> None:
    """Unsubscribed, with any sign-up waiting for confirmation dropped (from a confirmation email, the unsubscribe
    link means "this was not me"), and `how` written into the history."""
    with state.transaction():
        changed = rows.set_status(state, subscriber_id, SubscriberStatus.UNSUBSCRIBED)
        consents.drop_requests(state, subscriber_id)
        if changed:
            consents.add_event(state, subscriber_id, iso(datetime.now(UTC)), "unsubscribed", how)


def purge(state: State, pending_days: float, now: datetime | None = None) -> int:
    """Erase the sign-ups not confirmed within `pending_days`; returns how many pending subscribers went."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=pending_days)
    return signups.purge_pending(state, _precise(cutoff))
