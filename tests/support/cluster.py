"""The production topology on one machine, without Docker: redis-server, PostgreSQL, the migration,
one pricing gateway, several serving gateways and HAProxy in front, each a real process on loopback.

    .venv/bin/python -m tests.support.cluster [--readers 2] [--demo]     (what `make cluster` runs)

Feeds post to the pricer (`PARTITIONS=all`: it owns every event); the readers (`PARTITIONS=none`)
follow it through Redis and serve REST, GraphQL and `/ws`. HAProxy sends ingest to the pricer and
everything else to any healthy gateway (health check: `/ready`), WebSockets included. Tests and
benchmarks use `cluster()` to start it and `Cluster` to kill or restart parts of it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.servers import REPO, GatewayProcess, RedisProcess, free_port, postgres_server

SECRET = "cluster-secret-with-at-least-32-characters!"
HAPROXY = """global
    # Two descriptors per proxied connection, within the usual 20000 open files.
    maxconn 9500

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # WebSockets stay open as long as either side talks (heartbeats every 15 s).
    timeout tunnel 1h
    option http-server-close
    # A connection refused by a gateway that just died is tried on another.
    option redispatch
    retries 3
    # A busy gateway answers its health check late rather than not at all: give it 5 s and three
    # misses before taking it out (a dead one refuses the connection and fails at once).
    timeout check 5s
    default-server check inter 1s fall 3 rise 1

frontend odds
    bind 127.0.0.1:{port}
    acl feed path_beg /api/v2/ingest /api/v2/feeds
    use_backend pricer if feed
    default_backend gateways

backend pricer
    option httpchk GET /ready
    server pricer 127.0.0.1:{pricer}

backend gateways
    balance leastconn
    option httpchk GET /ready
{servers}
"""


@dataclass
class Cluster:
    url: str
    pricer: GatewayProcess
    readers: list[GatewayProcess]
    redis: RedisProcess
    database_url: str
    workdir: Path
    haproxy: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def gateways(self) -> list[GatewayProcess]:
        return [self.pricer, *self.readers]

    def wait_healthy(self, timeout: float = 30) -> None:
        """Until HAProxy answers and every gateway passes its health check."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200 and all(
                    httpx.get(f"{g.url}/ready", timeout=1).status_code == 200 for g in self.gateways
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the cluster was not healthy within {timeout}s (logs in {self.workdir})")


def _haproxy_binary() -> str:
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
    if found is None:
        raise RuntimeError("haproxy is not installed; `make test` and `make cluster` install it")
    return found


def _create_database(cluster_url: str, name: str) -> str:
    async def create() -> None:
        admin = create_async_engine(cluster_url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()

    asyncio.run(create())
    return cluster_url.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def cluster(readers: int = 2, *, demo: bool = False, workdir: Path | None = None, **env: str) -> Iterator[Cluster]:
    root = workdir or Path(tempfile.mkdtemp(prefix="oddsgate-cluster-"))
    redis = RedisProcess()
    redis.start()
    try:
        with postgres_server() as postgres:
            database_url = _create_database(postgres, "oddsgate")
            common = {
                "ODDSGATE_DATABASE_URL": database_url,
                "ODDSGATE_REDIS_URL": redis.url,
                "ODDSGATE_JWT_SECRET": SECRET,
                "ODDSGATE_AUTO_MIGRATE": "0",
                "ODDSGATE_DEMO_FEED": "0",
                **env,
            }
            subprocess.run(
                [sys.executable, "-m", "gateway.cli", "migrate"],
                cwd=REPO,
                env={**os.environ, **common},
                check=True,
                capture_output=True,
            )
            pricing = {**common, "ODDSGATE_PARTITIONS": "all", "ODDSGATE_DEMO_FEED": "1" if demo else "0"}
            pricer = GatewayProcess(root, "pricer", **pricing)
            following = {**common, "ODDSGATE_PARTITIONS": "none"}
            serving = [GatewayProcess(root, f"reader-{n}", **following) for n in range(readers)]
            port = free_port()
            running = Cluster(f"http://127.0.0.1:{port}", pricer, serving, redis, database_url, root, env=common)
            try:
                for gateway in running.gateways:
                    gateway.start()
                config = root / "haproxy.cfg"
                config.write_text(
                    HAPROXY.format(
                        port=port,
                        pricer=pricer.port,
                        # Clients go to the readers; the pricer only prices (and serves when alone).
                        servers="\n".join(
                            f"    server {g.name} 127.0.0.1:{g.port}" for g in running.readers or [pricer]
                        ),
                    )
                )
                log = (root / "haproxy.log").open("ab")
                running.haproxy = subprocess.Popen(
                    [_haproxy_binary(), "-db", "-f", str(config)], stdout=log, stderr=log
                )
                running.wait_healthy()
                yield running
            finally:
                if running.haproxy is not None:
                    running.haproxy.terminate()
                    running.haproxy.wait(10)
                for gateway in running.gateways:
                    gateway.stop()
    finally:
        redis.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the production topology here, without Docker.")
    parser.add_argument("--readers", type=int, default=2, help="serving gateways behind HAProxy (default 2)")
    parser.add_argument("--demo", action="store_true", help="the pricer runs the demo feed")
    args = parser.parse_args(argv)
    with cluster(args.readers, demo=args.demo) as running:
        from gateway.access import token_service
        from gateway.settings import Settings

        token, _ = token_service(Settings(jwt_secret=SECRET)).issue(
            "operator", ["odds:read", "odds:control", "insights:read"], ["*"]
        )
        print(f"oddsgate cluster: {running.url} (HAProxy) -> pricer {running.pricer.url}, readers", end=" ")
        print(", ".join(r.url for r in running.readers))
        print(f"redis {running.redis.url}, postgres {running.database_url}, logs in {running.workdir}")
        print(f"an operator token (1 h): {token}")
        print("Ctrl-C stops everything.")
        # Blocked, Ctrl-C and SIGTERM interrupt nothing: sigwait takes the first, and everything stops.
        stops = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stops)
        signal.sigwait(stops)
    return 0


if __name__ == "__main__":
    sys.exit(main())
