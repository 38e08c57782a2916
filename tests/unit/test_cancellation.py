"""A retrying loop stops on cancel even when the call it was in swallowed the cancellation."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from feeds.book import OddsBook
from feeds.cancellation import stop_if_cancelled
from feeds.replication import SnapshotWriter
from tests.unit.test_book import Clock


class SwallowingStore:
    """Like redis-py when a cancel lands mid-command: the call returns or fails as a connection error."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.calls = 0
        self.entered = asyncio.Event()

    async def save_snapshots(self, bodies: dict[str, bytes]) -> None:
        self.calls += 1
        self.entered.set()
        try:
            await asyncio.sleep(3600)  # a command that never answers: only the cancel ends it
        except asyncio.CancelledError:
            if self.fail:
                raise RedisConnectionError("connection closed by cancel") from None

    async def forget(self, event_ids: list[str]) -> None:
        return None


async def _nothing_pending() -> None:
    return None


@pytest.mark.parametrize("fail", [False, True])
async def test_the_snapshot_loop_stops_when_its_cancel_was_swallowed(fail: bool) -> None:
    store = SwallowingStore(fail)
    writer = SnapshotWriter(OddsBook(clock=Clock()), store, _nothing_pending)  # type: ignore[arg-type]
    task = asyncio.create_task(writer.run(0.001))
    await store.entered.wait()
    task.cancel()
    # Not wait_for: it would cancel the task again and wait for it, hanging instead of failing.
    await asyncio.wait({task}, timeout=5)
    assert task.cancelled()
    assert store.calls == 1


async def test_stop_if_cancelled_is_silent_for_a_running_task() -> None:
    stop_if_cancelled()
