"""Send the real week's issue to 5,000 subscribers through an SMTP sink running in another process on
127.0.0.1: messages per second, and CPU milliseconds per message on our side against the sink's.

Each run sends the same approved issue from a fresh copy of the state file (empty ledger), in this
process through `send_issue`, ledger, rate limiter and all; our CPU is this process's CPU during the
send, the sink's is read from /proc. The floor is bare smtplib pushing one pre-built message over the
same number of connections: what any Python client would cost. Medians; the machine is noisy.

    .venv/bin/python bench/send.py [--subscribers 5000] [--runs 3] [--connections 1,4,8] [--verp]

`--verp` sets bounces.address to bounces+{token}@example.org: each message's envelope sender names its delivery.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from common import real_week_files  # noqa: E402 - after the path is set

from digest.config import Settings, load_config  # noqa: E402
from digest.issue.pipeline import build_issue  # noqa: E402
from digest.mail.message import prepare  # noqa: E402
from digest.mail.send import send_issue  # noqa: E402
from digest.store import issues  # noqa: E402
from digest.store.db import State  # noqa: E402
from digest.subscribers import roster as subscribers  # noqa: E402
from digest.subscribers.tokens import unsubscribe_url  # noqa: E402

NOW = datetime(2026, 2, 18, 12, tzinfo=UTC)
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Sink:
    """bench/sink.py in its own process."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "sink.py"), str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout and self.process.stdout.readline().strip() == "ready"

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime

    def count(self) -> int:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline().split()[0])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def write_config(folder: Path, port: int, connections: int, verp: bool = False) -> Settings:
    shipped = yaml.safe_load((REPO / "config.yaml").read_text())
    files = real_week_files()
    data = {
        "newsletter": shipped["newsletter"],
        "feeds": [{"name": f.stem, "url": str(f)} for f in files],
        "themes": shipped["themes"],
        "catch_all": shipped["catch_all"],
        "weights": shipped["weights"],
        "web": shipped["web"],
        "state": "state.db",
        "smtp": {
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "connections": connections,
            "rate_per_second": 1_000_000,
        },
        **({"bounces": {"address": "bounces+{token}@example.org"}} if verp else {}),
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return load_config(path)


def template_state(settings: Settings, count: int) -> int:
    """A state file holding the approved real-week issue and `count` subscribers; returns the HTML size."""
    with State(settings.state_path) as state:
        built = build_issue(settings, NOW, state)
        issues.freeze(state, built.issue.id, built.issue.window, built.rendered, built.record())
        rows = "".join(f"reader{n}@example{n % 50}.org,Reader {n}\n" for n in range(count))
        subscribers.import_csv(state, io.StringIO(rows))
    return len(built.rendered.html.encode())


def one_send(settings: Settings, template: Path, sink: Sink) -> tuple[float, float, float, int]:
    """(seconds, our CPU seconds, sink CPU seconds, messages sent) for one send from a fresh ledger."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(settings.state_path) + suffix).unlink(missing_ok=True)
    shutil.copy(template, settings.state_path)
    before_sink = sink.cpu()
    before_count = sink.count()
    with State(settings.state_path) as state:
        summary = send_issue(settings, state, NOW)
    after_sink = sink.cpu()
    assert summary.complete and not summary.failed, summary
    assert sink.count() - before_count == summary.sent
    return summary.elapsed, summary.cpu, after_sink - before_sink, summary.sent


def bare_smtplib(settings: Settings, sink: Sink, count: int, connections: int) -> tuple[float, float, float]:
    """The floor: one message built once, pushed by plain smtplib over `connections` reused connections."""
    with State(settings.state_path) as state:
        frozen = issues.latest_approved(state) or issues.get(state, "2026-W08")
    assert frozen is not None
    message = prepare(settings, frozen.rendered).for_recipient(
        "reader@example.org", unsubscribe_url(settings, 1, "reader@example.org", b"x"), NOW
    )
    share = [count // connections + (1 if n < count % connections else 0) for n in range(connections)]

    def push(n: int) -> None:
        conn = smtplib.SMTP("127.0.0.1", settings.model.smtp.port, local_hostname="bench.example.org")
        for _ in range(n):
            conn.sendmail("newsletter@example.org", ["reader@example.org"], message)
        conn.quit()

    threads = [threading.Thread(target=push, args=(n,)) for n in share]
    before_sink, cpu, start = sink.cpu(), time.process_time(), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, time.process_time() - cpu, sink.cpu() - before_sink


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", default="1,4,8")
    parser.add_argument("--verp", action="store_true", help="a VERP envelope sender per message")
    args = parser.parse_args()
    os.environ.setdefault("DIGEST_SECRET", "bench-secret-of-enough-length")
    sink = Sink()
    try:
        with tempfile.TemporaryDirectory(prefix="digest-bench-send-") as folder_name:
            folder = Path(folder_name)
            for connections in [int(c) for c in args.connections.split(",")]:
                settings = write_config(folder, sink.port, connections, args.verp)
                template = folder / "template.db"
                if not template.exists():
                    html = template_state(settings, args.subscribers)
                    with State(settings.state_path) as state:
                        state.checkpoint()
                    shutil.copy(settings.state_path, template)
                    print(f"{args.subscribers} subscribers; issue HTML {html:,} bytes; {os.cpu_count()} CPUs; "
                          f"{args.runs} runs each, medians\n")  # fmt: skip
                    print(f"{'':28} {'msg/s':>7} {'ours ms/msg':>12} {'sink ms/msg':>12} {'ours/sink':>10}")
                runs = [one_send(settings, template, sink) for _ in range(args.runs)]
                floor = [bare_smtplib(settings, sink, args.subscribers, connections) for _ in range(args.runs)]
                for label, rows in (
                    (f"digest send, {connections} conn", [(w, o, s, n) for w, o, s, n in runs]),
                    (f"bare smtplib, {connections} conn", [(w, o, s, args.subscribers) for w, o, s in floor]),
                ):
                    rate = statistics.median(n / w for w, _, _, n in rows)
                    ours = statistics.median(o / n * 1000 for _, o, _, n in rows)
                    theirs = statistics.median(s / n * 1000 for _, _, s, n in rows)
                    ratio = statistics.median(o / s for _, o, s, _ in rows)
                    print(f"{label:28} {rate:7.0f} {ours:12.3f} {theirs:12.3f} {ratio:10.2f}")
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
