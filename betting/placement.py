"""Taking a bet: priced from what the user's audience is shown (never from another audience's
price), checked by the acceptance guards, revalidated under the user's accept policy (an in-play
bet after its delay), checked against every risk limit, the stake locked and the exposure moved in
one serializable transaction, and remembered under its idempotency key (Stripe's semantics)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from betting import ledger
from betting.acceptance import BetGuards, check_open
from betting.errors import IdempotencyMismatch, InsufficientFunds, MarketSuspended, PriceChanged
from betting.group_commit import GroupCommit
from betting.money import amount, cents_down
from betting.pricing import Accept, price_to_take
from betting.reports import summary
from betting.risk import Exposure, RiskBook, check
from betting.wallet import WalletService
from feeds.audience import Audience
from feeds.book import OddsBook
from schema import text
from schema.answers import Made
from schema.bets import Bet
from schema.commands import PlaceBet
from schema.errors import InvalidRequest, NotFound, OddsgateError
from schema.model import Event, Market, Outcome
from schema.odds import parse_decimal_odds
from schema.visibility import Visibility
from store.bets import (
    NO_EXPOSURE,
    BetRepository,
    ExposureKey,
    ExposureLine,
    ResultRepository,
    day_of,
    exposure_of,
    save_days,
    save_exposure,
    settled_bets,
    user_days,
)
from store.transactions import serializable
from store.types import cents


@dataclass(slots=True, frozen=True)
class Bettor:
    """Who places the bet, as their token says (the gateway has checked it)."""

    sub: str
    region: str | None
    age_verified: bool
    admin: bool = False


def _fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def stored_bet(row: dict[str, Any], record: bool = False) -> Bet:
    """A bet from its row; with `record`, its record at placement too."""
    return Bet(
        bet_id=row["id"],
        status="accepted" if row["status"] == "open" else row["status"],
        event_id=row["event_id"],
        market_id=row["market_id"],
        outcome_id=row["outcome_id"],
        odds=Decimal(row["odds"]),
        stake=cents(row["stake"]),
        potential_payout=cents(row["potential_payout"]),
        accepted_at=row["accepted_at"],
        result=row.get("result"),
        payout=None if row.get("payout") is None else cents(row["payout"]),
        record=row["context"] if record else None,
    )


@dataclass(slots=True, frozen=True)
class _Held:
    """An in-play bet's price when it was held: after the delay, anything else refuses it."""

    delay: float
    odds: Decimal
    updated_at: datetime
    epoch: str
    suspensions: int


@dataclass(slots=True, frozen=True)
class _Ticket:
    """A bet request that passed the checks needing no state, waiting for its transaction."""

    bettor: Bettor
    key: str
    body: dict[str, Any]
    fingerprint: str
    stake: Decimal
    requested: Decimal
    accept: Accept
    visibility: Visibility
    held: _Held | None = None

    @property
    def ident(self) -> tuple[str, str]:
        return self.bettor.sub, self.key


Answer = tuple[Made, dict[str, Any]]


@dataclass(slots=True)
class _Ledger:
    """The state the risk limits and funds are checked against, read once per batch in its
    transaction and moved by each bet accepted before the next is checked."""

    day: str
    settled: set[tuple[str, str]]
    today: dict[tuple[str, str], tuple[int, Decimal]]
    balances: dict[str, Decimal]
    exposure: dict[ExposureKey, ExposureLine]


# The `status` of a stored answer: a refusal's response holds the error, replayed as the same
# refusal; an accepted bet's holds the bet (rows have always marked it 201).
REFUSED = 0
ACCEPTED = 201


def _replay(stored: dict[str, Any], ticket: _Ticket) -> Answer | BaseException:
    if stored["request_hash"] != ticket.fingerprint:
        return IdempotencyMismatch(f"the Idempotency-Key {ticket.key!r} was used with another request body")
    response = dict(stored["response"])
    if int(stored["status"]) == REFUSED:
        error = dict(response["error"])
        code, message = str(error.pop("code")), str(error.pop("message"))
        return OddsgateError(message, code=code, details=error)
    return Made.REPLAYED, response


def _refusal(exc: OddsgateError) -> dict[str, Any]:
    return {"error": {"code": exc.code, "message": exc.message, **exc.details}}


