"""The real week's issue to 10,000 readers over 8 choices of themes, against the same readers with no choice (one
variant: the whole issue), through an SMTP sink in another process on 127.0.0.1: messages per second, and
renders counted.

Three sends, each from a fresh copy of its state file (empty ledger), in this process through `send_issue`:

    one variant      10,000 readers with no choice; the issue approved first
    8 choices        the same readers over 8 choices (7 variants and the whole issue); approved first, which
                     renders the variants, so the send renders none
    8 choices, built no approval: the send builds the issue and renders the 8 copies itself

msg/s is the delivery's (`Summary.elapsed`: the messages going out); the built send's wall time, build and renders
included, is printed beside it. Medians; the machine is noisy.

    .venv/bin/python bench/variants.py [--readers 10000] [--runs 3] [--connections 4]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from send import NOW, Sink, write_config  # noqa: E402 - bench/send.py, beside this file

from digest.config import Settings  # noqa: E402
from digest.issue.approve import approve  # noqa: E402
from digest.issue.pipeline import build_issue  # noqa: E402
from digest.mail.send import send_issue  # noqa: E402
from digest.store.db import State  # noqa: E402
from digest.subscribers import roster  # noqa: E402

CHOICES = [
    *("", "latin-america", "labor", "palestine", "more"),  # everything, and each section alone
    *("labor,palestine", "latin-america,labor", "palestine,more"),
]


def template(settings: Settings, folder: Path, name: str, readers: int, choices: list[str], approved: bool) -> Path:
    """A state file with `readers` readers spread over `choices`, and the issue approved (or not); its copy."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(settings.state_path) + suffix).unlink(missing_ok=True)
    rows = "".join(f'reader{n}@example{n % 50}.org,,,"{choices[n % len(choices)]}"\n' for n in range(readers))
    with State(settings.state_path) as state:
        roster.import_csv(state, io.StringIO("email,name,language,themes\n" + rows), set(CHOICES[1:5]))
        if approved:
            done = approve(settings, build_issue(settings, NOW, state), state)
            print(f"  {name}: approval rendered {1 + len(done.variants)} copies", flush=True)
        state.checkpoint()
    path = folder / f"{name}.db"
    shutil.copy(settings.state_path, path)
    return path


Run = tuple[float, float, int, int, dict[str, int], int]


def received(sink: Sink) -> tuple[int, int]:
    """Messages and bytes the sink has accepted so far."""
    assert sink.process.stdin and sink.process.stdout
    sink.process.stdin.write("count\n")
    sink.process.stdin.flush()
    messages, size = sink.process.stdout.readline().split()
    return int(messages), int(size)


def one_send(settings: Settings, path: Path, sink: Sink) -> Run:
    """(delivery seconds, wall seconds, messages, renders in the send, copies per variant, bytes) from a fresh
    ledger."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(settings.state_path) + suffix).unlink(missing_ok=True)
    shutil.copy(path, settings.state_path)
    before, before_bytes = received(sink)
    start = time.perf_counter()
    with State(settings.state_path) as state:
        summary = send_issue(settings, state, NOW)
    wall = time.perf_counter() - start
    assert summary.complete and not summary.failed, summary
    after, after_bytes = received(sink)
    assert after - before == summary.sent
    return summary.elapsed, wall, summary.sent, summary.renders, summary.variants, after_bytes - before_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    os.environ.setdefault("DIGEST_SECRET", "bench-secret-of-enough-length")
    sink = Sink()
    try:
        with tempfile.TemporaryDirectory(prefix="digest-bench-variants-") as folder_name:
            folder = Path(folder_name)
            settings = write_config(folder, sink.port, args.connections)
            print(f"{args.readers:,} readers, {args.connections} connections, {os.cpu_count()} CPUs, "
                  f"{args.runs} runs each, medians", flush=True)  # fmt: skip
            cases = [
                ("one variant", template(settings, folder, "one", args.readers, [""], True)),
                ("8 choices", template(settings, folder, "eight", args.readers, CHOICES, True)),
                ("one variant, built", template(settings, folder, "one-built", args.readers, [""], False)),
                ("8 choices, built", template(settings, folder, "built", args.readers, CHOICES, False)),
            ]
            print(f"\n{'':20} {'msg/s':>7} {'KB/msg':>7} {'wall s':>7} {'renders in send':>16} {'copies':>7}")
            # Taken in turns, so that a busy moment of the machine falls on every case alike.
            done: dict[str, list[Run]] = {name: [] for name, _ in cases}
            for _ in range(args.runs):
                for name, path in cases:
                    done[name].append(one_send(settings, path, sink))
            rates = {}
            for name, runs in done.items():
                rate = statistics.median(n / elapsed for elapsed, _, n, _, _, _ in runs)
                wall = statistics.median(w for _, w, _, _, _, _ in runs)
                size = runs[0][5] / runs[0][2] / 1000
                renders, copies = runs[0][3], runs[0][4]
                rates[name] = rate
                print(f"{name:20} {rate:7.0f} {size:7.1f} {wall:7.1f} {renders:16} {len(copies):7}", flush=True)
            for name, base in (("8 choices", "one variant"), ("8 choices, built", "one variant, built")):
                print(f"{name}: {rates[name] / rates[base]:.1%} of {base}'s msg/s")
            print("copies per variant: " + "; ".join(f"{k} {v}" for k, v in done["8 choices"][0][4].items()))
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
