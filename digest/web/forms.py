"""Request bodies, read before the endpoint: the endpoints are plain functions run in the thread pool, so the
body (a form, or the RFC 8058 one-click `List-Unsubscribe=One-Click`) is read on the event loop first, within
the app's size limit (over it: 413), and handed to them parsed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digest.errors import Refused

FORM = "digest.form"  # where in the request's state the parsed form waits for the endpoint
MULTI = "digest.form.multi"  # every value of each field (checkboxes send one per box ticked)
BODY = "digest.body"  # the raw body of a POST that is not a form (JSON)
log = logging.getLogger("digest.web")


async def read_form(scope: Scope, receive: Receive) -> tuple[dict[str, str], Receive]:
    """The form of a POST (first value of each field; files are not fields) and a `receive` that replays it."""
    request = Request(scope, receive)
    body = await request.body()
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    parsed = await Request(scope, replay).form()
    fields: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in parsed.multi_items():
        if not isinstance(value, UploadFile):
            fields.setdefault(name, value)
            multi.setdefault(name, []).append(value)
    state = scope.setdefault("state", {})
    state[MULTI], state[BODY] = multi, body
    replayed = False
    return fields, replay


def form_of(request: Request) -> dict[str, str]:
    """The form `ReadForm` read for this request (empty for a GET)."""
    fields: dict[str, str] = request.scope.get("state", {}).get(FORM, {})
    return fields


def values_of(request: Request, name: str) -> list[str]:
    """Every value a field of the form had, in order (the boxes ticked of a group of checkboxes)."""
    multi: dict[str, list[str]] = request.scope.get("state", {}).get(MULTI, {})
    return multi.get(name, [])


def body_of(request: Request) -> bytes:
    """The body `ReadForm` read for this request (empty for a GET)."""
    body: bytes = request.scope.get("state", {}).get(BODY, b"")
    return body


def keep_form(scope: Scope, fields: dict[str, str]) -> None:
    scope.setdefault("state", {})[FORM] = fields


class QuietDisconnect:
    """ASGI middleware: a client that leaves before its body has all arrived (or is cut off at the server's
    deadline) is one line of the log, not a traceback: anyone can do it, as often as they like."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except ClientDisconnect:
            log.info("%s %s: the client left before its request had arrived", scope.get("method"), scope.get("path"))


class ReadForm:
    """ASGI middleware: read and parse each POST's body before routing (except under `skip`, a path prefix whose
    endpoints read bodies of their own, within their own size limit)."""

    def __init__(self, app: ASGIApp, skip: str | None = None) -> None:
        self.app = app
        self.skip = skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        skipped = self.skip is not None and str(scope.get("path", "")).startswith(self.skip)
        if scope["type"] == "http" and scope["method"] == "POST" and not skipped:
            try:
                fields, receive = await read_form(scope, receive)
            except HTTPException as error:  # a malformed multipart body
                await PlainTextResponse(f"{error.detail}\n", error.status_code)(scope, receive, send)
                return
            keep_form(scope, fields)
        await self.app(scope, receive, send)


def said(error: ValueError, gettext: Callable[[str], str]) -> str:
    """Why a form was refused, in the reader's language when the sentence was written for translation."""
    return error.said(gettext) if isinstance(error, Refused) else str(error)
