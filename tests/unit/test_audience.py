"""The audience view: a source-limited audience's prices are exactly everyone's rules applied to its
sources alone, whatever the quotes and overrides; settled markets and replicas included."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.audience import Audience
from feeds.book import OddsBook
from feeds.overrides import Action, Override, Scope
from feeds.publish import encode_delta
from schema.errors import Forbidden, NotFound
from schema.model import Delta, Event, EventStatus, MarketResult, MarketType
from schema.parse import delta_from_json, event_from_json
from schema.render import event_json
from schema.visibility import EVERYTHING, Visibility, view_name
from tests.unit.test_book import EVENT, Clock, q

OFFICIAL = frozenset({"official"})
NL = Visibility(sources=OFFICIAL)
NOW = datetime(2026, 3, 23, 12, 0, tzinfo=UTC)
WIRE = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
SPREAD = Decimal("-3.5")

prices = st.decimals(min_value=Decimal("1.05"), max_value=Decimal("9.00"), places=2)
quotes = st.tuples(
    st.sampled_from(["official", "other", "third"]),
    st.sampled_from([MarketType.MONEYLINE, MarketType.SPREAD]),
    prices,
    prices,
    st.booleans(),
)
overrides = st.tuples(
    st.sampled_from(["sport", "event", "market", "outcome"]),
    st.sampled_from(list(Action)),
    st.decimals(min_value=Decimal("0"), max_value=Decimal("20"), places=1),
    prices,
)


def override_of(n: int, level: str, action: Action, margin: Decimal, price: Decimal) -> Override | None:
    scopes = {
        "sport": Scope(sport=EVENT.sport),
        "event": Scope(event_id=EVENT.id),
        "market": Scope(event_id=EVENT.id, market_id="moneyline"),
        "outcome": Scope(event_id=EVENT.id, market_id="moneyline", outcome_id="home"),
    }
    if (action is Action.PRICE) != (level == "outcome"):
        return None
    value = margin if action is Action.MARGIN else price if action is Action.PRICE else None
    return Override(f"o{n}", scopes[level], action, value, "test", "trader", NOW)


def comparable(event: Event) -> list[tuple[object, ...]]:
    return [
        (m.id, m.suspended, m.margin, m.status, tuple((o.id, o.odds, o.flags, o.sources) for o in m.outcomes))
        for m in event.markets
    ]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(quotes, overrides), min_size=1, max_size=25))
def test_a_source_limited_view_is_everyones_rules_over_its_sources(steps: list[tuple[object, ...]]) -> None:
    clock = Clock()
    book = OddsBook(clock=clock, views={view_name(OFFICIAL): OFFICIAL})
    alone = OddsBook(clock=clock)
    for n, step in enumerate(steps):
        if isinstance(step[0], str) and step[0] in ("official", "other", "third"):
            source, market, home, away, suspended = step
            assert isinstance(source, str)
            assert isinstance(market, MarketType)
            line = SPREAD if market is MarketType.SPREAD else None
            quote = q(clock, source, str(home), str(away), market=market, line=line, status=EventStatus.LIVE)
            quote.suspended = bool(suspended)
            book.apply(quote)
            if source == "official":
                alone.apply(quote)
        else:
            made = override_of(n, *step)  # type: ignore[arg-type]
            if made is not None:
                book.override(made)
                alone.override(made)
    everyone = book.event(EVENT.id)
    expected = alone.event(EVENT.id)
    if everyone is None:
        assert expected is None
        return
    if expected is None:
        assert Audience(book, NL).shown(everyone).markets == ()
        return
    assert comparable(Audience(book, NL).shown(everyone)) == comparable(expected)


def test_a_replica_serves_each_audience_what_the_pricer_serves() -> None:
    clock = Clock()
    views = {view_name(OFFICIAL): OFFICIAL}
    pricer = OddsBook(clock=clock, views=views)
    replica = OddsBook(clock=clock, views=views, owns=lambda _event: False)
    deltas: list[Delta] = []
    pricer.sinks.append(deltas.append)
    pricer.apply(q(clock, "official", "1.80", "2.10", status=EventStatus.LIVE))
    pricer.apply(q(clock, "other", "2.40", "1.60"))
    pricer.override(Override("o1", Scope(event_id=EVENT.id), Action.MARGIN, Decimal(12), "t", "trader", NOW))
    for delta in deltas:
        assert replica.absorb(delta_from_json(orjson.loads(encode_delta(delta))))
    restored = OddsBook(clock=clock, views=views, owns=lambda _event: False)
    snapshot = pricer.event(EVENT.id)
    assert snapshot is not None
    restored.restore(event_from_json(orjson.loads(orjson.dumps(event_json(snapshot, wire=True), option=WIRE))))
    for audience in (EVERYTHING, NL):
        served = comparable(Audience(pricer, audience).event(EVENT.id))
        assert comparable(Audience(replica, audience).event(EVENT.id)) == served
        assert comparable(Audience(restored, audience).event(EVENT.id)) == served


def test_a_settled_market_is_frozen_for_every_audience_until_reopened() -> None:
    clock = Clock()
    book = OddsBook(clock=clock, views={view_name(OFFICIAL): OFFICIAL})
    book.apply(q(clock, "official", "1.80", "2.10", status=EventStatus.LIVE))
    result = MarketResult("r1", (("home", "won"), ("away", "lost")), None, NOW)
    settled = book.settle(EVENT.id, "moneyline", result)
    assert settled is not None
    assert settled.result == result
    assert settled.suspended
    assert [v.suspended for v in settled.views] == [True]
    assert book.apply(q(clock, "official", "1.50", "2.60", status=EventStatus.LIVE)) == []
    for audience in (EVERYTHING, NL):
        [market] = Audience(book, audience).event(EVENT.id).markets
        assert (market.status.value, market.result, [o.odds for o in market.outcomes]) == (
            "settled",
            result,
            [Decimal("1.80"), Decimal("2.10")],
        )
    reopened = book.settle(EVENT.id, "moneyline", None)
    assert reopened is not None
    assert reopened.result is None
    assert not reopened.suspended
    [market] = Audience(book, NL).event(EVENT.id).markets
    assert [o.odds for o in market.outcomes] == [Decimal("1.50"), Decimal("2.60")]


def test_what_an_audience_cannot_see_is_refused_as_reading_it() -> None:
    clock = Clock()
    book = OddsBook(clock=clock)
    book.apply(q(clock, "a", "1.80", "2.10"))
    book.apply(q(clock, "a", "1.91", "1.91", market=MarketType.SPREAD, line=SPREAD))
    french = Audience(book, Visibility(market_types=frozenset({"moneyline"})))
    assert [m.id for m in french.event(EVENT.id).markets] == ["moneyline"]
    with pytest.raises(NotFound, match=r"spread:-3\.5"):
        french.market(EVENT.id, "spread:-3.5")
    basketball = Audience(book, Visibility(sports=frozenset({("basketball", "")})))
    try:
        basketball.market(EVENT.id, "moneyline")
    except Forbidden:
        pass
    else:
        raise AssertionError("the event is outside this audience's sports")
