"""The editors' page for the tests: the demo's config in a temp dir, and the page's app in-process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from servers import free_port
from starlette.testclient import TestClient

from digest.cli import parse_now
from digest.config import load_config
from digest.store.db import State
from digest.web.desk import Desk
from digest.web.guard import Guard
from digest.web.preview import make_preview_app

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "digest" / "demo"
ISSUE = "2024-W09"  # the demo's pinned clock


def demo_copy(tmp_path: Path, **overrides: Any) -> Path:
    """The demo's config and feed in a temp dir, with its own state (and, given, an SMTP relay)."""
    data = yaml.safe_load((DEMO / "config.yaml").read_text())
    shutil.copy(DEMO / "leftvoice-sample.xml", tmp_path)
    data.update({"state": "state/digest.db", "editors": ["editors@example.org"], **overrides})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return path


def corrections_file(config: Path) -> dict[str, Any]:
    path = config.parent / "corrections" / f"{ISSUE}.yaml"
    data: dict[str, Any] = yaml.safe_load(path.read_text()) if path.exists() else {}
    return data


def csrf_of(page_html: str) -> str:
    return page_html.split('name="digest-csrf" content="', 1)[1].split('"', 1)[0]


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@contextmanager
def preview_client(
    config: Path, secret: str | None = None, clock: Callable[[], float] = time.time
) -> Iterator[tuple[TestClient, Guard, Desk]]:
    """The page's app in-process over a desk of `config`, as `digest preview` serves it (without a socket)."""
    host = "127.0.0.1" if secret is None else "0.0.0.0"
    settings = load_config(config)
    with State(settings.state_path) as state:
        desk = Desk(config, lambda s: parse_now(None, s), state)
        guard = Guard(host=host, port=8025, secret=secret, clock=clock)
        base = "http://127.0.0.1:8025" if secret is None else "https://preview.example.org"
        with TestClient(make_preview_app(desk, guard), base_url=base, follow_redirects=False) as client:
            client.headers["Origin"] = base
            yield client, guard, desk
        desk.close()


@contextmanager
def running_preview(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`digest preview ARGS` on a free port; yields its base URL and always stops it."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "digest.cli", "preview", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"digest preview exited with {process.returncode}: {process.stderr.read()}")  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(base + "/version", timeout=2):
                    break
            except urllib.error.HTTPError:
                break  # it answers, if only to refuse
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("digest preview did not answer within 60 s")
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
