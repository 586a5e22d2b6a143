"""The public pages: one-click POST (RFC 8058), a GET page with one button, forged, altered and outdated tokens
refused, the next issue skipping whoever left; in-process through Starlette's test client, and over real
sockets where the server itself is under test (uvicorn's limits, `digest serve`)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from servers import SmtpSink, free_port
from starlette.testclient import TestClient

from digest.config import load_config
from digest.issue.pipeline import build_issue
from digest.models import IssueRecord, Window
from digest.store import issues
from digest.store.db import State
from digest.subscribers import roster as subscribers
from digest.subscribers.tokens import make_token
from digest.web.serve import make_app, make_asgi_app
from digest.web.server import Limits, listen, make_server, port_of

ENGINES = ("sqlite", "postgresql")  # the tests that reach the state run on both (conftest.py)

REPO = Path(__file__).resolve().parent.parent
DEMO_FEED = [{"name": "Left Voice", "url": str(REPO / "digest/demo/leftvoice-sample.xml")}]
NOW = "2024-03-01T12:00:00Z"
SECRET = "a-test-secret-that-signs-unsubscribe-links"
UNSUBSCRIBE = re.compile(rb"^List-Unsubscribe: <https://[^/]+(/unsubscribe/[^>]+)>", re.M)
ONE_CLICK = {"content": b"List-Unsubscribe=One-Click", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET", SECRET)


@pytest.fixture
def config(write_config: Callable[..., Path], smtp_sink: SmtpSink) -> Path:
    path = write_config(
        DEMO_FEED,
        issue={"window_days": 10},
        smtp={"host": "127.0.0.1", "port": smtp_sink.port, "security": "none", "rate_per_second": 5000},
    )
    with State(load_config(path).state_target) as state:
        subscribers.import_csv(state, io.StringIO("".join(f"reader{n}@example.org,Reader {n}\n" for n in range(6))))
    return path


@pytest.fixture
def client(config: Path) -> Iterator[TestClient]:
    """The app in-process; a fresh client keeps no cookie (there are none to keep)."""
    with TestClient(make_asgi_app(load_config(config)), base_url="http://127.0.0.1") as test_client:
        yield test_client


@contextmanager
def running(app: Any, limits: Limits | None = None) -> Iterator[tuple[str, int]]:
    """The app under uvicorn, with these limits, in a thread on 127.0.0.1; yields (host, port)."""
    sock = listen("127.0.0.1", 0)
    server = make_server(app, limits or Limits())
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield "127.0.0.1", port_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def statuses(config: Path) -> dict[str, str]:
    with State(load_config(config).state_target) as state:
        return {s.email: s.status for s in subscribers.all_subscribers(state)}


def token_for(config: Path, address: str, made: datetime | None = None) -> str:
    with State(load_config(config).state_target) as state:
        found = subscribers.get(state, address)
    assert found is not None
    return make_token(SECRET.encode(), found.id, found.email, made)


def first_form_token(subscriber_id: int, email: str) -> str:
    """A token as digest made them before they were dated (still in emails already sent)."""
    import base64
    import hashlib
    import hmac

    mac = hmac.new(SECRET.encode(), f"unsubscribe:{subscriber_id}:{email}".encode(), hashlib.sha256).digest()[:18]
    head = base64.urlsafe_b64encode(str(subscriber_id).encode()).rstrip(b"=").decode()
    return f"{head}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def test_one_click_post_unsubscribes_and_the_next_issue_skips_the_address(
    config: Path, client: TestClient, smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    assert cli("send", "--config", config, "--now", NOW).exit_code == 0
    leaving = "reader2@example.org"
    raw = next(raw for _, rcpts, raw in smtp_sink.handler.messages if rcpts == [leaving])
    match = UNSUBSCRIBE.search(raw)
    assert match

    # a fresh client: no cookie, no login, no confirmation step
    answer = client.post(match.group(1).decode(), **ONE_CLICK)  # type: ignore[arg-type]

    assert answer.status_code == 200 and "You are unsubscribed" in answer.text
    assert "set-cookie" not in answer.headers
    assert statuses(config)[leaving] == "unsubscribed"
    assert sum(s == "unsubscribed" for s in statuses(config).values()) == 1

    settings = load_config(config)
    next_week(settings)
    smtp_sink.handler.messages.clear()
    result = cli("send", "--config", config, "--now", "2024-03-08T12:00:00Z")

    assert result.exit_code == 0, result.output
    assert "1 unsubscribed or bounced" in result.stdout
    got = sorted(rcpts[0] for _, rcpts, _ in smtp_sink.handler.messages)
    assert got == sorted(a for a in statuses(config) if a != leaving)


def next_week(settings: Any) -> None:
    """Approve a second issue (the demo content again, under next week's id)."""
    with State(settings.state_target) as state:
        built = build_issue(settings, datetime(2024, 3, 1, 12, tzinfo=UTC), state)
        window = Window(built.issue.window.start + timedelta(days=7), built.issue.window.end + timedelta(days=7))
        rendered = replace(built.rendered, subject="Next week")
        data = built.record().public()
        for section in data["sections"]:
            for article in section["articles"]:
                article["id"] += "-next"
        issues.freeze(state, "2024-W10", window, rendered, IssueRecord.model_validate(data))


def test_forged_or_tampered_tokens_get_4xx_and_change_nothing(config: Path, client: TestClient) -> None:
    token = token_for(config, "reader1@example.org")
    head, mac = token.split(".")
    other_head = token_for(config, "reader3@example.org").split(".")[0]
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    forged = make_token(b"some-other-secret", 2, "reader1@example.org")
    attempts = [
        f"{head}.{flipped}",  # one character of the signature changed
        f"{other_head}.{mac}",  # another subscriber's id with this signature
        forged,  # signed with another secret
        f"{head}.",  # no signature
        "bm90LWEtbnVtYmVy.abc",  # an id that is not a number
        "OTk5OTk.abc",  # a subscriber that does not exist
        head,
    ]
    for bad in attempts:
        answer = client.post(f"/unsubscribe/{bad}", **ONE_CLICK)  # type: ignore[arg-type]
        assert 400 <= answer.status_code < 500, (bad, answer.status_code)
        assert "not valid" in answer.text
    assert set(statuses(config).values()) == {"active"}
    assert client.post(f"/unsubscribe/{token}", **ONE_CLICK).status_code == 200  # type: ignore[arg-type]
    assert statuses(config)["reader1@example.org"] == "unsubscribed"


def test_get_shows_one_button_and_changes_nothing(config: Path, client: TestClient) -> None:
    token = token_for(config, "reader4@example.org")
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200
    assert page.text.count("<button") == 1 and page.text.count("<form") == 1
    assert f'method="post" action="/unsubscribe/{token}"' in page.text
    assert "reader4@example.org" not in page.text and "r" + "•" * 6 + "@example.org" in page.text  # masked
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert set(statuses(config).values()) == {"active"}

    # the button sends the same one-click body
    form = re.search(r'name="([^"]+)" value="([^"]+)"', page.text)
    assert form and f"{form.group(1)}={form.group(2)}" == "List-Unsubscribe=One-Click"
    assert client.head(f"/unsubscribe/{token}").status_code == 200
    assert client.put(f"/unsubscribe/{token}").status_code == 405
    assert client.get("/").status_code == 404
    assert client.get("/healthz").text == "ok\n"
    assert set(statuses(config).values()) == {"active"}


def test_digest_serve_runs_the_app(config: Path) -> None:
    port = free_port()
    env = {**os.environ, "DIGEST_SECRET": SECRET}
    command = [sys.executable, "-m", "digest.cli", "serve", "--config", str(config), "--port", str(port)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        assert f"the public pages on http://127.0.0.1:{port}: /subscribe," in first and "/unsubscribe/<token>" in first
        token = token_for(config, "reader5@example.org")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(
                f"POST /unsubscribe/{token} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 26\r\n\r\n"
                "List-Unsubscribe=One-Click".encode()
            )
            assert connection.recv(100).startswith(b"HTTP/1.1 200 ")
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert statuses(config)["reader5@example.org"] == "unsubscribed"


def test_serve_refuses_to_start_without_the_secret(
    config: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIGEST_SECRET")
    result = cli("serve", "--config", config, "--port", free_port())
    assert result.exit_code == 1 and "DIGEST_SECRET" in result.stderr


def test_the_asgi_app_unsubscribes_when_called_directly(config: Path) -> None:
    app = make_asgi_app(load_config(config))
    token = token_for(config, "reader0@example.org")
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"List-Unsubscribe=One-Click", "more_body": False}

    async def send(event: Any) -> None:
        sent.append(event)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/unsubscribe/{token}",
        "raw_path": f"/unsubscribe/{token}".encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"newsletter.example.org"), (b"content-length", b"26")],
        "server": ("newsletter.example.org", 443),
    }
    started = time.monotonic()
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    assert time.monotonic() - started < 5
    assert sent[0]["status"] == 200 and b"You are unsubscribed" in sent[1]["body"]
    assert statuses(config)["reader0@example.org"] == "unsubscribed"


