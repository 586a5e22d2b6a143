"""Bounce and complaint webhooks on the public app: ours, Amazon SES (through SNS) and Mailgun.

    POST /webhooks/bounces  our JSON (subscribers/events.py); headers X-Digest-Timestamp: <unix seconds> and
                            X-Digest-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>"> under the
                            secret in bounces.webhooks.secret_env (DIGEST_WEBHOOK_SECRET)
    POST /webhooks/ses      an SNS message, its signature checked against Amazon's certificate (web/sns.py),
                            from a topic listed in bounces.webhooks.sns_topics
    POST /webhooks/mailgun  a Mailgun webhook: HMAC-SHA256 of timestamp + token under the signing key in
                            bounces.webhooks.mailgun_key_env (DIGEST_MAILGUN_SIGNING_KEY)

Each endpoint exists only when its secret (or for SES its topics) is configured; otherwise 404. A signature that
is missing, wrong, or older than bounces.webhooks.max_age gets 401 and changes nothing; a body that is signed
but not the provider's shape gets 400. An event already taken (its provider's id) is answered 200 and counts
once. SNS's SubscriptionConfirmation is verified and logged with its SubscribeURL, never visited: confirming a
subscription is the operator's act (open the URL once, or `aws sns confirm-subscription`), and nothing a
stranger posts makes digest fetch a URL other than an SNS certificate.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from digest.config import Settings
from digest.errors import WebhookRefused
from digest.store.db import State
from digest.subscribers import events
from digest.subscribers.intake import Policy, Returned, signature_first_used, take
from digest.util import ascii_digits
from digest.web import sns

MAX_WEBHOOK_BODY = 262_144  # SNS's largest message is 256 KB
SNS_MIN_AGE = 3600.0  # SNS retries a delivery by its own policy, up to an hour later, with the same Timestamp
log = logging.getLogger("digest.web")


def _secret(name: str) -> bytes | None:
    value = os.environ.get(name)
    return value.encode() if value else None


class Webhooks:
    """The webhook endpoints over the public app's state (each request borrows a connection, as the pages do)."""

    def __init__(
        self,
        settings: Settings,
        secret: bytes,
        state: State,
        lock: threading.Lock,
        certificates: sns.Certificates | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        cfg = settings.model.bounces
        self.cfg = cfg.webhooks
        self.policy = Policy(secret=secret, soft_limit=cfg.soft_limit, match_days=cfg.match_days)
        self.state = state
        self.lock = lock
        self.certificates = certificates or sns.Certificates()
        self.clock = clock
        self.ours = _secret(self.cfg.secret_env)
        self.mailgun_key = _secret(self.cfg.mailgun_key_env)

    def enabled(self) -> list[str]:
        found = ["/webhooks/bounces"] if self.ours else []
        found += ["/webhooks/ses"] if self.cfg.sns_topics else []
        return found + (["/webhooks/mailgun"] if self.mailgun_key else [])

    def routes(self) -> list[Route]:
        return [
            Route(path, endpoint, methods=["POST"], max_body_size=MAX_WEBHOOK_BODY)
            for path, endpoint in (
                ("/webhooks/bounces", self.ours_endpoint),
                ("/webhooks/ses", self.ses_endpoint),
                ("/webhooks/mailgun", self.mailgun_endpoint),
            )
        ]

    async def ours_endpoint(self, request: Request) -> Response:
        body = await request.body()
        return await run_in_threadpool(self._answer, "bounces", self._ours, request.headers, body)

    async def ses_endpoint(self, request: Request) -> Response:
        body = await request.body()
        return await run_in_threadpool(self._answer, "ses", self._ses, request.headers, body)

    async def mailgun_endpoint(self, request: Request) -> Response:
        body = await request.body()
        return await run_in_threadpool(self._answer, "mailgun", self._mailgun, request.headers, body)

    def _answer(self, name: str, handle: Callable[[Any, bytes], Response], headers: Any, body: bytes) -> Response:
        try:
            return handle(headers, body)
        except WebhookRefused as error:
            log.warning("webhook %s refused (%d): %s", name, error.status, error)
            return PlainTextResponse(f"{error}\n", error.status)
        except events.EventError as error:
            log.warning("webhook %s: a signed request of a shape we do not know: %s", name, error)
            return PlainTextResponse(f"{error}\n", 400)

    # ours

    def _ours(self, headers: Any, body: bytes) -> Response:
        if self.ours is None:
            return PlainTextResponse("Not Found\n", 404)
        stamp = str(headers.get("x-digest-timestamp") or "")
        given = str(headers.get("x-digest-signature") or "")
        if not stamp or not given.startswith("sha256="):
            raise WebhookRefused("X-Digest-Timestamp and X-Digest-Signature: sha256=<hex> are required")
        if not ascii_digits(stamp):
            raise WebhookRefused("X-Digest-Timestamp: expected whole seconds since 1970 (UTC), such as 1767225600")
        expected = hmac.new(self.ours, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not _same(given.removeprefix("sha256=").lower(), expected):
            raise WebhookRefused("the signature does not match the body")
        self._fresh(int(stamp[:12]), self.cfg.max_age)
        return self._take(events.generic(_json(body)))

    # Mailgun

    def _mailgun(self, headers: Any, body: bytes) -> Response:
        if self.mailgun_key is None:
            return PlainTextResponse("Not Found\n", 404)
        data = _json(body, 401)
        if not isinstance(data, dict) or not isinstance(data.get("signature"), dict):
            raise WebhookRefused("a Mailgun webhook carries a signature object")
        signature = data["signature"]
        stamp, token, given = (str(signature.get(key) or "") for key in ("timestamp", "token", "signature"))
        expected = hmac.new(self.mailgun_key, _bytes(stamp + token), hashlib.sha256).hexdigest()
        if not ascii_digits(stamp) or not token or not _same(given.lower(), expected):
            raise WebhookRefused("the Mailgun signature does not match")
        self._fresh(int(stamp[:12]), self.cfg.max_age)
        found = events.mailgun(data)
        with self.state.borrow() as state:
            if not signature_first_used(state, "mailgun", token[:200], found):
                raise WebhookRefused("this Mailgun signature came before with other events")
        return self._take(found)

    # Amazon SES through SNS

    def _ses(self, headers: Any, body: bytes) -> Response:
        if not self.cfg.sns_topics:
            return PlainTextResponse("Not Found\n", 404)
        message = _json(body, 401)
        if not isinstance(message, dict):
            raise WebhookRefused("an SNS message is a JSON object")
        # The topic first: a message of a topic not ours is refused before its certificate is fetched (it is
        # part of what SNS signs, so a message that passes below is of the topic it names).
        topic = str(message.get("TopicArn"))
        if topic not in self.cfg.sns_topics:
            raise WebhookRefused(f"topic {topic[:120]!r} is not in bounces.webhooks.sns_topics", 403)
        sns.verify(message, self.certificates, self.clock(), max(SNS_MIN_AGE, self.cfg.max_age))
        kind = message["Type"]
        if kind == "SubscriptionConfirmation":
            log.warning(
                "Amazon SNS asks to confirm the subscription of this endpoint to %s: open %s once to confirm "
                "(digest does not visit it itself)",
                topic,
                str(message.get("SubscribeURL"))[:500],
            )
            return JSONResponse({"confirm": "logged"})
        if kind == "UnsubscribeConfirmation":
            log.warning("Amazon SNS says this endpoint was unsubscribed from %s", topic)
            return JSONResponse({"unsubscribed": "logged"})
        return self._take(events.ses(str(message.get("Message")), str(message.get("MessageId"))))

    # shared

    def _fresh(self, stamp: int, max_age: float) -> None:
        if abs(self.clock().timestamp() - stamp) > max_age:
            raise WebhookRefused(
                f"the request is older than {max_age:g} s (bounces.webhooks.max_age), or from the future"
            )

    def _take(self, found: list[Returned]) -> Response:
        counts = {"recorded": 0, "already": 0, "ignored": 0}
        now = self.clock()
        with self.state.borrow() as state:  # SQLite's one connection in turn, or one of PostgreSQL's pool
            for event in found:
                taken = take(state, self.policy, event, now)
                counts["already" if taken.duplicate else "recorded" if taken.handled else "ignored"] += 1
        return JSONResponse(counts)


def _bytes(text: str) -> bytes:
    """A stranger's text as bytes, whatever it holds: JSON may carry a lone surrogate ("\\ud800"), which UTF-8
    refuses to encode."""
    return text.encode("utf-8", "surrogatepass")


def _same(given: str, expected: str) -> bool:
    """A constant-time comparison of a signature a stranger sent, whatever characters it holds (compare_digest
    refuses non-ASCII text with a TypeError)."""
    return hmac.compare_digest(_bytes(given), expected.encode())


def _json(body: bytes, status: int = 400) -> Any:
    """The body's JSON; a provider's body that is not JSON cannot carry its signature either (401)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookRefused("the body is not JSON", status) from None
