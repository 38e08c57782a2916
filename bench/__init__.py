"""Helpers shared by the benchmark scripts in bench/.

The scripts run as files (`.venv/bin/python bench/fanout.py`) and put the repository root on
sys.path, so they import this as `from bench import ...`. It lives in `__init__.py` rather than a
module of its own so that bench/ is a regular package: mypy then names every file here once
(`bench.fanout`, `bench.ingest`), where a namespace directory would have it find a shared module
both as `machine` and as `bench.machine`.
"""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what the platform module says."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
