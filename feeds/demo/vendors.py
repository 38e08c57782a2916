"""The demo vendors: each prices the true probabilities with its own margin, bias and rounding, and
writes them in its own wire format (decimal_json, american_json, delta_stream, legacy_csv).
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import ClassVar

from feeds.adapters.legacy_csv import COLUMNS
from feeds.demo.fixtures import Kind, SimEvent, Status, TrueMarket

# Change detection stores this token for a suspended selection instead of its price.
SUSPENDED = "S"
OUTLIER_RATE = 0.01
# A book's own view of each outcome wanders around the truth and forgets its past over this long.
BIAS_SECONDS = 180.0
# Snapshot vendors re-send an unchanged event this often, so the gateway never sees it go stale.
HEARTBEAT_SECONDS = 20.0
PRE_MATCH_STEP = 1.5
# A snapshot vendor with nothing new re-sends an event it has not sent for this long.
REFILL_SECONDS = 5.0
# Implied probability of a quoted price never goes above this (a price of at least 1.02).
MAX_IMPLIED = 1 / 1.02

_CENT = Decimal("0.01")
_MIN_PRICE = Decimal("1.01")


@dataclass(frozen=True, slots=True)
class Book:
    """One bookmaker's pricing: overround pre-match and in play, bias size, and price rounding."""

    id: str
    margin: float
    live_margin: float
    noise: float
    rounding: Callable[[float], str]
    # A book re-prices a selection only once its view moves this much (log of the price ratio).
    step: float = 0.01


@dataclass(slots=True)
class BookMarket:
    """What one book says about one market in one message (prices stay filled in while suspended)."""

    book: str
    kind: Kind
    line: Decimal | None
    suspended: bool
    prices: dict[str, str]


@dataclass(slots=True)
class Send:
    event: SimEvent
    status_changed: bool
    markets: list[BookMarket]


@dataclass(slots=True)
class Cover:
    """What a vendor last told the world about one event."""

    status: Status | None = None
    # Per selection: the price as written (or SUSPENDED) and the unrounded price behind it.
    tokens: dict[tuple[str, str, Decimal | None, str], tuple[str, float]] = field(default_factory=dict)
    evaluated: float = -math.inf
    sent: float = -math.inf
    done: bool = False


@dataclass(slots=True)
class Stats:
    """Counts over sent selections, so tests can check the outlier rate."""

    quotes: int = 0
    outliers: int = 0


@dataclass(slots=True)
class Context:
    """One tick: the clock, demo seconds since the start, and the true markets of each event."""

    now: datetime
    t: float
    markets: Callable[[SimEvent], list[TrueMarket]]
    stats: Stats


# -- rounding like real books: always in the book's favour --------------------------------------------


def _exact(price: float) -> Decimal:
    return Decimal(f"{price:.6f}")


def _floor_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def _decimal(value: Decimal) -> str:
    return str(max(value, _MIN_PRICE).quantize(_CENT))


def decimal_ladder(price: float) -> str:
    """Hundredths below 10, halves to 20, whole numbers above; rounded down."""
    odds = _exact(price)
    step = _CENT if odds < 10 else Decimal("0.5") if odds < 20 else Decimal(1)
    return _decimal(_floor_to(odds, step))


def decimal_nearest(price: float) -> str:
    return _decimal(_exact(price).quantize(_CENT, rounding=ROUND_HALF_EVEN))


def decimal_nickel(price: float) -> str:
    """Steps of 0.05 below 5, tenths to 10, halves above; rounded down."""
    odds = _exact(price)
    step = Decimal("0.05") if odds < 5 else Decimal("0.1") if odds < 10 else Decimal("0.5")
    return _decimal(_floor_to(odds, step))


def american(price: float) -> str:
    """Whole American odds, rounded against the bettor: 1.847 -> -119, 2.109 -> +110."""
    odds = max(_exact(price), _MIN_PRICE)
    if odds >= 2:
        value = int(((odds - 1) * 100).to_integral_value(rounding=ROUND_FLOOR))
    else:
        value = -int((100 / (odds - 1)).to_integral_value(rounding=ROUND_CEILING))
    return f"+{value}" if value > 0 else str(value)


