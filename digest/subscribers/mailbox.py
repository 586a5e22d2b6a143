"""The bounce mailbox: read new messages over IMAP, take the reports about our mail, file them away.

`fetch` reads each message that arrived since the last fetch (UIDs past the mark kept in the state file, per
mailbox and UIDVALIDITY) with BODY.PEEK, so that no message is marked read by being looked at, and at most the
first `reports.MAX_PARSE_BYTES` of it. The bounces, delay notices and complaints that are about our deliveries
(see `intake`) are moved into `processed_folder` (made when missing): with MOVE (RFC 6851), else COPY, then
\\Deleted and UID EXPUNGE of only those UIDs (RFC 4315). Everything else (auto-replies, people's replies, spam,
a report about an address we never mailed) stays where it is, unread, and is not read again.

`import_files` does the same for raw RFC 822 files: saved messages, or the messages of a Maildir folder.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import imaplib
import logging
import os
import re
import ssl
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from digest.config import Settings
from digest.config_bounces import BounceMailbox
from digest.errors import BounceMailboxError
from digest.store import bounces as rows
from digest.store.db import State, iso
from digest.subscribers.intake import Policy, Taken, from_report, take
from digest.subscribers.reports import MAX_PARSE_BYTES, read_report
from digest.util import printable

log = logging.getLogger(__name__)

EVENTS_KEPT_DAYS = 400  # event ids older than this are forgotten: no report or webhook comes back after a year


@dataclass
class Outcome:
    """What one fetch or import did: a line per message, counts by what each was, the status changes."""

    where: str
    lines: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    filed: int = 0
    left: int = 0
    changes: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, taken: Taken, told: str) -> None:
        self.lines.append(f"{name}: {taken.line}")
        self.counts[told if taken.handled else "left alone"] += 1
        self.changes += [(address, str(status)) for address, status in taken.changes]
        if taken.handled:
            self.filed += 1
        else:
            self.left += 1

    def summary(self) -> str:
        if not self.counts:
            return f"{self.where}: no new message"
        parts = ", ".join(f"{count} {what}" for what, count in sorted(self.counts.items()))
        return f"{self.where}: {sum(self.counts.values())} read ({parts})"


def policy_of(settings: Settings, secret: bytes) -> Policy:
    cfg = settings.model.bounces
    return Policy(secret=secret, soft_limit=cfg.soft_limit, match_days=cfg.match_days)


def event_id(raw: bytes) -> str:
    """The report's own Message-ID (the same message fetched or imported again), else a hash of its bytes."""
    head = raw[: min(len(raw), 64_000)]
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
    value = str(headers.get("Message-ID") or "").strip()
    if value and value.isprintable() and len(value) <= 250:
        return "message-id:" + value
    return "sha256:" + hashlib.sha256(raw[:MAX_PARSE_BYTES]).hexdigest()


def take_message(state: State, policy: Policy, raw: bytes, source: str, now: datetime) -> tuple[Taken, str]:
    """Read one raw message and take it: (what became of it, what it was)."""
    report = read_report(raw)
    for dropped in report.dropped:
        log.warning("a %s named %s, which is not an address: dropped", report.kind, dropped)
    returned = from_report(report, source, event_id(raw))
    return take(state, policy, returned, now), returned.told


# Files


def message_files(paths: list[Path]) -> Iterator[Path]:
    """Each file named, and the messages of each folder named (a Maildir's cur/ and new/, or the folder's files)."""
    for path in paths:
        if not path.is_dir():
            yield path
            continue
        folders = [path / "cur", path / "new"] if (path / "cur").is_dir() else [path]
        for folder in folders:
            yield from sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def import_files(state: State, policy: Policy, paths: list[Path], now: datetime) -> Outcome:
    """Take the reports in raw RFC 822 files; an unreadable file is one line, and the others go on."""
    outcome = Outcome(where=f"{len(paths)} path{'s' if len(paths) != 1 else ''}")
    for path in message_files(paths):
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_PARSE_BYTES + 1)  # read_report reads no further
        except OSError as error:
            outcome.lines.append(f"{path}: cannot be read ({error.strerror or error})")
            outcome.counts["unreadable"] += 1
            continue
        taken, told = take_message(state, policy, raw, "file", now)
        outcome.add(printable(str(path)), taken, told)
    return outcome


# IMAP


def mailbox_name(cfg: BounceMailbox) -> str:
    return f"imap://{cfg.username}@{cfg.host}:{cfg.default_port}/{cfg.folder}"


def _quote(folder: str) -> str:
    return f'"{folder}"'  # config allows no quote or backslash in a folder name (util.imap_folder)


def connect(settings: Settings, cfg: BounceMailbox) -> imaplib.IMAP4:
    """A logged-in IMAP client; BounceMailboxError says in one sentence why there is none."""
    where = mailbox_name(cfg)
    password = os.environ.get(cfg.password_env)
    if not password:
        raise BounceMailboxError(
            f"the environment variable {cfg.password_env} (bounces.imap.password_env) is not set, and the bounce "
            f"mailbox {where} needs its password"
        )
    context = ssl.create_default_context(cafile=str(settings.resolve(cfg.ca_file)) if cfg.ca_file else None)
    client: imaplib.IMAP4 | None = None
    try:
        if cfg.security == "ssl":
            client = imaplib.IMAP4_SSL(cfg.host, cfg.default_port, ssl_context=context, timeout=cfg.timeout)
        else:
            client = imaplib.IMAP4(cfg.host, cfg.default_port, timeout=cfg.timeout)
            if cfg.security == "starttls":
                client.starttls(context)
        client.login(cfg.username, password)
    except (imaplib.IMAP4.error, OSError) as error:
        if client is not None:
            _close(client)
        said = str(error.args[0] if error.args else error)
        said = said.decode(errors="replace") if isinstance(said, bytes) else said
        raise BounceMailboxError(
            f"the bounce mailbox {where} cannot be read ({type(error).__name__}: {printable(said)[:160]}); check "
            "bounces.imap and its password"
        ) from None
    return client


