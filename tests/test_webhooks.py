"""Bounce webhooks on the public app, in-process: ours (HMAC), Amazon SES through SNS (a message signed with a
test certificate made here), Mailgun (its HMAC). Signed, unsigned, tampered, stale and replayed requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bounce_samples import FIRST, bounce_config, ses_notification
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from servers import SmtpSink
from starlette.testclient import TestClient

from digest.config import load_config
from digest.store.db import State
from digest.subscribers import roster as subscribers
from digest.subscribers.bounces import history_of
from digest.web.serve import make_asgi_app
from digest.web.sns import Certificates

pytestmark = pytest.mark.usefixtures("secret")

OURS = "a-webhook-secret-from-the-environment"
MAILGUN_KEY = "key-of-mailgun-webhooks"
TOPIC = "arn:aws:sns:us-west-2:123456789012:digest-bounces"
CERT_URL = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
READERS = ["hard@example.net", "soft@example.net", "spam@example.net", "keep@example.net"]


@pytest.fixture(scope="module")
def signing_key() -> tuple[rsa.RSAPrivateKey, bytes]:
    """An RSA key and a self-signed certificate standing in for Amazon SNS's."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def config(
    write_config: Callable[..., Path],
    tmp_path: Path,
    smtp_sink: SmtpSink,
    cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """An issue sent to READERS, with the three webhooks configured."""
    monkeypatch.setenv("DIGEST_WEBHOOK_SECRET", OURS)
    monkeypatch.setenv("DIGEST_MAILGUN_SIGNING_KEY", MAILGUN_KEY)
    path = bounce_config(write_config, tmp_path, smtp_sink.port, webhooks={"sns_topics": [TOPIC]})
    with State(load_config(path).state_path) as state:
        for address in READERS:
            subscribers.add(state, address)
    assert cli("send", "--config", path, "--now", FIRST).exit_code == 0
    return path


@pytest.fixture
def fetched() -> list[str]:
    return []


@pytest.fixture
def client(config: Path, signing_key: tuple[rsa.RSAPrivateKey, bytes], fetched: list[str]) -> Iterator[TestClient]:
    def fetch(url: str) -> bytes:
        fetched.append(url)
        return signing_key[1]

    with TestClient(make_asgi_app(load_config(config), Certificates(fetch=fetch))) as test_client:
        yield test_client


def statuses(config: Path) -> dict[str, str]:
    with State(load_config(config).state_path) as state:
        return {s.email: str(s.status) for s in subscribers.all_subscribers(state)}


def history(config: Path, address: str) -> list[Any]:
    with State(load_config(config).state_path) as state:
        found = subscribers.get(state, address)
        assert found is not None
        return history_of(state, found.id)


UNCHANGED = dict.fromkeys(READERS, "active")


# Ours


