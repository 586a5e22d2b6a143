"""Feeds parsed side by side on the machine's cores give exactly what parsing them in turn gives."""

from __future__ import annotations

import threading

import pytest
from conftest import FEEDS, real_week_files

from digest.feeds import parse_many
from digest.feeds.parse_many import Job, Refused, parse_all


def _jobs() -> list[Job]:
    files = [*real_week_files(), FEEDS / "adversarial" / "rssp_html_document_moved.rss"]
    return [Job(f.read_bytes(), f.stem, f"https://example.org/{f.name}", 40) for f in files]


def test_parallel_parsing_equals_parsing_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = _jobs()
    assert parse_many._workers(jobs) >= 2 or threading.active_count() > 1  # the real week is worth a fork
    warmed: list[bool] = []
    together = parse_all(jobs, meanwhile=lambda: warmed.append(True))
    monkeypatch.setattr(parse_many, "_workers", lambda jobs: 1)
    in_turn = parse_all(jobs)
    assert warmed == [True]
    assert together == in_turn
    assert isinstance(together[-1], Refused) and "feed" in together[-1].reason
    assert sum(len(p.articles) for p in together if not isinstance(p, Refused)) > 500


def test_a_process_with_threads_parses_in_turn() -> None:
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert parse_many._workers(_jobs()) == 1
    finally:
        release.set()
        thread.join()


def test_small_work_is_not_worth_a_fork() -> None:
    assert parse_many._workers(_jobs()[:2]) == 1
