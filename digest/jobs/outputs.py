"""What `digest build` writes: the issue's HTML, plain text, record (.json) and a sample message."""

from __future__ import annotations

import errno
import json
from datetime import datetime
from pathlib import Path

from digest.config import Settings
from digest.errors import DigestError
from digest.issue.pipeline import SAMPLE_RECIPIENT, Built
from digest.issue.render import personalize
from digest.mail.message import prepare
from digest.subscribers.tokens import unsubscribe_url
from digest.util import atomic_write


def write_outputs(built: Built, settings: Settings, out: Path, now: datetime) -> dict[str, Path]:
    """Write <issue>.html, .txt, .json and a sample .eml into `out`, each whole or not at all: a crash or a full
    disk leaves the file that was there before, never part of a new one."""
    ident = built.issue.id
    paths = {kind: out / f"{ident}.{kind}" for kind in ("html", "txt", "json", "eml")}
    sample_url = unsubscribe_url(settings, 0, SAMPLE_RECIPIENT)
    prepared = prepare(settings, built.rendered)
    sample = prepared.for_recipient(
        SAMPLE_RECIPIENT, sample_url, now, message_id=f"<{ident}.sample@{settings.model.newsletter.sender_domain}>"
    )
    contents: dict[str, str | bytes] = {
        "html": personalize(built.rendered.html, sample_url, html=True),
        "txt": personalize(built.rendered.text, sample_url, html=False),
        "json": json.dumps(built.record().public(), indent=2, ensure_ascii=False) + "\n",
        "eml": sample,
    }
    try:
        out.mkdir(parents=True, exist_ok=True)
        for kind, content in contents.items():
            atomic_write(paths[kind], content, sync=False)  # a build can be run again: no fsync to wait for
    except OSError as error:
        raise DigestError(f"cannot write the issue into {out} ({error.strerror or error}); {_remedy(error)}") from None
    return paths


def _remedy(error: OSError) -> str:
    """What to do about a folder the issue cannot be written into, by what went wrong."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return "free some space or choose another --out"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "choose an --out folder you may write to"
    return "choose another --out, a folder that can be created and written"