_LADDER_TEXT = (
    "1/100 1/50 1/33 1/25 1/20 1/16 1/14 1/12 1/10 1/9 1/8 2/15 1/7 1/6 2/11 1/5 2/9 1/4 2/7 3/10 1/3 "
    "4/11 2/5 4/9 1/2 8/15 4/7 8/13 4/6 8/11 4/5 5/6 10/11 20/21 evens 21/20 11/10 6/5 5/4 11/8 6/4 "
    "13/8 7/4 15/8 2/1 85/40 9/4 5/2 11/4 3/1 10/3 7/2 4/1 9/2 5/1 11/2 6/1 13/2 7/1 15/2 8/1 17/2 9/1 "
    "10/1 11/1 12/1 14/1 16/1 18/1 20/1 25/1 28/1 33/1 40/1 50/1 66/1 80/1 100/1 150/1 200/1 250/1 500/1"
)
# The traditional UK ladder, as the bookmaker writes it (6/4, not 3/2), with each step's value.
LADDER: tuple[tuple[str, Fraction], ...] = tuple(
    (text, Fraction(1) if text == "evens" else Fraction(text)) for text in _LADDER_TEXT.split()
)
_LADDER_TEXTS = tuple(text for text, _ in LADDER)
_LADDER_PRICES = tuple(float(1 + value) for _, value in LADDER)


def fractional(price: float) -> str:
    """The longest ladder price not above the fair one."""
    return _LADDER_TEXTS[max(bisect.bisect_right(_LADDER_PRICES, price + 1e-9) - 1, 0)]


def outlier(rng: random.Random, price: float) -> float:
    """A price far off the market: a trader's slip, either much longer or much shorter."""
    if rng.random() < 0.5:
        return min(price * rng.uniform(1.6, 3.0), 500.0)
    return max(1.0 + (price - 1.0) / rng.uniform(2.5, 5.0), 1.02)


# -- vendors ---------------------------------------------------------------------------------------


def _iso(moment: datetime, *, millis: bool = False) -> str:
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds" if millis else "seconds")
    return text.replace("+00:00", "Z")


def _epoch_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _line(line: Decimal) -> str:
    return format(line.normalize(), "f")