def test_a_client_that_leaves_mid_body_is_a_line_of_the_log_not_an_error(
    config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_asgi_app(load_config(config))
    parts = iter([{"type": "http.request", "body": b"email=ann%40ex", "more_body": True}])

    async def receive() -> dict[str, Any]:
        return next(parts, {"type": "http.disconnect"})

    async def send(event: Any) -> None:
        raise AssertionError(f"nobody is there to answer: {event}")

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/subscribe", "raw_path": b"/subscribe", "root_path": "", "query_string": b"",
        "headers": [(b"host", b"newsletter.example.org"), (b"content-length", b"100"),
                    (b"content-type", b"application/x-www-form-urlencoded")],
        "server": ("newsletter.example.org", 443), "client": ("203.0.113.9", 5000),
    }  # fmt: skip
    with caplog.at_level("INFO", logger="digest.web"):
        asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    assert "POST /subscribe: the client left before its request had arrived" in caplog.text


def test_make_app_is_the_documented_asgi_factory(config: Path) -> None:
    assert make_app is make_asgi_app
    with TestClient(make_app(load_config(config))) as client:
        page = client.get("/unsubscribe/" + token_for(config, "reader1@example.org"))
    assert page.status_code == 200 and "<button" in page.text


def test_the_readme_uvicorn_command_serves_the_app_with_workers(config: Path) -> None:
    """The app mounted in uvicorn as the README shows, with two worker processes and digest's deadlines."""
    port = free_port()
    command = [
        *(sys.executable, "-m", "uvicorn", "--factory", "digest.web.serve:app_from_config"),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--no-access-log"),
        *("--http", "digest.web.server:DeadlineProtocol", "--timeout-keep-alive", "5", "--limit-concurrency", "1000"),
    ]
    env = {**os.environ, "DIGEST_SECRET": SECRET, "DIGEST_CONFIG": str(config)}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    process = subprocess.Popen(command, env=env, cwd=config.parent, **quiet)
    try:
        token = token_for(config, "reader5@example.org")
        request = (
            f"POST /unsubscribe/{token} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 26\r\n\r\n"
            "List-Unsubscribe=One-Click"
        ).encode()
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = raw_exchange("127.0.0.1", port, request)
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None, "uvicorn did not start"
                time.sleep(0.2)
        assert answer.startswith(b"HTTP/1.1 200 ") and b"You are unsubscribed" in answer
        idle = socket.create_connection(("127.0.0.1", port), timeout=15)
        started = time.monotonic()
        assert idle.recv(10) == b""  # a connection that asks nothing is closed after digest's 10 s
        assert 8 < time.monotonic() - started < 14
        idle.close()
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert statuses(config)["reader5@example.org"] == "unsubscribed"


