"""The unsubscribe pages over real HTTP on 127.0.0.1: one-click POST (RFC 8058), a GET page with one button,
forged and tampered tokens refused, and the next issue skipping whoever left."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import SmtpSink, free_port

from digest.config import Settings, load_config
from digest.issue.pipeline import build_issue, manifest
from digest.models import Window
from digest.store import issues
from digest.store.db import State
from digest.subscribers import roster as subscribers
from digest.subscribers.tokens import make_token
from digest.web.serve import make_app, make_asgi_app, make_http_server

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
    with State(load_config(path).state_path) as state:
        subscribers.import_csv(state, io.StringIO("".join(f"reader{n}@example.org,Reader {n}\n" for n in range(6))))
    return path


@pytest.fixture
def server(config: Path) -> Iterator[str]:
    httpd = make_http_server(load_config(config), "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()
    httpd.get_app().close()  # type: ignore[attr-defined]


def statuses(config: Path) -> dict[str, str]:
    with State(load_config(config).state_path) as state:
        return {s.email: s.status for s in subscribers.all_subscribers(state)}


def token_for(config: Path, address: str) -> str:
    with State(load_config(config).state_path) as state:
        found = subscribers.get(state, address)
    assert found is not None
    return make_token(SECRET.encode(), found.id, found.email)


def test_one_click_post_unsubscribes_and_the_next_issue_skips_the_address(
    config: Path, server: str, smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    assert cli("send", "--config", config, "--now", NOW).exit_code == 0
    leaving = "reader2@example.org"
    raw = next(raw for _, rcpts, raw in smtp_sink.handler.messages if rcpts == [leaving])
    match = UNSUBSCRIBE.search(raw)
    assert match

    # a fresh client: no cookie, no login, no confirmation step
    answer = httpx.post(server + match.group(1).decode(), **ONE_CLICK)  # type: ignore[arg-type]

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


def next_week(settings: Settings) -> None:
    """Approve a second issue (the demo content again, under next week's id)."""
    with State(settings.state_path) as state:
        built = build_issue(settings, datetime(2024, 3, 1, 12, tzinfo=UTC), state)
        window = Window(built.issue.window.start + timedelta(days=7), built.issue.window.end + timedelta(days=7))
        rendered = replace(built.rendered, subject="Next week")
        data = manifest(built, settings)
        for section in data["sections"]:
            for article in section["articles"]:
                article["id"] += "-next"
        issues.freeze(state, "2024-W10", window, rendered, data)


def test_forged_or_tampered_tokens_get_4xx_and_change_nothing(config: Path, server: str) -> None:
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
        answer = httpx.post(f"{server}/unsubscribe/{bad}", **ONE_CLICK)  # type: ignore[arg-type]
        assert 400 <= answer.status_code < 500, (bad, answer.status_code)
        assert "not valid" in answer.text
    assert set(statuses(config).values()) == {"active"}
    assert httpx.post(f"{server}/unsubscribe/{token}", **ONE_CLICK).status_code == 200  # type: ignore[arg-type]
    assert statuses(config)["reader1@example.org"] == "unsubscribed"


def test_get_shows_one_button_and_changes_nothing(config: Path, server: str) -> None:
    token = token_for(config, "reader4@example.org")
    page = httpx.get(f"{server}/unsubscribe/{token}")
    assert page.status_code == 200
    assert page.text.count("<button") == 1 and page.text.count("<form") == 1
    assert f'method="post" action="/unsubscribe/{token}"' in page.text
    assert "reader4@example.org" not in page.text and "r" + "•" * 6 + "@example.org" in page.text  # masked
    assert page.headers["cache-control"] == "no-store"
    assert set(statuses(config).values()) == {"active"}

    # the button sends the same one-click body
    form = re.search(r'name="([^"]+)" value="([^"]+)"', page.text)
    assert form and f"{form.group(1)}={form.group(2)}" == "List-Unsubscribe=One-Click"
    assert httpx.head(f"{server}/unsubscribe/{token}").status_code == 200
    assert httpx.put(f"{server}/unsubscribe/{token}").status_code == 405
    assert httpx.get(f"{server}/").status_code == 404
    assert httpx.get(f"{server}/healthz").text == "ok\n"
    assert set(statuses(config).values()) == {"active"}


def test_digest_serve_runs_the_app(config: Path) -> None:
    port = free_port()
    env = {**os.environ, "DIGEST_SECRET": SECRET}
    command = [sys.executable, "-m", "digest.cli", "serve", "--config", str(config), "--port", str(port)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        assert f"http://127.0.0.1:{port}/unsubscribe/<token>" in process.stderr.readline()
        token = token_for(config, "reader5@example.org")
        answer = httpx.post(f"http://127.0.0.1:{port}/unsubscribe/{token}", **ONE_CLICK)  # type: ignore[arg-type]
        assert answer.status_code == 200
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


def test_the_asgi_adapter_unsubscribes_too(config: Path) -> None:
    app = make_asgi_app(load_config(config))
    token = token_for(config, "reader0@example.org")
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"List-Unsubscribe=One-Click", "more_body": False}

    async def send(event: Any) -> None:
        sent.append(event)

    scope = {"type": "http", "method": "POST", "path": f"/unsubscribe/{token}", "root_path": ""}
    started = time.monotonic()
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    assert time.monotonic() - started < 5
    assert sent[0]["status"] == 200 and b"You are unsubscribed" in sent[1]["body"]
    assert statuses(config)["reader0@example.org"] == "unsubscribed"


def test_make_app_is_a_plain_wsgi_callable(config: Path) -> None:
    from wsgiref.util import setup_testing_defaults

    app = make_app(load_config(config))
    environ: dict[str, Any] = {"PATH_INFO": "/unsubscribe/" + token_for(config, "reader1@example.org")}
    setup_testing_defaults(environ)
    seen: list[str] = []
    body = b"".join(app(environ, lambda status, headers: seen.append(status)))
    app.close()
    assert seen == ["200 OK"] and b"<button" in body
