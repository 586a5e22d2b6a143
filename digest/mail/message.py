"""The message subscribers receive: built once per issue, then one cheap copy per recipient.

The MIME body is encoded once with placeholders; each recipient's copy substitutes its own To, Message-ID,
delivery token (`X-Digest-Delivery`, which ties a bounce back to this copy), unsubscribe URL and preferences URL
(the same token as the unsubscribe URL) into the encoded bytes, and is DKIM-signed when a key is configured.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path

from markupsafe import escape

from digest.config import Config, Settings
from digest.errors import ConfigError
from digest.models import Rendered
from digest.subscribers.delivery_token import HEADER as DELIVERY_HEADER
from digest.util import PREFERENCES_PLACEHOLDER, UNSUBSCRIBE_PLACEHOLDER, preferences_url_of, safe_name


def _placeholder_pattern(text: str) -> bytes:
    # Quoted-printable may put a soft line break ("=\r\n") between any two characters.
    return b"(?:=\r\n)?".join(re.escape(bytes([c])) for c in text.encode())


# The personal parts, in the order `_fill` is given their values: the unsubscribe URL, the preferences URL.
_PERSONAL = re.compile(
    b"(?P<u>" + _placeholder_pattern(UNSUBSCRIBE_PLACEHOLDER) + b")|(?P<p>"
    + _placeholder_pattern(PREFERENCES_PLACEHOLDER) + b")"
)  # fmt: skip


def _qp(value: str) -> bytes:
    return value.encode().replace(b"=", b"=3D")


def _refold(encoded: bytes) -> bytes:
    """Re-fold quoted-printable lines a substitution made longer than RFC 2045's 76 characters."""
    lines = encoded.split(b"\r\n")
    if all(len(line) <= 76 for line in lines):
        return encoded
    out = []
    for line in lines:
        while len(line) > 76:
            cut = 75
            escape_at = line.rfind(b"=", cut - 2, cut)  # never split an =XX escape
            cut = escape_at if escape_at != -1 else cut
            out.append(line[:cut] + b"=")
            line = line[cut:]
        out.append(line)
    return b"\r\n".join(out)


Line = tuple[list[bytes], list[int]]  # a line's fixed pieces, and which value goes between each two
Template = list[bytes | Line]


def _template(part: bytes) -> Template:
    """Cut an encoded part once into fixed bytes and the few short lines that hold a placeholder."""
    out: Template = []
    matches = list(_PERSONAL.finditer(part))
    pos = i = 0
    while i < len(matches):
        first = matches[i]
        start = part.rfind(b"\r\n", 0, first.start())
        start = 0 if start == -1 else start + 2
        group = [first]
        end = part.find(b"\r\n", first.end())
        end = len(part) if end == -1 else end
        while i + 1 < len(matches) and matches[i + 1].start() < end:
            i += 1
            group.append(matches[i])
            end = part.find(b"\r\n", matches[i].end())
            end = len(part) if end == -1 else end
        out.append(part[pos:start])
        pieces, cursor = [], start
        for match in group:
            pieces.append(part[cursor : match.start()])
            cursor = match.end()
        pieces.append(part[cursor:end])
        out.append((pieces, [0 if match.lastgroup == "u" else 1 for match in group]))
        pos, i = end, i + 1
    out.append(part[pos:])
    return out


def _line(line: Line, values: tuple[bytes, bytes]) -> bytes:
    pieces, kinds = line
    if len(kinds) == 1:  # nearly every line holds one placeholder
        return _refold(pieces[0] + values[kinds[0]] + pieces[1])
    joined = [pieces[0]]
    for piece, kind in zip(pieces[1:], kinds, strict=True):
        joined += (values[kind], piece)
    return _refold(b"".join(joined))


def _fill(template: Template, values: tuple[bytes, bytes]) -> bytes:
    """One recipient's part: its values (unsubscribe, preferences URL) put into the placeholder lines, re-folded;
    the rest as it was."""
    return b"".join(t if isinstance(t, bytes) else _line(t, values) for t in template)


def header_line(name: str, value: str) -> bytes:
    """One header, folded as RFC 5322 asks, through the email package's SMTP policy.

    The policy refuses a CR or LF in the value (ValueError), folds with CRLF at 78 characters and encodes
    non-ASCII text as RFC 2047 words of at most 75; a short printable ASCII value is already all of that.
    """
    if value.isascii() and value.isprintable() and len(name) + len(value) <= 76:
        return f"{name}: {value}\r\n".encode()
    parsed = SMTP.header_store_parse(name, value)[1]
    folded: bytes = SMTP.fold_binary(name, parsed)
    return folded


def _composed(name: str, value: str) -> bytes:
    """A header we compose from ASCII parts (a date, a message id, unsubscribe URLs): one unfolded line.

    List-Unsubscribe stays unfolded because a relay that re-folds it breaks the DKIM signature over it.
    """
    if not (value.isascii() and value.isprintable()) or len(name) + len(value) > 996:
        raise ValueError(f"the {name} header would not fit on one line: {value[:80]!r}")
    return f"{name}: {value}\r\n".encode()


def recipient_header(address: str, name: str = "") -> bytes:
    """The To header: the bare address, or the name (made one safe line) and the address."""
    if not name:
        return _composed("To", address)
    return header_line("To", str(Address(display_name=safe_name(name), addr_spec=address)))


