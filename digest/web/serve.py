"""The public pages: the sign-up and its confirmation (public.py), each reader's preferences (preferences.py),
one-click unsubscribe, the archive and the bounce webhooks (webhooks.py), a Starlette app served by uvicorn.

`POST /unsubscribe/<token>` unsubscribes at once, with no cookie, login or confirmation (RFC 8058 one-click);
`GET` shows a page with one button that makes the same POST. Forged, altered or outdated tokens change nothing.
A reader's pages speak their language (else the newsletter's).
`make_asgi_app(settings)` is the app, for `digest serve` or for mounting in another ASGI server.

The endpoints are plain functions: Starlette runs them in its thread pool, where the state stays synchronous.
On SQLite the requests take turns on one connection; on PostgreSQL each takes one from the pool, so several
requests, and several processes or hosts serving the same app, work side by side.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from digest.config import Settings
from digest.errors import SecretMissing
from digest.i18n import catalog_language, translations
from digest.store.db import State
from digest.subscribers import choices, optin
from digest.subscribers.tokens import token_holder
from digest.util import preferences_url_of
from digest.web import pages
from digest.web.forms import QuietDisconnect, ReadForm
from digest.web.preferences import PreferencesPages
from digest.web.public import SignupPages, mask
from digest.web.sns import Certificates
from digest.web.webhooks import Webhooks

MAX_BODY = 16_384  # the one-click body is 26 bytes
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}
ARCHIVE_KINDS = {".html": "text/html; charset=utf-8", ".xml": "application/atom+xml"}
ARCHIVE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
log = logging.getLogger("digest.web")


class PublicSite:
    """The pages' endpoints over the state: each request borrows a connection (see the module's docstring)."""

    def __init__(self, settings: Settings, secret: bytes) -> None:
        self.settings = settings
        self.secret = secret
        self.state = State(settings.state_target)
        self.lock = threading.Lock()
        self.newsletter = settings.model.newsletter.title
        self.lang = catalog_language(settings.model.newsletter.language)

    def close(self) -> None:
        with self.lock:
            self.state.close()

    def page(
        self, status: int, title: str, template: str = "public.html.j2", language: str | None = None, **context: Any
    ) -> HTMLResponse:
        """A page in `language` (else the newsletter's)."""
        language = language or self.lang
        html = pages.render(template, language, lang=language, title=title, **context)
        return HTMLResponse(html, status, headers=HEADERS)

    def not_found(self, request: Request, error: Exception) -> Response:
        if isinstance(error, HTTPException) and error.status_code != 404:
            return PlainTextResponse(f"{error.detail}\n", error.status_code, headers=error.headers)
        _ = translations(self.lang).gettext
        return self.page(404, _("Not found"), text=_("There is nothing here."))

    def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok\n")

    def unsubscribe_help(self, request: Request) -> Response:
        # Where the public archive's footer link leads: it carries nobody's token.
        _ = translations(self.lang).gettext
        return self.page(
            200,
            _("Unsubscribe from %(title)s") % {"title": self.newsletter},
            text=_(
                "Every issue ends with a link that unsubscribes its reader in one click. "
                "Use the link at the bottom of an issue you received, or reply to it and ask."
            ),
        )

    def unsubscribe(self, request: Request) -> Response:
        with self.state.borrow() as state:
            found = token_holder(state, self.secret, request.path_params["token"])
            if found is not None and request.method == "POST":
                optin.unsubscribe(state, found.id, "by its unsubscribe link")
        language = choices.page_language(found, self.settings)
        _ = translations(language).gettext
        if found is None:
            return self.page(
                403,
                _("This link does not work"),
                text=_(
                    "This unsubscribe link is not valid: it may have been cut short, altered, or replaced by a "
                    "newer one. Use the link at the bottom of the newsletter, or reply to it and ask to be taken "
                    "off the list."
                ),
            )
        values = {"who": mask(found.email), "title": self.newsletter}
        if request.method == "POST":
            text = _("%(who)s will get no more issues of %(title)s.") % values
            return self.page(200, _("You are unsubscribed"), language=language, text=text)
        if found.status == "unsubscribed":
            text = _("%(who)s gets no issues of %(title)s.") % values
            return self.page(200, _("Already unsubscribed"), language=language, text=text)
        return self.page(
            200,
            _("Unsubscribe from %(title)s") % values,
            "unsubscribe.html.j2",
            language,
            newsletter=self.newsletter,
            who=values["who"],
            action=request.url.path,
            preferences=preferences_url_of(request.url.path),
        )

    def archive(self, request: Request) -> Response:
        """The archive's static files: past issues, the index and feed.xml; nothing outside the folder."""
        name = request.path_params["name"] or "index.html"
        folder = self.settings.archive_dir.resolve()
        # One plain file name of the folder, as the archive writes them: no other spelling of a path to it
        # ("a.html/", "x/../a.html"), and no name so long that the file system refuses to look it up.
        path = (folder / name).resolve() if ARCHIVE_NAME.fullmatch(name) else None
        if path is None or path.parent != folder or path.suffix not in ARCHIVE_KINDS or not path.is_file():
            _ = translations(self.lang).gettext
            return self.page(404, _("Not found"), text=_("There is no such issue."))
        return Response(path.read_bytes(), media_type=ARCHIVE_KINDS[path.suffix])

    def routes(self) -> list[Route]:
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/unsubscribe", self.unsubscribe_help, methods=["GET"]),
            Route("/unsubscribe/{token}", self.unsubscribe, methods=["GET", "POST"]),
            Route("/archive/{name:path}", self.archive, methods=["GET"]),
        ]

    def all_routes(self) -> list[Route]:
        signup = SignupPages(self)
        return [*self.routes(), *signup.routes(), *PreferencesPages(self, signup).routes()]


def make_asgi_app(settings: Settings, sns_certificates: Certificates | None = None) -> Starlette:
    """The ASGI app of the public pages, for `digest serve` or any ASGI server (see the README)."""
    secret = settings.secret()
    if secret is None:
        raise SecretMissing(settings.model.secret_env, "`digest serve`")
    site = PublicSite(settings, secret)
    webhooks = Webhooks(settings, secret, site.state, site.lock, sns_certificates)
    if webhooks.enabled():
        log.info("bounce webhooks: %s", ", ".join(webhooks.enabled()))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        site.close()

    app = Starlette(
        routes=site.all_routes() + webhooks.routes(),
        middleware=[Middleware(QuietDisconnect), Middleware(ReadForm, skip="/webhooks/")],
        exception_handlers={HTTPException: site.not_found},
        lifespan=lifespan,
        max_body_size=MAX_BODY,
    )
    app.router.redirect_slashes = False
    app.state.site = site
    return app


# The name this factory had when the app was also WSGI.
make_app = make_asgi_app


def app_from_config() -> Starlette:
    """The app for an ASGI server's factory option: the config named by DIGEST_CONFIG (default ./config.yaml)."""
    from digest.config import load_config

    return make_asgi_app(load_config(Path(os.environ.get("DIGEST_CONFIG", "config.yaml"))))


def serve(
    settings: Settings, host: str, port: int, ready: Callable[[str], None] | None = None, schedule: bool = False
) -> None:
    """Run the app on host:port until Ctrl-C or SIGTERM; with `schedule`, run the weekly job on its schedule too."""
    from digest.web.server import listen, make_server, port_of

    app = make_asgi_app(settings)
    sock = listen(host, port)
    if schedule:
        from digest.jobs.schedule import Scheduler

        Scheduler(settings, report=log.info).start()
    if ready:
        ready(f"http://{host}:{port_of(sock)}")
    make_server(app).run(sockets=[sock])