def signed(body: bytes, secret: str = OURS, stamp: int | None = None) -> dict[str, str]:
    moment = str(int(time.time()) if stamp is None else stamp)
    mac = hmac.new(secret.encode(), moment.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Digest-Timestamp": moment, "X-Digest-Signature": f"sha256={mac}", "Content-Type": "application/json"}


def event(**fields: Any) -> bytes:
    return json.dumps({"id": "evt-1", "type": "hard", "email": "hard@example.net", "status": "5.1.1",
                       "diagnostic": "550 5.1.1 no such user", **fields}).encode()  # fmt: skip


def test_a_signed_event_bounces_and_is_in_the_history(client: TestClient, config: Path) -> None:
    body = event()
    answer = client.post("/webhooks/bounces", content=body, headers=signed(body))
    assert answer.status_code == 200 and answer.json() == {"recorded": 1, "already": 0, "ignored": 0}
    assert statuses(config) == {**UNCHANGED, "hard@example.net": "bounced"}
    [row] = history(config, "hard@example.net")
    assert (row.kind, row.source, row.status, row.detail, row.changed_to) == (
        "hard", "webhook", "5.1.1", "550 5.1.1 no such user", "bounced"
    )  # fmt: skip
    assert row.issue_id == "2026-W07"


@pytest.mark.parametrize(
    "headers",
    [
        {},  # unsigned
        {"X-Digest-Timestamp": "1", "X-Digest-Signature": "sha256=00"},
        {"X-Digest-Signature": "sha256=" + "0" * 64},
    ],
    ids=["unsigned", "garbage", "no-timestamp"],
)
def test_an_unsigned_or_badly_signed_request_is_401_and_changes_nothing(
    client: TestClient, config: Path, headers: dict[str, str]
) -> None:
    answer = client.post("/webhooks/bounces", content=event(), headers=headers)
    assert answer.status_code == 401
    assert statuses(config) == UNCHANGED


def test_a_signature_or_timestamp_of_any_bytes_is_401_not_an_error(client: TestClient, config: Path) -> None:
    body = event()
    good = signed(body)
    odd: list[dict[str, Any]] = [
        {**good, "X-Digest-Signature": b"sha256=\xe9\xe9"},  # read as Latin-1: "éé", not ASCII
        {**good, "X-Digest-Timestamp": b"\xb2"},  # "²", a digit to str.isdigit() and not to int()
        {**good, "X-Digest-Timestamp": "\u0663".encode()},
    ]
    for headers in odd:
        assert client.post("/webhooks/bounces", content=body, headers=headers).status_code == 401, headers
    decimals = client.post("/webhooks/bounces", content=body, headers={**good, "X-Digest-Timestamp": "1767225600.5"})
    assert decimals.status_code == 401 and "X-Digest-Timestamp: expected whole seconds" in decimals.text
    for field, value in (("signature", "é"), ("timestamp", "²"), ("signature", "\ud800"), ("token", "\ud800")):
        data = json.loads(mailgun(failed("hard@example.net")))
        data["signature"][field] = value
        assert client.post("/webhooks/mailgun", content=json.dumps(data)).status_code == 401, field
    assert statuses(config) == UNCHANGED


def test_a_tampered_body_a_wrong_secret_and_a_stale_request_are_401(client: TestClient, config: Path) -> None:
    headers = signed(event())
    tampered = event(email="keep@example.net")
    assert client.post("/webhooks/bounces", content=tampered, headers=headers).status_code == 401
    body = event()
    assert client.post("/webhooks/bounces", content=body, headers=signed(body, "another")).status_code == 401
    stale = signed(body, stamp=int(time.time()) - 3600)
    answer = client.post("/webhooks/bounces", content=body, headers=stale)
    assert answer.status_code == 401 and "older than 900 s" in answer.text
    assert statuses(config) == UNCHANGED and history(config, "hard@example.net") == []


def test_the_same_event_twice_counts_once(client: TestClient, config: Path) -> None:
    body = event(type="soft", email="soft@example.net", status="4.2.2", diagnostic="mailbox full")
    headers = signed(body)
    assert client.post("/webhooks/bounces", content=body, headers=headers).json()["recorded"] == 1
    replayed = client.post("/webhooks/bounces", content=body, headers=headers)  # the very same request again
    assert replayed.status_code == 200 and replayed.json() == {"recorded": 0, "already": 1, "ignored": 0}
    assert len(history(config, "soft@example.net")) == 1


def test_a_signed_request_of_a_strange_shape_is_400_and_hostile_addresses_change_nothing(
    client: TestClient, config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="digest")
    for body in (b"not json", event(type="bogus"), json.dumps({"events": []}).encode(), b"[1, 2]"):
        answer = client.post("/webhooks/bounces", content=body, headers=signed(body))
        assert answer.status_code == 400, body
        assert answer.text.count("\n") == 1
    malformed = json.dumps({"id": "evt-4", "type": "hard", "token": "2026-W01.1.AAAA"}).encode()
    answer = client.post("/webhooks/bounces", content=malformed, headers=signed(malformed))
    assert answer.status_code == 400 and answer.text.startswith("events[0].token: '2026-W01.1.AAAA' is not a token")
    never = event(id="evt-2", email="stranger@example.net")
    crlf = event(id="evt-3", email="keep@example.net\r\nBcc: everyone@example.net")
    for body in (never, crlf):
        answer = client.post("/webhooks/bounces", content=body, headers=signed(body))
        assert answer.status_code == 200 and answer.json()["ignored"] == 1
    assert statuses(config) == UNCHANGED
    assert any("dropped" in r.getMessage() and "\\r\\n" in r.getMessage() for r in caplog.records)


def test_an_endpoint_without_its_secret_is_404(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIGEST_WEBHOOK_SECRET")
    monkeypatch.delenv("DIGEST_MAILGUN_SIGNING_KEY")
    with TestClient(make_asgi_app(load_config(config))) as plain:
        body = event()
        assert plain.post("/webhooks/bounces", content=body, headers=signed(body)).status_code == 404
        assert plain.post("/webhooks/mailgun", content=b"{}").status_code == 404


def test_a_webhook_body_may_pass_the_pages_16_kb_but_not_256_kb(client: TestClient, config: Path) -> None:
    body = json.dumps({"id": "evt-big", "type": "delayed", "email": "keep@example.net", "pad": "x" * 40_000})
    assert client.post("/webhooks/bounces", content=body, headers=signed(body.encode())).status_code == 200
    huge = b"{" + b" " * 300_000 + b"}"
    assert client.post("/webhooks/bounces", content=huge, headers=signed(huge)).status_code == 413


# Amazon SES through SNS


def sns_message(key: rsa.RSAPrivateKey, message: str, version: str = "2", **fields: Any) -> dict[str, Any]:
    """An SNS notification signed as SNS signs it (the fields and their order, from AWS's documentation)."""
    data: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": f"sns-{time.time_ns()}",
        "TopicArn": TOPIC,
        "Message": message,
        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "SignatureVersion": version,
        "SigningCertURL": CERT_URL,
        "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe",
        **fields,
    }
    names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    if data["Type"] != "Notification":
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    text = "".join(f"{name}\n{data[name]}\n" for name in names if name in data)
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    data["Signature"] = base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), algorithm)).decode()
    return data


