"""`digest send --workers N`: N worker processes on one issue, sharing its ledger, its claims and its rate.

The process that was started chooses the issue (as any send does) and starts N copies of itself as workers
(`digest send --worker-of ISSUE`); each claims recipients from the ledger until nothing is left, and prints
what it did as one line of JSON, which this process adds up. A worker that dies (even by SIGKILL) costs the
issue nothing but time: its claims run out after smtp.lease seconds and the others take its recipients, naming
the one whose final line it may have sent.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from digest.config import Settings
from digest.errors import SendRefused
from digest.mail.send import deliver_issue, finish
from digest.mail.summary import Summary
from digest.models import IssueStatus
from digest.store import claims, deliveries, issues
from digest.store.db import State
from digest.store.issues import Frozen

ADDED = (
    "sent",
    "retried",
    "reconnects",
    "inactive",
    "late_choice",
)  # counts each worker keeps of its own part
LISTS = ("failed", "bounced", "put_back", "in_doubt")


IN_DOUBT = "in doubt: "  # a worker's line, written the moment it takes over a copy in doubt


def _say_in_doubt(address: str) -> None:
    # At once, not in the part at the end: a worker killed after sending such a copy again never writes its part,
    # and the copy must still be named as one that may arrive twice.
    print(IN_DOUBT + address, flush=True)


def work_on(settings: Settings, state: State, issue_id: str) -> dict[str, Any]:
    """One worker's part of an issue another `digest send` chose; what it did, for that send to add up."""
    frozen = issues.get(state, issue_id)
    if frozen is None or frozen.status not in (IssueStatus.SENDING, IssueStatus.SENT):
        raise SendRefused(f"issue {issue_id} is not being sent; a worker only joins a send under way")
    secret = settings.secret()
    if secret is None:
        raise SendRefused(f"{settings.model.secret_env} is not set, so this worker cannot sign unsubscribe links")
    before = claims.tally(state, issue_id).inactive
    summary = deliver_issue(settings, state, frozen, secret, None, shared=True, on_doubt=_say_in_doubt)
    part: dict[str, Any] = {name: getattr(summary, name) for name in (*ADDED, *LISTS, "error", "stopped")}
    part["inactive"] = summary.inactive - before
    part["nothing_ids"] = sorted(summary.nothing_ids)
    return part


def run_workers(settings: Settings, state: State, frozen: Frozen, count: int, console: Console | None) -> Summary:
    """Start `count` workers on the issue, show their progress from the ledger, and add up what they did."""
    summary = Summary(issue_id=frozen.id, subject=frozen.rendered.subject)
    tally = claims.tally(state, frozen.id)
    summary.already, summary.failed_before, summary.inactive = tally.sent, tally.failed, tally.inactive
    summary.to_send = tally.to_send
    summary.in_doubt.extend(tally.in_doubt)  # named now: whichever worker takes them sends them again
    started = time.perf_counter()
    command = [sys.executable, "-m", "digest.cli", "send", "--config", str(settings.path), "--worker-of", frozen.id]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(count)]
    outputs = [""] * count

    def read(n: int) -> None:
        stream = procs[n].stdout
        outputs[n] = stream.read() if stream else ""

    readers = [threading.Thread(target=read, args=(n,), daemon=True) for n in range(count)]
    for reader in readers:
        reader.start()
    try:
        _watch(state, frozen.id, procs, tally.sent, tally.to_send, console)
    except KeyboardInterrupt:
        for proc in procs:  # each finishes the messages in flight and says what it did
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        summary.stopped = "interrupted; run the same command again to send the rest"
    for proc, reader in zip(procs, readers, strict=True):
        proc.wait()
        reader.join()
    for proc, output in zip(procs, outputs, strict=True):
        _add(summary, proc, output)
    summary.in_doubt[:] = list(dict.fromkeys(summary.in_doubt))  # named by the send, a worker's line, its part: once
    summary.elapsed = time.perf_counter() - started
    finish(state, frozen, summary)
    if summary.lost_workers and (summary.left or summary.elsewhere) and not summary.stopped:
        summary.stopped = (
            f"a worker stopped before the end; run the same command again to send the rest (the copies it held "
            f"are free again {settings.model.smtp.lease:g} s after it stopped)"
        )
    return summary


def _watch(state: State, issue_id: str, procs: list[subprocess.Popen[str]], before: int, total: int,
           console: Console | None) -> None:  # fmt: skip
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=console is None or not console.is_terminal,
        transient=True,
    )
    task = progress.add_task(f"sending {issue_id} ({len(procs)} workers)", total=total)
    with progress:
        while any(proc.poll() is None for proc in procs):
            time.sleep(0.25)
            if not progress.disable:
                progress.update(task, completed=deliveries.count_sent(state, issue_id) - before)


def _add(summary: Summary, proc: subprocess.Popen[str], output: str) -> None:
    lines = output.strip().splitlines()
    summary.in_doubt.extend(line[len(IN_DOUBT) :] for line in lines if line.startswith(IN_DOUBT))
    try:
        part = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        part = None
    if not isinstance(part, dict):
        code = proc.returncode
        how = f"was killed (signal {-code})" if code < 0 else f"stopped with exit status {code}"
        summary.lost_workers.append(f"pid {proc.pid} {how}")
        return
    for name in ADDED:
        setattr(summary, name, getattr(summary, name) + int(part.get(name) or 0))
    for name in LISTS:
        getattr(summary, name).extend(tuple(x) if isinstance(x, list) else x for x in part.get(name) or [])
    summary.nothing_ids.update(int(x) for x in part.get("nothing_ids") or [])  # one reader, however many met them
    summary.error = summary.error or part.get("error")
    summary.stopped = summary.stopped or part.get("stopped")
