"""The delivery token: what ties a returned message back to one (issue, subscriber).

Every message carries it twice: in a VERP return path when `bounces.address` has a `+{token}` tag
(`bounces+2026-W08.42.k3x7…@example.org`) and in our own `X-Digest-Delivery` header, which a bounce usually
quotes with the returned original. Its form is `<issue_id>.<subscriber_id>.<mac>`, the mac an HMAC-SHA256 of
both under the secret, cut to 80 bits and written in lower-case base32: relays that change the case of a
local part or fold it into a header cannot break it, and nobody can make a token that sends a bounce to
another subscriber.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

HEADER = "X-Digest-Delivery"

# Issue ids are short words such as 2026-W08; a dot would break the token apart.
_ISSUE = re.compile(r"^[A-Za-z0-9-]{1,32}$")
_MAC_LENGTH = 16
# The shape of a token wherever it may appear: one test for VERP tags, headers and quoted text alike.
TOKEN_PATTERN = r"[A-Za-z0-9-]{1,32}\.[0-9]{1,12}\.[A-Za-z2-7]{16}"
_TOKEN = re.compile(rf"^{TOKEN_PATTERN}$")


@dataclass(frozen=True)
class Delivery:
    """One message of one issue to one subscriber, as a verified token names it."""

    issue_id: str
    subscriber_id: int


def _mac(secret: bytes, issue_id: str, subscriber_id: int) -> str:
    # The issue id enters lower-cased so that a relay that lower-cases the VERP local part keeps it valid.
    message = f"delivery:{issue_id.lower()}:{subscriber_id}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()[:10]
    return base64.b32encode(digest).decode().lower()


def make_token(secret: bytes, issue_id: str, subscriber_id: int) -> str:
    """The token for one delivery; ValueError for an issue id that cannot stand in an address."""
    if not _ISSUE.match(issue_id):
        raise ValueError(f"{issue_id!r} cannot stand in a delivery token (letters, digits and '-' only)")
    if subscriber_id < 0:
        raise ValueError(f"subscriber id {subscriber_id} is negative")
    return f"{issue_id}.{subscriber_id}.{_mac(secret, issue_id, subscriber_id)}"


def looks_like_token(text: str) -> bool:
    """Whether text has a token's shape (says nothing about who made it: see `verify_token`)."""
    return bool(_TOKEN.match(text))


def verify_token(secret: bytes, token: str) -> Delivery | None:
    """The delivery a token names when our secret signed it; None for anything forged, altered or malformed.

    The issue id comes back as the token spells it; compare it without regard to case.
    """
    if not looks_like_token(token):
        return None
    issue_id, subscriber, mac = token.split(".")
    subscriber_id = int(subscriber)
    if not hmac.compare_digest(mac.lower(), _mac(secret, issue_id, subscriber_id)):
        return None
    return Delivery(issue_id, subscriber_id)


def return_path(bounce_address: str, token: str) -> str:
    """The envelope sender for one delivery: `bounces+{token}@…` filled in, or the address as it is."""
    return bounce_address.replace("{token}", token) if "{token}" in bounce_address else bounce_address


def token_in_address(address: str) -> str | None:
    """The token in an address's `+tag` (`bounces+<token>@example.org`), if it has one of the right shape."""
    local, at, _ = address.strip().strip("<>").rpartition("@")
    _, plus, tag = local.partition("+")
    return tag if at and plus and looks_like_token(tag) else None
