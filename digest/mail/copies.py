"""Which copy of an issue each reader gets: the whole issue, one of its frozen variants, or nothing this week.

A send renders nothing here: the variants were frozen with the issue (at approval, or when the send built the
issue itself), so a send resumed after a kill mails the very same copies. A reader whose choice needs a variant
that was not frozen (they chose their themes after the approval) gets the whole issue as approved: every
section they chose is in it, and nothing goes out that the editors did not see. Approving again freezes the
variants the list needs by then.
"""

from __future__ import annotations

from collections.abc import Collection

from digest.issue.variants import WHOLE, Shape, choice, key_for, label, shape_of_record
from digest.mail.summary import Summary
from digest.models import Recipient
from digest.store.issues import Frozen


def assign(todo: list[Recipient], frozen: Frozen, variants: Collection[str], summary: Summary) -> list[Recipient]:
    """The recipients that get a copy, each with its variant set; the others are counted into the summary.

    A copy an earlier run already began (in flight, or deferred) keeps the variant it was: a retry is the same
    message, whatever the reader chose since. `variants`: the keys of the variants frozen with the issue."""
    shape = shape_of_record(frozen.record)
    keys: dict[str, str | None] = {}  # stored themes → key: a list has few distinct choices
    out: list[Recipient] = []
    for who in todo:
        if who.variant is not None and (who.variant == WHOLE or who.variant in variants):
            out.append(who)
            continue
        if who.themes not in keys:
            keys[who.themes] = key_for(choice(who.themes), shape)
        key = keys[who.themes]
        if key is None:
            summary.nothing_ids.add(who.id)
            continue
        if key != WHOLE and key not in variants:
            summary.late_choice += 1
            key = WHOLE
        who.variant = key
        out.append(who)
    return out


def labels(frozen: Frozen, keys: list[str]) -> dict[str, str]:
    """Each key's label, for the summary."""
    shape: Shape = shape_of_record(frozen.record)
    return {key: label(key, shape) for key in keys}