def _json(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def with_margin(probs: list[float], overround: float) -> list[float]:
    """Implied probabilities p**k summing to `overround`: like real books, more margin on longshots."""
    low, high = 0.2, 1.0
    for _ in range(20):
        k = (low + high) / 2
        if sum(p**k for p in probs) > overround:
            low = k
        else:
            high = k
    return [p ** ((low + high) / 2) for p in probs]


def _moved(last: tuple[str, float] | None, suspended: bool, price: str, raw: float, step: float) -> bool:
    """Whether a selection is news: first quoted, suspended or reopened, or re-priced by the book."""
    if last is None:
        return True
    token, basis = last
    if suspended or token == SUSPENDED:
        return suspended != (token == SUSPENDED)
    return token != price and abs(math.log(raw / basis)) >= step


class Vendor:
    """The shared engine: which events to (re)quote in a message and what changed since last time."""

    name: str
    adapter: str
    source: str | None = None
    share: float  # of the simulator's message rate
    max_events: int  # per message
    books: tuple[Book, ...]
    snapshot = True  # whole events each time; False sends only the selections that changed
    reports_status = True

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.covers: dict[int, Cover] = {}
        self.credit = 0.0
        self._bias: dict[tuple[str, int, str, str], tuple[float, float]] = {}
        self._catch_up = False
        # The vendor's own id for each event, as its wire format writes it.
        self.ids: dict[int, int | str] = {}

    def covers_event(self, event: SimEvent) -> bool:
        return True

    def offers(self, event: SimEvent, kind: Kind) -> bool:
        return True

    def online(self, t: float) -> bool:
        return True

    def encode(self, sends: list[Send], now: datetime) -> bytes:
        raise NotImplementedError

    def forget(self, keep: set[int]) -> None:
        """Drop what is remembered about events that are gone."""
        for key in [k for k in self.covers if k not in keep]:
            del self.covers[key]
            self.ids.pop(key, None)
        self._bias = {k: v for k, v in self._bias.items() if k[1] in keep}

    def message(self, events: list[SimEvent], ctx: Context) -> bytes | None:
        limit = len(events) if self._catch_up else self.max_events
        self._catch_up = False
        queue: list[tuple[bool, float, int, SimEvent, Cover]] = []
        for event in events:
            if not self.covers_event(event):
                continue
            cover = self.covers.setdefault(event.key, Cover())
            if cover.done:
                continue
            urgent = cover.status != event.status
            # In-play prices move faster, so in-play events are revisited three times as often.
            waited = (ctx.t - cover.evaluated) * (3.0 if event.status == "live" else 1.0)
            queue.append((not urgent, -waited, event.key, event, cover))
        queue.sort(key=lambda entry: entry[:3])
        sends: list[Send] = []
        for *_, event, cover in queue[: limit * 6]:
            send = self._evaluate(event, cover, ctx)
            if send is not None:
                sends.append(send)
                if len(sends) >= limit:
                    break
        if not sends and self.snapshot and queue:
            # Nothing new: a polled feed still answers, with the event it sent longest ago.
            _, event, cover = min((c.sent, e.key, e, c) for *_, e, c in queue)[1:]
            if ctx.t - cover.sent >= REFILL_SECONDS:
                send = self._evaluate(event, cover, ctx, force=True)
                sends = [] if send is None else [send]
        return self.encode(sends, ctx.now) if sends else None

    def _evaluate(self, event: SimEvent, cover: Cover, ctx: Context, *, force: bool = False) -> Send | None:
        cover.evaluated = ctx.t
        status_changed = cover.status != event.status
        if event.status == "finished":
            cover.done = True
            if cover.status is None or not self.reports_status:
                return None
            cover.status = event.status
            return Send(event, True, [])
        live = event.status == "live"
        # Pre-match, books re-price less eagerly than in play.
        step_scale = 1.0 if live else PRE_MATCH_STEP
        current: list[tuple[Book, TrueMarket, dict[str, float], dict[str, str]]] = []
        changed: set[tuple[str, str, Decimal | None, str]] = set()
        for market in ctx.markets(event):
            if not self.offers(event, market.kind):
                continue
            for book in self.books:
                step = book.step * step_scale
                raw = self._prices(book, event.key, market, ctx.t, live)
                prices = {o: book.rounding(p) for o, p in raw.items()}
                for outcome, price in prices.items():
                    key = (book.id, market.kind, market.line, outcome)
                    if _moved(cover.tokens.get(key), market.suspended, price, raw[outcome], step):
                        changed.add(key)
                current.append((book, market, raw, prices))
        heartbeat = force or (self.snapshot and ctx.t - cover.sent >= HEARTBEAT_SECONDS)
        if not (status_changed or changed or heartbeat):
            return None
        markets: list[BookMarket] = []
        for book, market, raw, prices in current:
            sent: dict[str, str] = {}
            for outcome, price in prices.items():
                key = (book.id, market.kind, market.line, outcome)
                if not self.snapshot and key not in changed:
                    continue
                quoted, basis = price, raw[outcome]
                if not market.suspended:
                    ctx.stats.quotes += 1
                    if self.rng.random() < OUTLIER_RATE:
                        ctx.stats.outliers += 1
                        basis = outlier(self.rng, basis)
                        quoted = book.rounding(basis)
                cover.tokens[key] = (SUSPENDED if market.suspended else quoted, basis)
                sent[outcome] = quoted
            if sent:
                markets.append(BookMarket(book.id, market.kind, market.line, market.suspended, sent))
        cover.status = event.status
        cover.sent = ctx.t
        return Send(event, status_changed, markets)

    def _prices(self, book: Book, key: int, market: TrueMarket, t: float, live: bool) -> dict[str, float]:
        """Decimal odds before rounding: the truth seen through the book's bias, plus its margin."""
        weights = {o: p * math.exp(self._biased(book, key, market.kind, o, t)) for o, p in market.probs}
        total = sum(weights.values())
        overround = 1.0 + (book.live_margin if live else book.margin)
        implied = with_margin([w / total for w in weights.values()], overround)
        return {o: 1.0 / min(q, MAX_IMPLIED) for o, q in zip(weights, implied, strict=True)}

    def _biased(self, book: Book, key: int, kind: str, outcome: str, t: float) -> float:
        slot = (book.id, key, kind, outcome)
        found = self._bias.get(slot)
        if found is None:
            value = self.rng.gauss(0.0, book.noise)
        else:
            value, at = found
            decay = math.exp(-max(t - at, 0.0) / BIAS_SECONDS)
            value = value * decay + book.noise * math.sqrt(1.0 - decay * decay) * self.rng.gauss(0.0, 1.0)
        self._bias[slot] = (value, t)
        return value


class Betpoint(Vendor):
    """decimal_json: whole events with string decimal odds, named by short team names."""

    name = "betpoint"
    adapter = "decimal_json"
    share = 0.3
    max_events = 1
    books = (Book("betpoint", 0.045, 0.06, 0.025, decimal_ladder, 0.012),)

    SPORTS: ClassVar[dict[str, str]] = {
        "football": "Football",
        "american_football": "American Football",
        "basketball": "Basketball",
        "ice_hockey": "Ice Hockey",
        "tennis": "Tennis",
    }
    STATES: ClassVar[dict[str, str]] = {"scheduled": "scheduled", "live": "inplay", "finished": "ended"}
    MARKETS: ClassVar[dict[str, str]] = {
        "moneyline": "Match Winner",
        "1x2": "1X2",
        "spread": "Handicap",
        "total": "Total Points",
    }

    def encode(self, sends: list[Send], now: datetime) -> bytes:
        events = []
        for send in sends:
            event = send.event
            if event.key not in self.ids:
                taken = set(self.ids.values())
                new_id = f"bp-{self.rng.randrange(10**6, 10**7)}"
                while new_id in taken:
                    new_id = f"bp-{self.rng.randrange(10**6, 10**7)}"
                self.ids[event.key] = new_id
            names = {
                "home": event.home.short,
                "away": event.away.short,
                "draw": "Draw",
                "over": "Over",
                "under": "Under",
            }
            markets = [
                {
                    "name": self.MARKETS[m.kind],
                    "handicap": None if m.line is None else _line(m.line),
                    "suspended": m.suspended,
                    "selections": [{"name": names[o], "price": price} for o, price in m.prices.items()],
                }
                for m in send.markets
            ]
            events.append(
                {
                    "id": self.ids[event.key],
                    "sport": self.SPORTS[event.sport],
                    "competition": event.league.name,
                    "name": f"{event.home.short} vs {event.away.short}",
                    "kickoff": _iso(event.start),
                    "state": self.STATES[event.status],
                    "updated": _iso(now, millis=True),
                    "markets": markets,
                    **({"match": match} if (match := event.state()) is not None else {}),
                }
            )
        return _json({"bookmaker": self.name, "events": events})


class Linestar(Vendor):
    """american_json: US leagues only, American odds; drops out for a minute or so every few minutes."""

    name = "linestar"
    adapter = "american_json"
    share = 0.2
    max_events = 2
    books = (Book("linestar", 0.04, 0.055, 0.03, american, 0.012),)

    LEAGUES = frozenset({"NFL", "NBA", "NHL"})
    STATUSES: ClassVar[dict[str, str]] = {"scheduled": "scheduled", "live": "live", "finished": "final"}
    SUSPENDED_PRICE = "OFF"

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self._next_game_id = rng.randrange(40_000, 90_000)
        self._down_at = rng.uniform(60.0, 150.0)
        self._up_at: float | None = None

    def covers_event(self, event: SimEvent) -> bool:
        return event.league.name in self.LEAGUES and bool(event.home.abbr) and bool(event.away.abbr)

    def online(self, t: float) -> bool:
        if self._up_at is not None:
            if t < self._up_at:
                return False
            # Back: the first message is a full snapshot, as a poller catching up would send.
            self._up_at = None
            self._down_at = t + self.rng.uniform(150.0, 300.0)
            self._catch_up = True
            for cover in self.covers.values():
                cover.evaluated = -math.inf
        if t >= self._down_at:
            self._up_at = t + self.rng.uniform(45.0, 90.0)
            return False
        return True

    def encode(self, sends: list[Send], now: datetime) -> bytes:
        games = []
        for send in sends:
            event = send.event
            if event.key not in self.ids:
                self.ids[event.key] = self._next_game_id
                self._next_game_id += self.rng.randrange(1, 9)
            lines: dict[str, dict[str, str]] = {}
            for m in send.markets:
                quote = {o: self.SUSPENDED_PRICE if m.suspended else price for o, price in m.prices.items()}
                lines[m.kind] = quote if m.line is None else {"line": _line(m.line), **quote}
            games.append(
                {
                    "game_id": self.ids[event.key],
                    "league": event.league.name,
                    "matchup": f"{event.home.abbr}-{event.away.abbr}",
                    "start": event.start.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                    "status": self.STATUSES[event.status],
                    "as_of": int(now.timestamp()),
                    "lines": lines,
                    **({"state": state} if (state := event.state()) is not None else {}),
                }
            )
        return _json({"provider": self.name, "games": games})


class Swift(Vendor):
    """delta_stream: NDJSON of changed selections for two bookmakers, fixtures first."""

    name = "swift"
    adapter = "delta_stream"
    source = "swift"
    share = 0.35
    max_events = 2
    books = (
        Book("b1", 0.03, 0.04, 0.02, decimal_nearest, 0.008),
        Book("b2", 0.045, 0.055, 0.03, decimal_nickel, 0.015),
    )
    snapshot = False

    SPORTS: ClassVar[dict[str, str]] = {
        "football": "Soccer",
        "american_football": "American Football",
        "basketball": "Basketball",
        "ice_hockey": "Ice Hockey",
        "tennis": "Tennis",
    }
    STATUSES: ClassVar[dict[str, str]] = {"scheduled": "not_started", "live": "in_play", "finished": "ended"}
    MARKETS: ClassVar[dict[str, str]] = {"moneyline": "ML", "1x2": "1X2", "spread": "SPREAD", "total": "TOTAL"}

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self._next_match_id = rng.randrange(5_000, 9_000)

    def encode(self, sends: list[Send], now: datetime) -> bytes:
        ts = _epoch_ms(now)
        lines: list[bytes] = []
        for send in sends:
            event = send.event
            if event.key not in self.ids:
                self.ids[event.key] = self._next_match_id
                self._next_match_id += 1
            match_id = self.ids[event.key]
            if send.status_changed:
                # The stream's reader needs the fixture before any price of the match.
                fixture = {
                    "type": "fixture",
                    "match_id": match_id,
                    "sport": self.SPORTS[event.sport],
                    "league": event.league.name,
                    "home": event.home.name,
                    "away": event.away.name,
                    "start": _epoch_ms(event.start),
                    "status": self.STATUSES[event.status],
                }
                lines.append(_json(fixture))
            for m in send.markets:
                for outcome, price in m.prices.items():
                    message: dict[str, object] = {
                        "type": "price",
                        "match_id": match_id,
                        "bookmaker_id": m.book,
                        "market": self.MARKETS[m.kind],
                    }
                    if m.line is not None:
                        message["line"] = float(m.line)
                    message["selection"] = outcome
                    if m.suspended:
                        message["suspended"] = True
                    else:
                        message["price"] = float(price)
                    message["ts"] = ts
                    lines.append(_json(message))
        return b"\n".join(lines) + b"\n"


class Oldbook(Vendor):
    """legacy_csv: football and tennis, fractional odds off the traditional ladder, no statuses."""

    name = "oldbook"
    adapter = "legacy_csv"
    source = "oldbook"
    share = 0.15
    max_events = 1
    books = (Book("oldbook", 0.03, 0.04, 0.03, fractional, 0.02),)
    reports_status = False

    HEADER = COLUMNS
    SPORTS: ClassVar[dict[str, str]] = {"football": "Football", "tennis": "Tennis"}
    MARKETS: ClassVar[dict[str, str]] = {"moneyline": "Match Winner", "1x2": "1X2"}
    SELECTIONS: ClassVar[dict[str, str]] = {"home": "1", "draw": "X", "away": "2"}
    SUSPENDED_PRICE = "SUSP"

    def covers_event(self, event: SimEvent) -> bool:
        return event.sport in self.SPORTS

    def offers(self, event: SimEvent, kind: Kind) -> bool:
        return kind in self.MARKETS

    def encode(self, sends: list[Send], now: datetime) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";", lineterminator="\n")
        writer.writerow(self.HEADER)
        updated = now.astimezone(UTC).strftime("%d/%m/%Y %H:%M:%S")
        for send in sends:
            event = send.event
            start = event.start.astimezone(UTC)
            for m in send.markets:
                for outcome, price in m.prices.items():
                    writer.writerow(
                        (
                            start.strftime("%d/%m/%Y"),
                            start.strftime("%H:%M"),
                            self.SPORTS[event.sport],
                            event.league.name,
                            event.home.alt,
                            event.away.alt,
                            self.MARKETS[m.kind],
                            "" if m.line is None else _line(m.line),
                            self.SELECTIONS[outcome],
                            self.SUSPENDED_PRICE if m.suspended else price,
                            updated,
                        )
                    )
        return out.getvalue().encode()


VENDORS: tuple[type[Vendor], ...] = (Betpoint, Linestar, Swift, Oldbook)