def _close(client: imaplib.IMAP4) -> None:
    try:
        client.logout()
    except (imaplib.IMAP4.error, OSError):
        client.shutdown()


def _ok(answer: tuple[str, Sequence[object]], doing: str) -> Sequence[object]:
    status, data = answer
    if status != "OK":
        said = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
        raise imaplib.IMAP4.error(f"{doing}: {status} {said}")
    return data


def _uidvalidity(client: imaplib.IMAP4) -> int:
    _, data = client.response("UIDVALIDITY")
    value = data[0] if data and isinstance(data[0], bytes) else b"0"
    return int(value) if value.isdigit() else 0


_LITERAL = re.compile(rb"BODY\[\]")


def _body(data: Sequence[object]) -> bytes | None:
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and _LITERAL.search(item[0]):
            return bytes(item[1])
    return None


def fetch(settings: Settings, state: State, policy: Policy, now: datetime, use_move: bool = True) -> Outcome:
    """Read the messages new since the last fetch, take the reports about our mail, file them away
    (`use_move`=False files them with COPY and EXPUNGE even where the server has MOVE)."""
    cfg = settings.model.bounces.imap
    if cfg is None:
        raise BounceMailboxError("config.yaml has no bounces.imap: name the bounce mailbox to read (see the README)")
    where = mailbox_name(cfg)
    outcome = Outcome(where=where)
    client = connect(settings, cfg)
    try:
        _read_and_file(client, cfg, state, policy, now, outcome, use_move)
    except (imaplib.IMAP4.error, OSError) as error:
        raise BounceMailboxError(
            f"the bounce mailbox {where} failed part-way ({type(error).__name__}: {printable(str(error))[:160]}); "
            "what was recorded stays recorded, and the next fetch reads the rest"
        ) from None
    finally:
        _close(client)
    with state.transaction():
        rows.forget_events_before(state, iso(now - timedelta(days=EVENTS_KEPT_DAYS)))
    return outcome


def _read_and_file(
    client: imaplib.IMAP4,
    cfg: BounceMailbox,
    state: State,
    policy: Policy,
    now: datetime,
    outcome: Outcome,
    use_move: bool,
) -> None:
    _ok(client.select(_quote(cfg.folder)), f"SELECT {cfg.folder}")
    validity = _uidvalidity(client)
    mark = rows.mailbox_mark(state, outcome.where)
    after = mark[1] if mark and mark[0] == validity else 0
    found = _ok(client.uid("SEARCH", f"UID {after + 1}:*"), "UID SEARCH")
    # "n:*" always matches the newest message, even one below n: keep only what is really new.
    uids = sorted(uid for uid in _numbers(found) if uid > after)[: cfg.max_messages]
    handled: list[int] = []
    for uid in uids:
        data = _ok(client.uid("FETCH", str(uid), f"(BODY.PEEK[]<0.{MAX_PARSE_BYTES + 1}>)"), f"UID FETCH {uid}")
        raw = _body(data)
        if raw is None:
            continue  # expunged by someone else meanwhile
        taken, told = take_message(state, policy, raw, "imap", now)
        outcome.add(f"UID {uid}", taken, told)
        if taken.handled:
            handled.append(uid)
    if handled:
        _file(client, cfg.processed_folder, handled, use_move)
    if uids:
        with state.transaction():
            rows.set_mailbox_mark(state, outcome.where, validity, uids[-1])


def _numbers(data: Sequence[object]) -> list[int]:
    first = data[0] if data and isinstance(data[0], bytes) else b""
    return [int(word) for word in first.split() if word.isdigit()]


def _capabilities(client: imaplib.IMAP4) -> set[str]:
    """What the server can do once logged in (it may say more than before the login, which imaplib keeps)."""
    data = _ok(client.capability(), "CAPABILITY")
    first = data[0] if data and isinstance(data[0], bytes) else b""
    return {word.upper() for word in first.decode(errors="replace").split()}


def _file(client: imaplib.IMAP4, folder: str, uids: list[int], move: bool = True) -> None:
    """Move these messages, and only these, into `folder`, made when missing (`move`=False: without MOVE, as on
    a server that lacks it)."""
    _, listed = client.list('""', _quote(folder))
    if not any(isinstance(line, bytes) for line in listed):
        _ok(client.create(_quote(folder)), f"CREATE {folder}")
        client.subscribe(_quote(folder))
    ranges = ",".join(str(uid) for uid in uids)
    capabilities = _capabilities(client)
    if "MOVE" in capabilities and move:
        _ok(client.uid("MOVE", ranges, _quote(folder)), f"UID MOVE to {folder}")
        return
    _ok(client.uid("COPY", ranges, _quote(folder)), f"UID COPY to {folder}")
    _ok(client.uid("STORE", ranges, "+FLAGS.SILENT", r"(\Deleted)"), "UID STORE \\Deleted")
    if "UIDPLUS" in capabilities:
        _ok(client.uid("EXPUNGE", ranges), "UID EXPUNGE")
        return
    # A plain EXPUNGE removes every message marked \Deleted: only when no one else's is, else ours stay marked.
    deleted = set(_numbers(_ok(client.uid("SEARCH", "DELETED"), "UID SEARCH DELETED")))
    if deleted <= set(uids):
        _ok(client.expunge(), "EXPUNGE")
