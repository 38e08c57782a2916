"""Group commit: requests queued during a batch form the next one, answered one by one."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from betting.group_commit import GroupCommit


async def test_requests_arriving_during_a_batch_share_the_next_one() -> None:
    batches: list[list[int]] = []
    gate = asyncio.Event()

    async def decide(requests: Sequence[int]) -> list[int | BaseException]:
        batches.append(list(requests))
        if len(batches) == 1:
            await gate.wait()
        return [r * 10 if r % 3 else ValueError(f"no {r}") for r in requests]

    commits: GroupCommit[int, int] = GroupCommit(decide, limit=3)
    first = asyncio.create_task(commits.submit(1))
    await asyncio.sleep(0)  # one turn of the loop: the first batch starts, alone
    rest = [asyncio.create_task(commits.submit(n)) for n in range(2, 7)]
    await asyncio.sleep(0)  # and the rest queue behind it
    gate.set()
    assert await first == 10
    answers = await asyncio.gather(*rest, return_exceptions=True)
    assert batches == [[1], [2, 3, 4], [5, 6]]
    assert [a if isinstance(a, int) else str(a) for a in answers] == [20, "no 3", 40, 50, "no 6"]


async def test_a_failing_batch_fails_only_its_own_requests() -> None:
    async def decide(requests: Sequence[int]) -> list[int | BaseException]:
        if 2 in requests:
            raise RuntimeError("database gone")
        return list(requests)

    commits: GroupCommit[int, int] = GroupCommit(decide, limit=1)
    one, two, three = (asyncio.create_task(commits.submit(n)) for n in (1, 2, 3))
    assert await one == 1
    with pytest.raises(RuntimeError, match="database gone"):
        await two
    assert await three == 3
    # The worker is gone once idle; a later request starts another.
    assert await commits.submit(4) == 4
