"""Each reader's preferences page, opened from the footer of an issue that `digest send` mailed to the SMTP sink:
themes, a break that send honours, the language of their pages, unsubscribing from everything, and what a
stranger cannot do with it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from readers import (
    NOW,
    SECRET,
    form_token,
    link,
    messages_to,
    next_week,
    public_client,
    reader_config,
    subscriber,
    text_of,
)
from servers import SmtpSink

from digest.models import SubscriberStatus
from digest.subscribers.tokens import make_token

ENGINES = ("sqlite", "postgresql")  # the readers' pages on either state

pytestmark = pytest.mark.usefixtures("secret")
READERS = ["ann@example.org", "bo@example.org", "cy@example.org"]


@pytest.fixture
def config(write_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any], secret: None) -> Path:
    path = reader_config(write_config, smtp_sink)
    for address in READERS:
        assert cli("subscribers", "add", address, "--config", path).exit_code == 0
    return path


@pytest.fixture
def issue_sent(config: Path, cli: Callable[..., Any]) -> None:
    result = cli("send", "--config", config, "--now", NOW)
    assert result.exit_code == 0, result.output


def preferences_of(sink: SmtpSink, address: str) -> str:
    return link(messages_to(sink, address)[0], "preferences")


def save(client: Any, path: str, **fields: Any) -> Any:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return client.post(path, data={"form_token": form_token(page.text), "action": "save", "language": "en",
                                   "pause": "0", **fields})  # fmt: skip


@pytest.mark.usefixtures("issue_sent")
def test_every_issue_links_to_its_readers_preferences_with_the_unsubscribe_token(
    config: Path, smtp_sink: SmtpSink, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    raw = next(raw for _, rcpts, raw in smtp_sink.handler.messages if rcpts == ["ann@example.org"])
    [mail] = messages_to(smtp_sink, "ann@example.org")
    token = link(mail, "preferences").removeprefix("/preferences/")
    assert mail["List-Unsubscribe"].startswith(f"<https://newsletter.example.org/unsubscribe/{token}>")
    assert f"Choose your themes or take a break: https://newsletter.example.org/preferences/{token}" in text_of(mail)
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f'<a href="https://newsletter.example.org/preferences/{token}"' in html
    assert preferences_of(smtp_sink, "bo@example.org") != f"/preferences/{token}"  # each reader their own
    (tmp_path / "ann.eml").write_bytes(raw)
    checked = cli("check", tmp_path / "ann.eml", "--config", config)
    assert checked.exit_code == 0, checked.output
    assert "unsubscribe and preferences URLs substituted" in checked.stdout


@pytest.mark.usefixtures("issue_sent")
def test_choosing_palestine_and_labor_saves_them_and_shows_what_was_saved(config: Path, smtp_sink: SmtpSink) -> None:
    path = preferences_of(smtp_sink, "ann@example.org")
    with public_client(config) as client:
        first = client.get(path)
        assert "You get: everything." in first.text and "a••@example.org" in first.text
        assert "ann@example.org" not in first.text  # a forwarded link does not hand out the address
        assert re.findall(r'value="([a-z-]+)"> ', first.text) == ["latin-america", "labor", "palestine", "more"]
        saved = save(client, path, themes=["palestine", "labor"])
        assert saved.status_code == 200 and "Saved." in saved.text
        assert "You get: Labor, Palestine." in saved.text
        assert re.findall(r'value="([a-z-]+)" checked', saved.text) == ["labor", "palestine"]
        assert subscriber(config, "ann@example.org").themes == ["labor", "palestine"]  # type: ignore[union-attr]
        everything = save(client, path)  # none ticked: everything again
        assert "You get: everything." in everything.text
    assert subscriber(config, "ann@example.org").themes == []  # type: ignore[union-attr]
    assert subscriber(config, "bo@example.org").themes == []  # type: ignore[union-attr]


@pytest.mark.usefixtures("issue_sent")
def test_a_break_is_honoured_by_send_until_it_ends_and_can_be_kept_or_ended(
    config: Path, smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    path = preferences_of(smtp_sink, "ann@example.org")
    with public_client(config) as client:
        paused = save(client, path, pause="2")
        assert "No issue comes before" in paused.text
        until = datetime.fromisoformat(subscriber(config, "ann@example.org").paused_until or "")  # type: ignore[union-attr]
        assert abs(until - (datetime.now(UTC) + timedelta(weeks=2))) < timedelta(minutes=1)
        kept = save(client, path, pause="keep", themes=["labor"])
        assert subscriber(config, "ann@example.org").paused_until == until.isoformat()  # type: ignore[union-attr]
        assert "Keep the break until" in kept.text

        smtp_sink.handler.messages.clear()
        with_state = cli("send", "--config", config, "--now", NOW)  # the same issue, resumed: nothing new
        assert with_state.exit_code == 0
        next_week(config)
        sent = cli("send", "--config", config, "--now", "2024-03-08T12:00:00Z")
        assert sent.exit_code == 0, sent.output
        got = sorted(rcpts[0] for _, rcpts, _ in smtp_sink.handler.messages)
        assert got == ["bo@example.org", "cy@example.org"]  # the paused reader is skipped
        assert "0 unsubscribed or bounced" in sent.stdout

        save(client, path, pause="0")
    assert subscriber(config, "ann@example.org").paused_until is None  # type: ignore[union-attr]


@pytest.mark.usefixtures("issue_sent")
def test_the_language_chosen_is_the_language_of_the_readers_pages(config: Path, smtp_sink: SmtpSink) -> None:
    path = preferences_of(smtp_sink, "ann@example.org")
    token = path.removeprefix("/preferences/")
    with public_client(config) as client:
        saved = save(client, path, language="es", themes=["palestine"])
        assert '<html lang="es">' in saved.text and "Guardado." in saved.text and "Recibes: Palestine." in saved.text
        again = client.get(path)
        assert "Tus preferencias de Left Voice Weekly" in again.text
        assert 'value="es" selected' in again.text
        assert "¿Dejar de enviar Left Voice Weekly" in client.get(f"/unsubscribe/{token}").text
        portuguese = save(client, path, language="pt")
        assert '<html lang="pt">' in portuguese.text and "Salvo." in portuguese.text
    assert subscriber(config, "ann@example.org").language == "pt"  # type: ignore[union-attr]


@pytest.mark.usefixtures("issue_sent")
def test_a_refused_choice_is_told_in_the_language_of_the_readers_pages(config: Path, smtp_sink: SmtpSink) -> None:
    path = preferences_of(smtp_sink, "ann@example.org")
    with public_client(config) as client:
        save(client, path, language="es")
        good = form_token(client.get(path).text)
        form = {"form_token": good, "action": "save", "language": "es", "pause": "0"}
        theme = client.post(path, data={**form, "themes": "sports"})
        pause = client.post(path, data={**form, "pause": "13"})
    assert theme.status_code == 400 and "&#39;sports&#39; no es un tema de este boletín" in theme.text
    assert pause.status_code == 400 and "una pausa es un número de semanas de 0 a 12, no &#39;13&#39;" in pause.text
    assert "is not a theme" not in theme.text and '<html lang="es">' in theme.text


@pytest.mark.usefixtures("issue_sent")
def test_unsubscribe_from_everything_and_the_unsubscribe_page_offers_the_preferences(
    config: Path, smtp_sink: SmtpSink
) -> None:
    path = preferences_of(smtp_sink, "ann@example.org")
    token = path.removeprefix("/preferences/")
    with public_client(config) as client:
        offer = client.get(f"/unsubscribe/{token}")
        assert f'href="/preferences/{token}"' in offer.text
        page = client.get(path)
        gone = client.post(path, data={"form_token": form_token(page.text), "action": "unsubscribe"})
        assert gone.status_code == 200 and "You are unsubscribed" in gone.text and 'href="/subscribe"' in gone.text
        assert subscriber(config, "ann@example.org").status == SubscriberStatus.UNSUBSCRIBED  # type: ignore[union-attr]
        later = client.get(path)
    assert later.status_code == 200 and "Already unsubscribed" in later.text and "<form" not in later.text


@pytest.mark.usefixtures("issue_sent")
def test_forged_tokens_foreign_posts_and_bad_values_change_nothing(config: Path, smtp_sink: SmtpSink) -> None:
    path = preferences_of(smtp_sink, "ann@example.org")
    token = path.removeprefix("/preferences/")
    head, mac = token.split(".")
    ann = subscriber(config, "ann@example.org")
    assert ann is not None
    before_return = make_token(
        SECRET.encode(), ann.id, ann.email, datetime(2020, 1, 1, tzinfo=UTC)
    )  # before she joined
    with public_client(config) as client:
        good = form_token(client.get(path).text)
        tampered = f"{head}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}"
        for bad in (tampered, make_token(b"other", ann.id, ann.email), "x.y", before_return):
            assert client.get(f"/preferences/{bad}").status_code == 403
            posted = client.post(f"/preferences/{bad}", data={"form_token": good, "themes": "labor", "language": "en",
                                                               "pause": "0", "action": "save"})  # fmt: skip
            assert 400 <= posted.status_code < 500
        assert client.get(f"/preferences/{make_token(SECRET.encode(), ann.id, ann.email)}").status_code == 200
        form = {"themes": "labor", "language": "en", "pause": "0", "action": "save"}
        assert client.post(path, data=form).status_code == 403  # no form token
        assert client.post(path, data={**form, "form_token": good.replace(".", ".A")}).status_code == 403
        other_form = form_token(client.get(preferences_of(smtp_sink, "bo@example.org")).text)
        assert client.post(path, data={**form, "form_token": other_form}).status_code == 403  # another reader's form
        cross = client.post(path, data={**form, "form_token": good}, headers={"Sec-Fetch-Site": "cross-site"})
        assert cross.status_code == 403
        for field, value in (("themes", "sports"), ("pause", "-1"), ("pause", "13"), ("language", "fr"),
                             ("language", "en\r\nX: y"), ("pause", "１")):  # fmt: skip
            refused = client.post(path, data={**form, "form_token": good, field: value})
            assert refused.status_code == 400, (field, value)
            assert "<form" in refused.text  # the page again, with the sentence
        unsubscribe_forged = client.post(path, data={"form_token": "1.x", "action": "unsubscribe"})
        assert unsubscribe_forged.status_code == 403
    after = subscriber(config, "ann@example.org")
    assert after is not None and after.themes == [] and after.status == "active" and after.paused_until is None


def test_a_pending_reader_is_asked_to_confirm_first_and_the_archive_has_a_page_without_token(
    config: Path, smtp_sink: SmtpSink
) -> None:
    with public_client(config) as client:
        client.post("/subscribe", data={"email": "new@example.org"})
        [mail] = messages_to(smtp_sink, "new@example.org")
        page = client.get(link(mail, "preferences"))
        assert page.status_code == 200 and "Confirm your subscription first" in page.text and "<form" not in page.text
        generic = client.get("/preferences")
    assert generic.status_code == 200 and "link at the bottom of an issue" in generic.text