# Hardening: each input below once made the server fail or misbehave.


def test_odd_tokens_are_refused_not_answered_with_500(config: Path, client: TestClient) -> None:
    good = token_for(config, "reader1@example.org")
    head, mac = good.split(".")
    attempts = [
        "é" * 10 + "." + "é" * 24,  # not ASCII: compare_digest refuses str that is not
        f"{head}.{mac[:-1]}é",
        "OTIyMzM3MjAzNjg1NDc3NTgwOA." + mac,  # 9223372036854775808, one above SQLite's largest integer
        "MTAwMDAwMDAwMDAwMDAwMDAwMDAwMDAw." + mac,  # 10^24
        "LTE." + mac,  # -1
        "MA." + mac,  # 0, the samples' subscriber
        "x" * 5000,
    ]
    for bad in attempts:
        for method in ("GET", "POST"):
            answer = client.request(method, f"/unsubscribe/{bad}", **ONE_CLICK)  # type: ignore[arg-type]
            assert answer.status_code == 403, (bad, method, answer.status_code)
    assert set(statuses(config).values()) == {"active"}


def test_re_encodings_of_an_id_are_not_tokens(config: Path, client: TestClient) -> None:
    """`MDE` (“01”), `IDE` (“ 1”) or `MR` (“1” with stray bits) name subscriber 1 but are not its token."""
    with State(load_config(config).state_target) as state:
        first = subscribers.by_id(state, 1)
    assert first is not None
    for token in (first_form_token(1, first.email), token_for(config, first.email)):
        head, mac = token.split(".")
        for other in ("MDE", "IDE", "MR", "MQ=", head + "=", head.lower() if head != head.lower() else head.upper()):
            if other == head:
                continue
            answer = client.post(f"/unsubscribe/{other}.{mac}", **ONE_CLICK)  # type: ignore[arg-type]
            assert answer.status_code == 403, (other, answer.status_code)
    assert set(statuses(config).values()) == {"active"}


