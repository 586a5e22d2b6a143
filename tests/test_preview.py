"""`digest preview`: the editors' page, driven in Debian's Chromium against the real command in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import yaml
from conftest import REPO
from playwright.sync_api import FrameLocator, Page, expect
from previews import DEMO, FORM, ISSUE, corrections_file, csrf_of, demo_copy, preview_client, running_preview
from servers import FeedServer, Route, SmtpSink

from digest.cli import parse_now
from digest.config import load_config
from digest.issue.pipeline import SAMPLE_RECIPIENT, build_issue
from digest.issue.render import personalize
from digest.store import issues
from digest.store.db import State
from digest.subscribers.tokens import unsubscribe_url


def expected(config: Path, tmp_path: Path) -> dict[str, Any]:
    """The record (.json) `digest build` makes of this config now, built in this process on a separate state."""
    settings = load_config(config)
    with State(tmp_path / "probe.db") as state:
        built = build_issue(settings, parse_now(None, settings), state)
    return built.record().public()


def articles_of(data: dict[str, Any], slug: str) -> list[dict[str, Any]]:
    return next(s["articles"] for s in data["sections"] if s["slug"] == slug)


def item(page: Page, article_id: str) -> Any:
    return page.locator(f'li.article[data-id="{article_id}"]')


def desktop(page: Page) -> FrameLocator:
    return page.frame_locator("#desktop")


def wait_for_file(config: Path, key: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = corrections_file(config)
        if key in data:
            return data
        time.sleep(0.05)
    raise AssertionError(f"the corrections file never got '{key}': {corrections_file(config)}")


def card_under(page: Page, slug: str, title: str) -> Any:
    """The card titled `title` under the section heading `slug` in the desktop frame."""
    return desktop(page).locator(f"h2#{slug} ~ .card h3 a", has_text=title)


def test_the_demo_page_shows_every_section_the_text_and_the_size(page: Page, tmp_path: Path) -> None:
    want = expected(DEMO / "config.yaml", tmp_path)
    sections = [s for s in want["sections"] if s["articles"]]
    assert len(sections) >= 3
    with running_preview("--demo") as base:
        page.goto(base + "/", wait_until="domcontentloaded")
        expect(page.locator("#subject")).to_have_text(want["subject"])
        expect(page.locator("#preheader")).to_have_text(want["preheader"])
        expect(page.locator("#size")).to_contain_text("102,000")
        for section in sections:
            heading = desktop(page).locator(f"h2#{section['slug']}")
            expect(heading).to_have_text(section["title"])
            expect(page.frame_locator("#phone").locator(f"h2#{section['slug']}")).to_have_count(1)
            expect(page.locator("#text")).to_contain_text(section["title"].upper(), ignore_case=True)
            for article in section["articles"]:
                listed = item(page, article["id"])
                expect(listed).to_contain_text(article["title"])
                expect(listed.locator(".reason")).to_have_text(article["reason"])
                expect(desktop(page).get_by_role("link", name=article["title"], exact=True)).to_have_count(1)
        assert page.locator("#phone").evaluate("f => f.getBoundingClientRect().width") == 375
        expect(page.locator("#feeds")).to_contain_text("Left Voice")
        # The demo's corrections go to a throw-away folder, never into the installed package.
        path = page.locator("#corrections-path").inner_text()
        assert not path.startswith(str(DEMO)), path


def test_drop_pin_and_move_in_the_page_change_the_email_and_the_corrections_file(page: Page, tmp_path: Path) -> None:
    config = demo_copy(tmp_path)
    want = expected(config, tmp_path)
    palestine = articles_of(want, "palestine")
    labor = articles_of(want, "labor")
    dropped, moving = palestine[0], palestine[1]
    pinned = labor[1]
    assert want["sections"][0]["articles"][0].get("lead") is None  # the demo has no lead of its own
    with running_preview("--config", str(config)) as base:
        page.goto(base + "/", wait_until="domcontentloaded")
        expect(desktop(page).get_by_role("link", name=dropped["title"], exact=True)).to_have_count(1)

        item(page, dropped["id"]).get_by_role("button", name="Drop").click()
        expect(desktop(page).get_by_role("link", name=dropped["title"], exact=True)).to_have_count(0)
        expect(page.locator("#text")).not_to_contain_text(dropped["title"])
        assert wait_for_file(config, "drop")["drop"] == [dropped["id"]]
        expect(page.locator("#dropped")).to_contain_text(dropped["title"])

        item(page, pinned["id"]).get_by_role("button", name="Lead").click()
        expect(desktop(page).locator(".lead-title")).to_have_text(pinned["title"])
        expect(page.frame_locator("#phone").locator(".lead-title")).to_have_text(pinned["title"])
        assert wait_for_file(config, "lead")["lead"] == pinned["id"]
        expect(page.locator("li.article.lead")).to_have_attribute("data-id", pinned["id"])

        expect(card_under(page, "palestine", moving["title"])).to_have_count(1)
        entry = item(page, moving["id"])
        entry.get_by_label("Section").select_option("labor")
        entry.get_by_role("button", name="Move").click()
        expect(page.locator(f'ol[data-slug="labor"] li[data-id="{moving["id"]}"]')).to_contain_text("moved here")
        expect(page.locator(f'ol[data-slug="palestine"] li[data-id="{moving["id"]}"]')).to_have_count(0)
        assert wait_for_file(config, "move")["move"] == {moving["id"]: "labor"}
        expect(card_under(page, "labor", moving["title"])).to_have_count(1)
        expect(card_under(page, "palestine", moving["title"])).to_have_count(0)

        # Restoring the dropped article puts it back and takes it off the file.
        page.locator(f'#dropped li[data-id="{dropped["id"]}"]').get_by_role("button", name="Restore").click()
        expect(desktop(page).get_by_role("link", name=dropped["title"], exact=True)).to_have_count(1)
    assert "drop" not in corrections_file(config)
    # `digest build` applies what was done in the page.
    with State(tmp_path / "probe2.db") as state:
        settings = load_config(config)
        built = build_issue(settings, parse_now(None, settings), state)
    assert built.issue.lead is not None and built.issue.lead.article.id == pinned["id"]
    assert moving["id"] in [p.article.id for s in built.issue.sections if s.slug == "labor" for p in s.items]


def test_rewording_reordering_and_the_intro_note_in_the_page(page: Page, tmp_path: Path) -> None:
    config = demo_copy(tmp_path)
    want = expected(config, tmp_path)
    first, second = articles_of(want, "palestine")[:2]
    with running_preview("--config", str(config)) as base:
        page.goto(base + "/", wait_until="domcontentloaded")
        entry = item(page, second["id"])
        entry.get_by_text("Edit title and teaser").click()
        entry.get_by_label("Title").fill("An editor's better title")
        entry.get_by_label("Teaser").fill("A teaser the editors wrote.")
        entry.get_by_role("button", name="Save wording").click()
        expect(desktop(page).get_by_role("link", name="An editor's better title", exact=True)).to_have_count(1)
        expect(desktop(page).get_by_text("A teaser the editors wrote.")).to_have_count(1)
        expect(page.locator("#text")).to_contain_text("An editor's better title")
        assert wait_for_file(config, "rewrite")["rewrite"] == {
            second["id"]: {"title": "An editor's better title", "teaser": "A teaser the editors wrote."}
        }

        item(page, second["id"]).get_by_role("button", name="Up").click()
        expect(page.locator('ol[data-slug="palestine"] li.article').first).to_have_attribute("data-id", second["id"])
        order = wait_for_file(config, "order")["order"]["palestine"]
        assert order[:2] == [second["id"], first["id"]]
        cards = desktop(page).locator("h2#palestine ~ .card h3")
        expect(cards.first).to_have_text("An editor's better title")
        expect(cards.nth(1)).to_have_text(first["title"])

        page.locator("textarea[name=intro]").fill("This week, the editors say hello.")
        page.get_by_role("button", name="Save the intro").click()
        expect(desktop(page).locator(".intro")).to_have_text("This week, the editors say hello.")
        assert wait_for_file(config, "intro")["intro"] == "This week, the editors say hello."


def test_a_test_send_from_the_page_reaches_the_relay_marked_test_and_sends_nothing_else(
    page: Page, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    config = demo_copy(tmp_path, smtp={"host": "127.0.0.1", "port": smtp_sink.port, "security": "none"})
    want = expected(config, tmp_path)
    with running_preview("--config", str(config)) as base:
        page.goto(base + "/", wait_until="domcontentloaded")
        expect(page.locator("#test-to")).to_have_value("editors@example.org")
        page.locator("#test-to").fill("desk@example.org")
        page.locator("#test-send").click()
        expect(page.locator("#notice")).to_contain_text("test sent to desk@example.org")
        expect(page.locator("#status")).to_have_text("not approved")
    assert len(smtp_sink.handler.messages) == 1
    _, recipients, _ = smtp_sink.handler.messages[0]
    assert recipients == ["desk@example.org"]
    message = smtp_sink.handler.parsed()[0]
    assert message["Subject"] == "[TEST] " + want["subject"]
    html = message.get_body(("html",))
    assert html is not None and articles_of(want, "labor")[0]["title"] in html.get_content()
    with State(tmp_path / "state" / "digest.db") as state:
        assert issues.status_of(state, ISSUE) is None
        assert state.db.execute("SELECT COUNT(*) FROM articles WHERE sent_in IS NOT NULL").fetchone()[0] == 0
        assert state.db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == 0


def test_approving_in_the_page_freezes_exactly_what_the_page_shows(page: Page, tmp_path: Path) -> None:
    config = demo_copy(tmp_path)
    want = expected(config, tmp_path)
    dropped = articles_of(want, "labor")[0]
    with running_preview("--config", str(config)) as base:
        page.goto(base + "/", wait_until="domcontentloaded")
        item(page, dropped["id"]).get_by_role("button", name="Drop").click()
        expect(desktop(page).get_by_role("link", name=dropped["title"], exact=True)).to_have_count(0)
        page.locator("#approve").click()
        expect(page.locator("#status")).to_have_text("approved")
        expect(page.locator("#stale")).to_have_count(0)
        with urllib.request.urlopen(base + "/email.html") as response:
            shown = response.read().decode()
        # A change after approval is flagged: what the page shows is no longer what would be sent.
        later = articles_of(want, "palestine")[0]
        item(page, later["id"]).get_by_role("button", name="Drop").click()
        expect(page.locator("#stale")).to_contain_text("changed since it was approved")
        expect(page.locator("#status")).to_have_text("approved")
    settings = load_config(config)
    with State(tmp_path / "state" / "digest.db") as state:
        frozen = issues.latest_approved(state)
    assert frozen is not None and frozen.id == ISSUE
    assert personalize(frozen.rendered.html, unsubscribe_url(settings, 0, SAMPLE_RECIPIENT), html=True) == shown
    assert dropped["title"] not in frozen.rendered.html
    assert later["title"] in frozen.rendered.html


def copy_templates(folder: Path) -> Path:
    """A copy of the shipped templates that a test may edit while the page is open."""
    templates = folder / "templates"
    templates.mkdir()
    for name in ("email.mjml.j2", "email.txt.j2", "email.css"):
        shutil.copy(REPO / "digest" / "templates" / name, templates / name)
    return templates


def test_editing_a_template_updates_the_frame_without_a_reload(page: Page, tmp_path: Path) -> None:
    templates = copy_templates(tmp_path)
    config = demo_copy(tmp_path, templates="templates")
    with running_preview("--config", str(config)) as base:
        page.goto(base + "/", wait_until="domcontentloaded")
        expect(desktop(page).locator("h1")).to_have_text("Left Voice Weekly")
        page.evaluate("window.keptAcrossUpdates = 'yes'")
        source = (templates / "email.mjml.j2").read_text()
        assert "<h1>{{ title }}</h1>" in source
        (templates / "email.mjml.j2").write_text(
            source.replace("<h1>{{ title }}</h1>", "<h1>{{ title }} (edited)</h1>")
        )
        expect(desktop(page).locator("h1")).to_have_text("Left Voice Weekly (edited)", timeout=5000)
        expect(page.frame_locator("#phone").locator("h1")).to_have_text("Left Voice Weekly (edited)")
        assert page.evaluate("window.keptAcrossUpdates") == "yes"  # the page itself was not reloaded

        # The plain-text template too, and the corrections file edited by hand.
        text = (templates / "email.txt.j2").read_text()
        (templates / "email.txt.j2").write_text("EDITED TEXT TEMPLATE\n" + text)
        expect(page.locator("#text")).to_contain_text("EDITED TEXT TEMPLATE", timeout=5000)
        (tmp_path / "corrections").mkdir(exist_ok=True)
        (tmp_path / "corrections" / f"{ISSUE}.yaml").write_text(
            "intro: Written by hand in the YAML file.\ndrop: [https://example.org/an-article-no-feed-has]\n"
        )
        expect(desktop(page).locator(".intro")).to_have_text("Written by hand in the YAML file.", timeout=5000)
        expect(page.locator("#gone")).to_contain_text("drop https://example.org/an-article-no-feed-has")
        assert page.evaluate("window.keptAcrossUpdates") == "yes"


def post(base: str, path: str, body: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    port = int(base.rsplit(":", 1)[1])
    connection = HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(
        "POST", path, body=body, headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    )
    response = connection.getresponse()
    return response.status, response.read().decode()


def test_requests_from_another_origin_cannot_change_anything(
    page: Page, tmp_path: Path, feed_server: FeedServer
) -> None:
    config = demo_copy(tmp_path)
    want = expected(config, tmp_path)
    victim = articles_of(want, "palestine")[0]
    form = f"action=drop&id={urllib.request.quote(victim['id'])}"
    with running_preview("--config", str(config)) as base:
        # A page of another origin that posts a drop to the preview as soon as it is opened.
        feed_server.routes["/attack.html"] = Route(
            body=(
                f'<form id="f" method="post" action="{base}/correct">'
                f'<input name="action" value="drop"><input name="id" value="{victim["id"]}">'
                f'<input name="csrf" value="guessed"></form><script>document.getElementById("f").submit()</script>'
            ).encode(),
            headers={"Content-Type": "text/html"},
        )
        page.goto(feed_server.url("/attack.html"))
        expect(page.locator("body")).to_contain_text("refused")

        status, body = post(base, "/correct", form)
        assert status == 403 and "refused" in body
        with urllib.request.urlopen(base + "/") as response:
            token = csrf_of(response.read().decode())
        status, _ = post(base, "/correct", f"{form}&csrf={token}", {"Origin": "http://evil.example"})
        assert status == 403
        status, _ = post(base, "/correct", f"{form}&csrf={token}", {"Sec-Fetch-Site": "cross-site"})
        assert status == 403
        # A name of another site re-pointed at 127.0.0.1 (DNS rebinding) is not served, so it cannot read the token.
        connection = HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=10)
        connection.request("GET", "/", headers={"Host": f"evil.example:{base.rsplit(':', 1)[1]}"})
        assert connection.getresponse().status == 421
        assert corrections_file(config) == {}
        with urllib.request.urlopen(base + "/email.html") as response:
            assert victim["title"] in response.read().decode()

        # The same request from the page itself is accepted: the refusals above are not refusing everything.
        status, _ = post(base, "/correct", f"{form}&csrf={token}", {"Origin": base})
        assert status == 303
        assert corrections_file(config)["drop"] == [victim["id"]]


def test_beyond_loopback_the_page_requires_the_secret_token(tmp_path: Path) -> None:
    config = demo_copy(tmp_path)
    refused = subprocess.run(
        [sys.executable, "-m", "digest.cli", "preview", "--config", str(config), "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "DIGEST_PREVIEW_TOKEN"},
    )
    assert refused.returncode != 0
    assert "DIGEST_PREVIEW_TOKEN" in refused.stderr and "0.0.0.0" in refused.stderr
    short = subprocess.run(
        [sys.executable, "-m", "digest.cli", "preview", "--config", str(config), "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DIGEST_PREVIEW_TOKEN": "short"},
    )
    assert short.returncode != 0 and "DIGEST_PREVIEW_TOKEN is set but has only 5 characters" in short.stderr

    secret = "a-long-secret-for-the-preview"
    with preview_client(config, secret=secret) as (client, _, _):
        assert client.get("/").status_code == 401
        assert client.get("/email.html").status_code == 401
        assert client.get("/?token=not-the-secret").status_code == 401
        welcomed = client.get(f"/?token={secret}")
        assert welcomed.status_code == 303
        client.cookies.clear()  # a cookie goes only where a test sends it
        cookie = welcomed.headers["set-cookie"].split(";", 1)[0]
        assert "HttpOnly" in welcomed.headers["set-cookie"] and secret not in cookie
        opened = client.get("/", headers={"Cookie": cookie})
        assert opened.status_code == 200
        token = csrf_of(opened.text)
        status = client.post("/correct", content="action=intro&intro=hello", headers={**FORM, "Cookie": cookie})
        assert status.status_code == 403  # the secret alone is not enough: the page's token is needed too
        status = client.post("/correct", content=f"action=intro&intro=hello&csrf={token}", headers=FORM)
        assert status.status_code == 401  # and the token alone is not enough either
        assert corrections_file(config) == {}
        status = client.post(
            "/correct", content=f"action=intro&intro=hello&csrf={token}", headers={**FORM, "Cookie": cookie}
        )
        assert status.status_code == 303
        assert corrections_file(config) == {"intro": "hello"}


def test_a_config_change_and_a_broken_template_show_in_the_open_page(page: Page, tmp_path: Path) -> None:
    templates = copy_templates(tmp_path)
    config = demo_copy(tmp_path, templates="templates")
    with running_preview("--config", str(config)) as base:
        page.goto(base + "/", wait_until="domcontentloaded")
        page.evaluate("window.keptAcrossUpdates = 'yes'")
        data = yaml.safe_load(config.read_text())
        data["newsletter"]["title"] = "Left Voice Weekly, Retitled"
        config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
        expect(desktop(page).locator("h1")).to_have_text("Left Voice Weekly, Retitled", timeout=10000)

        # A template saved half-edited: the page says so and keeps the last good email.
        source = (templates / "email.mjml.j2").read_text()
        (templates / "email.mjml.j2").write_text(source.replace("{% for section in sections %}", "{% for section in"))
        expect(page.locator(".errors")).to_contain_text("the issue cannot be rendered", timeout=5000)
        expect(desktop(page).locator("h1")).to_have_text("Left Voice Weekly, Retitled")
        (templates / "email.mjml.j2").write_text(source.replace("<h1>{{ title }}</h1>", "<h1>{{ title }}!</h1>"))
        expect(page.locator(".errors")).to_have_count(0, timeout=5000)
        expect(desktop(page).locator("h1")).to_have_text("Left Voice Weekly, Retitled!")
        assert page.evaluate("window.keptAcrossUpdates") == "yes"
