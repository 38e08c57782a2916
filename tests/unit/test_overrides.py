"""Trader overrides in the book: precedence, the margin formula, fixed prices, bulk stop, lifting."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from feeds.book import OddsBook
from feeds.overrides import Action, Override, Scope, check
from schema.errors import InvalidRequest
from schema.model import Delta, EventStatus, MarketType
from tests.unit.test_book import EVENT, OTHER, Clock, q

NOW = datetime(2026, 3, 23, 12, 0, tzinfo=UTC)


def made(n: int, scope: Scope, action: Action, value: str | None = None) -> Override:
    return Override(f"o{n}", scope, action, Decimal(value) if value else None, "test", "trader", NOW)


@pytest.fixture
def priced() -> tuple[OddsBook, Clock, list[Delta]]:
    clock = Clock()
    deltas: list[Delta] = []
    book = OddsBook(clock=clock, sinks=[deltas.append])
    book.apply(q(clock, "a", "1.80", "2.10", status=EventStatus.LIVE))
    book.apply(q(clock, "a", "1.91", "1.91", market=MarketType.SPREAD, line=Decimal("-3.5")))
    book.apply(q(clock, "a", "1.50", "2.60", event=OTHER, status=EventStatus.LIVE))
    deltas.clear()
    return book, clock, deltas


def served(book: OddsBook, event_id: str, market_id: str) -> tuple[bool, dict[str, Decimal]]:
    event = book.event(event_id)
    assert event is not None
    market = next(m for m in event.markets if m.id == market_id)
    return market.suspended, {o.id: o.odds for o in market.outcomes}


def test_bulk_stop_suspends_every_market_of_a_sport_one_delta_each(priced: tuple[OddsBook, Clock, list[Delta]]) -> None:
    book, _, deltas = priced
    _, changed = book.override(made(1, Scope(sport="american_football"), Action.SUSPEND))
    assert {(d.event_id, d.market_id, d.suspended, d.reason) for d in changed} == {
        (EVENT.id, "moneyline", True, "override"),
        (EVENT.id, "spread:-3.5", True, "override"),
        (OTHER.id, "moneyline", True, "override"),
    }
    assert deltas == changed  # through the sinks, with the events' next seqs
    # A more specific resume wins over the sport-wide stop.
    _, resumed = book.override(made(2, Scope(event_id=OTHER.id), Action.RESUME))
    assert [(d.event_id, d.suspended) for d in resumed] == [(OTHER.id, False)]
    _, lifted = book.lift("o1")
    assert {(d.event_id, d.market_id, d.suspended) for d in lifted} == {
        (EVENT.id, "moneyline", False),
        (EVENT.id, "spread:-3.5", False),
    }


def test_margin_is_applied_to_fair_probabilities(priced: tuple[OddsBook, Clock, list[Delta]]) -> None:
    book, _, _ = priced
    _, before = served(book, EVENT.id, "moneyline")
    book.override(made(1, Scope(event_id=EVENT.id, market_id="moneyline"), Action.MARGIN, "8"))
    _, after = served(book, EVENT.id, "moneyline")
    implied = {o: 1 / float(p) for o, p in before.items()}
    total = sum(implied.values())
    expected = {o: Decimal(f"{1 / (p / total * 1.08):.2f}") for o, p in implied.items()}
    assert after == expected
    event = book.event(EVENT.id)
    assert event is not None
    assert event.markets[0].margin == Decimal(f"{(sum(1 / float(p) for p in after.values()) - 1) * 100:.2f}")


def test_the_most_specific_override_wins_and_a_later_one_replaces(priced: tuple[OddsBook, Clock, list[Delta]]) -> None:
    book, _, _ = priced
    book.override(made(1, Scope(sport="american_football"), Action.MARGIN, "10"))
    book.override(made(2, Scope(event_id=EVENT.id, market_id="moneyline"), Action.MARGIN, "2"))
    event = book.event(EVENT.id)
    assert event is not None
    margins = {m.id: m.margin or Decimal(-1) for m in event.markets}
    assert Decimal(0) < margins["moneyline"] < Decimal(4)
    assert margins["spread:-3.5"] > Decimal(8)
    replaced, _ = book.override(made(3, Scope(sport="american_football"), Action.MARGIN, "6"))
    assert replaced == made(1, Scope(sport="american_football"), Action.MARGIN, "10")
    assert set(book.overrides.active) == {"o2", "o3"}


def test_a_fixed_price_holds_while_the_feed_moves(priced: tuple[OddsBook, Clock, list[Delta]]) -> None:
    book, clock, _ = priced
    book.override(made(1, Scope(event_id=EVENT.id, market_id="moneyline", outcome_id="home"), Action.PRICE, "1.95"))
    clock.now += 1
    book.apply(q(clock, "a", "1.70", "2.30", status=EventStatus.LIVE))
    _, odds = served(book, EVENT.id, "moneyline")
    assert odds == {"home": Decimal("1.95"), "away": Decimal("2.30")}
    _, back = book.lift("o1")
    assert [o.odds for d in back for o in d.outcomes] == [Decimal("1.70")]


@pytest.mark.parametrize(
    ("scope", "action", "value", "message"),
    [
        (Scope(), Action.SUSPEND, None, "sport or an event"),
        (Scope(event_id="e", market_id="m"), Action.PRICE, Decimal("2"), "outcome_id"),
        (Scope(event_id="e", market_id="m", outcome_id="home"), Action.MARGIN, Decimal("5"), "not to one outcome"),
        (Scope(sport="s"), Action.MARGIN, Decimal("80"), "0 to 50"),
        (Scope(event_id="e", market_id="m", outcome_id="home"), Action.PRICE, Decimal("1.0"), "decimal odds"),
        (Scope(sport="s"), Action.SUSPEND, Decimal("1"), "no 'value'"),
        (Scope(sport="s", market_id="m"), Action.SUSPEND, None, "event_id"),
    ],
)
def test_bad_overrides_are_refused(scope: Scope, action: Action, value: Decimal | None, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        check(scope, action, value)
