"""Fixtures shared by every test: the test feeds, real servers on 127.0.0.1, configs in temp dirs."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

import postgres
from servers import FeedServer, SmtpSink

REPO = Path(__file__).resolve().parent.parent
FEEDS = REPO / "tests" / "data" / "feeds"
REAL_WEEK_NOW = "2026-02-18T12:00:00Z"


def real_week_files() -> list[Path]:
    """The 17 feeds captured on 17–18 Feb 2026: one real week."""
    manifest = json.loads((FEEDS / "manifest.json").read_text())
    return [
        FEEDS / row["file"]
        for row in manifest
        if row["repo"] == "kagisearch/fastfeedparser" and row["file"].startswith("real/")
    ]


def shipped_config() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "config.yaml").read_text())
    return data


@pytest.fixture
def test_feeds() -> Path:
    """The real and adversarial feeds kept in the repository (tests/data/feeds, with their provenance)."""
    return FEEDS


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


ENGINES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test module that sets ENGINES runs each test that reaches the state once per engine (sqlite_only marks
    a test about the SQLite file itself)."""
    if "engine" in metafunc.fixturenames:
        engines = getattr(metafunc.module, "ENGINES", ("sqlite",))
        if metafunc.definition.get_closest_marker("sqlite_only"):
            engines = ("sqlite",)
        if metafunc.definition.get_closest_marker("postgresql_only"):
            engines = ("postgresql",)
        metafunc.parametrize("engine", engines, indirect=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.Postgres]:
    """Debian's PostgreSQL, started once for the session in a temporary folder (tests/postgres.py)."""
    server = postgres.Postgres().start()
    yield server
    server.stop()


_databases = iter(range(1, 1_000_000))


@pytest.fixture
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The engine under test: 'sqlite', or 'postgresql' (a fresh database of the session's server)."""
    name: str = getattr(request, "param", "sqlite")
    if name == "postgresql":
        monkeypatch.setenv("DIGEST_DATABASE_PASSWORD", postgres.PASSWORD)
    return name


@pytest.fixture
def state_setting(engine: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """What config.yaml's `state:` says for this test: a file in its folder, or a fresh PostgreSQL database
    (whose connections this process closes after the test: the server takes 200 at most)."""
    if engine == "sqlite":
        yield "state/digest.db"
        return
    server: postgres.Postgres = request.getfixturevalue("postgres_server")
    yield server.fresh_database(f"test_{next(_databases)}")
    from digest.store.postgres import close_pools

    close_pools()


@pytest.fixture
def write_config(tmp_path: Path, state_setting: str) -> Callable[..., Path]:
    """Write a config.yaml into a temp dir: the shipped one's themes, with the given overrides."""

    def write(feeds: list[dict[str, str]], **overrides: Any) -> Path:
        base = shipped_config()
        data: dict[str, Any] = {
            "newsletter": {**base["newsletter"], "timezone": "UTC"},
            "feeds": feeds,
            "themes": base["themes"],
            "catch_all": base["catch_all"],
            "weights": base["weights"],
            "issue": {"window_days": 7, "max_per_section": 10, "lead_story": True},
            "web": {"base_url": "https://newsletter.example.org"},
            "gather": {"timeout": 5, "connect_timeout": 2},
            "state": state_setting,
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
        return path

    return write


@pytest.fixture
def real_week_config(write_config: Callable[..., Path]) -> Path:
    feeds = [{"name": f.stem, "url": str(f)} for f in real_week_files()]
    return write_config(feeds)


@pytest.fixture
def cli() -> Callable[..., Any]:
    """Run the digest CLI in-process and return click's Result."""
    from digest.cli import main

    def run(*args: str, **kwargs: Any) -> Any:
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, **kwargs)

    return run


def load_manifest(out: Path) -> dict[str, Any]:
    files = sorted(out.glob("*.json"))
    assert len(files) == 1, files
    data: dict[str, Any] = json.loads(files[0].read_text())
    return data


SECRET = "a-test-secret-that-signs-unsubscribe-links"
DEMO_FEED = [{"name": "Left Voice", "url": str(REPO / "digest/demo/leftvoice-sample.xml")}]


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET", SECRET)


@pytest.fixture
def send_config(write_config: Callable[..., Path], smtp_sink: SmtpSink, secret: None) -> Callable[..., Path]:
    """A config that builds the demo issue and mails it to the test's SMTP sink (with DIGEST_SECRET set)."""

    def write(issue: dict[str, Any] | None = None, **smtp: Any) -> Path:
        return write_config(
            DEMO_FEED,
            issue={"window_days": 10, **(issue or {})},
            smtp={
                "host": "127.0.0.1",
                "port": smtp_sink.port,
                "security": "none",
                "rate_per_second": 5000,
                "retry_delay": 0.05,
                **smtp,
            },
        )

    return write


CHROMIUM = Path("/usr/bin/chromium")  # Debian's; the tests never download a browser
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright, one per test module."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def local_page(browser: Any, viewport: dict[str, int] | None = None) -> Iterator[Any]:
    """A page in a fresh context that can reach 127.0.0.1 only: the email links to remote pictures and pages."""
    context = browser.new_context(viewport=viewport) if viewport else browser.new_context()
    context.route("**/*", lambda route: route.continue_() if "//127.0.0.1" in route.request.url else route.abort())
    yield context.new_page()
    context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A desktop-sized page (1600×1000) that reaches 127.0.0.1 only."""
    yield from local_page(browser, {"width": 1600, "height": 1000})


def modules_loaded_by_demo_build(folder: Path) -> list[str]:
    """Every module a `digest build --demo` process has imported by its end, in a fresh interpreter."""
    import subprocess
    import sys

    code = (
        "import sys; from digest.cli import main; sys.argv[1:] = ['build', '--demo', '--out', sys.argv[1]]\n"
        "try: main()\nexcept SystemExit: pass\n"
        "print(' '.join(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, check=True)
    return done.stdout.splitlines()[-1].split()
