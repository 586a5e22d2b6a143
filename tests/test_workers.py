"""Several send workers and several web processes on one state: claims, leases, a shared rate, kills.

The workers are real processes (`digest send --workers N`, or `digest send` started twice), the relay is aiosmtpd
on 127.0.0.1, the web processes real `digest serve`s; PostgreSQL is Debian's, started by the suite."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import SECRET
from servers import SmtpSink, free_port
from test_send import NOW, add_subscribers, digest_command, received

from digest.config import load_config
from digest.store.db import State
from digest.subscribers import roster
from digest.subscribers.tokens import make_token

pytestmark = pytest.mark.usefixtures("secret")
ENGINES = ("sqlite", "postgresql")
DOUBT = re.compile(r"went out again \(may arrive twice\): (.*)$", re.M)


def named_in_doubt(*outputs: str) -> set[str]:
    return {a.strip().lower() for out in outputs for m in DOUBT.finditer(out) for a in m.group(1).split(",")}


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with open(task / "children") as f:
            found += [int(p) for p in f.read().split()]
    return found


def test_three_workers_share_the_issue_and_the_rate(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    config = send_config(connections=2, rate_per_second=150)
    everyone = add_subscribers(config, 300)
    started = time.monotonic()

    result = cli("send", "--config", config, "--now", NOW, "--workers", 3)

    assert result.exit_code == 0, result.output
    assert "300 sent" in result.stdout and "issue 2024-W09 is sent" in result.stdout
    counts = received(smtp_sink)
    assert set(counts) == {a.lower() for a in everyone} and set(counts.values()) == {1}
    # 150 a second for the three together: 300 messages take about two seconds, never much less
    spread = smtp_sink.handler.accepted_at[-1] - smtp_sink.handler.accepted_at[0]
    assert spread >= 1.6, spread
    assert time.monotonic() - started < 30


def test_the_hourly_cap_holds_for_all_workers_together(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    config = send_config(connections=2, rate_per_hour=20)
    add_subscribers(config, 60)

    result = cli("send", "--config", config, "--now", NOW, "--workers", 3)

    assert result.exit_code == 75, result.output
    assert "hourly cap (smtp.rate_per_hour = 20) is reached" in result.stdout + result.stderr
    assert sum(received(smtp_sink).values()) == 20


@pytest.mark.postgresql_only
def test_two_sends_started_at_once_on_postgresql_both_work(
    engine: str, send_config: Callable[..., Path], smtp_sink: SmtpSink
) -> None:
    config = send_config(connections=2, rate_per_second=400)
    everyone = add_subscribers(config, 400)
    env = {**os.environ, "DIGEST_SECRET": SECRET}
    sends = [subprocess.Popen(digest_command(config), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]  # fmt: skip
    outs = [send.communicate(timeout=120) for send in sends]

    assert [send.returncode for send in sends] == [0, 0], outs
    sent = [int(m.group(1)) for out, _ in outs if (m := re.search(r"issue 2024-W09: (\d+) sent", out))]
    assert len(sent) == 2 and sum(sent) == 400 and min(sent) > 0, outs  # both worked on it
    counts = received(smtp_sink)
    assert set(counts) == {a.lower() for a in everyone} and set(counts.values()) == {1}
    assert not any("already running" in err for _, err in outs)


@pytest.mark.slow
def test_workers_killed_at_random_moments_mail_nobody_twice_but_the_one_each_had_in_flight(
    send_config: Callable[..., Path], smtp_sink: SmtpSink
) -> None:
    config = send_config(connections=3, rate_per_second=100_000, lease=2)
    everyone = add_subscribers(config, 5000)
    env = {**os.environ, "DIGEST_SECRET": SECRET}
    rng = random.Random(os.environ.get("KILL_SEED", time.time_ns()))
    send = subprocess.Popen(digest_command(config, "--workers", "3"), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    killed = []
    for at in sorted(rng.uniform(300, 3500) for _ in range(2)):
        while len(smtp_sink.handler.messages) < at:
            assert send.poll() is None, send.communicate()
            time.sleep(0.001)
        alive = [pid for pid in children(send.pid) if pid not in killed]
        victim = rng.choice(alive)
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)
    out, err = send.communicate(timeout=300)
    assert out.count("was killed (signal 9)") == 2, out + err
    resumed = subprocess.run(digest_command(config), env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    counts = received(smtp_sink)
    assert set(counts) == {a.lower() for a in everyone}  # no one missed
    twice = {address for address, n in counts.items() if n > 1}
    assert max(counts.values()) <= 2 and len(twice) <= len(killed)
    assert twice <= named_in_doubt(out, resumed.stdout), (twice, out, resumed.stdout)  # every duplicate named


def _serve(config: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "DIGEST_SECRET": SECRET}
    command = [sys.executable, "-m", "digest.cli", "serve", "--config", str(config), "--port", str(port)]
    web = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return web
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("digest serve did not start")


@pytest.mark.slow
@pytest.mark.postgresql_only
def test_unsubscribes_across_two_web_processes_are_honoured_by_a_send_running_meanwhile(
    engine: str, send_config: Callable[..., Path], smtp_sink: SmtpSink
) -> None:
    config = send_config(connections=2, rate_per_second=250)
    add_subscribers(config, 2500)
    with State(load_config(config).state_target) as state:
        people = [(s.id, s.email) for s in roster.all_subscribers(state)]
    leaving = random.Random(7).sample(people, 500)
    ports = [free_port(), free_port()]
    webs = [_serve(config, port) for port in ports]
    env = {**os.environ, "DIGEST_SECRET": SECRET}
    send = subprocess.Popen(digest_command(config, "--workers", "2"), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    while len(smtp_sink.handler.messages) < 100:
        assert send.poll() is None, send.communicate()
        time.sleep(0.01)

    def leave(n: int) -> tuple[str, int, str, float]:
        sid, address = leaving[n]
        token = make_token(SECRET.encode(), sid, address)
        url = f"http://127.0.0.1:{ports[n % 2]}/unsubscribe/{token}"
        answer = httpx.post(url, content=b"List-Unsubscribe=One-Click", timeout=60)
        return address.lower(), answer.status_code, answer.text, time.monotonic()

    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(leave, range(len(leaving))))
        out, err = send.communicate(timeout=300)
    finally:
        for web in webs:
            web.terminate()
    logs = [web.communicate(timeout=30)[1] for web in webs]

    assert send.returncode == 0, out + err
    assert [code for _, code, _, _ in answers] == [200] * 500, [a for a in answers if a[1] != 200][:3]
    for log in logs:
        assert "Traceback" not in log and "locked" not in log and "serializ" not in log, log[-2000:]
    accepted = smtp_sink.handler.accepted_at
    last_mail: dict[str, float] = {}
    for (_, rcpts, _), at in zip(smtp_sink.handler.messages, accepted, strict=True):
        last_mail[rcpts[0].lower()] = at
    late = [address for address, _, _, left_at in answers if last_mail.get(address, 0) > left_at]
    assert not late  # no reader got the issue after their unsubscribe was answered
    skipped = sum(1 for address, _, _, _ in answers if address not in last_mail)
    assert skipped > 100, skipped  # most left before their turn came, and were not mailed
    assert sum(received(smtp_sink).values()) == 2500 - skipped


def test_workers_give_each_reader_they_claim_the_copy_of_their_themes(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    from variants_help import DEMO_SECTIONS, add_readers, by_recipient, html_sections, ledger_variants, parts

    config = send_config(connections=2, rate_per_second=1000)
    choices = {"": DEMO_SECTIONS, "labor": ["Labor"], "palestine,labor": ["Labor", "Palestine"]}
    readers = {f"reader{n}@example.org": list(choices)[n % 3] for n in range(150)}
    add_readers(config, readers)

    result = cli("send", "--config", config, "--now", NOW, "--workers", 3)

    assert result.exit_code == 0, result.output
    assert "150 sent" in result.stdout and "issue 2024-W09 is sent" in result.stdout
    assert "copies per variant: the whole issue 50; Labor 50; Labor, Palestine 50" in result.stdout
    mails = by_recipient(smtp_sink)
    assert set(mails) == set(readers) and {len(m) for m in mails.values()} == {1}
    for address, themes in readers.items():
        assert html_sections(parts(mails[address][0])[1]) == choices[themes], address
    recorded = {variant for _, variant in ledger_variants(config).values()}
    assert recorded == {"", "labor", "labor,palestine"}  # "": the whole issue


def test_a_worker_names_a_copy_in_doubt_the_moment_it_takes_it_over(
    send_config: Callable[..., Path], smtp_sink: SmtpSink
) -> None:
    """A worker killed after sending such a copy again never writes its part: the send must have its name already."""
    from datetime import UTC, datetime

    from digest.issue.pipeline import build_issue
    from digest.mail.delivery.workers import IN_DOUBT, _add
    from digest.mail.summary import Summary
    from digest.models import DeliveryStatus, IssueStatus
    from digest.store import claims, issues

    config = send_config()
    add_subscribers(config, 5)
    settings = load_config(config)
    with State(settings.state_target) as state:
        built = build_issue(settings, datetime(2024, 3, 1, 12, tzinfo=UTC), state)
        issues.freeze(state, "2024-W09", built.issue.window, built.rendered, built.record())
        issues.set_status(state, "2024-W09", IssueStatus.SENDING)
        claims.enqueue(state, "2024-W09")
        [gone] = claims.claim(state, "2024-W09", "another-host:1:abc", 1, lease=0.5)
        assert claims.mark(state, "2024-W09", gone.recipient.id, "another-host:1:abc", DeliveryStatus.COMMITTING, "<m>")
    time.sleep(0.6)  # that worker's lease runs out: its copy may or may not have reached the relay

    env = {**os.environ, "DIGEST_SECRET": SECRET}
    worker = subprocess.run(digest_command(config, "--worker-of", "2024-W09"), env=env, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert worker.returncode == 0, worker.stderr
    lines = worker.stdout.splitlines()
    assert lines[0] == IN_DOUBT + gone.recipient.email  # written before anything else, at the takeover
    assert len(smtp_sink.handler.messages) == 5

    # The send that started the worker reads the line even when the worker died before its part.
    killed = subprocess.Popen([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
    killed.wait()
    summary = Summary(issue_id="2024-W09")
    _add(summary, killed, lines[0] + "\n")
    assert summary.in_doubt == [gone.recipient.email] and summary.lost_workers == [
        f"pid {killed.pid} was killed (signal 9)"
    ]
