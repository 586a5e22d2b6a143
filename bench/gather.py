"""Gather the real week (17 feeds) from a local HTTP server: cold (every feed 200) against warm (every
feed 304, nothing parsed), median of several runs, in the same process.

    .venv/bin/python bench/gather.py [--runs 9]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from common import real_week_files, write_config  # noqa: E402
from servers import FeedServer  # noqa: E402

from digest.config import load_config  # noqa: E402
from digest.feeds.gather import gather  # noqa: E402
from digest.models import Window  # noqa: E402
from digest.store.db import State  # noqa: E402

NOW = datetime(2026, 2, 18, 12, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    runs = parser.parse_args().runs
    files = real_week_files()
    server = FeedServer().start()
    try:
        feeds = [{"name": f.stem, "url": server.serve_file(f"/{f.name}", f)} for f in files]
        with tempfile.TemporaryDirectory() as folder:
            settings = load_config(write_config(Path(folder), feeds))
            window = Window(NOW - timedelta(days=7), NOW)
            cold, warm = [], []
            for run in range(runs + 1):
                db = Path(folder) / f"state{run}.db"
                with State(db) as state:
                    start = time.perf_counter()
                    first = gather(settings, window, state, NOW)
                    middle = time.perf_counter()
                    second = gather(settings, window, state, NOW)
                    end = time.perf_counter()
                assert all(f.status == "ok" for f in first.feeds)
                assert all(f.status == "not-modified" for f in second.feeds)
                assert len(first.articles) == len(second.articles)
                if run:  # the first run warms imports and the server
                    cold.append(middle - start)
                    warm.append(end - middle)
    finally:
        server.stop()
    cold_ms, warm_ms = statistics.median(cold) * 1000, statistics.median(warm) * 1000
    print(f"gather, 17 feeds over HTTP on 127.0.0.1, median of {runs} runs")
    print(f"  cold (all 200, parsed)      {cold_ms:8.1f} ms")
    print(f"  warm (all 304, none parsed) {warm_ms:8.1f} ms")
    print(f"  warm / cold                 {warm_ms / cold_ms:8.2f}")


if __name__ == "__main__":
    main()
