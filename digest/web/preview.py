"""The editors' page on Starlette: the coming issue through the very render of the send, with its corrections.

The desk (`desk.py`) keeps the issue current, the guard (`guard.py`) decides who may ask, the page is rendered
by `preview_page.py`; here are the routes. They are plain functions run in Starlette's thread pool, except the
long poll, which waits on the event loop so that an open page does not hold one of the pool's threads.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from digest.errors import DigestError, IssueLocked
from digest.util import check_address
from digest.web.desk import Cut, Desk
from digest.web.forms import QuietDisconnect, form_of
from digest.web.guard import TEXT_HEADERS, Guard, GuardMiddleware, refusal, serving_guard
from digest.web.preview_page import nothing_page, nothing_text, render_page

MAX_BODY = 64 * 1024
MAX_VARIANT = 500  # characters of ?variant=: a few section slugs
WATCH_INTERVAL = 0.02  # seconds between looks at the files while a page waits for a change
LONG_POLL = 15.0  # seconds a page's wait for a change is held open before it asks again
# The page runs only its own inline script; the email frames run nothing at all.
PAGE_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src * data:; "
    "frame-ancestors 'none'"
)
EMAIL_CSP = (
    "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; font-src *; "
    "sandbox allow-popups allow-popups-to-escape-sandbox"
)


def answer(body: str, kind: str = "text/plain", status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status, {**TEXT_HEADERS, **(headers or {})}, media_type=f"{kind}; charset=utf-8")


class Routes:
    """The page's endpoints over one desk."""

    def __init__(self, desk: Desk, guard: Guard) -> None:
        self.desk = desk
        self.guard = guard

    def _cut(self, request: Request) -> tuple[list[str], Cut | None]:
        """The sections of ?variant= (slugs, given once with commas or repeated) and the copy their readers get."""
        raw = ",".join(request.query_params.getlist("variant"))
        if len(raw) > MAX_VARIANT:
            raise HTTPException(400, f"?variant= holds {len(raw):,} characters; give a few section slugs")
        wanted = [part.strip() for part in raw.split(",") if part.strip()]
        try:
            return wanted, self.desk.cut(wanted)
        except DigestError as error:
            raise HTTPException(400, str(error)) from None

    def page(self, request: Request) -> Response:
        wanted, cut = self._cut(request)
        html = render_page(self.desk.check(), self.guard.csrf, cut, self.desk.readers(), wanted)
        return answer(html, "text/html", headers={"Content-Security-Policy": PAGE_CSP, "X-Frame-Options": "DENY"})

    async def version(self, request: Request) -> Response:
        """A long poll: with ?after=V, answer as soon as the version differs from V (or after a while)."""
        after = request.query_params.get("after")
        deadline = time.monotonic() + LONG_POLL
        snap = await run_in_threadpool(self.desk.check)
        while snap.version == after and time.monotonic() < deadline and not self.desk.closed:
            await asyncio.sleep(WATCH_INTERVAL)
            snap = await run_in_threadpool(self.desk.check)
        return answer(json.dumps({"version": snap.version}), "application/json")

    def email_html(self, request: Request) -> Response:
        _, cut = self._cut(request)
        html = self.desk.check().html if cut is None else cut.html or nothing_page(cut.label)
        return answer(html, "text/html", headers={"Content-Security-Policy": EMAIL_CSP})

    def email_text(self, request: Request) -> Response:
        _, cut = self._cut(request)
        return answer(self.desk.check().text if cut is None else cut.text or nothing_text(cut.label))

    def manifest(self, request: Request) -> Response:
        record = self.desk.check().record
        public = record.public() if record else None
        return answer(json.dumps(public, indent=2, ensure_ascii=False), "application/json")

    def correct(self, request: Request) -> Response:
        return self._act(lambda: self.desk.correct(form_of(request)))

    def approve(self, request: Request) -> Response:
        return self._act(self.desk.approve)

    def refresh(self, request: Request) -> Response:
        def gather() -> str:
            self.desk.regather()
            return "feeds gathered again"

        return self._act(gather)

    def test_send(self, request: Request) -> Response:
        def send() -> str:
            form = form_of(request)
            try:  # the same rule as `digest send --test-to` and every address on the list
                address = check_address(form.get("address", ""))
            except ValueError as error:
                raise DigestError(str(error)) from None
            variant = form.get("variant", "")
            if len(variant) > MAX_VARIANT:
                raise DigestError(f"the form's variant holds {len(variant):,} characters; give a few section slugs")
            return self.desk.test_send(address, [w.strip() for w in variant.split(",") if w.strip()])

        return self._act(send)

    def _act(self, action: Callable[[], str]) -> Response:
        """Do what the page asked and show the page again with what was done (or what went wrong)."""
        try:
            notice = action()
        except IssueLocked as error:
            self.desk.say(f"error: {error}")
            return answer(f"{error}\n", status=409)
        except DigestError as error:
            notice = f"error: {error}"
        self.desk.say(notice)
        return answer("", status=303, headers={"Location": "/"})

    def not_found(self, request: Request, error: Exception) -> Response:
        if isinstance(error, HTTPException) and error.status_code != 404:
            return refusal(error.status_code, f"{error.detail}\n", dict(error.headers or {}))
        return refusal(404, "not found\n")

    def routes(self) -> list[Route]:
        posts = {"/correct": self.correct, "/approve": self.approve, "/refresh": self.refresh}
        return [
            Route("/", self.page, methods=["GET"]),
            Route("/version", self.version, methods=["GET"]),
            Route("/email.html", self.email_html, methods=["GET"]),
            Route("/email.txt", self.email_text, methods=["GET"]),
            Route("/manifest.json", self.manifest, methods=["GET"]),
            Route("/test-send", self.test_send, methods=["POST"]),
            *(Route(path, endpoint, methods=["POST"]) for path, endpoint in posts.items()),
        ]


def make_preview_app(desk: Desk, guard: Guard) -> Starlette:
    """The page's ASGI app: every request passes the guard, then reaches its route."""
    routes = Routes(desk, guard)
    app = Starlette(
        routes=routes.routes(),
        middleware=[
            Middleware(QuietDisconnect),
            Middleware(GuardMiddleware, guard=guard, token_env=desk.settings.model.preview.token_env),
        ],
        exception_handlers={HTTPException: routes.not_found},
        max_body_size=MAX_BODY,
    )
    app.router.redirect_slashes = False
    return app


def serve_preview(desk: Desk, host: str, port: int, ready: Callable[[str], None] | None = None) -> None:
    """Listen on host:port (0: any free port), say where through `ready(url)`, and serve until stopped."""
    from digest.web.server import Limits, listen, make_server, port_of

    guard = serving_guard(desk.settings, host, port)
    sock = listen(host, port)
    guard.port = port_of(sock)
    if ready is not None:
        shown = f"[{host}]" if ":" in host else host
        ready(f"http://{shown}:{guard.port}/")
    # A long poll ends within WATCH_INTERVAL once the desk closes: a stop need not wait for it.
    make_server(make_preview_app(desk, guard), Limits(graceful_shutdown=1)).run(sockets=[sock])
