"""Unsubscribe tokens: opaque, HMAC-signed, canonical; forged, altered or outdated ones are refused.

A token is `<head>.<mac>`, both unpadded URL-safe base64. The head is the subscriber's id and the moment the
token was made (`17:1771400000000`, milliseconds since the epoch); the MAC signs both. A token is good while its
subscriber has not come back since it was made: re-subscribing (`digest subscribers add --reactivate`) moves
the subscriber's joining time past every token made before, so an old one-click POST cannot unsubscribe a
reader who returned.

Its signature is checked before anything is looked up, so the answer's timing says nothing about which ids
exist. Tokens of the first form (`<id>.<mac>`, signed over the id and the address, without a date) are still in
emails already sent: they stay good until their subscriber re-subscribes, and are checked with the same work
whether the id exists or not.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from datetime import datetime

from digest.config import Settings
from digest.models import Subscriber
from digest.store.db import State

# Used only for the sample message that `build` writes when no secret is set; never for real sends.
SAMPLE_SECRET = b"digest-sample-secret-not-for-sending"
SAMPLE_ID = 0  # the samples' subscriber (built files, previews, test sends): no subscriber has it
MAX_ID = 2**63 - 1  # SQLite's largest integer
# a head of at most 19 + 1 + 16 characters, and 18 bytes of HMAC-SHA256
_SHAPE = re.compile(r"[A-Za-z0-9_-]{2,48}\.[A-Za-z0-9_-]{24}")
_HEAD = re.compile(r"([1-9][0-9]{0,18})(?::([1-9][0-9]{0,15}))?")


@dataclass(frozen=True)
class Claim:
    """What a well-formed token says: whose it is and, for a dated token, when it was made (ms)."""

    subscriber_id: int
    made: int | None  # None: a token of the first form, signed over the address instead


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(secret: bytes, message: str) -> str:
    return _b64(hmac.new(secret, message.encode(), hashlib.sha256).digest()[:18])


def _first_form_mac(secret: bytes, subscriber_id: int, email: str) -> str:
    return _sign(secret, f"unsubscribe:{subscriber_id}:{email.strip().lower()}")


def make_token(secret: bytes, subscriber_id: int, email: str, made: datetime | None = None) -> str:
    """The token for a subscriber, dated now (or `made`); the samples' subscriber gets an undated one, so that
    built files are reproducible."""
    if subscriber_id == SAMPLE_ID:
        return f"{_b64(str(subscriber_id).encode())}.{_first_form_mac(secret, subscriber_id, email)}"
    stamp = int((made.timestamp() if made else time.time()) * 1000)
    head = f"{subscriber_id}:{stamp}"
    return f"{_b64(head.encode())}.{_sign(secret, 'unsubscribe:' + head)}"


def read_claim(token: str) -> tuple[Claim, str] | None:
    """The claim of a canonical token and its MAC, or None; nothing is verified yet."""
    if not _SHAPE.fullmatch(token):
        return None
    head_text, mac = token.split(".")
    try:
        head = base64.urlsafe_b64decode(head_text + "=" * (-len(head_text) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        return None
    found = _HEAD.fullmatch(head)
    # One token per subscriber and moment: `MDE` (“01”), a padded or re-encoded head is not ours.
    if found is None or _b64(head.encode()) != head_text:
        return None
    subscriber_id = int(found.group(1))
    if subscriber_id > MAX_ID:
        return None
    return Claim(subscriber_id, int(found.group(2)) if found.group(2) else None), mac


def token_subscriber(token: str) -> int | None:
    """The subscriber id a token claims; check it with `verify_token` before trusting it."""
    read = read_claim(token)
    return read[0].subscriber_id if read else None


def verify_token(secret: bytes, token: str, subscriber_id: int, email: str) -> bool:
    """Whether the token carries a right signature for this subscriber (whatever has happened since)."""
    read = read_claim(token)
    if read is None or read[0].subscriber_id != subscriber_id:
        return False
    claim, mac = read
    if claim.made is None:
        expected = _first_form_mac(secret, subscriber_id, email)
    else:
        expected = _sign(secret, f"unsubscribe:{subscriber_id}:{claim.made}")
    return hmac.compare_digest(mac.encode(), expected.encode())


def _still_good(claim: Claim, holder: Subscriber) -> bool:
    if claim.made is None:
        return holder.rejoined_at is None
    return claim.made >= int(holder.joined().timestamp() * 1000)


def token_holder(state: State, secret: bytes, token: str) -> Subscriber | None:
    """The subscriber a token unsubscribes, or None when it is forged, altered, not canonical or outdated."""
    # imported here: the build makes a sample token and reads none, ~5 ms (python -X importtime)
    from digest.subscribers import roster

    read = read_claim(token)
    if read is None:
        return None
    claim, mac = read
    if claim.made is not None:
        if not hmac.compare_digest(
            mac.encode(), _sign(secret, f"unsubscribe:{claim.subscriber_id}:{claim.made}").encode()
        ):
            return None
        holder = roster.by_id(state, claim.subscriber_id)
        return holder if holder is not None and _still_good(claim, holder) else None
    # The first form is signed over the address, so it is looked up first; the same work is done either way.
    holder = roster.by_id(state, claim.subscriber_id)
    address = holder.email if holder is not None else "nobody@invalid"
    right = hmac.compare_digest(mac.encode(), _first_form_mac(secret, claim.subscriber_id, address).encode())
    return holder if right and holder is not None and _still_good(claim, holder) else None


def make_confirm_token(secret: bytes, subscriber_id: int, made: datetime | None = None) -> str:
    """The token of a confirmation link: dated like an unsubscribe token, signed for confirming only, so no
    unsubscribe link (they travel in headers) can ever confirm a sign-up."""
    stamp = int((made.timestamp() if made else time.time()) * 1000)
    head = f"{subscriber_id}:{stamp}"
    return f"{_b64(head.encode())}.{_sign(secret, 'confirm:' + head)}"


def confirm_claim(secret: bytes, token: str) -> Claim | None:
    """Whose confirmation link this is and when it was made, when its signature is right; nothing is looked up."""
    read = read_claim(token)
    if read is None or read[0].made is None:
        return None
    claim, mac = read
    expected = _sign(secret, f"confirm:{claim.subscriber_id}:{claim.made}")
    return claim if hmac.compare_digest(mac.encode(), expected.encode()) else None


def unsubscribe_url(settings: Settings, subscriber_id: int, email: str, secret: bytes | None = None) -> str:
    base = settings.model.web.base_url or "https://newsletter.invalid"
    token = make_token(secret or settings.secret() or SAMPLE_SECRET, subscriber_id, email)
    return f"{base}/unsubscribe/{token}"
