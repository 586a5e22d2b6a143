"""Serving an ASGI app with uvicorn, with limits that keep idle, slow and oversized requests from piling up.

uvicorn closes a keep-alive connection idle after an answer, but neither a connection that never sends a
request nor one that trickles its request a byte at a time: `DeadlineProtocol` gives each request's head and
body `Limits.request_timeout` seconds to arrive, counted from the connection or from the previous answer.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from digest.errors import DigestError


@dataclass(frozen=True)
class Limits:
    request_timeout: float = 10.0  # seconds for a request's head and body to arrive
    keep_alive: int = 5  # seconds an idle connection is kept after an answer
    max_head: int = 16 * 1024  # bytes of request line and headers
    concurrency: int = 1000  # connections (or requests) at once before new requests get 503
    backlog: int = 2048  # connections the kernel queues before uvicorn accepts them
    graceful_shutdown: int = 2  # seconds requests in flight get to finish on Ctrl-C or SIGTERM


class DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request does not arrive in time."""

    request_timeout = Limits.request_timeout
    max_head = Limits.max_head

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._head = bytearray()
        self._refused = False
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the rest of a head refused: read and dropped until the deadline closes the connection
        if self.conn.their_state is h11.IDLE and self._head_too_long(data):
            self._refuse_head()
            return
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE and self.conn.their_state is not h11.SEND_BODY:
            self._disarm()  # the whole request is in: the app takes the time it needs to answer

    def _head_too_long(self, data: bytes) -> bool:
        """Whether the request line and headers received so far pass `max_head` bytes. (h11's own limit only
        counts a head that arrives in pieces: a 60 KB head in one packet was parsed whole.)"""
        self._head += data[: self.max_head + 4 - len(self._head)]
        end = self._head.find(b"\r\n\r\n")
        return len(self._head) > self.max_head if end == -1 else end > self.max_head

    def _refuse_head(self) -> None:
        text = f"the request line and headers pass {self.max_head} bytes\n".encode()
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(text), text)
        )
        # Half-closed, not closed: closing with the client's bytes still arriving would reset the connection,
        # and the client would never read the answer.
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._head = bytearray()  # a new request's head begins
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._expire)

    def _disarm(self) -> None:
        if getattr(self, "_deadline", None) is not None:
            assert self._deadline is not None
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if (self._refused or self.conn.their_state in (h11.IDLE, h11.SEND_BODY)) and not self.transport.is_closing():
            self.transport.close()


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (0: any free port); the server is reachable as soon as this returns."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(Limits.backlog)
    except OSError as error:
        sock.close()
        raise DigestError(f"cannot listen on {host}:{port} ({error.strerror}); choose another --port") from None
    sock.set_inheritable(True)
    return sock


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def make_server(app: ASGIApp, limits: Limits = Limits(), **options: Any) -> uvicorn.Server:
    """A uvicorn server for `app` with these limits; no access log (every URL of ours may carry a token)."""
    protocol = type(
        "DeadlineProtocol",
        (DeadlineProtocol,),
        {"request_timeout": limits.request_timeout, "max_head": limits.max_head},
    )
    config = uvicorn.Config(
        app,
        http=protocol,
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=limits.keep_alive,
        h11_max_incomplete_event_size=limits.max_head,
        limit_concurrency=limits.concurrency,
        backlog=limits.backlog,
        timeout_graceful_shutdown=limits.graceful_shutdown,
        **options,
    )
    return uvicorn.Server(config)


def log_to_stderr() -> None:
    """A serving command logs each line to stderr as it happens; uvicorn only its warnings and errors."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr, force=True)
    logging.getLogger("uvicorn").setLevel(logging.WARNING)
