"""Third-party JavaScript clients (tests/clients) run by Node against a gateway the tests started."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CLIENTS = Path(__file__).resolve().parents[1] / "clients"
# Written after a successful `npm ci`: the lock file it installed, so a rerun skips the install.
STAMP = CLIENTS / "node_modules" / ".oddsgate-installed"


@dataclass(frozen=True)
class NodeClients:
    node: str

    async def run(self, script: str, url: str, token: str) -> Any:
        """Runs `tests/clients/<script>` against the gateway at `url` and returns the JSON it printed."""
        process = await asyncio.create_subprocess_exec(
            self.node,
            script,
            cwd=CLIENTS,
            env={"PATH": str(Path(self.node).parent), "ODDSGATE_URL": url, "ODDSGATE_TOKEN": token},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        async with asyncio.timeout(120):
            out, err = await process.communicate()
        assert process.returncode == 0, f"node {script} exited {process.returncode}: {err.decode()[-2000:]}"
        return json.loads(out)


@functools.cache
def node_clients() -> NodeClients:
    """Node with tests/clients' packages installed (`npm ci`, from the committed lock file)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(
            "Node.js (18 or later) and npm are needed for the GraphQL client tests: "
            "scripts/test-prereqs.sh installs them (apt: nodejs npm)"
        )
    lock = hashlib.sha256((CLIENTS / "package-lock.json").read_bytes()).hexdigest()
    if not STAMP.is_file() or STAMP.read_text() != lock:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=CLIENTS,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci in {CLIENTS} failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}")
        STAMP.write_text(lock)
    return NodeClients(node)
