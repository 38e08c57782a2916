"""Source quotes with vendor names -> market quotes with canonical ids."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from feeds.aliases import AliasBook, Team, alias_key, slugify
from schema import text
from schema.errors import InvalidRequest
from schema.match import INCIDENTS, MatchState
from schema.model import (
    LINE_REQUIRED,
    OUTCOMES,
    EventInfo,
    EventStatus,
    MarketQuote,
    MarketType,
    SourceQuote,
    format_line,
    market_id,
)

_EventKey = tuple[str, str | None, str, str, datetime]
_CACHE_LIMIT = 100_000


class Normalizer:
    """Maps vendor names to canonical ones; unknown sports, markets or outcomes are refused."""

    def __init__(self, aliases: AliasBook):
        self.aliases = aliases
        self._events: dict[_EventKey, EventInfo] = {}
        # Vendors repeat the same few spellings; each is resolved once.
        self._market_types: dict[str, MarketType] = {}
        self._statuses: dict[str, EventStatus] = {}
        self._outcomes: dict[tuple[str, MarketType, str, str], str] = {}
        self.texts = TextChecks()

    def normalize(self, quote: SourceQuote) -> MarketQuote:
        quote = self.texts.quote(quote)
        event = self.event(quote)
        status = self.status(quote.status) if quote.status is not None else None
        if quote.state is not None:
            check_incidents(event.sport, quote.state)
        if quote.market is None:
            return MarketQuote(
                quote.source, event, status, None, None, None, (), quote.suspended, quote.timestamp, quote.state
            )
        market_type = self.market_type(quote.market)
        outcome_ids = [self.outcome(label, market_type, event, quote.line) for label, _ in quote.prices]
        if market_type is MarketType.MONEYLINE and "draw" in outcome_ids:
            market_type = MarketType.THREE_WAY
        line = self._line(market_type, quote.line)
        allowed = OUTCOMES[market_type]
        seen: set[str] = set()
        for outcome_id, (label, _) in zip(outcome_ids, quote.prices, strict=True):
            if outcome_id not in allowed:
                raise InvalidRequest(
                    f"outcome {label!r} does not belong to a {market_type.value} market (expected {', '.join(allowed)})"
                )
            if outcome_id in seen:
                raise InvalidRequest(f"outcome {outcome_id!r} appears twice in one market")
            seen.add(outcome_id)
        prices = tuple((oid, price) for oid, (_, price) in zip(outcome_ids, quote.prices, strict=True))
        return MarketQuote(
            quote.source,
            event,
            status,
            market_id(market_type, line),
            market_type,
            line,
            prices,
            quote.suspended,
            quote.timestamp,
            quote.state,
        )

    def event(self, quote: SourceQuote) -> EventInfo:
        key = (quote.sport, quote.league, quote.home_team, quote.away_team, quote.start_time)
        cached = self._events.get(key)
        if cached is not None:
            return cached
        sport, league = self.sport_and_league(quote.sport, quote.league)
        home, away = self.team(sport, quote.home_team), self.team(sport, quote.away_team)
        if home.slug == away.slug:
            raise InvalidRequest(f"home and away are the same team ({home.name})")
        event_id = f"{home.slug}-{away.slug}-{quote.start_time.date().isoformat()}"
        if len(event_id) > text.EVENT_ID:
            raise InvalidRequest(f"the team names make an event id longer than {text.EVENT_ID} characters")
        info = EventInfo(event_id, sport, league, home.name, away.name, quote.start_time)
        if len(self._events) >= _CACHE_LIMIT:
            self._events.clear()
        self._events[key] = info
        return info

    def sport_and_league(self, sport_name: str, league_name: str | None) -> tuple[str, str]:
        sport = self.aliases.sports.get(alias_key(sport_name))
        implied = self.aliases.leagues.get(alias_key(sport_name))
        if sport is None and implied is not None:
            sport = implied[1]
        if sport is None:
            raise InvalidRequest(f"unknown sport {sport_name!r}: add it to the aliases file")
        if league_name is None:
            return sport, implied[0] if implied is not None and implied[1] == sport else ""
        league = self.aliases.leagues.get(alias_key(league_name))
        if league is None:
            return sport, " ".join(league_name.split())
        if league[1] != sport:
            raise InvalidRequest(f"league {league_name!r} belongs to {league[1]}, not {sport}")
        return sport, league[0]

    def team(self, sport: str, name: str) -> Team:
        team = self.aliases.teams.get((sport, alias_key(name)))
        if team is not None:
            return team
        canonical = " ".join(name.split())
        slug = slugify(canonical)
        if not slug:
            raise InvalidRequest(f"team name {name!r} has no letters or digits")
        return Team(sport, canonical, slug)

    def status(self, name: str) -> EventStatus:
        status = self._statuses.get(name)
        if status is not None:
            return status
        status = self.aliases.statuses.get(alias_key(name))
        if status is None:
            raise InvalidRequest(f"unknown status {name!r} (expected one of {', '.join(s.value for s in EventStatus)})")
        self._statuses[name] = status
        return status

    def market_type(self, name: str) -> MarketType:
        market_type = self._market_types.get(name)
        if market_type is not None:
            return market_type
        market_type = self.aliases.markets.get(alias_key(name))
        if market_type is None:
            raise InvalidRequest(f"unknown market {name!r} (expected one of {', '.join(m.value for m in MarketType)})")
        self._market_types[name] = market_type
        return market_type

    def outcome(self, label: str, market_type: MarketType, event: EventInfo, line: Decimal | None) -> str:
        memo = (label, market_type, event.home_team, event.away_team)
        known = self._outcomes.get(memo)
        if known is None:
            known = self._outcome(label, market_type, event, line)
            if len(self._outcomes) >= _CACHE_LIMIT:
                self._outcomes.clear()
            self._outcomes[memo] = known
        return known

    def _outcome(self, label: str, market_type: MarketType, event: EventInfo, line: Decimal | None) -> str:
        key = alias_key(label)
        found = self.aliases.outcomes.get(key)
        if found is not None:
            return found
        for prefix in ("over", "under"):
            if key.startswith(prefix) and market_type is MarketType.TOTAL:
                return prefix
        team = self.aliases.teams.get((event.sport, key))
        name = team.name if team is not None else " ".join(label.split())
        if name == event.home_team:
            return "home"
        if name == event.away_team:
            return "away"
        if market_type is MarketType.SPREAD:
            return self._spread_outcome(label, market_type, event, line)
        raise InvalidRequest(
            f"unknown outcome {label!r}: not a known selection nor {event.home_team} or {event.away_team}"
        )

    def _spread_outcome(self, label: str, market_type: MarketType, event: EventInfo, line: Decimal | None) -> str:
        # Vendors often label spread selections with the line appended ("49ers -3.5").
        name, _, _ = label.rpartition(" ")
        if name:
            return self._outcome(name, market_type, event, line)
        raise InvalidRequest(f"unknown outcome {label!r} for {event.home_team} v {event.away_team}")

    @staticmethod
    def _line(market_type: MarketType, line: Decimal | None) -> Decimal | None:
        if market_type in LINE_REQUIRED:
            if line is None:
                raise InvalidRequest(f"a {market_type.value} market needs a line")
            return line
        if line is not None and line != 0:
            raise InvalidRequest(f"a {market_type.value} market has no line, got {format_line(line)}")
        return None


# Lengths of what vendors send before it is mapped to canonical names (the canonical ones are ours).
_RAW_NAME = 64


class TextChecks:
    """Every text a quote carries, checked before anything of it is kept (see `quote`). Vendors
    send the same few names again and again: what a combination of them checked to is remembered
    (bounded like the normalizer's caches), so a repeated quote costs one lookup."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str | None, ...], tuple[str | None, ...]] = {}

    def quote(self, quote: SourceQuote) -> SourceQuote:
        """The quote with every text it carries NFC-normalized and stripped; raises InvalidRequest
        naming the field that holds a control character or is longer than the column it ends up
        in. Every adapter's quotes pass here, so nothing reaches the book, the feed or the audit
        that the database would refuse."""
        given = (
            quote.source,
            quote.sport,
            quote.league,
            quote.home_team,
            quote.away_team,
            quote.status,
            quote.market,
            *(label for label, _ in quote.prices),
        )
        cleaned = self._seen.get(given)
        if cleaned is None:
            cleaned = _cleaned(given)
            if len(self._seen) >= _CACHE_LIMIT:
                self._seen.clear()
            # () stands for "already clean", the usual case, without keeping a second copy.
            self._seen[given] = () if cleaned == given else cleaned
        state = quote.state if quote.state is None else _checked_state(quote.state)
        if not cleaned and state is quote.state:
            return quote
        source, sport, league, home, away, status, market, *labels = cleaned or given
        assert source is not None
        assert sport is not None
        assert home is not None
        assert away is not None
        return replace(
            quote,
            source=source,
            sport=sport,
            league=league,
            home_team=home,
            away_team=away,
            status=status,
            market=market,
            prices=tuple((str(label), price) for label, (_, price) in zip(labels, quote.prices, strict=True)),
            state=state,
        )


_FIELDS = (
    ("source", text.SOURCE),
    ("sport", _RAW_NAME),
    ("league", text.LEAGUE),
    ("home_team", text.TEAM),
    ("away_team", text.TEAM),
    ("status", _RAW_NAME),
    ("market", _RAW_NAME),
)


def _cleaned(given: tuple[str | None, ...]) -> tuple[str | None, ...]:
    """The fields cleaned; raises InvalidRequest naming the first that cannot be stored."""
    cleaned: list[str | None] = []
    for position, value in enumerate(given):
        field, limit = _FIELDS[position] if position < len(_FIELDS) else ("outcomes.id", text.LABEL)
        if value is None:
            cleaned.append(None)
        elif field == "league":
            cleaned.append(text.clean(value, field, limit, blank=True) or None)
        else:
            cleaned.append(text.clean(value, field, limit))
    return tuple(cleaned)


def _checked_state(state: MatchState) -> MatchState:
    def optional(value: str | None, field: str) -> str | None:
        return None if value is None else text.clean(value, f"state.{field}", text.LABEL)

    incidents = tuple(
        replace(
            incident,
            id=text.clean(incident.id, "state.incidents.id", text.LABEL),
            type=text.clean(incident.type, "state.incidents.type", _RAW_NAME),
            period=optional(incident.period, "incidents.period"),
            clock=optional(incident.clock, "incidents.clock"),
            player=optional(incident.player, "incidents.player"),
        )
        for incident in state.incidents
    )
    return replace(
        state,
        period=optional(state.period, "period"),
        clock=optional(state.clock, "clock"),
        detail=optional(state.detail, "detail"),
        incidents=incidents,
    )


def check_incidents(sport: str, state: MatchState) -> None:
    """Refuses incidents outside the sport's vocabulary (InvalidRequest naming the known ones)."""
    known = INCIDENTS.get(sport, frozenset())
    for incident in state.incidents:
        if incident.type not in known:
            raise InvalidRequest(
                f"unknown {sport} incident {incident.type!r} (known: {', '.join(sorted(known)) or 'none'})"
            )


def outcome_name(event: EventInfo, market_type: MarketType, line: Decimal | None, outcome_id: str) -> str:
    """The selection as a person reads it: 'San Francisco 49ers -3.5', 'Over 47.5', 'Draw'."""
    if outcome_id == "draw":
        return "Draw"
    if outcome_id in ("over", "under"):
        return f"{outcome_id.capitalize()} {format_line(line)}" if line is not None else outcome_id.capitalize()
    team = event.home_team if outcome_id == "home" else event.away_team
    if market_type is MarketType.SPREAD and line is not None:
        handicap = line if outcome_id == "home" else -line
        return f"{team} {'+' if handicap > 0 else ''}{format_line(handicap)}"
    return team
