"""When the weekly job runs: a crontab line, a systemd service and timer, and the next run time."""

from __future__ import annotations

import logging
import shutil
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from digest.config import Settings

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass
class Units:
    crontab: str
    service: str
    timer: str


def _command(settings: Settings) -> str:
    digest = shutil.which("digest") or f"{sys.executable} -m digest.cli"
    return f"{digest} run --config {settings.path}"


def units(settings: Settings) -> Units:
    cfg = settings.model
    hour, minute = cfg.schedule.time.split(":")
    day = DAYS.index(cfg.schedule.day)
    cron_day = (day + 1) % 7  # cron counts from Sunday = 0
    zone = cfg.newsletter.timezone
    crontab = (
        f"# {cfg.newsletter.title}: every {cfg.schedule.day.title()} at {cfg.schedule.time} ({zone})\n"
        f"CRON_TZ={zone}\n"
        f"{int(minute)} {int(hour)} * * {cron_day} cd {settings.base_dir} && {_command(settings)} "
        f">> {settings.base_dir / 'digest.log'} 2>&1\n"
    )
    service = (
        "[Unit]\n"
        f"Description={cfg.newsletter.title}: build and send the weekly issue\n"
        "After=network-online.target\nWants=network-online.target\n\n"
        "[Service]\nType=oneshot\n"
        f"WorkingDirectory={settings.base_dir}\n"
        f"ExecStart={_command(settings)}\n"
        f"# Secrets: put {cfg.secret_env} and {cfg.smtp.password_env} in this file (mode 600).\n"
        f"EnvironmentFile=-{settings.base_dir / 'digest.env'}\n"
    )
    timer = (
        "[Unit]\n"
        f"Description={cfg.newsletter.title}: weekly schedule\n\n"
        "[Timer]\n"
        f"OnCalendar={cfg.schedule.day[:3].title()} *-*-* {cfg.schedule.time}:00 {zone}\n"
        "Persistent=true\n\n"
        "[Install]\nWantedBy=timers.target\n"
    )
    return Units(crontab=crontab, service=service, timer=timer)


def install(settings: Settings, folder: Path) -> list[Path]:
    """Write digest.service and digest.timer into `folder` (a systemd unit directory)."""
    made = units(settings)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("digest.service", made.service), ("digest.timer", made.timer)):
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def next_run(settings: Settings, after: datetime) -> datetime:
    """The first scheduled moment strictly after `after`, in the newsletter's time zone."""
    cfg = settings.model
    zone = ZoneInfo(cfg.newsletter.timezone)
    hour, minute = (int(p) for p in cfg.schedule.time.split(":"))
    local = after.astimezone(zone)
    target_day = DAYS.index(cfg.schedule.day)
    for offset in range(8):
        day = (local + timedelta(days=offset)).date()
        if day.weekday() != target_day:
            continue
        moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        if moment > local:
            return moment
    raise AssertionError("a weekly schedule always has a next run")


class Scheduler(threading.Thread):
    """Runs the weekly job at each scheduled moment, inside a long-running `digest serve`."""

    def __init__(
        self,
        settings: Settings,
        next_time: Callable[[datetime], datetime] | None = None,
        report: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(name="digest-scheduler", daemon=True)
        self.settings = settings
        self.next_time = next_time or (lambda after: next_run(settings, after))
        self.report = report or logging.getLogger("digest.schedule").info  # a long-running process logs
        self.stopping = threading.Event()
        self.runs = 0

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            due = self.next_time(datetime.now(UTC))
            self.report(f"next run of the weekly job: {due.isoformat()}")
            if not self._wait_fetching_bounces(due):
                return
            self._run_job()
            self.runs += 1

    def _wait_fetching_bounces(self, due: datetime) -> bool:
        """Wait until `due`, reading the bounce mailbox every bounces.imap.every_minutes meanwhile (a complaint
        is heard within the hour, not at the next issue); False when stopped."""
        imap = self.settings.model.bounces.imap
        every = imap.every_minutes * 60 if imap is not None else None
        while (left := (due - datetime.now(UTC)).total_seconds()) > 0:
            if self.stopping.wait(min(left, every) if every else left):
                return False
            if every and (due - datetime.now(UTC)).total_seconds() > 0:
                self._fetch_bounces()
        return not self.stopping.is_set()

    def _fetch_bounces(self) -> None:
        from digest.jobs.run import fetch_bounces
        from digest.store.db import State

        try:
            with State(self.settings.state_target) as state:
                lines, note = fetch_bounces(self.settings, state, datetime.now(UTC))
        except Exception as error:  # a long-running server must outlive one bad fetch
            lines, note = [], f"the bounce mailbox fetch crashed: {type(error).__name__}: {error}"
        for line in [*lines, *([note] if note else [])]:
            self.report(line.strip())

    def _run_job(self) -> None:
        from digest.errors import DigestError
        from digest.jobs.run import run_job
        from digest.store.db import State

        try:
            with State(self.settings.state_target) as state:
                result = run_job(self.settings, state, datetime.now(UTC).replace(microsecond=0))
            self.report(f"weekly job: {result.outcome}")
        except DigestError as error:
            self.report(f"weekly job failed: {error}")
        except Exception as error:  # a long-running server must outlive one bad run
            self.report(f"weekly job crashed: {type(error).__name__}: {error}")
