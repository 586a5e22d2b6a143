"""An issue's variants (the issue cut to readers' themes), frozen beside the whole issue when it is approved
or when a send builds it: a send, and a send resumed after a kill, mail exactly these."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from digest.models import DeliveryStatus, Rendered
from digest.store.db import State, utcnow_iso


@dataclass(frozen=True)
class FrozenVariant:
    """One variant as frozen: its key (the section slugs it keeps), its label for people, its rendering."""

    key: str
    label: str
    rendered: Rendered
    articles: int


def replace_all(state: State, issue_id: str, variants: Iterable[FrozenVariant]) -> None:
    """The issue's variants are these, and only these (a new approval replaces the earlier one's)."""
    now = utcnow_iso()
    with state.transaction():
        state.execute("DELETE FROM issue_variants WHERE issue_id = ?", (issue_id,))
        state.executemany(
            """INSERT INTO issue_variants (issue_id, variant, label, subject, preheader, html, text, degraded,
                 articles, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                (
                    issue_id,
                    v.key,
                    v.label,
                    v.rendered.subject,
                    v.rendered.preheader,
                    v.rendered.html,
                    v.rendered.text,
                    int(v.rendered.degraded),
                    v.articles,
                    now,
                )
                for v in variants
            ],
        )


def of_issue(state: State, issue_id: str) -> dict[str, FrozenVariant]:
    """The issue's frozen variants by key."""
    rows = state.rows("SELECT * FROM issue_variants WHERE issue_id = ? ORDER BY variant", (issue_id,))
    return {
        row["variant"]: FrozenVariant(
            key=row["variant"],
            label=row["label"],
            rendered=Rendered(
                html=row["html"],
                text=row["text"],
                preheader=row["preheader"],
                subject=row["subject"],
                degraded=bool(row["degraded"]),
            ),
            articles=row["articles"],
        )
        for row in rows
    }


def sent_per_variant(state: State, issue_id: str) -> dict[str, int]:
    """How many readers the relay accepted each variant for ('' is the whole issue)."""
    rows = state.rows(
        """SELECT COALESCE(variant, '') AS variant, COUNT(*) FROM deliveries
           WHERE issue_id = ? AND status = ? GROUP BY COALESCE(variant, '')""",
        (issue_id, DeliveryStatus.SENT),
    )
    return {row[0]: row[1] for row in rows}
