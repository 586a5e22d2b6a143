"""Preview of the real week (17 local feeds, now = 2026-02-18T12:00Z): time from a template change on disk to
the updated email being served, with `digest preview` running as editors run it. Medians of several edits.

    .venv/bin/python bench/preview.py [--runs 15]

Three figures:
- server: a client asks for /email.html in a loop; from the write to the first answer holding the change
  (what the server costs: noticing the change, applying the corrections, rendering);
- browser: the page open in Debian's Chromium, waiting on /version (a long poll; the server looks at the
  files every 20 ms); from the write to the frame's new /email.html received by the browser (its own
  timing of the response), and to the frame's load event (the updated email laid out on screen);
- correction: a drop posted as the page posts it; from the POST to the 303 answer (file written, re-rendered).
"""

from __future__ import annotations

import argparse
import html
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

from common import NOW, real_week_files, write_config

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# The email's pictures are on the publishers' sites: fail them at once, without intercepting every request
# in Python (which would add its own latency to what is measured).
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(port: int, path: str) -> str:
    connection = HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path)
    return connection.getresponse().read().decode()


class Template:
    """The h1 line of the email template, changed to carry a new marker on each edit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.source = path.read_text()
        assert "<h1>{{ title }}</h1>" in self.source

    def edit(self, marker: str) -> float:
        self.path.write_text(self.source.replace("<h1>{{ title }}</h1>", f"<h1>{{{{ title }}}} {marker}</h1>"))
        return time.perf_counter()


def server_runs(port: int, template: Template, runs: int) -> list[float]:
    times = []
    for run in range(runs):
        marker = f"server-{run}"
        start = template.edit(marker)
        while marker not in get(port, "/email.html"):
            time.sleep(0.002)
        times.append(time.perf_counter() - start)
        time.sleep(0.05)
    return times


def browser_runs(base: str, template: Template, runs: int) -> tuple[list[float], list[float]]:
    """Edit → the frame's new HTML fully received (the browser's own timing of the response), and → shown."""
    from playwright.sync_api import sync_playwright

    received: list[float] = []
    shown: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[*CHROMIUM_ARGS, OFFLINE])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        finished: list[Any] = []
        page.on("requestfinished", lambda request: finished.append(request) if "/email.html" in request.url else None)
        page.goto(base + "/", wait_until="load")
        page.wait_for_timeout(500)
        desktop = page.frame_locator("#desktop").locator("h1")
        # The page notes, by the browser's clock, each time the desktop frame has loaded a document.
        page.evaluate(
            """() => { window.loads = [];
                document.getElementById('desktop').addEventListener('load',
                    () => window.loads.push(performance.timeOrigin + performance.now())); }"""
        )
        for run in range(runs):
            marker = f"browser-{run}"
            finished.clear()
            page.evaluate("() => { window.loads = []; }")
            start = template.edit(marker)
            wall = time.time() * 1000  # the browser's timings are wall-clock milliseconds
            while True:
                try:
                    if marker in (desktop.text_content(timeout=50) or ""):
                        break
                except Exception:  # the frame is between two documents: look again
                    pass
                if time.perf_counter() - start > 10:
                    raise SystemExit(f"the frame did not update within 10 s (run {run})")
            # The new document can be in the frame before its load event (its images still being asked for).
            page.wait_for_function("() => window.loads.length > 0", timeout=10_000)
            loads = page.evaluate("() => window.loads")
            shown.append((loads[-1] - wall) / 1000)
            page.wait_for_timeout(300)
            ends = []
            for request in finished:
                response = request.response()
                if response is not None and marker in response.text():
                    timing = request.timing
                    ends.append(timing["startTime"] + timing["responseEnd"] - wall)
            received.append(min(ends) / 1000)
        browser.close()
    return received, shown


def correction_runs(base: str, port: int, runs: int) -> list[float]:
    page = get(port, "/")
    csrf = page.split('name="digest-csrf" content="', 1)[1].split('"', 1)[0]
    article = html.unescape(page.split('li class="article" data-id="', 1)[1].split('"', 1)[0])
    times = []
    for run in range(runs):
        action = "drop" if run % 2 == 0 else "restore"
        body = urllib.parse.urlencode({"action": action, "id": article, "csrf": csrf})
        connection = HTTPConnection("127.0.0.1", port, timeout=30)
        start = time.perf_counter()
        connection.request(
            "POST",
            "/correct",
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": base},
        )
        response = connection.getresponse()
        response.read()
        assert response.status == 303, response.status
        times.append(time.perf_counter() - start)
        notice = get(port, "/").split('id="notice"', 1)[1].split("</div>", 1)[0]
        assert "error" not in notice, notice
    return times


def summary(name: str, times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    return f"{name:<28} median {statistics.median(ms):7.1f} ms   min {ms[0]:7.1f}   max {ms[-1]:7.1f}   (n={len(ms)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="digest-bench-preview-") as folder:
        config = write_config(Path(folder), templates=True)
        template = Template(Path(folder) / "templates" / "email.mjml.j2")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "digest.cli", "preview", "--config", str(config), "--now", NOW, "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            while True:
                try:
                    get(port, "/version")
                    break
                except OSError:
                    if process.poll() is not None:
                        raise SystemExit("digest preview exited") from None
                    time.sleep(0.02)
            startup = time.perf_counter() - started
            email = get(port, "/email.html")
            print(f"real week: {len(real_week_files())} feeds, {len(email.encode()):,} bytes of HTML")
            print(f"{'startup (gather + render)':<28} {startup * 1000:7.1f} ms")
            print(summary("server: edit → served", server_runs(port, template, args.runs)))
            served, shown = browser_runs(base, template, args.runs)
            print(summary("browser: edit → received", served))
            print(summary("browser: edit → frame loaded", shown))
            print(summary("correction: POST → 303", correction_runs(base, port, args.runs)))
        finally:
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    main()
