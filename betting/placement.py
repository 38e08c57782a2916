"""Taking a bet: revalidated against the live book under the user's accept policy, checked against
every risk limit, the stake locked and the exposure moved in one serializable transaction, and
remembered under its idempotency key (Stripe's semantics)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from betting import ledger
from betting.errors import MarketSuspended
from betting.money import amount, cents_down
from betting.pricing import Accept, price_to_take
from betting.reports import summary
from betting.risk import Exposure, RiskBook, check
from betting.wallet import WalletService
from feeds.book import OddsBook
from schema.errors import Forbidden, InvalidRequest, NotFound, OddsgateError
from schema.odds import parse_decimal_odds
from schema.visibility import Visibility
from store.bets import BetRepository, ResultRepository, settled_bets
from store.transactions import serializable
from store.types import cents


@dataclass(slots=True, frozen=True)
class Bettor:
    """Who places the bet, as their token says (the gateway has checked it)."""

    sub: str
    region: str | None
    age_verified: bool
    admin: bool = False


class IdempotencyMismatch(OddsgateError):
    code = "IDEMPOTENCY_MISMATCH"


def _fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "bet_id": row["id"],
        "status": "accepted" if row["status"] == "open" else row["status"],
        "event_id": row["event_id"],
        "market_id": row["market_id"],
        "outcome_id": row["outcome_id"],
        "odds": float(row["odds"]),
        "stake": str(cents(row["stake"])),
        "potential_payout": str(cents(row["potential_payout"])),
        "accepted_at": row["accepted_at"],
        "result": row.get("result"),
        "payout": None if row.get("payout") is None else str(cents(row["payout"])),
    }


class BetService:
    def __init__(self, wallets: WalletService, book: OddsBook, limits: RiskBook):
        self.wallets = wallets
        self.book = book
        self.limits = limits
        self.repository = BetRepository()
        self.results = ResultRepository()

    async def place(
        self, bettor: Bettor, key: str | None, body: object, visibility: Visibility
    ) -> tuple[int, dict[str, Any]]:
        """(status, body): 201 and the bet, or the first answer again for a repeated key and body."""
        if not key or len(key) > 200:
            raise InvalidRequest("an Idempotency-Key header (at most 200 characters) is required")
        if not isinstance(body, dict):
            raise InvalidRequest("the body is a JSON object: {event_id, market_id, outcome_id, stake, odds, accept}")
        fingerprint = _fingerprint(body)
        for name in ("event_id", "market_id", "outcome_id"):
            if not isinstance(body.get(name), str):
                raise InvalidRequest(f"'{name}' is required")
        stake = amount(body.get("stake"), "stake")
        requested = parse_decimal_odds(body.get("odds"))
        accept = Accept.of(body.get("accept"))

        async def work(conn: AsyncConnection) -> tuple[int, dict[str, Any]]:
            replay = await self._replay(conn, bettor.sub, key, fingerprint)
            if replay is not None:
                return replay
            now = datetime.now(UTC)
            row = self._priced(bettor, body, stake, requested, accept, visibility, now)
            if await self.results.in_force(conn, row["event_id"], row["market_id"]) is not None:
                # Read in the same serializable transaction: a settlement racing this bet conflicts.
                raise MarketSuspended(f"market {row['market_id']} of {row['event_id']} is settled")
            start_of_day = now.replace(hour=0, minute=0, second=0, microsecond=0)
            count, lost = await self.repository.user_today(conn, bettor.sub, start_of_day)
            pending = (await self.wallets.repository.balances(conn, [ledger.locked(bettor.sub)]))[
                ledger.locked(bettor.sub)
            ]
            exposure = await self.repository.exposure(conn, row["event_id"], row["market_id"])
            win = row["potential_payout"] - stake
            check(
                self.limits.of(bettor.sub),
                stake,
                row["odds"],
                Exposure(
                    lost,
                    pending,
                    count,
                    exposure.get(row["outcome_id"], Decimal(0)),
                    max(exposure.values(), default=Decimal(0)),
                ),
            )
            await self.repository.add(conn, row)
            await self.wallets.post(conn, ledger.stake(bettor.sub, stake, row["id"]))
            await self.repository.add_exposure(conn, row["event_id"], row["market_id"], row["outcome_id"], stake, win)
            response = orjson.loads(orjson.dumps(_public(row), option=orjson.OPT_UTC_Z))
            await self.repository.remember(conn, bettor.sub, key, fingerprint, 201, response, now)
            return 201, response

        try:
            return await serializable(self.wallets.engine, work)
        except IntegrityError:
            # A concurrent request with the same key got in first: its answer is ours.
            async with self.wallets.engine.connect() as conn:
                replay = await self._replay(conn, bettor.sub, key, fingerprint)
            if replay is None:
                raise
            return replay

    async def _replay(
        self, conn: AsyncConnection, sub: str, key: str, fingerprint: str
    ) -> tuple[int, dict[str, Any]] | None:
        existing = await self.repository.idempotent(conn, sub, key)
        if existing is None:
            return None
        if existing["request_hash"] != fingerprint:
            raise IdempotencyMismatch(f"the Idempotency-Key {key!r} was used with another request body")
        return int(existing["status"]), dict(existing["response"])

    def _priced(
        self,
        bettor: Bettor,
        body: dict[str, Any],
        stake: Decimal,
        requested: Decimal,
        accept: Accept,
        visibility: Visibility,
        now: datetime,
    ) -> dict[str, Any]:
        """The bet row at the live price, with the price context the user was given."""
        event = self.book.event(body["event_id"])
        if event is None:
            raise NotFound(f"no event {body['event_id']!r} in the live book")
        if not visibility.sees_event(event.info.sport, event.info.league):
            raise Forbidden(f"this token does not cover {event.info.league or event.info.sport}")
        market = next((m for m in event.markets if m.id == body["market_id"]), None)
        if market is None:
            raise NotFound(f"event {event.info.id} has no market {body['market_id']!r}")
        if market.suspended:
            raise MarketSuspended(f"market {market.id} of {event.info.id} is suspended")
        outcome = next((o for o in market.outcomes if o.id == body["outcome_id"]), None)
        if outcome is None:
            raise NotFound(f"market {market.id} has no outcome {body['outcome_id']!r}")
        odds = price_to_take(requested, outcome.odds, accept)
        info = event.info
        overrides = [o.id for o in self.book.overrides.active.values() if o.scope.covers(info, market.id, outcome.id)]
        return {
            "id": uuid.uuid4().hex,
            "sub": bettor.sub,
            "event_id": info.id,
            "sport": info.sport,
            "market_id": market.id,
            "outcome_id": outcome.id,
            "stake": stake,
            "odds": odds,
            "requested_odds": requested,
            "accept": accept.value,
            "potential_payout": cents_down(stake * odds),
            "status": "open",
            "accepted_at": now,
            "context": {
                "seq": event.seq,
                "book_odds": str(outcome.odds),
                "sources": {name: str(price) for name, price in outcome.sources.items()},
                "flags": list(outcome.flags),
                "overrides": overrides,
                "margin": None if market.margin is None else str(market.margin),
                "region": bettor.region,
                "age_verified": bettor.age_verified,
            },
        }

    async def bets(self, sub: str, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        async with self.wallets.engine.connect() as conn:
            rows, total = await self.repository.of(conn, sub, limit, offset)
        return [_public(r) for r in rows], total

    async def bet(self, bettor: Bettor, bet_id: str) -> dict[str, Any]:
        async with self.wallets.engine.connect() as conn:
            row = await self.repository.get(conn, bet_id)
        if row is None or (row["sub"] != bettor.sub and not bettor.admin):
            raise NotFound(f"no bet {bet_id!r}")
        return {**_public(row), "context": row["context"]}

    async def report(self, sub: str | None) -> dict[str, Any]:
        """PnL, ROI and win rate of one user's settled bets, or of everyone's (sub None)."""
        async with self.wallets.engine.connect() as conn:
            return summary(await settled_bets(conn, sub))

    async def exposure(self) -> list[dict[str, Any]]:
        async with self.wallets.engine.connect() as conn:
            return await self.repository.all_exposure(conn)