def test_a_nul_in_an_archive_path_is_not_found(config: Path, client: TestClient) -> None:
    archive = load_config(config).archive_dir
    archive.mkdir(parents=True)
    (archive / "index.html").write_text("<!doctype html><title>Issues</title>")
    assert client.get("/archive/").text.startswith("<!doctype html><title>Issues")
    for path in ("/archive/index.html%00.xml", "/archive/%00", "/archive/../config.yaml", "/archive/x/../../x.html"):
        assert client.get(path).status_code == 404, path
    # one spelling of each file, and a name too long for the file system is simply not there
    for path in ("/archive/index.html/", "/archive/" + "a" * 300 + ".html"):
        answer = client.get(path)
        assert answer.status_code == 404 and "There is no such issue." in answer.text, path


@pytest.mark.sqlite_only
def test_a_wrong_signature_is_refused_before_any_subscriber_is_looked_up(config: Path) -> None:
    """Timing cannot tell which ids exist: a token whose MAC is wrong never reaches the subscribers table."""
    app = make_asgi_app(load_config(config))
    statements: list[str] = []
    app.state.site.state.db.set_trace_callback(statements.append)
    good = token_for(config, "reader3@example.org")
    head, mac = good.split(".")
    with TestClient(app) as client:
        for bad in (f"{head}.{'A' * len(mac)}", make_token(b"another-secret", 4, "reader3@example.org")):
            assert client.post(f"/unsubscribe/{bad}", **ONE_CLICK).status_code == 403  # type: ignore[arg-type]
        assert not [s for s in statements if "subscribers" in s]
        assert client.get(f"/unsubscribe/{good}").status_code == 200
        assert [s for s in statements if "subscribers" in s]


def test_a_token_made_before_the_reader_came_back_does_nothing(
    config: Path, client: TestClient, cli: Callable[..., Any]
) -> None:
    reader = "reader2@example.org"
    with State(load_config(config).state_target) as state:
        found = subscribers.get(state, reader)
    assert found is not None
    old_dated = token_for(config, reader)  # in an email sent after they joined
    already_sent = first_form_token(found.id, reader)  # in an email sent before tokens were dated
    before_joining = token_for(config, reader, datetime.now(UTC) - timedelta(days=30))
    assert client.get(f"/unsubscribe/{before_joining}").status_code == 403

    # Before the reader comes back, every token made for them works: links in emails already sent keep working.
    assert client.get(f"/unsubscribe/{already_sent}").status_code == 200
    assert client.post(f"/unsubscribe/{old_dated}", **ONE_CLICK).status_code == 200  # type: ignore[arg-type]
    assert statuses(config)[reader] == "unsubscribed"

    time.sleep(0.01)  # tokens are dated to the millisecond
    assert cli("subscribers", "add", reader, "--reactivate", "--config", config).exit_code == 0
    assert statuses(config)[reader] == "active"
    for old in (old_dated, already_sent):
        answer = client.post(f"/unsubscribe/{old}", **ONE_CLICK)  # type: ignore[arg-type]
        assert answer.status_code == 403 and "not valid" in answer.text
    assert statuses(config)[reader] == "active"

    # The links in the issues sent after their return work.
    fresh = token_for(config, reader)
    assert client.post(f"/unsubscribe/{fresh}", **ONE_CLICK).status_code == 200  # type: ignore[arg-type]
    assert statuses(config)[reader] == "unsubscribed"


def test_a_body_over_the_limit_gets_413(config: Path, client: TestClient) -> None:
    token = token_for(config, "reader1@example.org")
    answer = client.post(f"/unsubscribe/{token}", content=b"List-Unsubscribe=One-Click&" + b"x" * 20_000)
    assert answer.status_code == 413
    assert statuses(config)["reader1@example.org"] == "active"


