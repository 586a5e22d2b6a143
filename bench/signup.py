"""Sign-ups through a real `digest serve` (a subprocess on 127.0.0.1) with an SMTP sink in another process: how
long the answer takes for a new address against an address already subscribed (the answer must not tell them
apart, by its words or by its time), sign-ups per second, and the floor of the same connection asking /healthz.

    .venv/bin/python bench/signup.py [--signups 300] [--pause 0.2] [--check]

Each new address costs a pending row, a consent record and a confirmation email; an active one costs a lookup.
The email goes out after the answer, so it is not in the answer's time. The two kinds are posted in random order,
`--pause` apart, so that each is timed on a server at rest; then as many new sign-ups back to back give the rate.
With --check, exit 1 unless every new address got exactly one email and the two medians are within 2 ms.
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import yaml
from common import REPO

from digest.config import load_config
from digest.store.db import State
from digest.subscribers import roster

SECRET = "a-bench-secret-that-signs-unsubscribe-links"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(command: list[str], ready: bytes, **kwargs: object) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)  # type: ignore[call-overload]
    stream = process.stdout if ready == b"ready" else process.stderr
    assert stream is not None
    line = stream.readline()
    if ready not in line:
        raise SystemExit(f"{command[2]} did not start: {line!r} {process.stderr.read() if process.stderr else b''!r}")
    return process


def timed(port: int, method: str, path: str, body: bytes = b"") -> tuple[float, int]:
    """One request on a connection of its own, as a reader's browser posts a form: connect, ask, read, close."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, body=body or None, headers=headers)
    answer = connection.getresponse()
    answer.read()
    connection.close()
    return time.perf_counter() - started, answer.status


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    return f"median {statistics.median(ordered) * 1000:6.2f} ms, p90 {ordered[int(len(ordered) * 0.9)] * 1000:6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--signups", type=int, default=300, help="sign-ups of each kind")
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between two timed sign-ups")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="digest-bench-signup-"))
    smtp_port, web_port = free_port(), free_port()
    shipped = yaml.safe_load((REPO / "config.yaml").read_text())
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump({
        "newsletter": shipped["newsletter"], "themes": shipped["themes"], "state": "state.db",
        "feeds": [{"name": "Left Voice", "url": str(REPO / "digest/demo/leftvoice-sample.xml")}],
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none"},
        "subscribe": {"rate_per_hour": 100_000},  # one client posts every sign-up here
        "web": {"base_url": f"http://127.0.0.1:{web_port}"},
    }))  # fmt: skip
    with State(load_config(config).state_path) as state:
        roster.import_csv(state, io.StringIO("".join(f"active{n}@example.org\n" for n in range(args.signups))))
    env = {**os.environ, "DIGEST_SECRET": SECRET}
    sink = start([sys.executable, str(REPO / "bench" / "sink.py"), str(smtp_port)], b"ready")
    server = start([sys.executable, "-m", "digest.cli", "serve", "--config", str(config), "--port", str(web_port)],
                   b"the public pages on", env=env)  # fmt: skip
    try:
        for _ in range(20):  # warm up: imports, templates, the state file's pages
            timed(web_port, "GET", "/healthz")
            timed(web_port, "POST", "/subscribe", b"email=warm%40example.org")
        floor, new, active = [], [], []
        order = [("new", n) for n in range(args.signups)] + [("active", n) for n in range(args.signups)]
        random.Random(8).shuffle(order)
        for kind, n in order:
            time.sleep(args.pause)  # each answer timed on a server at rest, its last email gone
            floor.append(timed(web_port, "GET", "/healthz")[0])
            body = urllib.parse.urlencode({"email": f"{kind}{n}@example.org", "themes": "labor"}).encode()
            seconds, status = timed(web_port, "POST", "/subscribe", body)
            assert status == 200, status
            (new if kind == "new" else active).append(seconds)
        started = time.perf_counter()
        for n in range(args.signups):
            timed(web_port, "POST", "/subscribe", f"email=burst{n}%40example.org".encode())
        rate = args.signups / (time.perf_counter() - started)
        time.sleep(2.0)  # the last confirmations leave after their answers
        assert sink.stdin is not None and sink.stdout is not None
        sink.stdin.write(b"count\n")
        sink.stdin.flush()
        mails = int(sink.stdout.readline().split()[0])
    finally:
        server.terminate()
        sink.terminate()
        server.wait(timeout=10)
        sink.wait(timeout=10)
    print(f"{args.signups} sign-ups of each kind in random order, {args.pause:g} s apart, a connection each")
    print(f"  GET /healthz (floor)        {ms(floor)}")
    print(f"  POST /subscribe, new        {ms(new)}")
    print(f"  POST /subscribe, active     {ms(active)}")
    print(f"  {args.signups} new sign-ups back to back: {rate:.0f} sign-ups/s")
    expected = 2 * args.signups + 1
    print(f"  confirmation emails: {mails} (expected {expected}: one per new address, the warm-up's included)")
    gap = abs(statistics.median(new) - statistics.median(active)) * 1000
    print(f"  the medians differ by {gap:.2f} ms")
    if args.check and (mails != expected or gap > 2.0):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
