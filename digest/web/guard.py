"""Who may use the editors' page, checked in one place for every request (an ASGI middleware).

On loopback, only requests addressed to our own names are served (a page of another site that re-points its
name at 127.0.0.1 still sends its own name as Host). Beyond loopback, the secret is needed: once in the URL
(`/?token=…`), which sets a session cookie, or as a bearer token. The cookie is signed, dated, `Secure` when the
page is reached over https or with the secret, replaced by a fresh one every hour and refused after twelve.
Every POST must carry the page's per-process token and come from the page's own origin.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digest.config import MIN_SECRET, Settings
from digest.errors import DigestError
from digest.util import ascii_digits
from digest.web.forms import keep_form, read_form

COOKIE = "digest_preview"
SESSION_LIFETIME = 12 * 3600.0  # seconds a session cookie is good for
SESSION_RENEWAL = 3600.0  # seconds after which a request gets a fresh cookie
TEXT_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refusal(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return PlainTextResponse(text, status, headers={**TEXT_HEADERS, **(headers or {})})


@dataclass
class Guard:
    """The Host names served, the secret (required off loopback), sessions and the per-process POST token."""

    host: str
    port: int
    secret: str | None  # required when bound to a non-loopback address
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    clock: Callable[[], float] = time.time

    @property
    def loopback(self) -> bool:
        return self.secret is None

    def host_allowed(self, header: str | None) -> bool:
        if not self.loopback:
            return True
        names = {"127.0.0.1", "localhost", "[::1]", self.host}
        return header in {f"{name}:{self.port}" for name in names}

    def _sign(self, issued: int, nonce: str) -> str:
        assert self.secret is not None
        message = f"digest-preview-session:{issued}:{nonce}".encode()
        return hmac.new(self.secret.encode(), message, hashlib.sha256).hexdigest()

    def new_session(self) -> str:
        issued, nonce = int(self.clock()), secrets.token_urlsafe(16)
        return f"{issued}.{nonce}.{self._sign(issued, nonce)}"

    def session_age(self, value: str) -> float | None:
        """How old a session cookie is, in seconds; None when it is forged, altered or expired."""
        issued_text, _, rest = value.partition(".")
        nonce, _, mac = rest.partition(".")
        if not ascii_digits(issued_text) or len(issued_text) > 12 or not nonce or not mac.isascii():
            return None
        issued = int(issued_text)
        if not hmac.compare_digest(mac.encode(), self._sign(issued, nonce).encode()):
            return None
        age = self.clock() - issued
        return age if -60 <= age <= SESSION_LIFETIME else None

    def secret_given(self, value: str) -> bool:
        assert self.secret is not None
        return hmac.compare_digest(value.encode(), self.secret.encode())

    def same_origin(self, headers: Headers) -> bool:
        """A POST must come from this page: matching Origin (or Referer), not a cross-site fetch."""
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return False
        origin = headers.get("origin") or headers.get("referer")
        if origin is None:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc == headers.get("host", "")

    def token_right(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.csrf.encode())


def serving_guard(settings: Settings, host: str, port: int) -> Guard:
    """The guard for an address; a non-loopback one needs the secret from the environment."""
    if is_loopback(host):
        return Guard(host=host, port=port, secret=None)
    env = settings.model.preview.token_env
    secret = os.environ.get(env)
    if not secret or len(secret) < MIN_SECRET:
        given = (
            f"{env} is set but has only {len(secret)} characters" if secret else f"set the environment variable {env}"
        )
        raise DigestError(
            f"the preview would listen on {host}, beyond this machine: {given}; it needs a secret of at least "
            f"{MIN_SECRET} characters (preview.token_env names the variable), or use --host 127.0.0.1"
        )
    return Guard(host=host, port=port, secret=secret)


class GuardMiddleware:
    """Every request passes the guard before it reaches a route; a POST's form is read here, once."""

    def __init__(self, app: ASGIApp, guard: Guard, token_env: str) -> None:
        self.app = app
        self.guard = guard
        self.token_env = token_env

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        guard, headers = self.guard, Headers(scope=scope)
        if not guard.host_allowed(headers.get("host")):
            await refusal(421, "this preview answers only to its own address\n")(scope, receive, send)
            return
        renew = False
        if not guard.loopback:
            if (login := self._login(scope)) is not None:
                await login(scope, receive, send)
                return
            age = self._session_age(headers)
            if age is None:
                text = f"this preview needs its secret: open /?token=<the value of {self.token_env}> once\n"
                await refusal(401, text)(scope, receive, send)
                return
            renew = age > SESSION_RENEWAL
        if scope["method"] == "POST":
            form, receive = await read_form(scope, receive)
            given = headers.get("x-digest-csrf") or form.get("csrf", "")
            if not guard.token_right(given) or not guard.same_origin(headers):
                text = (
                    "refused: changes are accepted only from the preview page itself (missing or wrong token, "
                    "or another origin)\n"
                )
                await refusal(403, text)(scope, receive, send)
                return
            keep_form(scope, form)
        await self.app(scope, receive, self._renewing(send) if renew else send)

    def _login(self, scope: Scope) -> Response | None:
        """`/?token=<secret>`: a fresh session cookie, and on to the page without the secret in the URL."""
        if scope["path"] != "/" or scope["method"] not in ("GET", "HEAD"):
            return None
        given = parse_qs(scope["query_string"].decode("latin-1")).get("token")
        if not given or not self.guard.secret_given(given[0]):
            return None
        return refusal(303, "", {"Location": "/", "Set-Cookie": self._cookie()})

    def _session_age(self, headers: Headers) -> float | None:
        auth = headers.get("authorization", "")
        if auth.startswith("Bearer ") and self.guard.secret_given(auth[7:]):
            return 0.0
        cookies = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except Exception:  # http.cookies raises its own CookieError on junk, and more
            return None
        morsel = cookies.get(COOKIE)
        return self.guard.session_age(morsel.value) if morsel is not None else None

    def _cookie(self) -> str:
        # Secure whenever the secret is in use: beyond loopback the page belongs behind TLS.
        return f"{COOKIE}={self.guard.new_session()}; HttpOnly; SameSite=Strict; Path=/; Secure"

    def _renewing(self, send: Send) -> Send:
        async def renew(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("Set-Cookie", self._cookie())
            await send(message)

        return renew
