"""The unsubscribe pages: a small WSGI app (and an ASGI adapter) over the state file.

`POST /unsubscribe/<token>` unsubscribes at once, with no cookie, login or confirmation (RFC 8058 one-click);
`GET` shows a page with one button that makes the same POST. Forged or tampered tokens change nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from html import escape
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from digest.config import Settings
from digest.errors import SecretMissing
from digest.store.db import State
from digest.subscribers import roster as subscribers
from digest.subscribers.tokens import token_subscriber, verify_token

StartResponse = Callable[..., Any]
MAX_BODY = 16_384

_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>{title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}}
button{{font:inherit;padding:.6rem 1.2rem;border:0;border-radius:4px;background:#b3001b;color:#fff;cursor:pointer}}
</style></head><body><h1>{title}</h1>{body}</body></html>"""


def _mask(address: str) -> str:
    """Enough of the address to recognise it, not enough to harvest it from a forwarded link."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}{'•' * max(1, len(local) - 1)}@{domain}"


class UnsubscribeApp:
    """The WSGI callable; one state connection shared by the server's threads behind a lock."""

    def __init__(self, settings: Settings, secret: bytes) -> None:
        self.settings = settings
        self.secret = secret
        self.state = State(settings.state_path)
        self.lock = threading.Lock()
        self.newsletter = settings.model.newsletter.title
        self.lang = settings.model.newsletter.language

    def close(self) -> None:
        self.state.close()

    def _page(self, start: StartResponse, status: str, title: str, body: str) -> list[bytes]:
        html = _PAGE.format(lang=escape(self.lang), title=escape(title), body=body).encode()
        start(
            status,
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(html))),
                ("Cache-Control", "no-store"),
                ("Referrer-Policy", "no-referrer"),
                ("X-Content-Type-Options", "nosniff"),
                ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"),
            ],
        )
        return [html]

    def _subscriber(self, token: str) -> subscribers.Subscriber | None:
        """The subscriber a token names, only when its signature is right."""
        claimed = token_subscriber(token)
        if claimed is None:
            return None
        with self.lock:
            found = subscribers.by_id(self.state, claimed)
        if found is None or not verify_token(self.secret, token, found.id, found.email):
            return None
        return found

    def _archive(self, start: StartResponse, name: str) -> list[bytes]:
        """The archive's static files: past issues, the index and feed.xml; nothing outside the folder."""
        folder = self.settings.archive_dir.resolve()
        path = (folder / name).resolve()
        kinds = {".html": "text/html; charset=utf-8", ".xml": "application/atom+xml"}
        if path.parent != folder or path.suffix not in kinds or not path.is_file():
            return self._page(start, "404 Not Found", "Not found", "<p>There is no such issue.</p>")
        data = path.read_bytes()
        start("200 OK", [("Content-Type", kinds[path.suffix]), ("Content-Length", str(len(data)))])
        return [data]

    def __call__(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        body = self._answer(environ, start)
        return [] if environ.get("REQUEST_METHOD", "").upper() == "HEAD" else body

    def _answer(self, environ: dict[str, Any], start: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if path == "/healthz":
            start("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
            return [b"ok\n"]
        if path == "/unsubscribe":
            # Where the public archive's footer link leads: it carries nobody's token.
            return self._page(
                start,
                "200 OK",
                f"Unsubscribe from {self.newsletter}",
                "<p>Every issue ends with a link that unsubscribes its reader in one click. "
                "Use the link at the bottom of an issue you received, or reply to it and ask.</p>",
            )
        if path.startswith("/archive/") and method in ("GET", "HEAD"):
            return self._archive(start, path.removeprefix("/archive/") or "index.html")
        prefix = "/unsubscribe/"
        if not path.startswith(prefix) or "/" in path[len(prefix) :] or len(path) == len(prefix):
            return self._page(start, "404 Not Found", "Not found", "<p>There is nothing here.</p>")
        token = path[len(prefix) :]
        if method not in ("GET", "HEAD", "POST"):
            start("405 Method Not Allowed", [("Allow", "GET, HEAD, POST"), ("Content-Length", "0")])
            return []
        if method == "POST":
            _drain(environ)
        found = self._subscriber(token)
        if found is None:
            return self._page(
                start,
                "403 Forbidden",
                "This link does not work",
                "<p>This unsubscribe link is not valid: it may have been cut short or altered. "
                "Use the link at the bottom of the newsletter, or reply to it and ask to be taken off the list.</p>",
            )
        who = escape(_mask(found.email))
        if method == "POST":
            with self.lock:
                subscribers.unsubscribe(self.state, found.id)
            return self._page(
                start,
                "200 OK",
                "You are unsubscribed",
                f"<p>{who} will get no more issues of {escape(self.newsletter)}.</p>",
            )
        if found.status == "unsubscribed":
            return self._page(
                start, "200 OK", "Already unsubscribed", f"<p>{who} gets no issues of {escape(self.newsletter)}.</p>"
            )
        action = escape(environ.get("SCRIPT_NAME", "") + path)
        body = (
            f"<p>Stop sending {escape(self.newsletter)} to {who}?</p>"
            f'<form method="post" action="{action}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            "<button type=submit>Unsubscribe</button></form>"
        )
        return self._page(start, "200 OK", f"Unsubscribe from {self.newsletter}", body)


def _drain(environ: dict[str, Any]) -> None:
    """Read the request body (RFC 8058 sends `List-Unsubscribe=One-Click`); any POST to a valid link unsubscribes."""
    try:
        length = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_BODY)
    except ValueError:
        length = 0
    if length:
        environ["wsgi.input"].read(length)


def make_app(settings: Settings) -> UnsubscribeApp:
    """The WSGI app for `digest serve`, or for mounting behind the site's own web server."""
    secret = settings.secret()
    if secret is None:
        raise SecretMissing(settings.model.secret_env, "`digest serve`")
    return UnsubscribeApp(settings, secret)


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def make_asgi_app(settings: Settings) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The same app for an ASGI server (uvicorn, hypercorn): each request is small and is answered in one go."""
    import io

    app = make_app(settings)

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body") or len(body) > MAX_BODY:
                break
        environ = {
            "REQUEST_METHOD": scope["method"],
            "PATH_INFO": scope["path"],
            "SCRIPT_NAME": scope.get("root_path", ""),
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
        answer: dict[str, Any] = {}

        def start(status: str, headers: list[tuple[str, str]]) -> None:
            answer["status"], answer["headers"] = int(status.split()[0]), headers

        chunks = b"".join(app(environ, start))
        headers = [(k.lower().encode(), v.encode()) for k, v in answer["headers"]]
        await send({"type": "http.response.start", "status": answer["status"], "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else chunks})

    return asgi


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # an access log would record every subscriber's token


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def make_http_server(settings: Settings, host: str, port: int) -> WSGIServer:
    """A threaded HTTP server on host:port (0: any free port) running the app; `serve_forever()` starts it."""
    app = make_app(settings)
    try:
        return make_server(host, port, app, server_class=_ThreadingServer, handler_class=_Quiet)
    except BaseException:
        app.close()
        raise


def serve(
    settings: Settings, host: str, port: int, ready: Callable[[str], None] | None = None, schedule: bool = False
) -> None:
    """Run the app on host:port until interrupted; with `schedule`, run the weekly job on its schedule too."""
    if schedule:
        from digest.jobs.schedule import Scheduler

        Scheduler(settings).start()
    with make_http_server(settings, host, port) as server:
        try:
            if ready:
                ready(f"http://{host}:{server.server_port}")
            server.serve_forever()
        finally:
            app = server.get_app()
            if isinstance(app, UnsubscribeApp):
                app.close()
