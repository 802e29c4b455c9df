"""A real MariaDB server for the SCRM ingest tests, started and stopped by the test session.

The fixture does not use the system service: it initialises a data directory in a temporary
folder, starts ``mariadbd`` on a free local port (one server per pytest-xdist worker), creates a
user with a password and hands out empty databases. Without the server binaries the tests are
skipped, except on CI (``CI`` set), where they fail: CI installs ``mariadb-server`` (.ci/run).
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

_SBIN = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin")


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in _SBIN:
        path = Path(folder) / name
        if path.is_file():
            return str(path)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class MariaDB:
    """A running server: ``url(db)`` for the ingest, ``create``/``load`` through the real client."""

    client: str
    socket: Path
    port: int
    user: str
    password: str

    def url(self, database: str) -> str:
        """``mysql://user:password@127.0.0.1:PORT/database``."""
        return f"mysql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _run(self, args: list[str], stdin: Path | None = None, root: bool = False) -> None:
        user = ["-uroot", f"--socket={self.socket}"] if root else [
            f"-u{self.user}", "-h127.0.0.1", f"-P{self.port}", "--protocol=TCP"]
        env = dict(os.environ) if root else {**os.environ, "MYSQL_PWD": self.password}
        with open(stdin, "rb") if stdin else open(os.devnull, "rb") as fh:
            done = subprocess.run([self.client, "--no-defaults", *user, *args], stdin=fh, env=env,
                                  capture_output=True, timeout=300)
        if done.returncode:
            raise RuntimeError(f"mariadb client failed ({done.returncode}): {done.stderr.decode(errors='replace')}")

    def sql(self, statement: str, database: str = "") -> None:
        """Run one statement as the test user."""
        self._run([*([database] if database else []), "-e", statement])

    def create(self, database: str) -> None:
        """An empty database (dropped first when it exists)."""
        self.sql(f"DROP DATABASE IF EXISTS `{database}`; CREATE DATABASE `{database}` CHARACTER SET utf8mb4")

    def load(self, database: str, path: Path) -> None:
        """Execute a .sql file with the ``mariadb`` command-line client."""
        self._run([database], stdin=path)


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> MariaDB:
    """A MariaDB server of this test session (per xdist worker), stopped at the end."""
    server, install, client = _binary("mariadbd"), _binary("mariadb-install-db"), _binary("mariadb")
    if not (server and install and client):
        reason = "the MariaDB server binaries (mariadbd, mariadb-install-db, mariadb) are absent"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so this fails rather than skips; .ci/run installs mariadb-server)")
        pytest.skip(f"{reason}; install Debian's mariadb-server to run the SCRM ingest tests")
    # a short path: the socket path must stay under the 108-byte limit of AF_UNIX
    base = Path(tmp_path_factory.mktemp("mdb"))
    data, sock = base / "data", base / "sock"
    user = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run([install, "--no-defaults", *user, f"--datadir={data}", "--auth-root-authentication-method=normal",
                    "--skip-test-db"], check=True, capture_output=True, timeout=120)
    port = _free_port()
    log = open(base / "server.log", "wb")  # noqa: SIM115 - closed after the server stops
    proc = subprocess.Popen([server, "--no-defaults", *user, f"--datadir={data}", f"--socket={sock}",
                             f"--port={port}", "--bind-address=127.0.0.1", f"--pid-file={base / 'server.pid'}",
                             "--innodb-buffer-pool-size=64M", "--skip-log-bin", "--character-set-server=utf8mb4"],
                            stdout=log, stderr=subprocess.STDOUT)
    password = secrets.token_urlsafe(12)
    db = MariaDB(client, sock, port, "wb_ingest", password)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited ({proc.returncode}): "
                                   f"{(base / 'server.log').read_text(errors='replace')[-2000:]}")
            try:
                db._run(["-e", "SELECT 1"], root=True)
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise RuntimeError("mariadbd did not accept connections within 30 s") from None
                time.sleep(0.3)
        db._run(["-e", f"CREATE USER '{db.user}'@'127.0.0.1' IDENTIFIED BY '{password}'; "
                       f"GRANT ALL PRIVILEGES ON *.* TO '{db.user}'@'127.0.0.1'; FLUSH PRIVILEGES"], root=True)
        yield db
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
