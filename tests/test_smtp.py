"""The relay as a real one is set up: STARTTLS or TLS with a certificate, and a login with a password."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from conftest import REPO
from servers import SinkHandler, free_port

DEMO_FEED = [{"name": "Left Voice", "url": str(REPO / "digest/demo/leftvoice-sample.xml")}]
NOW = "2024-03-01T12:00:00Z"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class Relay:
    def __init__(self, controller: Controller, handler: SinkHandler, port: int) -> None:
        self.controller, self.handler, self.port = controller, handler, port
        self.logins: list[str] = []


@pytest.fixture
def relay(certificate: tuple[Path, Path]) -> Iterator[Callable[[bool], Relay]]:
    started: list[Relay] = []

    def start(implicit_tls: bool) -> Relay:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*certificate)
        handler = SinkHandler()
        port = free_port()
        holder: dict[str, Relay] = {}

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and data.password == PASSWORD.encode()
            if ok:
                holder["relay"].logins.append(data.login.decode())
            return AuthResult(success=ok, handled=False)

        options: dict[str, Any] = {"authenticator": authenticate, "auth_required": True}
        if implicit_tls:
            # aiosmtpd counts only STARTTLS as TLS when it decides to offer AUTH; this connection is TLS from
            # its first byte.
            controller = Controller(handler, hostname="127.0.0.1", port=port, ssl_context=context,
                                    server_hostname="localhost", auth_require_tls=False, **options)  # fmt: skip
        else:
            controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=context,
                                    require_starttls=True, **options)  # fmt: skip
        relay = Relay(controller, handler, port)
        holder["relay"] = relay
        controller.start()
        started.append(relay)
        return relay

    yield start
    for relay in started:
        relay.controller.stop()


def config_for(write_config: Callable[..., Path], relay: Relay, certificate: tuple[Path, Path], **smtp: Any) -> Path:
    return write_config(
        DEMO_FEED,
        issue={"window_days": 10},
        smtp={"host": "127.0.0.1", "port": relay.port, "security": "starttls", "username": "newsletter",
              "ca_file": str(certificate[0]), **smtp},
    )  # fmt: skip


def test_starttls_and_login_deliver(
    relay: Callable[[bool], Relay], certificate: tuple[Path, Path], write_config: Any, cli: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", PASSWORD)
    server = relay(False)
    result = cli("send", "--config", config_for(write_config, server, certificate), "--now", NOW,
                 "--test-to", "editor@example.org")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert server.logins == ["newsletter"]
    [(_, recipients, raw)] = server.handler.messages
    assert recipients == ["editor@example.org"] and b"Subject: [TEST] " in raw


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls_delivers(
    relay: Callable[[bool], Relay], certificate: tuple[Path, Path], write_config: Any, cli: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", PASSWORD)
    server = relay(True)
    config = config_for(write_config, server, certificate, security="ssl")
    result = cli("send", "--config", config, "--now", NOW, "--test-to", "editor@example.org")
    assert result.exit_code == 0, result.stderr
    assert server.logins == ["newsletter"] and len(server.handler.messages) == 1


def test_a_wrong_password_is_one_sentence_naming_the_keys(
    relay: Callable[[bool], Relay], certificate: tuple[Path, Path], write_config: Any, cli: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "wrong")
    server = relay(False)
    result = cli("send", "--config", config_for(write_config, server, certificate), "--now", NOW,
                 "--test-to", "editor@example.org")  # fmt: skip
    assert result.exit_code != 0
    assert "refused the login of 'newsletter'" in result.stderr and "DIGEST_SMTP_PASSWORD" in result.stderr
    assert "Traceback" not in result.stderr and not server.handler.messages


def test_a_missing_password_names_its_variable(
    relay: Callable[[bool], Relay], certificate: tuple[Path, Path], write_config: Any, cli: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.delenv("DIGEST_SMTP_PASSWORD", raising=False)
    server = relay(False)
    result = cli("send", "--config", config_for(write_config, server, certificate), "--now", NOW,
                 "--test-to", "editor@example.org")  # fmt: skip
    assert result.exit_code != 0 and "DIGEST_SMTP_PASSWORD" in result.stderr


def test_an_untrusted_certificate_is_refused_with_what_to_do(
    relay: Callable[[bool], Relay], certificate: tuple[Path, Path], write_config: Any, cli: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", PASSWORD)
    server = relay(False)
    config = config_for(write_config, server, certificate, ca_file=None)
    result = cli("send", "--config", config, "--now", NOW, "--test-to", "editor@example.org")
    assert result.exit_code != 0
    assert "cannot be trusted" in result.stderr and "smtp.ca_file" in result.stderr
    assert not server.logins and not server.handler.messages