class BetService:
    def __init__(self, wallets: WalletService, book: OddsBook, limits: RiskBook, guards: BetGuards | None = None):
        self.wallets = wallets
        self.book = book
        self.limits = limits
        self.guards = guards or BetGuards()
        # In-play bets waiting out their delay now.
        self.held = 0
        self.repository = BetRepository()
        self.results = ResultRepository()
        # Concurrent placements share transactions, each bet still decided alone in arrival order.
        # One batch at a time: under SERIALIZABLE, concurrent check-then-insert transactions abort
        # each other on shared index pages, so parallel batches in one process only add retries.
        self._commits: GroupCommit[_Ticket, Answer] = GroupCommit(self._place_batch)

    async def place(self, bettor: Bettor, key: str | None, bet: PlaceBet, visibility: Visibility) -> tuple[Made, Bet]:
        """The bet made, or the first answer again (a replay) for a repeated key and body."""
        if not key or len(key) > 200:
            raise InvalidRequest("an Idempotency-Key header (at most 200 characters) is required")
        body = bet.body()
        fingerprint = _fingerprint(body)
        stake = amount(bet.stake, "stake")
        requested = parse_decimal_odds(bet.odds)
        accept = Accept.of(bet.accept)
        ticket = _Ticket(bettor, key, body, fingerprint, stake, requested, accept, visibility)
        held = self._hold(ticket)
        if held is not None:
            # Betfair's in-play delay: the bet waits, then is checked again against what is shown then.
            self.held += 1
            try:
                await asyncio.sleep(held.delay)
            finally:
                self.held -= 1
            ticket = replace(ticket, held=held)
        made, response = await self._commits.submit(ticket)
        return made, Bet.of_json(response)

    def _hold(self, ticket: _Ticket) -> _Held | None:
        """The price to hold an in-play bet against, or None when it is taken (or refused) at once."""
        audience = Audience(self.book, ticket.visibility)
        try:
            event, market, outcome = self._offer(ticket, audience)
            check_open(self.guards, event, market, outcome, datetime.now(UTC))
        except OddsgateError:
            # Refused in its transaction, where the refusal is remembered under the key.
            return None
        delay = self.guards.delay_for(event)
        if delay <= 0:
            return None
        suspensions = audience.suspensions(event.info.id, market.id)
        return _Held(delay, outcome.odds, outcome.updated_at, event.epoch, suspensions)

    async def _place_batch(self, tickets: Sequence[_Ticket]) -> list[Answer | BaseException]:
        """Decide a batch; a repeated key waits for its first use to commit, then replays it."""
        seen: set[tuple[str, str]] = set()
        first: list[int] = []
        again: list[int] = []
        for index, ticket in enumerate(tickets):
            (again if ticket.ident in seen else first).append(index)
            seen.add(ticket.ident)
        answers: list[Answer | BaseException] = [InvalidRequest("undecided")] * len(tickets)
        for index, answer in zip(first, await self._commit([tickets[i] for i in first]), strict=True):
            answers[index] = answer
        if again:
            for index, answer in zip(again, await self._place_batch([tickets[i] for i in again]), strict=True):
                answers[index] = answer
        return answers

    async def _commit(self, tickets: list[_Ticket]) -> list[Answer | BaseException]:
        try:
            return await serializable(self.wallets.engine, lambda conn: self._decide(conn, tickets))
        except IntegrityError:
            if len(tickets) > 1:
                # Something refused the batch as a whole: decide each alone so only its own bet fails.
                return [answer for ticket in tickets for answer in await self._commit([ticket])]
            # A concurrent request with the same key got in first: its answer is ours.
            async with self.wallets.engine.connect() as conn:
                stored = await self.repository.idempotent(conn, [tickets[0].ident])
            if not stored:
                raise
            return [_replay(stored[tickets[0].ident], tickets[0])]
        except OddsgateError as exc:
            return [exc] * len(tickets)

    async def _decide(self, conn: AsyncConnection, tickets: list[_Ticket]) -> list[Answer | BaseException]:
        """Every ticket's answer, in one transaction: replays, refusals, and the accepted bets written.
        Refusals are remembered under their key like bets: the first answer is the answer."""
        answers: list[Answer | BaseException] = []
        stored = await self.repository.idempotent(conn, [t.ident for t in tickets])
        now = datetime.now(UTC)
        priced: list[tuple[int, _Ticket, dict[str, Any]]] = []
        remembered: list[dict[str, Any]] = []

        def remember(ticket: _Ticket, status: int, response: dict[str, Any]) -> None:
            remembered.append(
                {
                    "sub": ticket.bettor.sub,
                    "key": ticket.key,
                    "request_hash": ticket.fingerprint,
                    "status": status,
                    "response": response,
                    "created_at": now,
                }
            )

        for index, ticket in enumerate(tickets):
            if ticket.ident in stored:
                answers.append(_replay(stored[ticket.ident], ticket))
                continue
            try:
                row = self._priced(ticket, now)
            except OddsgateError as exc:
                answers.append(exc)
                remember(ticket, REFUSED, _refusal(exc))
                continue
            answers.append((Made.CREATED, {}))
            priced.append((index, ticket, row))
        accepted: list[tuple[_Ticket, dict[str, Any]]] = []
        if priced:
            markets = {(row["event_id"], row["market_id"]) for _, _, row in priced}
            subs = {ticket.bettor.sub for _, ticket, _ in priced}
            accounts = [account for sub in subs for account in (ledger.available(sub), ledger.locked(sub))]
            read = await self.wallets.repository.read(conn, accounts)
            state = _Ledger(
                day_of(now),
                await self.results.settled_markets(conn, markets),
                await user_days(conn, {(sub, day_of(now)) for sub in subs}),
                {account: Decimal("0.00") if balance is None else balance for account, balance in read.items()},
                await exposure_of(conn, markets),
            )
            exposure_before, days_before = dict(state.exposure), dict(state.today)
            for index, ticket, row in priced:
                try:
                    self._admit(ticket, row, state)
                except OddsgateError as exc:
                    answers[index] = exc
                    remember(ticket, REFUSED, _refusal(exc))
                    continue
                response = orjson.loads(orjson.dumps(stored_bet(row).json(), option=orjson.OPT_UTC_Z))
                answers[index] = (Made.CREATED, response)
                accepted.append((ticket, row))
                remember(ticket, ACCEPTED, response)
            if accepted:
                await self.repository.add(conn, [row for _, row in accepted])
                stakes = [ledger.stake(t.bettor.sub, t.stake, row["id"]) for t, row in accepted]
                await self.wallets.post_many(conn, stakes, read)
                await save_exposure(conn, exposure_before, state.exposure)
                await save_days(conn, days_before, state.today)
        if remembered:
            await self.repository.remember(conn, remembered)
        return answers

    def _admit(self, ticket: _Ticket, row: dict[str, Any], state: _Ledger) -> None:
        """Refuse the bet, or move `state` as taking it does."""
        sub, stake = ticket.bettor.sub, ticket.stake
        event_id, market_id, outcome_id = row["event_id"], row["market_id"], row["outcome_id"]
        if (event_id, market_id) in state.settled:
            # Read in the same serializable transaction: a settlement racing this bet conflicts.
            raise MarketSuspended(f"market {market_id} of {event_id} is settled")
        count, lost = state.today.get((sub, state.day), (0, Decimal("0.00")))
        lines = {k[2]: v for k, v in state.exposure.items() if k[:2] == (event_id, market_id)}
        win = row["potential_payout"] - stake
        check(
            self.limits.of(sub),
            stake,
            row["odds"],
            Exposure(
                lost,
                state.balances[ledger.locked(sub)],
                count,
                lines.get(outcome_id, NO_EXPOSURE).liability,
                max((line.liability for line in lines.values()), default=Decimal(0)),
            ),
        )
        available = state.balances[ledger.available(sub)] - stake
        if available < 0:
            raise InsufficientFunds(f"not enough funds: {ledger.available(sub)} would go to {available}")
        state.today[(sub, state.day)] = (count + 1, lost)
        state.balances[ledger.available(sub)] = available
        state.balances[ledger.locked(sub)] += stake
        key = (event_id, market_id, outcome_id)
        state.exposure[key] = state.exposure.get(key, NO_EXPOSURE).moved(stake, win, 1)

    @staticmethod
    def _offer(ticket: _Ticket, audience: Audience) -> tuple[Event, Market, Outcome]:
        """The event, market and outcome as the bettor's audience is shown them; NotFound (or
        Forbidden) for anything it cannot see, exactly as reading it."""
        body = ticket.body
        event, market = audience.market(body["event_id"], body["market_id"])
        outcome = next((o for o in market.outcomes if o.id == body["outcome_id"]), None)
        if outcome is None:
            raise NotFound(f"market {market.id} has no outcome {body['outcome_id']!r}")
        return event, market, outcome

    def _priced(self, ticket: _Ticket, now: datetime) -> dict[str, Any]:
        """The bet row at the price the bettor's audience is shown, with what it was shown."""
        bettor, stake = ticket.bettor, ticket.stake
        audience = Audience(self.book, ticket.visibility)
        event, market, outcome = self._offer(ticket, audience)
        check_open(self.guards, event, market, outcome, now)
        held = ticket.held
        if held is not None:
            if audience.suspensions(event.info.id, market.id) != held.suspensions:
                raise MarketSuspended(
                    f"market {market.id} of {event.info.id} was suspended during the {held.delay:g}s in-play delay"
                )
            if (outcome.odds, outcome.updated_at, event.epoch) != (held.odds, held.updated_at, held.epoch):
                raise PriceChanged(
                    f"the price moved during the {held.delay:g}s in-play delay (it is now {outcome.odds})",
                    outcome.odds,
                )
        odds = price_to_take(ticket.requested, outcome.odds, ticket.accept)
        info = event.info
        overrides = [
            {
                "id": o.id,
                "action": o.action.value,
                "scope": o.scope.json(),
                "value": None if o.value is None else str(o.value),
                "actor": o.actor,
                "created_at": o.created_at.isoformat(),
            }
            for o in self.book.overrides.active.values()
            if o.scope.covers(info, market.id, outcome.id)
        ]
        visibility = ticket.visibility
        return {
            "id": uuid.uuid4().hex,
            "sub": bettor.sub,
            "event_id": info.id,
            "sport": info.sport,
            "market_id": market.id,
            "outcome_id": outcome.id,
            "stake": stake,
            "odds": odds,
            "requested_odds": ticket.requested,
            "accept": ticket.accept.value,
            "potential_payout": cents_down(stake * odds),
            "status": "open",
            "accepted_at": now,
            "context": {
                "seq": event.seq,
                "epoch": event.epoch,
                "event_status": event.status.value,
                "book_odds": str(outcome.odds),
                "odds_updated_at": outcome.updated_at.isoformat(),
                "sources": {name: str(price) for name, price in outcome.sources.items()},
                "source_count": outcome.source_count,
                "flags": list(outcome.flags),
                "overrides": overrides,
                "margin": None if market.margin is None else str(market.margin),
                "region": bettor.region,
                "age_verified": bettor.age_verified,
                "audience": {
                    "view": audience.view,
                    "sources": None if visibility.sources is None else sorted(visibility.sources),
                    "markets": None if visibility.market_types is None else sorted(visibility.market_types),
                },
                "held_seconds": None if held is None else held.delay,
            },
        }

    async def bets(self, sub: str, limit: int, offset: int) -> tuple[list[Bet], int]:
        async with self.wallets.engine.connect() as conn:
            rows, total = await self.repository.of(conn, sub, limit, offset)
        return [stored_bet(r) for r in rows], total

    async def bet(self, bettor: Bettor, bet_id: str) -> Bet:
        bet_id = text.record_id(bet_id)
        async with self.wallets.engine.connect() as conn:
            row = await self.repository.get(conn, bet_id)
        if row is None or (row["sub"] != bettor.sub and not bettor.admin):
            raise NotFound(f"no bet {bet_id!r}")
        return stored_bet(row, record=True)

    async def report(self, sub: str) -> dict[str, Any]:
        """PnL, ROI and win rate of one user's settled bets (everyone's: `betting.reports`)."""
        async with self.wallets.engine.connect() as conn:
            return summary(await settled_bets(conn, sub))
