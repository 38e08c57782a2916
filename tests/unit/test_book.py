from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from feeds.book import BookConfig, OddsBook, StaleUpdate
from feeds.consensus import ConsensusConfig
from schema.errors import InvalidRequest
from schema.model import Delta, EventInfo, EventStatus, MarketQuote, MarketType

START = datetime(2026, 3, 23, 20, 20, tzinfo=UTC)
EVENT = EventInfo(
    "49ers-ravens-2026-03-23", "american_football", "NFL", "San Francisco 49ers", "Baltimore Ravens", START
)
OTHER = EventInfo("chiefs-bills-2026-03-23", "american_football", "NFL", "Kansas City Chiefs", "Buffalo Bills", START)


class Clock:
    def __init__(self) -> None:
        self.now = START.timestamp() - 3600

    def __call__(self) -> float:
        return self.now

    def stamp(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sink() -> list[Delta]:
    return []


@pytest.fixture
def book(clock: Clock, sink: list[Delta]) -> OddsBook:
    return OddsBook(
        BookConfig(source_down_after=60),
        ConsensusConfig(fresh_seconds=30, stale_seconds=120),
        clock=clock,
        sinks=[sink.append],
    )


def q(
    clock: Clock,
    source: str = "a",
    home: str | None = "1.85",
    away: str | None = "2.10",
    *,
    event: EventInfo = EVENT,
    status: EventStatus | None = EventStatus.SCHEDULED,
    market: MarketType = MarketType.MONEYLINE,
    line: Decimal | None = None,
    only: tuple[str, ...] = ("home", "away"),
    suspended: bool = False,
    at: datetime | None = None,
) -> MarketQuote:
    prices = {"home": Decimal(home) if home else None, "away": Decimal(away) if away else None}
    market_id = market.value if line is None else f"{market.value}:{line}"
    return MarketQuote(
        source,
        event,
        status,
        market_id,
        market,
        line,
        tuple((o, prices[o]) for o in only),
        suspended,
        at or clock.stamp(),
    )


def is_up(book: OddsBook, source: str) -> bool:
    return book.sources[source].up


def test_the_first_quote_describes_the_event_fully(book: OddsBook, clock: Clock, sink: list[Delta]) -> None:
    [delta] = book.apply(q(clock))
    assert delta.seq == 1
    assert delta.event == EVENT
    assert delta.status is EventStatus.SCHEDULED
    assert delta.market_changed
    assert [o.id for o in delta.outcomes] == ["home", "away"]
    assert [o.odds for o in delta.outcomes] == [Decimal("1.85"), Decimal("2.10")]
    assert delta.outcomes[0].name == "San Francisco 49ers"
    assert sink == [delta]


def test_a_repeated_quote_changes_nothing(book: OddsBook, clock: Clock) -> None:
    book.apply(q(clock))
    clock.now += 1
    assert book.apply(q(clock)) == []
    assert book.events[EVENT.id].seq == 1


def test_a_delta_carries_only_what_changed(book: OddsBook, clock: Clock) -> None:
    book.apply(q(clock))
    book.apply(q(clock, market=MarketType.SPREAD, line=Decimal("-3.5"), home="1.91", away="1.91"))
    clock.now += 1
    [delta] = book.apply(q(clock, home="1.80", only=("home",)))
    assert delta.market_id == "moneyline"
    assert [o.id for o in delta.outcomes] == ["home"]
    assert delta.outcomes[0].odds == Decimal("1.80")
    assert delta.market_changed  # the served margin moved with the price
    assert delta.margin == Decimal("3.17")
    assert delta.event is None
    assert delta.status is None


def test_seq_rises_by_one_per_delta_of_each_event(book: OddsBook, clock: Clock) -> None:
    seqs = []
    for i, price in enumerate(["1.85", "1.80", "1.75", "1.70"]):
        clock.now += 1
        seqs += [d.seq for d in book.apply(q(clock, home=price))]
        seqs += [d.seq for d in book.apply(q(clock, event=OTHER, home=str(Decimal("2.5") + i)))]
    assert seqs[::2] == [1, 2, 3, 4]
    assert seqs[1::2] == [1, 2, 3, 4]
    assert book.event(EVENT.id).seq == 4  # type: ignore[union-attr]


def test_an_older_update_from_the_same_source_is_refused(book: OddsBook, clock: Clock) -> None:
    book.apply(q(clock))
    with pytest.raises(StaleUpdate, match="older than its last one"):
        book.apply(q(clock, home="3.00", at=clock.stamp() - timedelta(seconds=5)))
    assert book.event(EVENT.id).markets[0].outcomes[0].odds == Decimal("1.85")  # type: ignore[union-attr]


def test_a_timestamp_from_the_future_is_refused(book: OddsBook, clock: Clock) -> None:
    with pytest.raises(InvalidRequest, match="in the future"):
        book.apply(q(clock, at=clock.stamp() + timedelta(hours=1)))
    assert book.events == {}


def test_a_live_market_without_fresh_sources_is_suspended_then_resumed(
    book: OddsBook, clock: Clock, sink: list[Delta]
) -> None:
    book.apply(q(clock, status=EventStatus.LIVE))
    clock.now += 60
    [aging] = book.sweep()
    assert aging.suspended is False
    assert aging.outcomes[0].confidence < 0.5  # the quote is losing weight
    clock.now += 61
    [suspension] = book.sweep()
    assert suspension.suspended is True
    assert suspension.market_changed
    assert suspension.reason == "freshness"
    assert book.event(EVENT.id).markets[0].suspended  # type: ignore[union-attr]
    assert not is_up(book, "a")
    clock.now += 5
    assert book.sweep() == []
    [resumed] = book.apply(q(clock, status=EventStatus.LIVE, home="1.95", away="1.95"))
    assert resumed.suspended is False
    assert is_up(book, "a")
    assert [d.seq for d in sink] == [1, 2, 3, 4]


def test_a_pre_match_market_keeps_its_last_price_marked_stale(book: OddsBook, clock: Clock) -> None:
    book.apply(q(clock))
    clock.now += 200
    [delta] = book.sweep()
    market = book.event(EVENT.id).markets[0]  # type: ignore[union-attr]
    assert not market.suspended
    assert all("stale" in o.flags for o in market.outcomes)
    assert market.outcomes[0].odds == Decimal("1.85")
    assert delta.suspended is False


def test_aging_quotes_lose_weight_between_sweeps(book: OddsBook, clock: Clock) -> None:
    book.apply(q(clock, "a", "1.60", "2.40"))
    clock.now += 60
    book.apply(q(clock, "b", "2.00", "1.85"))
    before = book.event(EVENT.id).markets[0].outcomes[0].odds  # type: ignore[union-attr]
    clock.now += 40
    book.sweep()
    after = book.event(EVENT.id).markets[0].outcomes[0].odds  # type: ignore[union-attr]
    assert after > before


def test_the_sweep_leaves_alone_what_time_cannot_change(
    book: OddsBook, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    book.apply(q(clock, "dead", "1.80", "2.15"))
    clock.now += 500
    book.apply(q(clock, "alive"))
    repriced: list[str] = []
    original = book._reprice

    def counting(*args: object, **kwargs: object) -> object:
        repriced.append("x")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(book, "_reprice", counting)
    for _ in range(5):
        clock.now += 1
        book.sweep()
    assert repriced == []  # "dead" dropped out long ago, "alive" is fresh
    clock.now += 40
    book.sweep()
    assert repriced == ["x"]  # "alive" has begun to lose weight


def test_finishing_an_event_suspends_its_markets(book: OddsBook, clock: Clock) -> None:
    book.apply(q(clock, status=EventStatus.LIVE))
    clock.now += 1
    status, market = book.apply(q(clock, status=EventStatus.FINISHED))
    assert status.status is EventStatus.FINISHED
    assert status.market_id is None
    assert market.suspended is True
    assert book.event(EVENT.id).status is EventStatus.FINISHED  # type: ignore[union-attr]


def test_closed_events_leave_the_live_book_after_their_retention(book: OddsBook, clock: Clock) -> None:
    book.apply(q(clock, status=EventStatus.LIVE))
    book.apply(q(clock, event=OTHER))
    clock.now += 1
    book.apply(q(clock, status=EventStatus.FINISHED))
    clock.now += book.config.closed_retention - 10
    book.sweep()
    assert EVENT.id in book.events
    clock.now += 20
    book.sweep()
    assert EVENT.id not in book.events
    assert OTHER.id in book.events


def test_a_source_suspending_the_market_suspends_it_when_alone(book: OddsBook, clock: Clock) -> None:
    book.apply(q(clock, "a"))
    book.apply(q(clock, "b", "1.87", "2.05"))
    clock.now += 1
    [delta] = book.apply(q(clock, "a", suspended=True, only=()))
    assert delta.suspended is False
    assert set(delta.outcomes[0].sources) == {"b"}
    clock.now += 1
    [delta] = book.apply(q(clock, "b", suspended=True, only=()))
    assert delta.suspended is True
    clock.now += 1
    [delta] = book.apply(q(clock, "a"))
    assert delta.suspended is False


def test_a_market_missing_an_outcome_is_not_served(book: OddsBook, clock: Clock) -> None:
    [delta] = book.apply(q(clock, only=("home",)))
    assert delta.suspended is True
    assert delta.outcomes == ()
    market = book.event(EVENT.id).markets[0]  # type: ignore[union-attr]
    assert market.suspended
    [delta] = book.apply(q(clock, only=("away",), at=clock.stamp()))
    assert delta.suspended is False
    assert {o.id for o in delta.outcomes} == {"home", "away"}


def test_a_status_only_message_announces_a_new_event(book: OddsBook, clock: Clock) -> None:
    quote = MarketQuote("a", EVENT, EventStatus.LIVE, None, None, None, (), False, clock.stamp())
    [delta] = book.apply(quote)
    assert delta.event == EVENT
    assert delta.status is EventStatus.LIVE
    assert book.event(EVENT.id).markets == ()  # type: ignore[union-attr]
    assert book.apply(quote) == []
    assert book.sources == {}


def test_snapshots_are_reused_until_something_changes(book: OddsBook, clock: Clock) -> None:
    book.apply(q(clock))
    first = book.event(EVENT.id)
    assert book.event(EVENT.id) is first
    clock.now += 1
    book.apply(q(clock, home="1.70"))
    assert book.event(EVENT.id) is not first
