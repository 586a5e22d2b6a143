"""Debian's PostgreSQL for the tests: initdb and pg_ctl in a temporary folder, on 127.0.0.1, as an unprivileged user.

PostgreSQL refuses to run as root, so when the suite runs as root (as CI does) the server runs as the `postgres`
user that Debian's package creates, in a folder that user owns; the tests connect over TCP with a password, the
way a real deployment would.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PASSWORD = "digest-test-password"


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def available() -> bool:
    return _bindir() is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Postgres:
    """One throwaway cluster with a database `digest` owned by the user `digest` (password authentication)."""

    def __init__(self) -> None:
        bindir = _bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql")
        self.bindir = bindir
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="digest-pg-"))
        self.folder.chmod(0o755)
        self.data = self.folder / "data"
        self.run_as = "postgres" if os.geteuid() == 0 else None

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        return subprocess.run([*prefix, *command], check=check, capture_output=True, text=True, timeout=120)

    def start(self) -> Postgres:
        if self.run_as:
            shutil.chown(self.folder, self.run_as)
        pwfile = self.folder / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.run_as:
            shutil.chown(pwfile, self.run_as)
        self._run(
            str(self.bindir / "initdb"),
            "-D", str(self.data),
            "-U", "digest",
            "--pwfile", str(pwfile),
            "--auth-local", "scram-sha-256",
            "--auth-host", "scram-sha-256",
            "-E", "UTF8",
            "--no-instructions",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.folder} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"), "-o", options,
                  "-w", "start")  # fmt: skip
        self.psql("CREATE DATABASE digest OWNER digest", database="postgres")
        return self

    def psql(self, sql: str, database: str = "digest") -> str:
        done = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "digest", "-d", database, "-Atqc", sql],
            env={**os.environ, "PGPASSWORD": PASSWORD},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    def url(self, database: str = "digest") -> str:
        """The URL a config's `state:` takes; the password comes from the environment, never the URL."""
        return f"postgresql://digest@127.0.0.1:{self.port}/{database}"

    def fresh_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}" OWNER digest', database="postgres")
        return self.url(name)

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)
