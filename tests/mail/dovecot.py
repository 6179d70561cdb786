"""A private Dovecot IMAP server for tests (shared/recipes/dovecot-test-server.md).

Everything lives in one temporary folder; the system configuration is not
touched. Needs Debian's ``dovecot-imapd`` and root (to create the ``okmail``
system user Dovecot delivers as).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

MAIL_USER = "okmail"
MAILBOX_USER = "support"
MAILBOX_PASSWORD = "support"

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:{d}/mail
# Without inotify (limits reached on a busy CI box) IDLE falls back to
# polling every 30 s by default; check every second instead.
mailbox_idle_check_interval = 1 secs
default_login_user = dovenull
default_internal_user = dovecot
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid={user} gid={user} home={d}/home
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.path.exists(p)), None
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_system_user(name: str = MAIL_USER) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", name], check=True)


@dataclass
class DovecotServer:
    root: Path
    host: str = "127.0.0.1"
    port: int = 0
    username: str = MAILBOX_USER
    password: str = MAILBOX_PASSWORD
    process: subprocess.Popen | None = None

    def start(self, timeout: float = 15.0) -> DovecotServer:
        binary = dovecot_binary()
        if binary is None:
            raise RuntimeError("dovecot is not installed: apt-get install -y dovecot-imapd")
        ensure_system_user()
        user = pwd.getpwnam(MAIL_USER)
        for sub in ("run", "state", "mail", "home"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("mail", "home"):
            os.chown(self.root / sub, user.pw_uid, user.pw_gid)
        # Dovecot's login processes must reach base_dir.
        os.chmod(self.root, 0o755)
        (self.root / "users").write_text(f"{self.username}:{{PLAIN}}{self.password}\n")
        self.port = self.port or free_port()
        config = self.root / "dovecot.conf"
        config.write_text(CONFIG.format(d=self.root, user=MAIL_USER, port=self.port))
        self.process = subprocess.Popen(
            [binary, "-F", "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stdout.read().decode(errors="replace") if self.process.stdout else ""
                raise RuntimeError(f"dovecot exited with {self.process.returncode}: {output}\n{self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"dovecot did not answer on port {self.port}\n{self.log()}")

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout:
            self.process.stdout.close()
        self.process = None

    def client(self):
        from imapclient import IMAPClient

        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=30)
        client.login(self.username, self.password)
        return client


@pytest.fixture(scope="session")
def dovecot():
    """A running Dovecot with the mailbox support/support, for the whole session."""
    if dovecot_binary() is None:
        if os.environ.get("CI") or os.environ.get("OKWALLET_REQUIRE_SERVICES") == "1":
            raise RuntimeError("dovecot is not installed: apt-get install -y dovecot-imapd")
        pytest.skip("dovecot is not installed (apt-get install -y dovecot-imapd)")
    # Not pytest's tmp_path: its parents are 0700 and Dovecot's unprivileged
    # processes must reach the mail folders.
    root = Path(tempfile.mkdtemp(prefix="okwallet-dovecot-"))
    server = DovecotServer(root=root).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
