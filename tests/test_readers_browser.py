"""A reader's whole way in, in Debian's Chromium against a real `digest serve` on 127.0.0.1: the sign-up form,
the confirmation email caught by aiosmtpd, its link and button, the preferences page it links to, then the issue
`digest send` mails (exactly the sections chosen; everything for a reader who chose nothing) and the preferences
page again from that issue's footer."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import local_page
from playwright.sync_api import Browser, Page, expect
from readers import LINK, NOW, SECRET, messages_to, reader_config, subscriber, text_of
from servers import SmtpSink, free_port
from variants_help import DEMO_SECTIONS, by_recipient, html_sections, parts, text_sections

pytestmark = pytest.mark.slow


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from local_page(browser)  # the browser's own default size


@pytest.fixture
def served(write_config: Callable[..., Path], smtp_sink: SmtpSink, secret: None) -> Iterator[tuple[Path, str]]:
    """`digest serve` in its own process, its links pointing at itself; yields (config, base URL)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = reader_config(write_config, smtp_sink, web={"base_url": base})
    command = [sys.executable, "-m", "digest.cli", "serve", "--config", str(config), "--port", str(port)]
    process = subprocess.Popen(command, env={**os.environ, "DIGEST_SECRET": SECRET}, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"digest serve did not start: {process.stderr.read() if process.stderr else ''}")
                time.sleep(0.1)
        yield config, base
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_for_mail(sink: SmtpSink, address: str, count: int = 1) -> Any:
    deadline = time.monotonic() + 15
    while len(messages_to(sink, address)) < count:
        assert time.monotonic() < deadline, f"no mail to {address} within 15 s"
        time.sleep(0.05)
    return messages_to(sink, address)[count - 1]


def absolute_link(message: Any, kind: str, base: str) -> str:
    paths = [p for p in LINK.findall(text_of(message)) if p.startswith(f"/{kind}/")]
    assert paths, text_of(message)
    assert f"{base}{paths[0]}" in text_of(message)  # the email's link points at the server, as web.base_url says
    return f"{base}{paths[0]}"


def test_sign_up_confirm_choose_palestine_and_labor_and_send_gives_exactly_those_sections(
    served: tuple[Path, str], page: Page, smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    config, base = served
    assert cli("subscribers", "add", "everything@example.org", "--config", config).exit_code == 0

    page.goto(f"{base}/subscribe")
    expect(page.locator("#website")).not_to_be_in_viewport()  # the honeypot, which people never see
    page.get_by_label("Your email address").fill("ann@example.org")
    page.get_by_label("Your name (optional)").fill("Ann <b>Reader</b>")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.locator("h1")).to_have_text("Check your inbox")

    confirmation = wait_for_mail(smtp_sink, "ann@example.org")
    page.goto(absolute_link(confirmation, "confirm", base))
    expect(page.get_by_role("button")).to_have_count(1)
    assert subscriber(config, "ann@example.org").status == "pending"  # type: ignore[union-attr]  # opening is not confirming
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("h1")).to_have_text("You are subscribed")
    assert subscriber(config, "ann@example.org").status == "active"  # type: ignore[union-attr]

    # the confirmation email's preferences link works once she is subscribed
    page.goto(absolute_link(confirmation, "preferences", base))
    expect(page.locator("h1")).to_have_text("Your preferences for Left Voice Weekly")
    expect(page.get_by_text("Ann <b>Reader</b>")).to_be_visible()  # shown as typed, never as markup
    expect(page.get_by_text("You get: everything.")).to_be_visible()
    page.get_by_label("Palestine").check()
    page.get_by_label("Labor").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved. You get: Labor, Palestine.")
    expect(page.get_by_label("Palestine")).to_be_checked()
    expect(page.get_by_label("Latin America")).not_to_be_checked()
    assert subscriber(config, "ann@example.org").themes == ["labor", "palestine"]  # type: ignore[union-attr]

    sent = cli("send", "--config", config, "--now", NOW)
    assert sent.exit_code == 0, sent.output
    mails = by_recipient(smtp_sink)
    assert len(mails["ann@example.org"]) == 2 and len(mails["everything@example.org"]) == 1
    _, html, text = parts(mails["ann@example.org"][1])
    assert html_sections(html) == ["Labor", "Palestine"] and text_sections(text) == ["LABOR", "PALESTINE"]
    _, html, _ = parts(mails["everything@example.org"][0])
    assert html_sections(html) == DEMO_SECTIONS  # a reader with no choice gets all

    # the footer leads back to the page, which shows what she chose
    page.goto(absolute_link(messages_to(smtp_sink, "ann@example.org")[1], "preferences", base))
    expect(page.get_by_text("You get: Labor, Palestine.")).to_be_visible()
    expect(page.get_by_label("Labor")).to_be_checked()


def test_ten_sign_ups_in_the_browser_send_one_email_and_the_eleventh_is_refused(
    served: tuple[Path, str], page: Page, smtp_sink: SmtpSink
) -> None:
    _, base = served
    statuses = []
    for _ in range(11):
        page.goto(f"{base}/subscribe?lang=pt")
        page.get_by_label("Seu e-mail").fill("bo@example.org")
        with page.expect_navigation() as navigation:
            page.get_by_role("button", name="Inscrever-me").click()
        response = navigation.value
        assert response is not None
        statuses.append(response.status)
    assert statuses == [200] * 10 + [429]
    expect(page.get_by_role("alert")).to_contain_text("Chegaram inscrições demais")
    wait_for_mail(smtp_sink, "bo@example.org")
    time.sleep(0.5)
    assert len(messages_to(smtp_sink, "bo@example.org")) == 1
