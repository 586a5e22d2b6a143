"""What a send did: the counts the sending threads keep, and the closing lines a person reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from digest.util import plural


@dataclass
class Summary:
    """What a send did, for the closing lines and the exit status."""

    issue_id: str
    subject: str = ""
    to_send: int = 0  # recipients this run set out to serve
    sent: int = 0
    already: int = 0  # served by an earlier run of the same send
    failed_before: int = 0  # failed for good in an earlier run of the same send
    inactive: int = 0  # unsubscribed or bounced (also during this send)
    retried: int = 0  # retries after a 4xx reply or a dropped connection
    reconnects: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (address, reason)
    bounced: list[str] = field(default_factory=list)
    put_back: list[str] = field(default_factory=list)  # refused while the relay accepted almost nothing: next run
    in_doubt: list[str] = field(default_factory=list)  # in flight when an earlier run died: sent again
    left: int = 0  # still to send when the run stopped
    elsewhere: int = 0  # copies other workers still hold when this one finished (they finish the issue)
    lost_workers: list[str] = field(default_factory=list)  # worker processes that died (--workers)
    stopped: str | None = None  # why the run stopped before the end (hourly cap, interrupt)
    error: str | None = None  # why the run gave up (the relay is gone, or refuses nearly everything)
    elapsed: float = 0.0
    cpu: float = 0.0
    nothing_to_do: str | None = None  # empty issue, already sent: a sentence, and no message went out
    drift: list[str] = field(default_factory=list)  # approved articles renamed or gone from their feeds since
    dry_run: bool = False
    # Readers every section of whose choice is empty in this issue: sent nothing. Their ids, not a count: a
    # reader let go may be claimed again by a later look, here or in another worker (run_workers takes the union).
    nothing_ids: set[int] = field(default_factory=set)
    late_choice: int = 0  # readers whose choice had no frozen variant (chosen after approval): the whole issue
    renders: int = 0  # renders this send made (the whole issue and its variants; none for an approved issue)
    variants: dict[str, int] = field(default_factory=dict)  # each copy's label → readers the relay accepted it for

    @property
    def nothing_for_you(self) -> int:
        return len(self.nothing_ids)

    @property
    def complete(self) -> bool:
        return self.stopped is None and self.error is None and self.left == 0

    @property
    def accepted(self) -> int:
        """Messages of this issue the relay accepted, in this run and earlier ones."""
        return self.already + self.sent


def describe(summary: Summary) -> list[str]:
    """The closing lines a person reads: counts first, then every failure with its reason."""
    if summary.nothing_to_do:
        return [summary.nothing_to_do]
    if summary.dry_run:
        return [
            f"dry run: issue {summary.issue_id} ({summary.subject!r}) would go to {summary.to_send} subscriber"
            f"{'s' if summary.to_send != 1 else ''}; {summary.already} already have it, {summary.inactive} "
            "unsubscribed or bounced; nothing was sent",
            *_choices(summary),
        ]
    rate = f" ({summary.sent / summary.elapsed:.0f} messages/s)" if summary.elapsed > 0 and summary.sent else ""
    skipped = summary.already + summary.failed_before + summary.inactive
    earlier = f", {summary.failed_before} failed in an earlier run" if summary.failed_before else ""
    lines = [
        f"issue {summary.issue_id}: {summary.sent} sent, "
        f"{skipped} skipped ({summary.already} already sent{earlier}, {summary.inactive} "
        f"unsubscribed or bounced), {summary.retried} retried, {len(summary.failed)} failed "
        f"in {summary.elapsed:.1f} s{rate}"
    ]
    if summary.in_doubt:
        lines.append(
            f"{len(summary.in_doubt)} message{'s were' if len(summary.in_doubt) != 1 else ' was'} in flight when an "
            f"earlier run stopped and went out again (may arrive twice): {', '.join(summary.in_doubt)}"
        )
    for lost in summary.lost_workers:
        lines.append(f"worker {lost}; the copies it held went to the other workers once its claims ran out")
    if summary.elsewhere:
        lines.append(f"other workers hold {plural(summary.elsewhere, 'copy', 'copies')} of this issue and finish it")
    lines.extend(_choices(summary))
    if summary.reconnects:
        lines.append(f"the connection to the relay dropped {summary.reconnects} times and was reopened")
    lines.extend(f"warning: {warning}" for warning in summary.drift)
    lines.extend(f"  failed: {address}: {reason}" for address, reason in summary.failed)
    if summary.bounced:
        lines.append(f"now marked bounced: {', '.join(summary.bounced)}")
    if summary.put_back:
        lines.append(
            f"{plural(len(summary.put_back), 'refused message')} put back for the next run, neither failed nor "
            "bounced, as the relay accepted almost nothing"
        )
    if summary.stopped:
        lines.append(f"stopped with {summary.left} still to send: {summary.stopped}")
    elif summary.complete:
        lines.append(f"issue {summary.issue_id} is sent")
    return lines


def _choices(summary: Summary) -> list[str]:
    """What the readers' themes did: copies per variant, readers with nothing this week, late choices."""
    lines = []
    if summary.variants and set(summary.variants) != {"the whole issue"}:
        per = "; ".join(f"{name} {count}" for name, count in summary.variants.items())
        lines.append(f"copies per variant: {per} ({plural(summary.renders, 'render')} in this send)")
    if summary.nothing_for_you:
        lines.append(
            f"{plural(summary.nothing_for_you, 'reader')} got nothing, as every theme they chose is empty in this "
            "issue (nothing for you this week)"
        )
    if summary.late_choice:
        lines.append(
            f"{plural(summary.late_choice, 'reader')} chose their themes after the issue was frozen and got the "
            "whole issue (approve again to cut it for them)"
        )
    return lines
