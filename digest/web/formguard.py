"""What keeps the public forms honest: a signed token in each form that changes something (a confirmation, a
reader's preferences), the browser's word on where a POST comes from, and the key a client's sign-ups are
counted under.

A form token is `<issued>.<mac>`, the MAC signing the form's purpose (its path, which holds the reader's own
token) and when the page was made: it cannot be made without the secret, is good for one form only, and for a
day. The sign-up form has none: other sites are meant to post it (double opt-in is its guard).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import time

from starlette.requests import Request

from digest.util import ascii_digits

FORM_TOKEN_FIELD = "form_token"
FORM_TOKEN_LIFETIME = 24 * 3600  # seconds a page's form stays good: a page left open overnight still works


def _mac(secret: bytes, purpose: str, issued: int) -> str:
    digest = hmac.new(secret, f"form:{purpose}:{issued}".encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode()


def form_token(secret: bytes, purpose: str, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    return f"{issued}.{_mac(secret, purpose, issued)}"


def form_token_ok(secret: bytes, purpose: str, token: str, now: float | None = None) -> bool:
    issued_text, _, mac = token.partition(".")
    if not ascii_digits(issued_text) or len(issued_text) > 12:
        return False
    issued = int(issued_text)
    age = (time.time() if now is None else now) - issued
    if not -60 <= age <= FORM_TOKEN_LIFETIME:
        return False
    return hmac.compare_digest(mac.encode(), _mac(secret, purpose, issued).encode())


def cross_site(request: Request, base_url: str | None) -> bool:
    """Whether the browser says the POST comes from another site's page.

    Sec-Fetch-Site first (every current browser sends it); else the Origin header, when it names one (our pages
    are served with no referrer, so browsers send `Origin: null` for them); with neither, the form token decides.
    """
    fetched_from = request.headers.get("sec-fetch-site")
    if fetched_from:
        return fetched_from not in ("same-origin", "none")
    origin = request.headers.get("origin", "null").lower()
    if origin == "null":
        return False
    ours = {f"{request.url.scheme}://{request.headers.get('host', '')}".lower()}
    if base_url:
        scheme, _, rest = base_url.partition("://")
        ours.add(f"{scheme}://{rest.split('/')[0]}".lower())
    return origin not in ours


def client_key(secret: bytes, request: Request) -> str:
    """The key a client's sign-ups are counted under: its address (an IPv6 client by its /64, which one
    household or machine holds), keyed with the secret so that the state file keeps no address in clear."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            host = str(address.ipv4_mapped)
        elif isinstance(address, ipaddress.IPv6Address):
            host = str(ipaddress.ip_network(f"{address}/64", strict=False))
    return hmac.new(secret, f"client:{host}".encode(), hashlib.sha256).hexdigest()[:32]