def post_sns(client: TestClient, data: dict[str, Any]) -> Any:
    return client.post("/webhooks/ses", content=json.dumps(data), headers={"x-amz-sns-message-type": data["Type"]})


@pytest.mark.parametrize("version", ["1", "2"])
def test_ses_bounces_and_complaints_signed_by_sns_are_taken(
    client: TestClient, config: Path, signing_key: tuple[rsa.RSAPrivateKey, bytes], version: str, fetched: list[str]
) -> None:
    key = signing_key[0]
    bounce = json.dumps(ses_notification("Bounce", "hard@example.net"))
    assert post_sns(client, sns_message(key, bounce, version)).json()["recorded"] == 1
    complained = json.dumps(ses_notification("Complaint", "spam@example.net"))
    assert post_sns(client, sns_message(key, complained, version, Subject="Amazon SES")).json()["recorded"] == 1
    assert statuses(config) == {**UNCHANGED, "hard@example.net": "bounced", "spam@example.net": "complained"}
    assert [row.source for row in history(config, "spam@example.net")] == ["ses"]
    assert fetched == [CERT_URL]  # fetched once, then kept


def test_a_tampered_sns_message_is_401(
    client: TestClient, config: Path, signing_key: tuple[rsa.RSAPrivateKey, bytes]
) -> None:
    data = sns_message(signing_key[0], json.dumps(ses_notification("Bounce", "hard@example.net")))
    data["Message"] = data["Message"].replace("hard@example.net", "keep@example.net")
    assert post_sns(client, data).status_code == 401
    stale = sns_message(signing_key[0], json.dumps(ses_notification("Bounce", "hard@example.net")),
                        Timestamp="2016-10-21T00:06:40.502Z")  # fmt: skip
    assert post_sns(client, stale).status_code == 401
    assert statuses(config) == UNCHANGED


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-west-2.amazonaws.com.evil.example/cert.pem",
        "http://sns.us-west-2.amazonaws.com/cert.pem",
        "https://sns.us-west-2.amazonaws.com:8443/cert.pem",
        "https://user@sns.us-west-2.amazonaws.com/cert.pem",
        "https://s3.amazonaws.com/cert.pem",
        "https://127.0.0.1/cert.pem",
        "https://sns.us-west-2.amazonaws.com/cert.txt",
    ],
)
def test_a_certificate_from_anywhere_but_sns_is_never_fetched(
    client: TestClient, config: Path, signing_key: tuple[rsa.RSAPrivateKey, bytes], fetched: list[str], url: str
) -> None:
    data = sns_message(signing_key[0], json.dumps(ses_notification("Bounce", "hard@example.net")), SigningCertURL=url)
    answer = post_sns(client, data)
    assert answer.status_code == 401 and "not an Amazon SNS certificate" in answer.text
    assert fetched == [] and statuses(config) == UNCHANGED