def raw_exchange(host: str, port: int, request: bytes, timeout: float = 5.0) -> bytes:
    """Send bytes, then read until the server closes the connection (or the timeout fails the test)."""
    with socket.create_connection((host, port), timeout=timeout) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def one_response(connection: socket.socket) -> bytes:
    """One whole answer on a kept-alive connection: its head, then as many bytes as its Content-Length says."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += connection.recv(65536) or b"\r\n\r\n"
    head, _, body = received.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length: *(\d+)", head)
    while length and len(body) < int(length.group(1)):
        body += connection.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_negative_or_non_numeric_content_length_gets_400(config: Path) -> None:
    token = token_for(config, "reader1@example.org")
    with running(make_asgi_app(load_config(config))) as (host, port):
        for length in (b"-1", b"abc", b"1e3"):
            request = (
                b"POST /unsubscribe/" + token.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Length: " + length + b"\r\n\r\nList-Unsubscribe=One-Click"
            )
            assert raw_exchange(host, port, request).startswith(b"HTTP/1.1 400 "), length
    assert statuses(config)["reader1@example.org"] == "active"


def test_a_head_over_the_limit_gets_431_whether_it_comes_whole_or_in_pieces(config: Path) -> None:
    token = token_for(config, "reader1@example.org")
    with running(make_asgi_app(load_config(config))) as (host, port):
        for size in (20_000, 60_000, 300_000):
            request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"x" * size + b"\r\n\r\n"
            assert raw_exchange(host, port, request).startswith(b"HTTP/1.1 431 "), size
        within = (
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"x" * 10_000 + b"\r\nConnection: close\r\n\r\n"
        )
        assert raw_exchange(host, port, within).startswith(b"HTTP/1.1 200 ")
        # on a kept-alive connection each request's head is counted on its own
        with socket.create_connection((host, port), timeout=5) as connection:
            for _ in range(3):  # three small heads: far less than the limit each, more than it together
                connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"x" * 7_000 + b"\r\n\r\n")
                assert one_response(connection).startswith(b"HTTP/1.1 200 ")
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"x" * 20_000 + b"\r\n\r\n")
            assert one_response(connection).startswith(b"HTTP/1.1 431 ")
        # a body in the same packet is not the head: 15 KB of form after a short head is within every limit
        body = b"List-Unsubscribe=One-Click&pad=" + b"x" * 15_000
        post = (
            b"POST /unsubscribe/" + token.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        assert raw_exchange(host, port, post).startswith(b"HTTP/1.1 200 ")
    assert statuses(config)["reader1@example.org"] == "unsubscribed"


def test_idle_and_trickling_connections_are_closed(config: Path) -> None:
    limits = Limits(request_timeout=1.0, keep_alive=1)
    with running(make_asgi_app(load_config(config)), limits) as (host, port):
        idle = socket.create_connection((host, port), timeout=5)
        trickle = socket.create_connection((host, port), timeout=5)
        started = time.monotonic()
        closed_at: dict[str, float] = {}
        for byte in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n":
            try:
                trickle.send(bytes([byte]))
            except OSError:
                break
            time.sleep(0.2)
            if time.monotonic() - started > 4:
                break
        for name, connection in (("idle", idle), ("trickle", trickle)):
            with connection, contextlib.suppress(ConnectionResetError):
                assert connection.recv(100) == b"", name  # closed without an answer
            closed_at[name] = time.monotonic() - started
        assert closed_at["idle"] < 3 and closed_at["trickle"] < 4, closed_at
        # A keep-alive connection idle after its answer is closed too; a prompt client is served.
        with socket.create_connection((host, port), timeout=5) as kept:
            kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = b""
            while not answer.endswith(b"\r\n\r\nok\n"):  # head and body may come in two packets
                answer += kept.recv(1000)
            assert answer.startswith(b"HTTP/1.1 200 ")
            started = time.monotonic()
            assert kept.recv(100) == b""
            assert time.monotonic() - started < 3


def test_digest_build_does_not_import_the_web_stack(tmp_path: Path) -> None:
    """Starlette and uvicorn load only for the commands that serve pages: `build` starts as fast as before."""
    script = textwrap.dedent(
        f"""
        import sys
        from digest.cli import main
        try:
            main(["build", "--demo", "--out", {str(tmp_path)!r}])
        except SystemExit as stop:
            assert not stop.code, stop.code
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("starlette", "uvicorn", "h11", "anyio"))
        print(",".join(loaded) or "none")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "none"


@pytest.mark.slow
def test_under_load_a_one_click_unsubscribe_answers_within_a_second() -> None:
    """200 keep-alive clients and 50 connections trickling a byte a second: every trickler is closed, every
    one-click unsubscribe answers in under 1 s (bench/serve_load.py, on 127.0.0.1, bounded to 13 s)."""
    command = [sys.executable, str(REPO / "bench" / "serve_load.py"), "--seconds", "13", "--check"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=90, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tricklers closed      50/50" in result.stdout
