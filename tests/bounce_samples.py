"""Returned mail for the tests, made from the real corpus (tests/data/bounces) with our own addresses and
tokens put in place of the samples' own, and a feed of three weeks that gives three issues in a row."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import REPO

BOUNCES = REPO / "tests" / "data" / "bounces"
VERP = "bounces+{token}@example.org"


def sample(name: str) -> bytes:
    return (BOUNCES / name).read_bytes()


def hard_bounce(address: str, to: str = "sironeko@neko.example.com") -> bytes:
    """Postfix's DSN of a 5.1.1 (no such user) for `address`, sent back to `to` (our VERP address, or not)."""
    raw = sample("sisimai/lhost-postfix-31.eml")
    for theirs in (b"kijitora@gmail.com", b"kijitora@example.org"):
        raw = raw.replace(theirs, address.encode())
    return raw.replace(b"sironeko@neko.example.com", to.encode())


def soft_bounce(address: str, quoted_header: str = "") -> bytes:
    """Postfix's DSN of a full mailbox (5.2.2) for `address`; `quoted_header` is added to the returned copy."""
    raw = sample("sisimai/lhost-postfix-63.eml").replace(b"neko@nyaaan.example.org", address.encode())
    marker = b"Message-Id: <BA77602D-7E1E-4C1B-92C9-4A2324E3E141@example.jp>\r\n"
    assert marker in raw
    return raw.replace(marker, marker + quoted_header.encode() + (b"\r\n" if quoted_header else b""))


def delay_notice(address: str) -> bytes:
    """Sendmail's warning that a message is delayed (Action: delayed) for `address`."""
    raw = sample("sisimai/lhost-sendmail-29.eml")
    for line in raw.split(b"\n"):
        if line.startswith(b"Final-Recipient:"):
            theirs = line.split(b";")[-1].strip().strip(b"<>")
            return raw.replace(theirs, address.encode())
    raise AssertionError("the delay sample has no Final-Recipient")


def complaint(address: str) -> bytes:
    """An ARF abuse report (by Amazon SES's feedback loop) that names `address` as the complaining recipient."""
    raw = sample("sisimai/arf-14.eml")
    return raw.replace(b"kijitora@y.example.com", address.encode()).replace(b"kijitora@yahoo.com", address.encode())


def vacation_reply(to: str = "neko@libsisimai.org") -> bytes:
    """A real vacation reply (Auto-Submitted: auto-replied), sent to `to`."""
    return sample("sisimai/rfc3834-01.eml").replace(b"neko@libsisimai.org", to.encode())


def unrelated() -> bytes:
    """Somebody's ordinary mail: neither a report nor an auto-reply."""
    return sample("mailparser/mail_test_16.eml")


RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Left Voice</title><link>https://www.leftvoice.org/</link>
<description>News</description>
{items}
</channel></rss>
"""
ITEM = """<item><title>{title}</title><link>https://www.leftvoice.org/{slug}/</link><guid>{slug}</guid>
<pubDate>{date}</pubDate><description>{title}: workers and students in the streets.</description>
<category>Labor Movement</category></item>"""
WEEKS = {
    "2026-02-12T12:00:00Z": ["Tue, 10 Feb 2026 10:00:00 +0000", "Wed, 11 Feb 2026 10:00:00 +0000"],
    "2026-02-19T12:00:00Z": ["Tue, 17 Feb 2026 10:00:00 +0000", "Wed, 18 Feb 2026 10:00:00 +0000"],
    "2026-02-26T12:00:00Z": ["Tue, 24 Feb 2026 10:00:00 +0000", "Wed, 25 Feb 2026 10:00:00 +0000"],
}
FIRST, NEXT, THIRD = WEEKS


def weekly_feed(folder: Path) -> Path:
    items = [
        ITEM.format(title=f"Strike news {week[:10]} {n}", slug=f"strike-{week[:10]}-{n}", date=date)
        for week, dates in WEEKS.items()
        for n, date in enumerate(dates)
    ]
    path = folder / "weekly.xml"
    path.write_text(RSS.format(items="\n".join(items)))
    return path


def bounce_config(
    write_config: Callable[..., Path], tmp_path: Path, smtp_port: int, overrides: dict[str, Any] | None = None,
    **bounces: Any,
) -> Path:  # fmt: skip
    """A config that sends the weekly feed to the test's SMTP sink, with VERP and the given bounces keys."""
    feed = weekly_feed(tmp_path)
    return write_config(
        [{"name": "Left Voice", "url": str(feed)}],
        issue={"window_days": 7},
        smtp={"host": "127.0.0.1", "port": smtp_port, "security": "none", "rate_per_second": 5000},
        bounces={"address": VERP, **bounces},
        **(overrides or {}),
    )


def ses_notification(name: str, address: str, token: str | None = None) -> dict[str, Any]:
    """The Amazon SES notification of a real sample (a Bounce, or a Complaint), about `address`, with our
    X-Digest-Delivery header among the original's headers when `token` is given."""
    raw = sample(f"sisimai/lhost-amazonses-{'09' if name == 'Bounce' else '11'}.eml")
    raw = re.sub(rb"!\r?\n ", b"", raw)  # the sample's MTA broke its one long line
    start = raw.index(b'{"notificationType"')
    event, _ = json.JSONDecoder().raw_decode(raw[start:].decode())
    text = json.dumps(event)
    for theirs in ("bounce@simulator.amazonses.com", "complaint@simulator.amazonses.com"):
        text = text.replace(theirs, address)
    event = json.loads(text)
    if token:
        event["mail"].setdefault("headers", []).append({"name": "X-Digest-Delivery", "value": token})
    return dict(event)
