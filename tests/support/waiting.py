"""Waiting for a condition (never for a fixed time): polled until it holds or the time is up.

`never` is the one bounded wait a test may make: for something that must not happen, the window is
the claim itself ("no retry within 1.5 s"), not a guess at how long something takes."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

Condition = Callable[[], Awaitable[bool] | bool]


async def _holds(condition: Condition) -> bool:
    result = condition()
    return bool(await result) if inspect.isawaitable(result) else bool(result)


async def until(condition: Condition, seconds: float = 10.0, every: float = 0.02) -> None:
    """Returns once `condition()` is true; AssertionError after `seconds`."""
    deadline = time.monotonic() + seconds
    while not await _holds(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"the condition did not hold within {seconds} s")
        await asyncio.sleep(every)


async def never(condition: Condition, seconds: float, every: float = 0.02) -> None:
    """Returns after `seconds` in which `condition()` never held; AssertionError as soon as it does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await _holds(condition):
            raise AssertionError(f"what must not happen within {seconds} s did")
        await asyncio.sleep(min(every, max(0.0, deadline - time.monotonic())))
    if await _holds(condition):
        raise AssertionError(f"what must not happen within {seconds} s did")
