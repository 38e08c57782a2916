"""Real servers for integration tests: PostgreSQL (initdb/pg_ctl), Redis and the gateway itself,
each on loopback on a free port."""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise RuntimeError(f"{name} is not installed; `make test` installs it (scripts/test-prereqs.sh)")
    return found


def _wait_for_port(port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout}s")


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster; yields the asyncpg URL of its `postgres` database."""
    root = Path(tempfile.mkdtemp(prefix="oddsgate-pg-"))
    data, port = root / "data", free_port()
    # PostgreSQL refuses to run as root, so as root the cluster belongs to the postgres user.
    run_as: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*run_as, _binary("initdb"), "-D", str(data), "-U", "oddsgate", "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(
        [*run_as, _binary("pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", options, "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        _wait_for_port(port, 30, "postgres")
        yield f"postgresql+asyncpg://oddsgate@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*run_as, _binary("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], check=False, capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)


async def serve_in_process(config: uvicorn.Config, what: str) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """A uvicorn server on this event loop, once it listens; stop it with `should_exit` and the task."""
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(400):
        if server.started:
            return server, task
        if task.done():
            task.result()
        await asyncio.sleep(0.025)
    raise RuntimeError(f"{what} did not start")


class RedisProcess:
    """A redis-server without persistence on a fixed port, which a test can stop and start again."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                _binary("redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, 15, "redis-server")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None

    def kill(self) -> None:
        """As a crash would: SIGKILL, nothing flushed; it starts again empty (no persistence)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
            self._process = None


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server without persistence; yields its URL."""
    server = RedisProcess()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


class GatewayProcess:
    """`oddsgate serve` as its own process on a free port (SQLite in `workdir` unless the
    environment names a database), which a test can kill and start again on the same port."""

    def __init__(self, workdir: Path, name: str = "gateway", **env: str):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{name}.log"
        self.environment = {
            **os.environ,
            "ODDSGATE_PORT": str(self.port),
            "ODDSGATE_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / f'{name}.db'}",
            "ODDSGATE_LOG_LEVEL": "warning",
            "ODDSGATE_AUDIT_JOURNAL": str(workdir / "journal"),
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "serve"],
                cwd=REPO,
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text()
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"oddsgate serve did not answer /health within {timeout}s: {self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)
        self.process = None

    def kill(self) -> None:
        """As a crash would: no shutdown, connections simply drop."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(15)
        self.process = None


@contextmanager
def gateway_process(workdir: Path, name: str = "gateway", **env: str) -> Iterator[str]:
    """`oddsgate serve` as its own process on a free port, SQLite in `workdir`; yields its URL."""
    gateway = GatewayProcess(workdir, name, **env)
    gateway.start()
    try:
        yield gateway.url
    finally:
        gateway.stop()
