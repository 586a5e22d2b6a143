"""`digest serve` under load, on 127.0.0.1 only: keep-alive clients asking for unsubscribe pages back to back,
connections that trickle their request a byte a second, and meanwhile one-click unsubscribes, timed.

    .venv/bin/python bench/serve_load.py [--clients 200] [--tricklers 50] [--seconds 20] [--check]

The server runs as editors run it (`digest serve`, a subprocess, uvicorn with digest's limits). Each client
holds one connection and sends its next request as soon as the last answer is in. Each trickler sends
`GET /healthz` one byte a second and waits to see the server close it (digest gives a request 10 s to
arrive). Every second a fresh connection posts RFC 8058's `List-Unsubscribe=One-Click` to a reader's link.
With --check, exit 1 unless every unsubscribe answered 200 in under 1 s and every trickler was closed.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from common import REPO

from digest.config import load_config
from digest.store.db import State
from digest.subscribers import roster
from digest.subscribers.tokens import make_token

SECRET = "a-bench-secret-that-signs-unsubscribe-links"
TRICKLED = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: trickle\r\n\r\n"


@dataclass
class Tally:
    pages: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    page_times: list[float] = field(default_factory=list)
    unsubscribes: list[tuple[float, int]] = field(default_factory=list)  # (seconds, status)
    closed: list[float] = field(default_factory=list)  # seconds from a trickler's start to the server's close
    trickle_answered: int = 0

    def fail(self, why: str) -> None:
        self.failures[why] = self.failures.get(why, 0) + 1


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return status, await reader.readexactly(length)


async def client(port: int, token: str, stop: float, tally: Tally) -> None:
    request = f"GET /unsubscribe/{token} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as error:
        tally.fail(f"connect: {error.strerror}")
        return
    try:
        while time.monotonic() < stop:
            started = time.monotonic()
            writer.write(request)
            status, _ = await read_answer(reader)
            if status != 200:
                tally.fail(f"status {status}")
            tally.pages += 1
            tally.page_times.append(time.monotonic() - started)
    except (OSError, asyncio.IncompleteReadError) as error:
        tally.fail(f"client: {type(error).__name__}")
    finally:
        writer.close()


async def trickler(port: int, stop: float, tally: Tally) -> None:
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for byte in TRICKLED:
            if time.monotonic() > stop:
                return
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                data = await asyncio.wait_for(reader.read(1024), timeout=1.0)
            except TimeoutError:
                continue
            if data:
                tally.trickle_answered += 1
            tally.closed.append(time.monotonic() - started)
            return
    except OSError:
        tally.closed.append(time.monotonic() - started)
    finally:
        writer.close()


async def unsubscribe(port: int, token: str, tally: Tally) -> None:
    body = b"List-Unsubscribe=One-Click"
    request = (
        f"POST /unsubscribe/{token} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    status, page = await read_answer(reader)
    writer.close()
    ok = status == 200 and b"You are unsubscribed" in page
    tally.unsubscribes.append((time.monotonic() - started, status if ok else -status))


async def load(port: int, tokens: list[str], clients: int, tricklers: int, seconds: float) -> Tally:
    tally = Tally()
    stop = time.monotonic() + seconds
    tasks = [asyncio.create_task(trickler(port, stop, tally)) for _ in range(tricklers)]
    tasks += [asyncio.create_task(client(port, tokens[n], stop, tally)) for n in range(clients)]
    await asyncio.sleep(1.0)  # every connection open and busy
    for token in tokens[clients:]:
        if time.monotonic() > stop - 1:
            break
        await unsubscribe(port, token, tally)
        await asyncio.sleep(1.0)
    await asyncio.gather(*tasks)
    return tally


def prepare(folder: Path, readers: int) -> tuple[Path, list[str]]:
    """A config with `readers` subscribers, and each one's unsubscribe token."""
    shipped = yaml.safe_load((REPO / "config.yaml").read_text())
    data = {"newsletter": shipped["newsletter"], "feeds": [{"name": "x", "url": "x.xml"}], "state": "state.db"}
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump(data))
    lines = "".join(f"reader{n}@example.org\n" for n in range(readers))
    with State(load_config(config).state_path) as state:
        roster.import_csv(state, io.StringIO(lines))
        return config, [make_token(SECRET.encode(), s.id, s.email) for s in roster.all_subscribers(state)]


def report(tally: Tally, args: argparse.Namespace) -> list[str]:
    """Print the figures; return what falls short of the promise."""
    times = sorted(t for t, _ in tally.unsubscribes)
    pages = sorted(tally.page_times)
    print(f"{args.clients} keep-alive clients, {args.tricklers} trickling connections, {args.seconds:.0f} s")
    print(f"pages served          {tally.pages} ({tally.pages / args.seconds:.0f}/s), failures {tally.failures or 0}")
    if pages:
        print(f"page latency          median {statistics.median(pages) * 1000:.0f} ms, "
              f"p99 {pages[int(len(pages) * 0.99)] * 1000:.0f} ms")  # fmt: skip
    if times:
        print(f"one-click unsubscribe n={len(times)}, median {statistics.median(times) * 1000:.0f} ms, "
              f"max {times[-1] * 1000:.0f} ms")  # fmt: skip
    closed = sorted(tally.closed)
    if closed:
        print(f"tricklers closed      {len(closed)}/{args.tricklers}, after {closed[0]:.1f}–{closed[-1]:.1f} s"
              f"{f', {tally.trickle_answered} answered' if tally.trickle_answered else ''}")  # fmt: skip
    problems = []
    if not times or times[-1] >= 1.0 or any(status != 200 for _, status in tally.unsubscribes):
        problems.append("an unsubscribe failed or took 1 s or more")
    if len(closed) < args.tricklers or tally.trickle_answered:
        problems.append("a trickling connection was not closed by the server")
    if tally.failures or not tally.pages:
        problems.append("a keep-alive client failed")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--tricklers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--port", type=int, default=0, help="the port for digest serve (0: a free one)")
    parser.add_argument("--check", action="store_true", help="exit 1 unless the server keeps its promises")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digest-bench-serve-") as folder:
        config, tokens = prepare(Path(folder), args.clients + int(args.seconds) + 5)
        command = [sys.executable, "-m", "digest.cli", "serve", "--config", str(config), "--port", str(args.port)]
        env = {**os.environ, "DIGEST_SECRET": SECRET}
        server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        try:
            assert server.stderr is not None
            line = server.stderr.readline()
            if "the public pages on http://127.0.0.1:" not in line:
                server.terminate()  # before reading the rest: it ends only when the server does
                raise SystemExit(f"digest serve did not start: {line}{server.stderr.read()}")
            port = int(line.split("http://127.0.0.1:", 1)[1].split(":", 1)[0])
            # Whatever the server logs under load goes on being read, so that it never blocks on a full pipe.
            logged: list[str] = []
            threading.Thread(target=lambda: logged.extend(server.stderr or []), daemon=True).start()
            tally = asyncio.run(load(port, tokens, args.clients, args.tricklers, args.seconds))
        finally:
            server.terminate()
            server.wait(timeout=10)
    problems = report(tally, args)
    if logged:
        print(f"the server logged {len(logged)} lines, the first: {logged[0].strip()}")
    for problem in problems:
        print(f"FAIL: {problem}")
    if args.check and problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
