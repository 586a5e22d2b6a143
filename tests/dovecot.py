"""A real IMAP server for the tests: Debian's Dovecot on 127.0.0.1, a throwaway user, a Maildir in a temp dir.

Nothing of the system's Dovecot is used or touched: the server runs from our own `dovecot.conf` (`dovecot -F
-c …`, in the foreground, so that it is our child and stops with us) with every path it writes (base_dir,
state_dir, logs, the password file, the mail) inside one temporary directory, on a free port, with TLS off
and plaintext login allowed, which is safe only because it listens on loopback.

Who the processes run as is the one delicate part:
- as a normal user, everything runs as that user: `default_internal_user`, `default_login_user` and the
  mail user are the current user, `first_valid_uid` is its uid, and the login and anvil processes do not
  chroot (only root may);
- as root (CI runs as root), Dovecot refuses to touch mail as uid 0 ("Mail access for users with UID 0 not
  permitted", built in, no setting lifts it), so the mail user, `default_internal_user` and
  `default_login_user` are `nobody`, `first_valid_uid` is 1 so that any unprivileged uid is allowed, the
  Maildir is chown'ed to `nobody`, and the temp dir is world-traversable (pytest's own temp dirs are 0700).
"""

from __future__ import annotations

import contextlib
import grp
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DOVECOT = "/usr/sbin/dovecot"
USER = "bounces"
PASSWORD = "a-throwaway-password"


def available() -> bool:
    """Whether Debian's dovecot-imapd is installed (`.ci/run` installs it)."""
    return Path(DOVECOT).exists() and Path("/usr/lib/dovecot/imap").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Dovecot:
    """One Dovecot on 127.0.0.1:port with one user whose mail is a Maildir under `root`."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="digest-dovecot-"))
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:
            account = pwd.getpwnam("nobody")
            self.uid, self.gid = account.pw_uid, account.pw_gid
            self.system_user, self.system_group = "nobody", grp.getgrgid(account.pw_gid).gr_name
            os.chmod(self.root, 0o755)  # the processes running as nobody must reach base_dir and the mail
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
            self.system_user, self.system_group = pwd.getpwuid(self.uid).pw_name, grp.getgrgid(self.gid).gr_name
        self.home = self.root / "home" / USER
        self.maildir = self.home / "Maildir"

    @property
    def config(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log(self) -> Path:
        return self.root / "dovecot.log"

    def _write_config(self) -> None:
        root = self.root
        (root / "run").mkdir()
        (root / "state").mkdir()
        (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        self.config.write_text(
            f"""# Written by tests/dovecot.py for one test run; see its docstring.
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {self.log}
info_log_path = {self.log}
ssl = no
# Plaintext LOGIN without TLS: acceptable only because the server listens on loopback.
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {self.system_user}
default_internal_group = {self.system_group}
default_login_user = {self.system_user}
# Dovecot's default (500) would refuse nobody's uid on some systems and a low uid on others.
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""
        )

    def _make_maildir(self) -> None:
        for sub in ("cur", "new", "tmp"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        for path in (self.root / "home", self.home, *self.home.rglob("*")):
            os.chown(path, self.uid, self.gid)

    def start(self, timeout: float = 15.0) -> Dovecot:
        self._write_config()
        self._make_maildir()
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stdout.read().decode(errors="replace") if self.process.stdout else ""
                raise RuntimeError(f"dovecot exited at start: {output}{self._log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dovecot did not listen on 127.0.0.1:{self.port} within {timeout}s{self._log_tail()}")

    def stop(self) -> None:
        """Stop the server (SIGTERM to the master, which takes its children down) and remove the temp dir."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return "\n" + "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        return ""

    def deliver(self, raw: bytes, folder: str = "INBOX") -> Path:
        """Drop a message into the Maildir as a local delivery agent would: written in tmp/, renamed into new/."""
        box = self.maildir if folder == "INBOX" else self.maildir / f".{folder}"
        for sub in ("cur", "new", "tmp"):
            (box / sub).mkdir(parents=True, exist_ok=True)
            os.chown(box / sub, self.uid, self.gid)
        os.chown(box, self.uid, self.gid)
        name = f"{time.time_ns()}.P{os.getpid()}.digest-tests"
        temporary = box / "tmp" / name
        temporary.write_bytes(raw)
        os.chown(temporary, self.uid, self.gid)
        final = box / "new" / name
        os.rename(temporary, final)
        return final

    def connect(self) -> imaplib.IMAP4:
        """A logged-in IMAP client (plain IMAP on loopback)."""
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        client.login(USER, PASSWORD)
        return client
