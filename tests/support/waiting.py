"""Waiting for a condition (never for a fixed time): polled until it holds or the time is up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def until(condition: Callable[[], Awaitable[bool]], seconds: float = 10.0, every: float = 0.02) -> None:
    """Returns once `condition()` is true; AssertionError after `seconds`."""
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"the condition did not hold within {seconds} s")
        await asyncio.sleep(every)
