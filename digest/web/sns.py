"""Amazon SNS messages, verified: the signature over the message's fields, by the certificate at SigningCertURL.

SNS signs each message with SignatureVersion 1 (RSA with SHA1) or 2 (RSA with SHA256) and names the
certificate to check it with. That URL comes with the message, so a stranger could name their own: the
certificate is fetched only from `https://sns.<region>.amazonaws.com/….pem` (`ALLOWED_HOST`), over https,
with no redirect, at most `MAX_CERTIFICATE_BYTES`, and kept for a day. A valid signature proves that SNS sent
the message, not that it is ours (anyone can make a topic): the caller also checks the TopicArn against
`bounces.webhooks.sns_topics`.

The fetcher is a parameter (`Certificates(fetch=…)`) so that tests can hand over a test certificate; the
allow-list is checked before the fetcher is ever called, in tests too.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from digest import __version__
from digest.errors import WebhookRefused

ALLOWED_HOST = re.compile(r"^sns\.[a-z0-9-]{1,40}\.amazonaws\.com(\.cn)?$")
MAX_CERTIFICATE_BYTES = 65_536
KEEP_SECONDS = 86_400.0
MAX_KEPT = 16
_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}

Fetch = Callable[[str], bytes]


def check_certificate_url(url: str) -> None:
    """WebhookRefused unless the URL is an SNS certificate's: https, an SNS host, no port or login, a .pem."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookRefused("SigningCertURL is not a URL") from None
    host = parts.hostname or ""
    if (
        parts.scheme != "https"
        or not ALLOWED_HOST.match(host)
        or port is not None
        or parts.username is not None
        or parts.netloc.lower() != host
        or not parts.path.endswith(".pem")
        or parts.query
        or parts.fragment
    ):
        raise WebhookRefused(
            f"SigningCertURL {url[:100]!r} is not an Amazon SNS certificate (https://sns.<region>.amazonaws.com/….pem)"
        )


def download(url: str) -> bytes:
    """The certificate's bytes, fetched as the module docstring says (check_certificate_url first)."""
    import httpx

    headers = {"User-Agent": f"digest/{__version__}"}
    try:
        with (
            httpx.Client(timeout=10.0, follow_redirects=False, trust_env=False, headers=headers) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise WebhookRefused(f"the SNS certificate at {url} answered HTTP {response.status_code}")
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_CERTIFICATE_BYTES:
                    raise WebhookRefused(f"the SNS certificate at {url} is larger than {MAX_CERTIFICATE_BYTES} bytes")
            return body
    except httpx.HTTPError as error:
        raise WebhookRefused(f"the SNS certificate at {url} cannot be fetched ({type(error).__name__})", 503) from None


class Certificates:
    """SNS signing certificates by URL: fetched once (allow-listed first), kept a day."""

    def __init__(self, fetch: Fetch = download) -> None:
        self.fetch = fetch
        self.kept: dict[str, tuple[float, x509.Certificate]] = {}
        self.lock = threading.Lock()

    def get(self, url: str) -> x509.Certificate:
        check_certificate_url(url)
        with self.lock:
            kept = self.kept.get(url)
            if kept is not None and time.monotonic() - kept[0] < KEEP_SECONDS:
                return kept[1]
        pem = self.fetch(url)
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise WebhookRefused(f"the SNS certificate at {url} is not a PEM certificate") from None
        with self.lock:
            if len(self.kept) >= MAX_KEPT:
                self.kept.clear()
            self.kept[url] = (time.monotonic(), certificate)
        return certificate


def string_to_sign(message: dict[str, Any]) -> bytes:
    """The fields SNS signs, in its order: `Name\\nvalue\\n` for each one present."""
    fields = _SIGNED_FIELDS.get(str(message.get("Type")))
    if fields is None:
        raise WebhookRefused(f"Type {str(message.get('Type'))[:40]!r} is not an SNS message type", 400)
    text = ""
    for name in fields:
        value = message.get(name)
        if value is None and name == "Subject":
            continue
        if not isinstance(value, str):
            raise WebhookRefused(f"{name}: expected a string in an SNS {message['Type']}", 400)
        text += f"{name}\n{value}\n"
    return text.encode()


def verify(message: dict[str, Any], certificates: Certificates, now: datetime, max_age: float) -> None:
    """WebhookRefused unless SNS signed this message, recently, with a certificate valid now."""
    algorithm = _HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise WebhookRefused("SignatureVersion: expected 1 or 2")
    signed = string_to_sign(message)
    try:
        signature = base64.b64decode(str(message.get("Signature") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRefused("Signature is not base64") from None
    _fresh(str(message.get("Timestamp")), now, max_age)
    certificate = certificates.get(str(message.get("SigningCertURL") or ""))
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise WebhookRefused("the SNS signing certificate is not valid at this time")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise WebhookRefused("the SNS signing certificate does not hold an RSA key")
    try:
        key.verify(signature, signed, padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise WebhookRefused("the SNS signature does not match the message") from None


def _fresh(stamp: str, now: datetime, max_age: float) -> None:
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        raise WebhookRefused("Timestamp: expected an ISO 8601 time") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if abs((now - moment).total_seconds()) > max_age:
        raise WebhookRefused(f"the SNS message of {stamp[:40]} is older than {max_age:g} s (or from the future)")
