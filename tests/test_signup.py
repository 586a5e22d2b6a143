"""Sign-up with double opt-in, through the public app in-process and a real SMTP sink: the form, the confirmation
email and its link, pending subscribers, the consent record, and what a stranger can and cannot do with it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from readers import (
    NOW,
    SECRET,
    confirm,
    form_token,
    link,
    messages_to,
    public_client,
    reader_config,
    signed_up,
    subscriber,
    text_of,
)
from servers import SmtpSink

from digest.config import load_config
from digest.models import ConsentSource, SubscriberStatus
from digest.store.db import State
from digest.subscribers import optin, privacy
from digest.subscribers.tokens import make_confirm_token, make_token

ENGINES = ("sqlite", "postgresql")  # the readers' pages on either state
JSON = {"Content-Type": "application/json"}

pytestmark = pytest.mark.usefixtures("secret")


@pytest.fixture
def config(write_config: Callable[..., Path], smtp_sink: SmtpSink) -> Path:
    return reader_config(write_config, smtp_sink)


def test_the_form_lists_the_themes_and_the_consent_in_the_asked_language(config: Path) -> None:
    with public_client(config) as client:
        english, spanish = client.get("/subscribe"), client.get("/subscribe?lang=es")
    assert english.status_code == 200 and '<html lang="en">' in english.text
    boxes = re.findall(r'type="checkbox" name="themes" value="([^"]+)"', english.text)
    assert boxes == ["latin-america", "labor", "palestine", "more"]  # the catch-all is a theme like the others
    assert "unsubscribe at any time with one click" in english.text
    assert 'name="website"' in english.text and 'class="trap"' in english.text  # the honeypot, hidden
    assert '<html lang="es">' in spanish.text and "Suscríbete a Left Voice Weekly" in spanish.text
    assert english.headers["content-security-policy"].startswith("default-src 'none'")


def test_a_sign_up_is_pending_until_its_link_is_confirmed_by_a_post(
    config: Path, smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    with public_client(config) as client:
        answer = signed_up(client, "ann@example.org", name="Ann", themes=["palestine", "labor"])
        assert answer.status_code == 200 and "Check your inbox" in answer.text
        pending = subscriber(config, "ann@example.org")
        assert pending is not None and pending.status == SubscriberStatus.PENDING
        assert pending.themes == ["labor", "palestine"]  # config order

        [mail] = messages_to(smtp_sink, "ann@example.org")
        assert mail["Subject"] == "Confirm your subscription to Left Voice Weekly"
        assert mail.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
        assert mail["List-Unsubscribe"].startswith("<https://newsletter.example.org/unsubscribe/")
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "You chose: Labor, Palestine." in text_of(mail)
        path = link(mail, "confirm")

        # a mail scanner (or the reader) opening the link confirms nothing: one button, and a POST
        for _ in range(3):
            page = client.get(path)
            assert page.status_code == 200 and page.text.count("<button") == 1
        assert client.head(path).status_code == 200
        assert subscriber(config, "ann@example.org").status == SubscriberStatus.PENDING  # type: ignore[union-attr]
        assert client.post(path, data={}).status_code == 403  # a POST without the page's form token
        assert subscriber(config, "ann@example.org").status == SubscriberStatus.PENDING  # type: ignore[union-attr]

        done = confirm(client, path)
        assert done.status_code == 200 and "You are subscribed" in done.text
        assert re.search(r'href="/preferences/[A-Za-z0-9_.-]+"', done.text)
        again = client.get(path)  # opened again: it says so, with no button
        assert again.status_code == 200 and "You are subscribed" in again.text and "<button" not in again.text
    active = subscriber(config, "ann@example.org")
    assert active is not None and active.status == SubscriberStatus.ACTIVE and active.name == "Ann"
    assert active.themes == ["labor", "palestine"]
    assert len(messages_to(smtp_sink, "ann@example.org")) == 1


def test_a_strangers_later_sign_up_of_a_pending_address_changes_nothing_the_mailed_link_confirms(
    config: Path, smtp_sink: SmtpSink
) -> None:
    with public_client(config) as client:
        signed_up(client, "vera@example.org", name="Vera", themes=["labor"], language="es")
        [mail] = messages_to(smtp_sink, "vera@example.org")
        # within resend_hours: no second email, and the request already mailed stays the one its link confirms
        stranger = signed_up(client, "vera@example.org", name="Spam King", themes=["palestine"], language="pt")
        assert stranger.status_code == 200 and len(messages_to(smtp_sink, "vera@example.org")) == 1
        path = link(mail, "confirm")
        page = client.get(path)
        assert "Spam King" not in page.text
        assert confirm(client, path).status_code == 200
    joined = subscriber(config, "vera@example.org")
    assert joined is not None and joined.status == SubscriberStatus.ACTIVE
    assert (joined.name, joined.language, joined.themes) == ("Vera", "es", ["labor"])
    with State(load_config(config).state_target) as state:
        record = privacy.record_of(state, "vera@example.org")
    assert record is not None
    [consent] = record.consents  # the stranger's request is dropped, not kept as evidence of anything
    assert (consent.name, consent.themes, consent.confirmed_at is not None) == ("Vera", ["labor"], True)


def test_a_pending_reader_is_sent_no_issue_and_is_not_counted_as_leaving(
    config: Path, smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    with public_client(config) as client:
        signed_up(client, "pending@example.org")
    refused = cli("send", "--config", config, "--now", NOW)
    assert refused.exit_code == 1 and "no active address" in refused.stderr  # pending is not active
    cli("subscribers", "add", "ann@example.org", "--config", config)
    smtp_sink.handler.messages.clear()
    sent = cli("send", "--config", config, "--now", NOW)
    assert sent.exit_code == 0, sent.output
    assert [rcpts for _, rcpts, _ in smtp_sink.handler.messages] == [["ann@example.org"]]
    assert "1 sent, 0 skipped" in sent.stdout
    listed = cli("subscribers", "list", "--status", "pending", "--config", config)
    assert listed.stdout == "pending@example.org\tpending\t\n"


def test_ten_sign_ups_of_one_address_send_one_email_and_the_eleventh_from_that_client_gets_429(
    config: Path, smtp_sink: SmtpSink
) -> None:
    with public_client(config) as client:
        answers = [signed_up(client, "ann@example.org") for _ in range(10)]
        assert {a.status_code for a in answers} == {200}
        assert len({a.text for a in answers}) == 1
        assert len(messages_to(smtp_sink, "ann@example.org")) == 1
        eleventh = signed_up(client, "someone-else@example.org")
    assert eleventh.status_code == 429 and eleventh.headers["retry-after"] == "3600"
    assert "Too many sign-ups" in eleventh.text
    assert subscriber(config, "someone-else@example.org") is None
    assert not messages_to(smtp_sink, "someone-else@example.org")


def test_the_count_per_client_is_shared_by_every_web_process(config: Path) -> None:
    """Two apps on one state file stand for two worker processes: the limit holds across them."""
    with public_client(config) as first, public_client(config) as second:
        for n in range(5):
            assert signed_up(first, f"a{n}@example.org").status_code == 200
            assert signed_up(second, f"b{n}@example.org").status_code == 200
        assert signed_up(first, "c@example.org").status_code == 429
        assert signed_up(second, "c@example.org").status_code == 429


def test_another_confirmation_goes_out_only_after_resend_hours(config: Path) -> None:
    settings = load_config(config)
    start = datetime.now(UTC)
    with State(settings.state_target) as state:
        asked = optin.SignUp("ann@example.org")
        assert optin.sign_up(state, asked, 24, start) is not None
        assert optin.sign_up(state, asked, 24, start + timedelta(hours=23)) is None
        assert optin.sign_up(state, asked, 24, start + timedelta(hours=24, seconds=1)) is not None


def test_a_relay_that_refuses_the_confirmation_gives_the_address_its_turn_back(
    config: Path, smtp_sink: SmtpSink
) -> None:
    smtp_sink.handler.reply = lambda rcpt: "451 4.3.0 try again later"
    with public_client(config) as client:
        assert signed_up(client, "ann@example.org").status_code == 200  # the same answer: it went out after it
        assert not messages_to(smtp_sink, "ann@example.org")
        smtp_sink.handler.reply = lambda rcpt: None
        assert signed_up(client, "ann@example.org").status_code == 200
    assert len(messages_to(smtp_sink, "ann@example.org")) == 1


def test_the_answer_is_the_same_for_a_new_pending_active_or_unsubscribed_address(
    config: Path, smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    cli("subscribers", "add", "active@example.org", "--config", config)
    cli("subscribers", "add", "gone@example.org", "--config", config)
    cli("subscribers", "remove", "gone@example.org", "--config", config)
    cli("subscribers", "add", "spam@example.org", "--config", config)
    with State(load_config(config).state_target) as state:
        state.execute("UPDATE subscribers SET status = 'complained' WHERE email = 'spam@example.org'")
    with public_client(config) as client:
        signed_up(client, "pending@example.org")
        answers = {
            who: signed_up(client, f"{who}@example.org", name="A Reader")
            for who in ("new", "pending", "active", "gone", "spam")
        }
    shown = {who: a.text.replace(f"{who}@example.org", "ADDRESS") for who, a in answers.items()}
    assert len(set(shown.values())) == 1, shown
    assert {a.status_code for a in answers.values()} == {200}
    assert {tuple(sorted(a.headers.keys())) for a in answers.values()}.__len__() == 1
    # what the answer hides, the mail tells only the address's owner
    assert len(messages_to(smtp_sink, "new@example.org")) == 1
    assert len(messages_to(smtp_sink, "gone@example.org")) == 1  # they must confirm again
    assert len(messages_to(smtp_sink, "pending@example.org")) == 1  # the first; the second is within 24 hours
    assert not messages_to(smtp_sink, "active@example.org")
    assert not messages_to(smtp_sink, "spam@example.org")  # it marked our mail as spam: nothing, not even this
    assert subscriber(config, "spam@example.org").status == "complained"  # type: ignore[union-attr]
    assert subscriber(config, "active@example.org").name == ""  # type: ignore[union-attr]  # a stranger changed nothing


def test_an_address_that_left_must_confirm_again_and_its_old_links_stop_working(
    config: Path, smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    cli("subscribers", "add", "ann@example.org", "--config", config)
    old = subscriber(config, "ann@example.org")
    assert old is not None
    old_token = make_token(SECRET.encode(), old.id, old.email)
    one_click = {
        "content": b"List-Unsubscribe=One-Click",
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
    }
    with public_client(config) as client:
        assert client.post(f"/unsubscribe/{old_token}", **one_click).status_code == 200  # type: ignore[arg-type]
        signed_up(client, "ann@example.org", themes=["labor"])
        assert subscriber(config, "ann@example.org").status == "unsubscribed"  # type: ignore[union-attr]
        [mail] = messages_to(smtp_sink, "ann@example.org")
        assert confirm(client, link(mail, "confirm")).status_code == 200
        back = subscriber(config, "ann@example.org")
        assert back is not None and back.status == "active" and back.themes == ["labor"] and back.rejoined_at
        # the one-click link of before the return unsubscribes nobody; the confirmation email's links work
        stale = client.post(f"/unsubscribe/{old_token}", **one_click)  # type: ignore[arg-type]
        assert stale.status_code == 403
        assert subscriber(config, "ann@example.org").status == "active"  # type: ignore[union-attr]
        assert client.get(link(mail, "preferences")).status_code == 200
        assert client.post(link(mail, "unsubscribe"), **one_click).status_code == 200  # type: ignore[arg-type]
    assert subscriber(config, "ann@example.org").status == "unsubscribed"  # type: ignore[union-attr]


def test_the_confirmation_emails_unsubscribe_link_withdraws_the_sign_up(config: Path, smtp_sink: SmtpSink) -> None:
    with public_client(config) as client:
        signed_up(client, "ann@example.org")
        [mail] = messages_to(smtp_sink, "ann@example.org")
        no = client.post(link(mail, "unsubscribe"), content=b"List-Unsubscribe=One-Click",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert no.status_code == 200
        page = client.get(link(mail, "confirm"))
    assert page.status_code == 403  # nothing left to confirm
    assert subscriber(config, "ann@example.org").status == "unsubscribed"  # type: ignore[union-attr]


def test_forged_expired_and_tampered_confirmation_links_get_4xx_and_change_nothing(
    config: Path, smtp_sink: SmtpSink
) -> None:
    with public_client(config) as client:
        signed_up(client, "ann@example.org")
        [mail] = messages_to(smtp_sink, "ann@example.org")
        good = link(mail, "confirm").removeprefix("/confirm/")
        pending = subscriber(config, "ann@example.org")
        assert pending is not None
        head, mac = good.split(".")
        week_ago = datetime.now(UTC) - timedelta(days=7, minutes=1)
        attempts = {
            "tampered": f"{head}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
            "forged": make_confirm_token(b"another-secret", pending.id),
            "expired": make_confirm_token(SECRET.encode(), pending.id, week_ago),
            "an unsubscribe token": make_token(SECRET.encode(), pending.id, pending.email),
            "another id": make_confirm_token(SECRET.encode(), pending.id + 1).split(".")[0] + "." + mac,
            "garbage": "not-a-token",
            "too long": "A" * 5000,
        }
        for what, token in attempts.items():
            for method in ("GET", "POST"):
                page = client.get(f"/confirm/{token}") if method == "GET" else client.post(f"/confirm/{token}")
                assert 400 <= page.status_code < 500, (what, method, page.status_code)
            if what != "too long":
                shown = client.get(f"/confirm/{token}")
                posted = client.post(
                    f"/confirm/{token}", data={"form_token": form_token(client.get(f"/confirm/{good}").text)}
                )
                assert 400 <= shown.status_code < 500 and 400 <= posted.status_code < 500, what
        assert client.get(f"/confirm/{attempts['expired']}").status_code == 410
        assert subscriber(config, "ann@example.org").status == "pending"  # type: ignore[union-attr]
        assert confirm(client, f"/confirm/{good}").status_code == 200


def test_a_forged_form_token_or_a_post_from_another_site_confirms_nothing(config: Path, smtp_sink: SmtpSink) -> None:
    with public_client(config) as client:
        signed_up(client, "ann@example.org")
        path = link(messages_to(smtp_sink, "ann@example.org")[0], "confirm")
        token = form_token(client.get(path).text)
        issued, mac = token.split(".")
        for bad in (f"{issued}.{mac[:-2]}AA", f"{int(issued) + 1}.{mac}", "", "1.x"):
            assert client.post(path, data={"form_token": bad}).status_code == 403
        elsewhere = client.post(path, data={"form_token": token}, headers={"Sec-Fetch-Site": "cross-site"})
        assert elsewhere.status_code == 403
        other_origin = client.post(path, data={"form_token": token}, headers={"Origin": "https://evil.example"})
        assert other_origin.status_code == 403
        assert subscriber(config, "ann@example.org").status == "pending"  # type: ignore[union-attr]
        # our own page: Chrome sends Origin: null under no-referrer, and Sec-Fetch-Site: same-origin
        ours = client.post(
            path, data={"form_token": token}, headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"}
        )
    assert ours.status_code == 200
    assert subscriber(config, "ann@example.org").status == "active"  # type: ignore[union-attr]


CONTROL = ["Eve\r\nBcc: victim@example.org", "Eve\nX-Injected: yes", "Eve\rX: y", "Eve\x00", "Eve\u2028X: y"]


def test_cr_lf_in_any_field_is_refused_and_never_reaches_a_header(
    write_config: Callable[..., Path], smtp_sink: SmtpSink
) -> None:
    config = reader_config(write_config, smtp_sink, subscribe={"rate_per_hour": 1000})
    with public_client(config) as client:
        for value in CONTROL:
            for field in ("email", "name", "language", "themes"):
                fields = {"email": "eve@example.org", field: value}
                answer = client.post("/subscribe", data=fields)
                assert answer.status_code == 400, (field, value)
                json_answer = client.post("/subscribe", json={**fields, "themes": [value] if field == "themes" else []})
                assert json_answer.status_code == 400, (field, value)
                assert json_answer.json()["status"] == "refused"
            assert client.post("/subscribe", data={"email": f"eve@example.org{value[3:]}"}).status_code == 400
    assert not smtp_sink.handler.messages
    assert subscriber(config, "eve@example.org") is None


def test_a_name_with_markup_is_shown_escaped_and_mailed_as_text(config: Path, smtp_sink: SmtpSink) -> None:
    name = '<script>alert("x")</script> Ann'
    with public_client(config) as client:
        answer = signed_up(client, "ann@example.org", name=name)
        assert "<script>" not in answer.text
        refused = signed_up(client, "not an address", name=name)  # the form comes back with what was typed
        assert refused.status_code == 400 and "<script>" not in refused.text and "&lt;script&gt;" in refused.text
        [mail] = messages_to(smtp_sink, "ann@example.org")
        html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert "<script>" not in html and "&lt;script&gt;" in html
        assert "\n" not in mail["To"] and "ann@example.org" in mail["To"]
        confirm(client, link(mail, "confirm"))
        page = client.get(link(mail, "preferences"))
    assert page.status_code == 200 and "<script>" not in page.text and "&lt;script&gt;alert" in page.text


def test_the_honeypot_gets_the_same_answer_and_nothing_happens(config: Path, smtp_sink: SmtpSink) -> None:
    with public_client(config) as client:
        robot = signed_up(client, "robot@example.org", website="https://spam.example")
        person = signed_up(client, "person@example.org")
    assert robot.status_code == 200
    assert robot.text.replace("robot@", "X@") == person.text.replace("person@", "X@")
    assert subscriber(config, "robot@example.org") is None and not messages_to(smtp_sink, "robot@example.org")


def test_bad_input_is_one_sentence_and_a_body_over_the_limit_is_413(config: Path) -> None:
    with public_client(config) as client:
        unknown = signed_up(client, "ann@example.org", themes=["sports"])
        assert unknown.status_code == 400 and "is not a theme of this newsletter" in unknown.text
        too_long = signed_up(client, "ann@example.org", name="x" * 201)
        assert too_long.status_code == 400 and "longer than 200 characters" in too_long.text
        surrogate = client.post(
            "/subscribe", content=b'{"email": "ann@example.org", "name": "A\\ud800B"}', headers=JSON
        )
        assert surrogate.status_code == 400 and "U+D800" in surrogate.json()["error"]
        encoded = client.post("/subscribe", json={"email": "ann@example.org", "name": "=?utf-8?q?A=0D=0AB?="})
        assert encoded.status_code == 400 and "encoded word" in encoded.json()["error"]
        long_address = client.post("/subscribe", json={"email": "a" * 5000 + "@example.org"})
        assert long_address.status_code == 400 and len(long_address.json()["error"]) < 200
        bad_json = client.post("/subscribe", content=b"{not json", headers=JSON)
        assert bad_json.status_code == 400 and "not JSON" in bad_json.json()["error"]
        nested = client.post("/subscribe", content=b"[" * 5000 + b"]" * 5000, headers=JSON)
        assert nested.status_code == 400 and "not JSON" in nested.json()["error"]
        wrong_type = client.post("/subscribe", json={"email": ["a@example.org"]})
        assert wrong_type.status_code == 400 and "email: expected text" in wrong_type.json()["error"]
        huge = client.post("/subscribe", data={"email": "ann@example.org", "name": "x" * 20_000})
        assert huge.status_code == 413
    assert subscriber(config, "ann@example.org") is None


def test_a_readers_mistake_is_told_in_the_language_of_the_form(config: Path) -> None:
    with public_client(config) as client:
        spanish = signed_up(client, "ana@gmail", language="es")
        portuguese = signed_up(client, "ana gmail.com", language="pt", name="Ana\x1b[2J")
        english = signed_up(client, "ana@gmail")
        answer = client.post("/subscribe", json={"email": "ana@gmail", "language": "es"})
    assert spanish.status_code == 400 and '<html lang="es">' in spanish.text
    assert "tiene un dominio no válido (se espera un nombre como example.org)" in spanish.text
    assert portuguese.status_code == 400 and "não é um endereço simples" in portuguese.text
    assert english.status_code == 400 and "has an invalid domain (expected a name such as example.org)" in english.text
    assert answer.status_code == 400 and "tiene un dominio no válido" in answer.json()["error"]


def test_json_sign_up_and_a_site_sent_back_only_to_its_own_pages(
    write_config: Callable[..., Path], smtp_sink: SmtpSink
) -> None:
    config = reader_config(write_config, smtp_sink, subscribe={"return_to": ["https://www.example.org"]})
    with public_client(config) as client:
        answer = client.post(
            "/subscribe",
            json={"email": "ann@example.org", "themes": ["palestine"], "language": "pt"},
            headers={"Origin": "https://www.example.org"},
        )
        assert answer.status_code == 200 and answer.json()["status"] == "ok"
        assert answer.headers["access-control-allow-origin"] == "https://www.example.org"
        preflight = client.options("/subscribe", headers={"Origin": "https://www.example.org"})
        assert preflight.status_code == 204 and "POST" in preflight.headers["access-control-allow-methods"]
        assert client.options("/subscribe", headers={"Origin": "https://evil.example"}).status_code == 403
        back = client.post("/subscribe", data={"email": "bo@example.org", "return_to": "https://www.example.org/thanks"},
                           follow_redirects=False)  # fmt: skip
        assert back.status_code == 303 and back.headers["location"] == "https://www.example.org/thanks"
        elsewhere = client.post("/subscribe", data={"email": "cy@example.org", "return_to": "https://evil.example/"},
                                follow_redirects=False)  # fmt: skip
        assert elsewhere.status_code == 200  # our own answer page, never a redirect to a site not listed
        lookalike = signed_up(client, "di@example.org", return_to="https://www.example.org.evil.example/")
        assert lookalike.status_code == 200 and "Check your inbox" in lookalike.text
    [mail] = messages_to(smtp_sink, "ann@example.org")
    assert mail["Subject"] == "Confirme sua inscrição em Left Voice Weekly"  # the language it signed up in
    assert subscriber(config, "ann@example.org").language == "pt"  # type: ignore[union-attr]


def test_the_consent_record_keeps_when_how_where_and_which_wording(config: Path, smtp_sink: SmtpSink) -> None:
    with public_client(config) as client:
        signed_up(client, "ann@example.org", themes=["labor"])
        confirm(client, link(messages_to(smtp_sink, "ann@example.org")[0], "confirm"))
    settings = load_config(config)
    with State(settings.state_target) as state:
        record = privacy.record_of(state, "ann@example.org")
    assert record is not None
    [consent] = record.consents
    assert consent.source == ConsentSource.FORM and consent.ip == "testclient" and consent.confirmed_at
    assert consent.wording == optin.wording_version(optin.consent_text(settings, "en")) and len(consent.wording) == 12
    assert consent.themes == ["labor"]
    assert [e.event for e in record.history] == ["signed up", "confirmation email sent", "confirmed"]


def test_unconfirmed_sign_ups_are_erased_after_pending_days_by_purge_and_by_run(
    config: Path, cli: Callable[..., Any]
) -> None:
    settings = load_config(config)
    old = datetime.now(UTC) - timedelta(days=8)
    with State(settings.state_target) as state:
        optin.sign_up(state, optin.SignUp("old@example.org"), 24, old)
        optin.sign_up(state, optin.SignUp("old2@example.org"), 24, old)
        optin.sign_up(state, optin.SignUp("new@example.org"), 24)
    with State(settings.state_target) as state:
        state.execute("UPDATE subscribers SET created_at = ? WHERE email LIKE 'old%'", (old.isoformat(),))
    purged = cli("subscribers", "purge", "--config", config)
    assert purged.exit_code == 0 and purged.stdout == "erased 2 sign-ups not confirmed within 7 days\n"
    assert subscriber(config, "old@example.org") is None and subscriber(config, "new@example.org") is not None
    with State(settings.state_target) as state:
        optin.sign_up(state, optin.SignUp("old3@example.org"), 24, old)
        state.execute("UPDATE subscribers SET created_at = ? WHERE email = 'old3@example.org'", (old.isoformat(),))
    cli("subscribers", "add", "reader@example.org", "--config", config)
    ran = cli("run", "--config", config, "--now", NOW)
    assert "erased 1 sign-up not confirmed within 7 days" in ran.stdout, ran.output
    assert subscriber(config, "old3@example.org") is None


def test_a_json_answer_never_says_more_than_the_page(config: Path, cli: Callable[..., Any]) -> None:
    cli("subscribers", "add", "active@example.org", "--config", config)
    with public_client(config) as client:
        answers = [client.post("/subscribe", json={"email": f"{who}@example.org"}) for who in ("active", "new")]
    bodies = [json.dumps(a.json()).replace(f"{who}@", "X@") for a, who in zip(answers, ("active", "new"), strict=True)]
    assert bodies[0] == bodies[1]
