"""What the tests of sign-up, confirmation and preferences share: a config that mails to the test's SMTP sink,
the public app in-process, and the links and form tokens read back from what it sends and shows."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from servers import SmtpSink
from starlette.testclient import TestClient

from digest.config import load_config
from digest.models import Subscriber
from digest.store.db import State
from digest.subscribers import roster
from digest.web.serve import make_asgi_app

REPO = Path(__file__).resolve().parent.parent
DEMO_FEED = [{"name": "Left Voice", "url": str(REPO / "digest/demo/leftvoice-sample.xml")}]
SECRET = "a-test-secret-that-signs-unsubscribe-links"
NOW = "2024-03-01T12:00:00Z"
LINK = re.compile(r"https?://[^/\s]+(/(?:confirm|preferences|unsubscribe)/[A-Za-z0-9_.-]+)")


def reader_config(write_config: Callable[..., Path], sink: SmtpSink, **overrides: Any) -> Path:
    """The demo's feed and themes, mail to the sink, and the given overrides (`subscribe: {...}` and the like)."""
    return write_config(
        DEMO_FEED,
        issue={"window_days": 10},
        smtp={"host": "127.0.0.1", "port": sink.port, "security": "none", "rate_per_second": 5000},
        **overrides,
    )


@contextmanager
def public_client(config: Path) -> Iterator[TestClient]:
    with TestClient(make_asgi_app(load_config(config)), base_url="http://127.0.0.1") as client:
        yield client


def messages_to(sink: SmtpSink, address: str) -> list[EmailMessage]:
    return [
        email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[misc]
        for _, recipients, raw in sink.handler.messages
        if recipients == [address]
    ]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def link(message: EmailMessage, kind: str) -> str:
    """The path of the first /confirm/, /preferences/ or /unsubscribe/ link in the text part."""
    found = [path for path in LINK.findall(text_of(message)) if path.startswith(f"/{kind}/")]
    assert found, f"no /{kind}/ link in:\n{text_of(message)}"
    return found[0]


def form_token(page: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def subscriber(config: Path, address: str) -> Subscriber | None:
    with State(load_config(config).state_target) as state:
        return roster.get(state, address)


def signed_up(client: TestClient, address: str, **fields: Any) -> Any:
    return client.post("/subscribe", data={"email": address, **fields})


def confirm(client: TestClient, path: str) -> Any:
    """Open a confirmation link and press its button, as a reader does."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    return client.post(path, data={"form_token": form_token(page.text)})


def next_week(config: Path) -> None:
    """Approve a second issue (the demo content again, under next week's id), as the editors would."""
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from digest.issue.pipeline import build_issue
    from digest.models import IssueRecord, Window
    from digest.store import issues

    settings = load_config(config)
    with State(settings.state_target) as state:
        built = build_issue(settings, datetime(2024, 3, 1, 12, tzinfo=UTC), state)
        window = Window(built.issue.window.start + timedelta(days=7), built.issue.window.end + timedelta(days=7))
        data = built.record().public()
        for section in data["sections"]:
            for article in section["articles"]:
                article["id"] += "-next"
        rendered = replace(built.rendered, subject="Next week")
        issues.freeze(state, "2024-W10", window, rendered, IssueRecord.model_validate(data))
