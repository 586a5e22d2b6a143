"""Talking to the SMTP relay: connect with the configured security and login, and send one message."""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
from datetime import datetime
from functools import lru_cache

from digest.config import Settings
from digest.errors import SmtpConfigError
from digest.mail.message import prepare
from digest.models import Rendered
from digest.subscribers.tokens import unsubscribe_url
from digest.util import close_smtp


@lru_cache(maxsize=4)
def _tls_context(cafile: str | None) -> ssl.SSLContext:
    # Loading the trusted certificates takes 18 ms of CPU, holding the GIL: once per process, not per connection
    # (a confirmation email opens one, and the page answered next waited for it).
    return ssl.create_default_context(cafile=cafile)


def connect(settings: Settings) -> smtplib.SMTP:
    """An open, logged-in connection to the relay; a clear error when that cannot be had."""
    cfg = settings.model.smtp
    where = f"{cfg.host}:{cfg.port}"
    # The local name in EHLO: a fixed one avoids a slow reverse-DNS lookup on every connection.
    local = settings.model.newsletter.sender_domain
    cafile = str(settings.resolve(cfg.ca_file)) if cfg.ca_file else None
    try:
        context = _tls_context(cafile) if cfg.security != "none" else None
    except (OSError, ssl.SSLError) as error:
        raise SmtpConfigError(f"smtp.ca_file: cannot read the CA bundle {cafile} ({error})") from None
    try:
        if cfg.security == "ssl":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(
                cfg.host, cfg.port, local_hostname=local, timeout=cfg.timeout, context=context
            )
        else:
            conn = smtplib.SMTP(cfg.host, cfg.port, local_hostname=local, timeout=cfg.timeout)
            if cfg.security == "starttls":
                conn.starttls(context=context)
        # Each message ends with a short write (its final line) after a long one: without TCP_NODELAY that
        # write waits for the relay's delayed ACK, about 40 ms a message.
        if conn.sock is not None:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if cfg.username:
            password = os.environ.get(cfg.password_env)
            if password is None:
                conn.close()
                raise SmtpConfigError(
                    f"smtp.username is set but the environment variable {cfg.password_env} "
                    "(smtp.password_env) holding its password is not"
                )
            conn.ehlo_or_helo_if_needed()
            if not conn.has_extn("auth"):
                conn.close()
                raise SmtpConfigError(
                    f"the SMTP relay {where} offers no login (AUTH) on this connection; remove smtp.username, "
                    "or use smtp.security 'starttls' or 'ssl' if it offers login only over TLS"
                )
            conn.login(cfg.username, password)
    except smtplib.SMTPAuthenticationError as error:
        raise SmtpConfigError(
            f"the SMTP relay {where} refused the login of '{cfg.username}' ({error.smtp_code}); "
            f"check smtp.username and {cfg.password_env}"
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise SmtpConfigError(
            f"the SMTP relay {where} does not offer STARTTLS; set smtp.security to 'ssl' or 'none' in config.yaml"
        ) from None
    except ssl.SSLCertVerificationError as error:
        raise SmtpConfigError(
            f"the SMTP relay {where} presented a certificate that cannot be trusted ({error.verify_message}); "
            "check smtp.host, or set smtp.ca_file to the CA that signed it"
        ) from None
    except (OSError, smtplib.SMTPException) as error:
        raise SmtpConfigError(
            f"cannot reach the SMTP relay at {where} ({error}); check smtp.host, smtp.port "
            "and smtp.security in config.yaml"
        ) from None
    return conn


def send_test(settings: Settings, rendered: Rendered, address: str, now: datetime) -> str:
    """Mail one copy marked [TEST] to an editor; touches no subscriber and records nothing as sent."""
    prepared = prepare(settings, rendered, test=True)
    message = prepared.for_recipient(address, unsubscribe_url(settings, 0, address), now)
    conn = connect(settings)
    try:
        conn.sendmail(settings.model.newsletter.sender_address, [address], message)
    except smtplib.SMTPRecipientsRefused as error:
        code, text = next(iter(error.recipients.values()))
        raise SmtpConfigError(f"the relay refused the test address {address}: {_reply(code, text)}") from None
    except smtplib.SMTPSenderRefused as error:
        raise SmtpConfigError(
            f"the relay refused the sender address {error.sender} of the test: "
            f"{_reply(error.smtp_code, error.smtp_error)}; check newsletter.from"
        ) from None
    except smtplib.SMTPResponseException as error:
        raise SmtpConfigError(
            f"the relay refused the test message to {address}: {_reply(error.smtp_code, error.smtp_error)}"
        ) from None
    except (smtplib.SMTPException, OSError) as error:
        raise SmtpConfigError(
            f"the test message to {address} could not be sent: the relay at {_where(settings)} "
            f"dropped the connection ({error})"
        ) from None
    finally:
        close_smtp(conn)
    return prepared.subject


def _reply(code: int, text: bytes | str) -> str:
    said = text.decode(errors="replace") if isinstance(text, bytes) else text
    return f"{code} {said}".strip()


def _where(settings: Settings) -> str:
    return f"{settings.model.smtp.host}:{settings.model.smtp.port}"
