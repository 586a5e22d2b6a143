"""What `digest build` writes: the issue's HTML, plain text, record (.json) and a sample message."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from digest.config import Settings
from digest.issue.pipeline import SAMPLE_RECIPIENT, Built
from digest.issue.render import personalize
from digest.mail.message import prepare
from digest.subscribers.tokens import unsubscribe_url


def write_outputs(built: Built, settings: Settings, out: Path, now: datetime) -> dict[str, Path]:
    """Write <issue>.html, .txt, .json and a sample .eml into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    ident = built.issue.id
    paths = {kind: out / f"{ident}.{kind}" for kind in ("html", "txt", "json", "eml")}
    sample_url = unsubscribe_url(settings, 0, SAMPLE_RECIPIENT)
    paths["html"].write_text(personalize(built.rendered.html, sample_url, html=True), encoding="utf-8")
    paths["txt"].write_text(personalize(built.rendered.text, sample_url, html=False), encoding="utf-8")
    paths["json"].write_text(json.dumps(built.record().public(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    prepared = prepare(settings, built.rendered)
    sample = prepared.for_recipient(
        SAMPLE_RECIPIENT, sample_url, now, message_id=f"<{ident}.sample@{settings.model.newsletter.sender_domain}>"
    )
    paths["eml"].write_bytes(sample)
    return paths
