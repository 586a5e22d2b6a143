"""A long list on either engine: the import of 100,000 subscribers, then `digest send --workers N` (1, 2, 4)
against two sink processes sharing one port, and the peak memory of each worker, SQLite beside PostgreSQL.

Each send runs for --seconds (bounded in time: the whole run takes a few minutes), from an empty ledger, and
is then stopped the way a service is (SIGTERM): msg/s is what the sinks accepted over that time. The memory is
each worker process's peak resident size (VmHWM); a worker holds one batch of claimed recipients at a time, so
it is the same for 10,000 subscribers and 100,000 (--small gives the first).

    .venv/bin/python bench/scale.py [--subscribers 100000] [--small 10000] [--workers 1,2,4] [--seconds 15]
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import postgres  # noqa: E402 - the suite's own PostgreSQL (tests/postgres.py)
from common import real_week_files  # noqa: E402
from send import Sink, free_port  # noqa: E402

from digest.config import load_config  # noqa: E402
from digest.issue.pipeline import build_issue  # noqa: E402
from digest.store import issues  # noqa: E402
from digest.store.db import State  # noqa: E402
from digest.subscribers import roster  # noqa: E402

NOW = datetime(2026, 2, 18, 12, tzinfo=UTC)


def config(folder: Path, state: str, port: int) -> Path:
    shipped = yaml.safe_load((REPO / "config.yaml").read_text())
    data = {key: shipped[key] for key in ("newsletter", "themes", "catch_all", "weights", "web")}
    data["feeds"] = [{"name": f.stem, "url": str(f)} for f in real_week_files()]
    data["state"] = state
    data["smtp"] = {"host": "127.0.0.1", "port": port, "security": "none", "connections": 4,
                    "rate_per_second": 1_000_000}  # fmt: skip
    path = folder / f"config-{abs(hash(state))}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def fill(path: Path, count: int) -> float:
    """The approved real-week issue and `count` subscribers; returns the seconds the import took."""
    settings = load_config(path)
    with State(settings.state_target) as state:
        built = build_issue(settings, NOW, state)
        issues.freeze(state, built.issue.id, built.issue.window, built.rendered, built.record())
        rows = "".join(f"reader{n}@example{n % 50}.org,Reader {n}\n" for n in range(count))
        started = time.perf_counter()
        roster.import_csv(state, io.StringIO(rows))
        return time.perf_counter() - started


def afresh(path: Path) -> None:
    with State(load_config(path).state_target) as state:
        for table in ("deliveries", "send_slots", "send_rate"):
            state.execute(f"DELETE FROM {table}")
        state.execute("UPDATE issues SET status = 'approved'")


def peak_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def timed_send(path: Path, workers: int, seconds: float, sinks: list[Sink]) -> tuple[float, int]:
    """(msg/s, the largest worker's peak KiB) of `digest send --workers N` stopped after `seconds`."""
    afresh(path)
    before = sum(s.count() for s in sinks)
    command = [sys.executable, "-m", "digest.cli", "send", "--config", str(path), "--workers", str(workers)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started, peaks = time.perf_counter(), {}
    while time.perf_counter() - started < seconds and proc.poll() is None:
        time.sleep(0.2)
        pids = [proc.pid] if workers == 1 else [int(p) for p in _children(proc.pid)]
        peaks.update({pid: max(peaks.get(pid, 0), peak_kib(pid)) for pid in pids})
    elapsed = time.perf_counter() - started
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    sent = sum(s.count() for s in sinks) - before
    return sent / elapsed, max(peaks.values(), default=0)


def _children(pid: int) -> list[str]:
    found: list[str] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += (task / "children").read_text().split()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    os.environ.setdefault("DIGEST_SECRET", "bench-secret-of-enough-length")
    os.environ["DIGEST_DATABASE_PASSWORD"] = postgres.PASSWORD
    port = free_port()
    sinks = [Sink.__new__(Sink) for _ in range(2)]
    for sink in sinks:  # two sink processes on one port (SO_REUSEPORT): the kernel splits the connections
        sink.port = port
        sink.process = subprocess.Popen([sys.executable, str(REPO / "bench" / "sink.py"), str(port), "--share"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert sink.process.stdout and sink.process.stdout.readline().strip() == "ready"
    server = postgres.Postgres().start()
    print(f"{os.cpu_count()} CPUs; two sinks; each send runs {args.seconds:g} s\n")
    print(f"{'engine':12} {'subscribers':>11} {'import s':>9} " + " ".join(f"{w} worker(s): msg/s  peak MiB"
          for w in args.workers.split(",")))  # fmt: skip
    try:
        with tempfile.TemporaryDirectory(prefix="digest-bench-scale-") as name:
            folder = Path(name)
            for engine in ("sqlite", "postgresql"):
                for count in (args.small, args.subscribers):
                    state = str(folder / f"{count}.db") if engine == "sqlite" else server.fresh_database(f"s{count}")
                    path = config(folder, state, port)
                    imported = fill(path, count)
                    cells = []
                    for workers in (int(w) for w in args.workers.split(",")):
                        rate, peak = timed_send(path, workers, args.seconds, sinks)
                        cells.append(f"{rate:>19.0f} {peak / 1024:>9.1f}")
                    print(f"{engine:12} {count:>11,} {imported:>9.1f} " + " ".join(cells), flush=True)
    finally:
        server.stop()
        for sink in sinks:
            sink.stop()


if __name__ == "__main__":
    main()