def test_a_topic_not_ours_is_refused_and_a_subscription_is_logged_not_visited(
    client: TestClient,
    config: Path,
    signing_key: tuple[rsa.RSAPrivateKey, bytes],
    fetched: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = signing_key[0]
    foreign = sns_message(key, json.dumps(ses_notification("Bounce", "hard@example.net")), TopicArn=TOPIC + "-theirs")
    assert post_sns(client, foreign).status_code == 403
    assert fetched == []  # refused by its topic before any certificate is fetched
    caplog.set_level(logging.WARNING, logger="digest.web")
    subscribe = "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=t"
    confirmation = sns_message(key, "You have chosen to subscribe", Type="SubscriptionConfirmation", Token="t",
                               SubscribeURL=subscribe)  # fmt: skip
    answer = post_sns(client, confirmation)
    assert answer.status_code == 200
    assert any(subscribe in record.getMessage() for record in caplog.records)
    assert fetched == [CERT_URL]  # the certificate, and never the SubscribeURL
    assert statuses(config) == UNCHANGED


def test_the_same_sns_message_twice_counts_once(
    client: TestClient, config: Path, signing_key: tuple[rsa.RSAPrivateKey, bytes]
) -> None:
    data = sns_message(signing_key[0], json.dumps(ses_notification("Bounce", "soft@example.net")))
    data_soft = json.loads(data["Message"])
    assert data_soft["bounce"]["bounceType"] == "Permanent"
    assert post_sns(client, data).json()["recorded"] == 1
    assert post_sns(client, data).json() == {"recorded": 0, "already": 1, "ignored": 0}
    assert len(history(config, "soft@example.net")) == 1


# Mailgun


def mailgun(event_data: dict[str, Any], key: str = MAILGUN_KEY, stamp: int | None = None) -> bytes:
    moment = str(int(time.time()) if stamp is None else stamp)
    token = hashlib.sha256(json.dumps(event_data).encode()).hexdigest()[:50]
    signature = hmac.new(key.encode(), (moment + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {"signature": {"timestamp": moment, "token": token, "signature": signature}, "event-data": event_data}
    ).encode()


def failed(address: str, severity: str = "permanent", event_id: str = "mg-1") -> dict[str, Any]:
    return {"id": event_id, "event": "failed", "severity": severity, "reason": "bounce", "recipient": address,
            "timestamp": time.time(), "delivery-status": {"code": 550, "description": "no such mailbox"},
            "message": {"headers": {"message-id": "20260212.abc@mg.example.org"}}}  # fmt: skip


def test_mailgun_events_signed_with_the_key_are_taken_once(client: TestClient, config: Path) -> None:
    body = mailgun(failed("hard@example.net"))
    assert client.post("/webhooks/mailgun", content=body).json()["recorded"] == 1
    assert client.post("/webhooks/mailgun", content=body).json()["already"] == 1
    complained = mailgun({"id": "mg-2", "event": "complained", "recipient": "spam@example.net"})
    assert client.post("/webhooks/mailgun", content=complained).json()["recorded"] == 1
    delivered = mailgun({"id": "mg-3", "event": "delivered", "recipient": "keep@example.net"})
    assert client.post("/webhooks/mailgun", content=delivered).json() == {"recorded": 0, "already": 0, "ignored": 0}
    assert statuses(config) == {**UNCHANGED, "hard@example.net": "bounced", "spam@example.net": "complained"}
    [row] = history(config, "hard@example.net")
    assert (row.source, row.status, row.detail) == ("mailgun", "550", "no such mailbox")


def test_a_mailgun_event_badly_signed_or_stale_is_401(client: TestClient, config: Path) -> None:
    assert client.post("/webhooks/mailgun", content=mailgun(failed("hard@example.net"), key="wrong")).status_code == 401
    stale = mailgun(failed("hard@example.net"), stamp=int(time.time()) - 7200)
    assert client.post("/webhooks/mailgun", content=stale).status_code == 401
    assert client.post("/webhooks/mailgun", content=b"\x00garbage").status_code == 401
    assert statuses(config) == UNCHANGED


def test_a_mailgun_signature_cannot_carry_other_events(client: TestClient, config: Path) -> None:
    # Mailgun signs its timestamp and token, not the event: a captured signature must not carry another one.
    original = json.loads(mailgun(failed("soft@example.net", severity="temporary")))
    assert client.post("/webhooks/mailgun", content=json.dumps(original)).json()["recorded"] == 1
    assert client.post("/webhooks/mailgun", content=json.dumps(original)).json()["already"] == 1  # a retry
    forged = {**original, "event-data": failed("keep@example.net", event_id="mg-forged")}
    assert client.post("/webhooks/mailgun", content=json.dumps(forged)).status_code == 401
    assert statuses(config) == UNCHANGED
