"""A client's outbox: in order while it keeps up, conflated per market behind, closed when it stays behind."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from feeds.outbox import Outbox, SlowConsumer
from schema.model import Delta, Outcome

STAMP = datetime(2026, 3, 23, 20, 0, tzinfo=UTC)


def delta(seq: int, market: str = "moneyline", home: str = "1.85", event: str = "e1") -> Delta:
    outcome = Outcome("home", "Home", Decimal(home), STAMP, 1, 1.0, {"a": Decimal(home)}, ())
    return Delta(event, "american_football", seq, STAMP, "a", "quote", market_id=market, outcomes=(outcome,))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def render(d: Delta) -> str:
    return f"merged:{d.event_id}:{d.market_id}:{d.seq}:{d.outcomes[0].odds}"


async def drain(outbox: Outbox[str]) -> list[str]:
    return [await outbox.get() for _ in range(len(outbox))]


async def test_in_order_while_the_client_keeps_up() -> None:
    outbox: Outbox[str] = Outbox(4, 10, render)
    for seq in range(1, 4):
        outbox.push(delta(seq), f"frame{seq}")
    assert await drain(outbox) == ["frame1", "frame2", "frame3"]


async def test_behind_it_keeps_the_latest_per_market_in_seq_order() -> None:
    outbox: Outbox[str] = Outbox(2, 10, render, clock=Clock())
    outbox.push(delta(1), "f1")
    outbox.push(delta(2, "spread:-3.5"), "f2")
    outbox.push(delta(3, home="1.80"), "f3")
    outbox.push(delta(4, "spread:-3.5"), "f4")
    outbox.push(delta(5, home="1.75"), "f5")
    outbox.push_control("notice")
    assert await drain(outbox) == [
        "f1",
        "f2",
        "f4",
        "merged:e1:moneyline:5:1.75",
        "notice",
    ]
    assert outbox.conflated == 1
    outbox.push(delta(6), "f6")  # caught up: plain frames again
    assert await drain(outbox) == ["f6"]


async def test_staying_behind_closes_it_and_frees_its_memory() -> None:
    clock = Clock()
    closed: list[str] = []
    outbox: Outbox[str] = Outbox(1, 5, render, clock=clock)
    outbox.on_close = closed.append
    outbox.push(delta(1), "f1")
    outbox.push(delta(2), "f2")
    clock.now = 6
    outbox.push(delta(3), "f3")
    assert closed == ["client fell behind for more than 5s"]
    assert len(outbox) == 0
    with pytest.raises(SlowConsumer, match="behind"):
        await outbox.get()
    outbox.push(delta(4), "f4")
    assert len(outbox) == 0


async def test_too_many_markets_behind_closes_it() -> None:
    outbox: Outbox[str] = Outbox(1, 60, render, clock=Clock())
    for seq in range(1, 12):
        outbox.push(delta(seq, f"total:{seq}"), f"f{seq}")
    assert outbox.closed == "client fell more than 8 markets behind"


async def test_control_frames_a_client_never_reads_close_it() -> None:
    outbox: Outbox[str] = Outbox(2, 60, render, clock=Clock())
    for n in range(16):
        outbox.push_control(f"pong{n}")
    assert outbox.closed is None
    outbox.push_control("one too many")
    assert outbox.closed == "client left more than 16 messages unread"
