"""Real servers on 127.0.0.1 for the tests: a feed server that logs requests, and an SMTP sink."""

from __future__ import annotations

import contextlib
import email
import email.policy
import hashlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPProtocol
from aiosmtpd.smtp import Envelope, Session


@dataclass
class Route:
    """What the feed server answers for one path."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    conditional: bool = True  # answer 304 to a matching If-None-Match / If-Modified-Since
    stream_bytes: int = 0  # send this many filler bytes (a huge response) instead of body


@dataclass
class Request:
    path: str
    headers: dict[str, str]


class FeedServer:
    """A threaded HTTP server on 127.0.0.1 with per-path routes and a request log."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.log: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.log.append(Request(self.path, {k.lower(): v for k, v in self.headers.items()}))
                route = server.routes.get(self.path)
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if route.delay:
                    time.sleep(route.delay)
                digest_ = hashlib.sha1(route.body).hexdigest()
                etag = '"' + digest_[:16] + '"'
                # Last-Modified follows the body too: a changed feed is never answered 304.
                moment = datetime(2026, 2, 17, 10, tzinfo=UTC) + timedelta(seconds=int(digest_[:6], 16))
                modified = format_datetime(moment, usegmt=True)
                if (
                    route.status == 200
                    and route.conditional
                    and (self.headers.get("If-None-Match") == etag or self.headers.get("If-Modified-Since") == modified)
                ):
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                if route.status == 200:
                    self.send_header("ETag", etag)
                    self.send_header("Last-Modified", modified)
                    self.send_header("Content-Type", route.headers.get("Content-Type", "application/rss+xml"))
                if route.stream_bytes:
                    self.send_header("Content-Length", str(route.stream_bytes))
                    self.end_headers()
                    chunk = b"<!-- filler -->" * 4096
                    sent = 0
                    try:
                        while sent < route.stream_bytes:
                            piece = chunk[: route.stream_bytes - sent]
                            self.wfile.write(piece)
                            sent += len(piece)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    return
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(route.body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def serve_file(self, path: str, file: Path, **kwargs: Any) -> str:
        self.routes[path] = Route(body=file.read_bytes(), **kwargs)
        return self.url(path)

    def requests_for(self, path: str) -> list[Request]:
        return [r for r in self.log if r.path == path]

    def start(self) -> FeedServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SinkHandler:
    """Collects every message accepted; `reply` may refuse some recipients with a code."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.accepted_at: list[float] = []  # time.monotonic() when each message's final line arrived
        self.reply: Callable[[str], str | None] = lambda rcpt: None
        self.lock = threading.Lock()

    async def handle_RCPT(
        self, server: SMTPProtocol, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        answer = self.reply(address)
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPProtocol, session: Session, envelope: Envelope) -> str:
        with self.lock:
            content = envelope.original_content or envelope.content
            assert isinstance(content, bytes)
            self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), content))
            self.accepted_at.append(time.monotonic())
        return "250 Message accepted"

    def parsed(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[misc]
            for _, _, raw in self.messages
        ]


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 at a free port."""

    def __init__(self) -> None:
        self.handler = SinkHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, decode_data=False)

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
