"""Unsubscribe tokens: opaque, HMAC-signed, one per subscriber; forged or tampered ones are refused."""

from __future__ import annotations

import base64
import hashlib
import hmac

from digest.config import Settings

# Used only for the sample message that `build` writes when no secret is set; never for real sends.
SAMPLE_SECRET = b"digest-sample-secret-not-for-sending"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, subscriber_id: int, email: str) -> str:
    message = f"unsubscribe:{subscriber_id}:{email.strip().lower()}".encode()
    return _b64(hmac.new(secret, message, hashlib.sha256).digest()[:18])


def make_token(secret: bytes, subscriber_id: int, email: str) -> str:
    return f"{_b64(str(subscriber_id).encode())}.{_mac(secret, subscriber_id, email)}"


def token_subscriber(token: str) -> int | None:
    """The subscriber id a token claims; check it with `verify_token` before trusting it."""
    head, _, _ = token.partition(".")
    try:
        return int(_unb64(head).decode())
    except (ValueError, UnicodeDecodeError):
        return None


def verify_token(secret: bytes, token: str, subscriber_id: int, email: str) -> bool:
    _, _, mac = token.partition(".")
    return hmac.compare_digest(mac, _mac(secret, subscriber_id, email))


def unsubscribe_url(settings: Settings, subscriber_id: int, email: str, secret: bytes | None = None) -> str:
    base = settings.model.web.base_url or "https://newsletter.invalid"
    token = make_token(secret or settings.secret() or SAMPLE_SECRET, subscriber_id, email)
    return f"{base}/unsubscribe/{token}"
