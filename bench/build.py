"""Build the real week (17 local feeds, now = 2026-02-18T12:00Z): time each stage and the whole command,
against rss2email's fetch-and-parse of the same feeds, in the same run. Medians; the machine is noisy.

    .venv/bin/pip install rss2email      # the baseline
    .venv/bin/python bench/build.py [--runs 7]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import feedparser
from common import NOW, real_week_files, write_config


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(func: Callable[[], object]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def stages(config: Path, runs: int) -> dict[str, float]:
    from digest.config import load_config
    from digest.feeds.gather import gather
    from digest.issue.pipeline import Built, correct, drop_sent, group, issue_id, period_window
    from digest.issue.render import render
    from digest.jobs.outputs import write_outputs
    from digest.store.db import State

    settings = load_config(config)
    now = datetime(2026, 2, 18, 12, tzinfo=UTC)
    # gather (with drop already sent), group, correct + render, write
    results: dict[str, list[float]] = {"gather": [], "group": [], "render": [], "write": []}
    for run in range(runs + 1):
        with tempfile.TemporaryDirectory() as folder, State(Path(folder) / "s.db") as state:
            t0 = time.perf_counter()
            window = period_window(settings, state, now)
            gathered = gather(settings, window, state, now)
            fresh = drop_sent(gathered, window, state, issue_id(window, settings.model.newsletter.timezone))
            t1 = time.perf_counter()
            grouped = group(settings, fresh)
            t2 = time.perf_counter()
            issue, rendered = render(correct(settings, grouped), settings)
            built = Built(issue=issue, rendered=rendered, grouped=grouped)
            t3 = time.perf_counter()
            write_outputs(built, settings, Path(folder) / "out", now)
            t4 = time.perf_counter()
        if run == 0:
            continue  # warm-up: imports, template compilation, the CSS parse cache
        for name, value in zip(results, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            results[name].append(value)
    return {name: median_ms(values) for name, values in results.items()}


def whole_command(config: Path, runs: int) -> float:
    digest = shutil.which("digest", path=str(Path(sys.executable).parent)) or "digest"
    samples = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as out:
            state = config.parent / "state.db"
            for leftover in config.parent.glob("state.db*"):
                leftover.unlink()
            samples.append(
                timed(
                    lambda: subprocess.run(
                        [digest, "build", "--config", str(config), "--now", NOW, "--out", out],
                        check=True,
                        capture_output=True,
                    )
                )
            )
            assert not state.exists() or state.stat().st_size > 0
    return median_ms(samples)


def rss2email(runs: int) -> float | None:
    r2e = shutil.which("r2e", path=str(Path(sys.executable).parent))
    if r2e is None:
        return None
    samples = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            cfg, data = str(Path(folder) / "r2e.cfg"), str(Path(folder) / "r2e.json")
            base = [r2e, "-c", cfg, "-d", data]
            subprocess.run([*base, "new", "bench@example.org"], check=True, capture_output=True)
            for n, feed in enumerate(real_week_files()):
                subprocess.run([*base, "add", f"f{n}", str(feed)], check=True, capture_output=True)
            samples.append(
                timed(
                    lambda base=base: subprocess.run(  # type: ignore[misc]
                        [*base, "run", "--no-send"], check=True, capture_output=True
                    )
                )
            )
    return median_ms(samples)


def feedparser_alone(runs: int) -> float:
    blobs = [f.read_bytes() for f in real_week_files()]
    samples = [timed(lambda: [feedparser.parse(b) for b in blobs]) for _ in range(runs)]
    return median_ms(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        config = write_config(Path(folder))
        stage = stages(config, runs)
        ours = whole_command(config, runs)
        theirs = rss2email(runs)
        alone = feedparser_alone(runs)
    render_total = stage["render"]
    print(f"real week, 17 feeds, median of {runs} runs (ms)")
    for name, value in stage.items():
        print(f"  {name:<8} {value:8.1f}")
    print(f"  render (Jinja2 + MJML + premailer + text) {render_total:.1f} ms (aim < 100)")
    print(f"  digest build, whole process        {ours:8.1f}")
    print(f"  feedparser.parse alone, 17 files   {alone:8.1f}")
    if theirs is None:
        print("  rss2email: not installed (pip install rss2email) — no ratio")
        return
    print(f"  rss2email run --no-send, whole     {theirs:8.1f}")
    print(f"  ratio digest / rss2email           {ours / theirs:8.2f} (aim ≤ 0.70)")


if __name__ == "__main__":
    main()
