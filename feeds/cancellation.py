"""Loops that retry Redis calls must still stop when their task is cancelled."""

from __future__ import annotations

import asyncio


def stop_if_cancelled() -> None:
    """Raise the cancellation a Redis call lost: redis-py can swallow one that lands mid-command or
    turn it into a connection error, and a loop that retries would then never stop (seen as a
    process that does not shut down on SIGTERM)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
