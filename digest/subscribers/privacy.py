"""What is kept about a person, and its erasure: consent records and history, and `forget`, which erases an
address and keeps only a keyed hash of it, so that no later import adds it back without fresh consent.

The hash is an HMAC with the secret that signs the unsubscribe links (DIGEST_SECRET): without the secret
nobody can test a list of addresses against it, and it stays the same from run to run as that secret must.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from digest.models import Consent, ConsentSource, Subscriber, SubscriberEvent
from digest.store import consents, deliveries
from digest.store import subscribers as rows
from digest.store.db import State, iso


def address_digest(secret: bytes, address: str) -> str:
    """The keyed hash an erased address leaves behind."""
    return hmac.new(secret, b"forgotten:" + address.strip().lower().encode(), hashlib.sha256).hexdigest()


def forget(state: State, secret: bytes, address: str) -> Subscriber | None:
    """Erase the address with everything kept about it (deliveries, bounces, consents, history) and keep its
    hash; returns who was erased (None: the address was not on the list, and only its hash is kept)."""
    found = rows.by_email(state, address.strip())
    with state.transaction():
        if found is not None:
            consents.erase(state, found.id)
            rows.forget(state, found.id)
        consents.add_forgotten(state, address_digest(secret, address), iso(datetime.now(UTC)))
    return found


def is_forgotten(state: State, secret: bytes | None, address: str) -> bool:
    if not consents.any_forgotten(state):
        return False
    if secret is None:
        return True  # cannot tell without the secret: treated as forgotten, so nobody is added back by mistake
    return bool(consents.forgotten_among(state, [address_digest(secret, address)]))


def unforget(state: State, secret: bytes, address: str) -> None:
    """The person gave fresh consent: their address is no longer held back."""
    consents.remove_forgotten(state, address_digest(secret, address))


def record_consent(state: State, subscriber_id: int, source: ConsentSource, event: str, detail: str = "") -> None:
    """Single opt-in by the editors (an import, `subscribers add`): consent given and confirmed now."""
    now = iso(datetime.now(UTC))
    found = rows.by_id(state, subscriber_id)
    if found is None:
        return
    with state.transaction():
        consents.add(
            state, subscriber_id,
            Consent(source, now, confirmed_at=now, name=found.name, language=found.language, themes=found.themes),
        )  # fmt: skip
        consents.add_event(state, subscriber_id, now, event, detail)


@dataclass(frozen=True)
class Record:
    """Everything kept about one subscriber, for `digest subscribers show`."""

    subscriber: Subscriber
    consents: list[Consent]
    history: list[SubscriberEvent]  # what the reader and the editors did (bounces are the bounces module's)
    received: int
    last_issue: str | None


def record_of(state: State, address: str) -> Record | None:
    found = rows.by_email(state, address.strip())
    if found is None:
        return None
    received, last = deliveries.received_by(state, found.id)
    return Record(found, consents.of_subscriber(state, found.id), consents.events_of(state, found.id), received, last)
