"""Parse several feeds at once on the machine's cores.

feedparser is pure Python, so threads share one core: on the real week's 17 feeds parsing is about 300 ms of a
0.8 s build. Forked workers, which inherit the already imported parser, split that across the cores (two cores:
about 170 ms). A fork is only safe in a process with one thread, so servers (preview, serve) parse in turn.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

from digest.feeds.parse import NotAFeed, Parsed, parse_feed

# Below this much XML the fork costs more than it saves (a worker's start is 5–10 ms).
MIN_BYTES = 200_000
MIN_FEEDS = 4


@dataclass(frozen=True)
class Job:
    raw: bytes
    name: str
    url: str
    teaser_words: int


@dataclass(frozen=True)
class Refused:
    """The bytes are not a feed: NotAFeed's message, carried back from a worker."""

    reason: str


Outcome = Parsed | Refused


def _one(job: Job) -> Outcome:
    try:
        return parse_feed(job.raw, job.name, job.url, job.teaser_words)
    except NotAFeed as problem:
        return Refused(str(problem))


def _workers(jobs: list[Job]) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    big = sum(len(job.raw) for job in jobs) >= MIN_BYTES and len(jobs) >= MIN_FEEDS
    if not big or cores < 2 or threading.active_count() > 1 or "fork" not in _start_methods():
        return 1
    return min(cores, 4, len(jobs))


def _start_methods() -> list[str]:
    import multiprocessing

    return multiprocessing.get_all_start_methods()


def parse_all(jobs: list[Job], meanwhile: Callable[[], object] | None = None) -> list[Outcome]:
    """Each job's parsed feed (or why it is not one), in the jobs' order.

    `meanwhile` runs in this process while the workers parse (the build warms its render stage there); with no
    workers it runs first.
    """
    workers = _workers(jobs)
    if workers == 1:
        if meanwhile is not None:
            meanwhile()
        return [_one(job) for job in jobs]
    # The largest first, so that no worker is left with a big feed at the end.
    order = sorted(range(len(jobs)), key=lambda i: len(jobs[i].raw), reverse=True)
    outcomes: list[Outcome | None] = [None] * len(jobs)
    # What this process holds by now (every module and the config: ~49,000 objects for the real week) is left out of
    # every later garbage collection, here and in the workers, as gc.freeze's documentation advises before a fork:
    # a worker's full collection would walk (and so copy, page by page) the whole heap it shares with this process,
    # and this process would walk it again in its own full collections and at exit. It stays frozen: a command that
    # forks here ends soon after. The real week's build: ~120 ms less at the median (gather 247 → 210 ms, the
    # interpreter's exit 100 → 23 ms).
    gc.freeze()
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        parsed = pool.map(_one, [jobs[i] for i in order])  # every job is submitted here, before meanwhile runs
        if meanwhile is not None:
            meanwhile()
        for index, outcome in zip(order, parsed, strict=True):
            outcomes[index] = outcome
    return [outcome for outcome in outcomes if outcome is not None]