@dataclass
class Prepared:
    """An issue's message, encoded once; `for_recipient` makes each subscriber's copy."""

    sender: str
    domain: str
    subject: str
    reply_to: str | None
    list_id: str
    mailto: str | None
    mime_head: bytes
    text_part: Template
    html_part: Template
    dkim: tuple[bytes, bytes, bytes] | None  # selector, domain, private key

    fixed: tuple[bytes, bytes, bytes] = field(init=False)

    def __post_init__(self) -> None:
        # The headers every copy shares are folded once: From; Subject; Reply-To and List-Id.
        self.fixed = (
            header_line("From", self.sender),
            header_line("Subject", self.subject),
            (header_line("Reply-To", self.reply_to) if self.reply_to else b"") + header_line("List-Id", self.list_id),
        )

    def for_recipient(
        self,
        address: str,
        unsubscribe_url: str,
        date: datetime,
        name: str = "",
        message_id: str | None = None,
        delivery: str | None = None,
    ) -> bytes:
        """One subscriber's copy; `delivery` is its delivery token (none in a test send)."""
        mid = message_id or f"<{uuid.uuid4().hex}@{self.domain}>"
        unsubscribe = f"<{unsubscribe_url}>" + (f", <mailto:{self.mailto}?subject=unsubscribe>" if self.mailto else "")
        head = b"".join(
            [
                self.fixed[0],
                recipient_header(address, name),
                self.fixed[1],
                _composed("Date", format_datetime(date)),
                _composed("Message-ID", mid),
                _composed(DELIVERY_HEADER, delivery) if delivery else b"",
                self.fixed[2],
                _composed("List-Unsubscribe", unsubscribe),
                _composed("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                self.mime_head,
            ]
        )
        preferences_url = preferences_url_of(unsubscribe_url)
        text = _fill(self.text_part, (_qp(unsubscribe_url), _qp(preferences_url)))
        html = _fill(self.html_part, (_qp(str(escape(unsubscribe_url))), _qp(str(escape(preferences_url)))))
        message = head + b"\r\n" + text + html
        if self.dkim:
            message = _sign(message, *self.dkim)
        return message


def _sign(message: bytes, selector: bytes, domain: bytes, key: bytes) -> bytes:
    import dkim

    headers = [
        b"from",
        b"to",
        b"subject",
        b"date",
        b"message-id",
        b"x-digest-delivery",  # signed, so that nobody can pass a bounce of theirs for one of ours
        b"list-id",
        b"list-unsubscribe",
        b"list-unsubscribe-post",
        b"mime-version",
        b"content-type",
    ]
    signature: bytes = dkim.sign(message, selector, domain, key, include_headers=headers)
    return signature.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n") + message


def _dkim_key(settings: Settings, key_file: str) -> bytes:
    """The PEM private key of dkim.key_file, read and parsed once, before any message is signed with it."""
    from dkim import crypto

    path = settings.resolve(key_file)
    try:
        key = Path(path).read_bytes()
    except OSError as error:
        problem = f"dkim.key_file: {path} cannot be read ({error.strerror}); give the PEM file of the private key"
        raise ConfigError(str(settings.path), [problem]) from None
    try:
        crypto.parse_pem_private_key(key)
    except (crypto.UnparsableKeyError, crypto.ASN1FormatError, ValueError):
        problem = f"dkim.key_file: {path} holds no RSA private key in PEM form (-----BEGIN … PRIVATE KEY-----)"
        raise ConfigError(str(settings.path), [problem]) from None
    return key


def prepare(settings: Settings, rendered: Rendered, test: bool = False) -> Prepared:
    """Encode the issue's message once: multipart/alternative, text/plain first, quoted-printable."""
    cfg = settings.model
    msg = EmailMessage(policy=SMTP.clone(max_line_length=76))  # the policy's 78 breaks RFC 2045's QP limit
    msg.set_content(rendered.text, cte="quoted-printable")
    msg.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    # A boundary derived from the content keeps a build byte-for-byte reproducible.
    digest_ = hashlib.sha256((rendered.text + rendered.html).encode()).hexdigest()[:32]
    msg.set_boundary(f"=_digest_{digest_}")
    raw = msg.as_bytes()
    head, _, body = raw.partition(b"\r\n\r\n")
    mime_head = b"".join(
        line + b"\r\n"
        for line in head.split(b"\r\n")
        if line.lower().startswith((b"mime-version", b"content-type", b"\t", b" "))
    )
    split = body.find(b"Content-Type: text/html")
    split = body.rfind(b"\r\n--", 0, split) + 2
    dkim_parts = None
    if cfg.dkim is not None:
        domain = cfg.dkim.domain or cfg.newsletter.sender_domain
        dkim_parts = (cfg.dkim.selector.encode(), domain.encode(), _dkim_key(settings, cfg.dkim.key_file))
    slug = re.sub(r"[^a-z0-9]+", "-", cfg.newsletter.title.lower()).strip("-") or "digest"
    subject = ("[TEST] " if test else "") + rendered.subject
    try:
        return _prepared(cfg, subject, mime_head, body, split, slug, dkim_parts)
    except ValueError as error:  # config validation keeps line breaks out; this is the last line of defence
        raise ConfigError(str(settings.path), [f"newsletter: a header cannot be written: {error}"]) from None


def _prepared(
    cfg: Config,
    subject: str,
    mime_head: bytes,
    body: bytes,
    split: int,
    slug: str,
    dkim_parts: tuple[bytes, bytes, bytes] | None,
) -> Prepared:
    return Prepared(
        sender=cfg.newsletter.from_,
        domain=cfg.newsletter.sender_domain,
        subject=subject,
        reply_to=cfg.newsletter.reply_to,
        list_id=f"{cfg.newsletter.title} <{slug}.{cfg.newsletter.sender_domain}>",
        mailto=cfg.smtp.unsubscribe_mailto,
        mime_head=mime_head,
        text_part=_template(body[:split]),
        html_part=_template(body[split:]),
        dkim=dkim_parts,
    )
