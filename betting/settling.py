"""Settling a market exactly once, and rolling a settlement back with new postings.

A result claims the market's row in `market_settlements` in the same serializable transaction that
pays every open bet on it; a second result for the market (sent twice, or by another process) fails
on that key and gets the first one back. Rollback posts the exact reverse of each bet's settlement,
reopens the bets and frees the market to be settled again.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from betting import ledger
from betting.errors import InsufficientFunds
from betting.settlement import Result, payout
from betting.wallet import WalletService
from schema import text
from schema.answers import Made
from schema.commands import SettleMarket
from schema.errors import InvalidRequest, NotFound, OddsgateError
from schema.model import OUTCOMES, MarketType
from store.bets import (
    NO_EXPOSURE,
    ExposureKey,
    ExposureLine,
    ResultRepository,
    day_of,
    has_bets,
    mark_bets,
    move_days,
    move_exposure,
    open_bets,
    settled_by,
)
from store.transactions import serializable
from store.types import cents

log = logging.getLogger(__name__)


class _Moves:
    """What settling (direction -1) or reopening (+1) bets does to the house's exposure and to the
    users' daily losses, gathered so each is written once per market."""

    def __init__(self) -> None:
        self.exposure: dict[ExposureKey, ExposureLine] = {}
        self.days: dict[tuple[str, str], tuple[int, Decimal]] = {}

    def settle(self, bet: dict[str, Any], paid: Decimal, direction: int) -> None:
        stake = cents(bet["stake"])
        key = (bet["event_id"], bet["market_id"], bet["outcome_id"])
        win = cents(bet["potential_payout"]) - stake
        self.exposure[key] = self.exposure.get(key, NO_EXPOSURE).moved(direction * stake, direction * win, direction)
        loss = max(Decimal(0), stake - paid)
        if loss:
            day = (bet["sub"], day_of(bet["accepted_at"]))
            bets, lost = self.days.get(day, (0, Decimal("0.00")))
            self.days[day] = (bets, lost - direction * loss)

    async def apply(self, conn: AsyncConnection) -> None:
        await move_exposure(conn, self.exposure)
        await move_days(conn, self.days)


class AlreadySettled(OddsgateError):
    code = "ALREADY_SETTLED"


class NotSettled(OddsgateError):
    code = "NOT_SETTLED"


def outcome_results(market_id: str, body: dict[str, Any]) -> tuple[dict[str, Result], Decimal | None]:
    """Each outcome's result from the request; raises InvalidRequest saying what is wrong, for a
    malformed request and for a result no match can have (two winners of a moneyline, say)."""
    try:
        market_type = MarketType(market_id.split(":", 1)[0])
    except ValueError:
        raise InvalidRequest(f"unknown market {market_id!r}") from None
    outcomes = OUTCOMES[market_type]
    void = body.get("void", False)
    if not isinstance(void, bool):
        raise InvalidRequest("'void' must be true or false")
    factor = dead_heat_factor(body.get("dead_heat_factor"))
    explicit, winners = body.get("outcomes"), body.get("winning_outcome_ids")
    if sum(1 for given in (void or None, explicit, winners) if given is not None) != 1:
        raise InvalidRequest("a result gives exactly one of 'winning_outcome_ids', 'outcomes' or 'void': true")
    if void:
        if factor is not None:
            raise InvalidRequest("a void result has no 'dead_heat_factor'")
        return dict.fromkeys(outcomes, Result.VOID), None
    if explicit is not None:
        if not isinstance(explicit, dict) or set(explicit) != set(outcomes):
            raise InvalidRequest(f"'outcomes' gives a result for each of {', '.join(outcomes)}")
        known = {r.value for r in Result}
        if not all(isinstance(r, str) and r in known for r in explicit.values()):
            raise InvalidRequest(f"results are {', '.join(r.value for r in Result)}")
        results = {o: Result(r) for o, r in explicit.items()}
    else:
        if (
            not isinstance(winners, list)
            or not winners
            or not all(isinstance(w, str) and w in outcomes for w in winners)
            or len(set(winners)) != len(winners)
        ):
            raise InvalidRequest(
                f"'winning_outcome_ids' lists distinct winners among {', '.join(outcomes)} (or 'void': true)"
            )
        won = Result.DEAD_HEAT if len(winners) > 1 else Result.WON
        results = {o: won if o in winners else Result.LOST for o in outcomes}
    _check_possible(results, factor)
    return results, factor


def dead_heat_factor(value: object) -> Decimal | None:
    """The share of the stake a dead heat pays at the odds, in (0, 1]; raises InvalidRequest."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidRequest("'dead_heat_factor' is a number in (0, 1], e.g. 0.5 for a two-way tie")
    try:
        factor = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidRequest(f"'dead_heat_factor' must be a number, got {str(value)[:40]!r}") from None
    if not factor.is_finite() or not Decimal(0) < factor <= 1:
        raise InvalidRequest(f"'dead_heat_factor' must be in (0, 1], got {str(value)[:40]}")
    if factor != factor.quantize(_FACTOR_QUANTUM):
        raise InvalidRequest("'dead_heat_factor' has at most 6 decimal places")
    return factor


_FACTOR_QUANTUM = Decimal("0.000001")


def _check_possible(results: dict[str, Result], factor: Decimal | None) -> None:
    """One winner; a dead heat between several; a quarter line half won on one side and half lost
    on the other; or everything void. Anything else no match can produce."""
    counts = Counter(results.values())
    heats = counts[Result.DEAD_HEAT]
    if heats:
        if factor is None:
            raise InvalidRequest("two or more winners are a dead heat: give 'dead_heat_factor', e.g. 0.5")
        if heats < 2 or counts[Result.LOST] != len(results) - heats:
            raise InvalidRequest("a dead heat is between two or more winners, and every other outcome lost")
        return
    if factor is not None:
        raise InvalidRequest("'dead_heat_factor' is for a dead heat: name two or more winners")
    if counts[Result.VOID] == len(results):
        return
    if counts[Result.WON] == 1 and counts[Result.LOST] == len(results) - 1:
        return
    if counts[Result.HALF_WON] == 1 and counts[Result.HALF_LOST] == 1 and counts[Result.LOST] == len(results) - 2:
        return
    shown = ", ".join(f"{o}: {r.value}" for o, r in results.items())
    raise InvalidRequest(f"no match ends {shown}: one outcome wins (or half wins), or a dead heat, or void")


# Told about a result after its transaction committed: (result as the API shows it).
ResultObserver = Callable[[dict[str, Any]], Awaitable[object]]


class MarketCatalog(Protocol):
    async def exists(self, event_id: str, market_id: str) -> bool: ...


class SettlementService:
    def __init__(self, wallets: WalletService, markets: MarketCatalog):
        self.wallets = wallets
        self.markets = markets
        self.results = ResultRepository()
        self.on_settled: list[ResultObserver] = []
        self.on_rolled_back: list[ResultObserver] = []

    async def _tell(self, observers: list[ResultObserver], result: dict[str, Any]) -> None:
        for observer in observers:
            try:
                await observer(result)
            except Exception:
                # The money has moved and stays moved; an observer's failure is its own.
                log.exception("result observer failed for %s", result["id"])

    async def settle(self, actor: str, result: SettleMarket) -> tuple[Made, dict[str, Any]]:
        body = result.body()
        event_id = text.text(body.get("event_id"), "event_id", text.EVENT_ID)
        market_id = text.text(body.get("market_id"), "market_id", text.MARKET_ID)
        results, factor = outcome_results(market_id, body)
        await self._known(event_id, market_id)
        fingerprint = hashlib.sha256(
            orjson.dumps({"outcomes": results, "factor": str(factor)}, option=orjson.OPT_SORT_KEYS)
        ).hexdigest()

        async def work(conn: AsyncConnection) -> tuple[Made, dict[str, Any]]:
            existing = await self.results.in_force(conn, event_id, market_id)
            if existing is not None:
                return self._again(existing, fingerprint)
            now = datetime.now(UTC)
            row: dict[str, Any] = {
                "id": uuid.uuid4().hex,
                "event_id": event_id,
                "market_id": market_id,
                "outcomes": {o: r.value for o, r in results.items()},
                "dead_heat_factor": factor,
                "request_hash": fingerprint,
                "actor": actor,
                "created_at": now,
                "bets": 0,
                "paid": Decimal("0.00"),
            }
            await self.results.claim(conn, row)
            bets = await open_bets(conn, event_id, market_id)
            moves = _Moves()
            entries, marks = [], {}
            for bet in bets:
                stake = cents(bet["stake"])
                result = results[bet["outcome_id"]]
                paid = payout(stake, Decimal(str(bet["odds"])), result, factor)
                entries.append(ledger.settle(bet["sub"], stake, paid, bet["id"]))
                marks[bet["id"]] = {
                    "status": "settled",
                    "result": result.value,
                    "payout": paid,
                    "settled_at": now,
                    "result_id": row["id"],
                }
                moves.settle(bet, paid, -1)
            await self.wallets.post_many(conn, entries)
            await mark_bets(conn, marks)
            await moves.apply(conn)
            paid_total = sum((cents(m["payout"]) for m in marks.values()), Decimal("0.00"))
            await self.results.totals(conn, row["id"], len(bets), paid_total)
            return Made.CREATED, _public({**row, "bets": len(bets), "paid": paid_total})

        try:
            status, reply = await serializable(self.wallets.engine, work)
        except IntegrityError:
            # Another request settled this market first (sent twice, or another process).
            async with self.wallets.engine.connect() as conn:
                existing = await self.results.in_force(conn, event_id, market_id)
            if existing is None:
                raise
            return self._again(existing, fingerprint)
        if status is Made.CREATED:
            await self._tell(self.on_settled, reply)
        return status, reply

    async def _known(self, event_id: str, market_id: str) -> None:
        """Raises NotFound for a market nobody offered: not in the book, the audit, or any bet."""
        if await self.markets.exists(event_id, market_id):
            return
        async with self.wallets.engine.connect() as conn:
            if await has_bets(conn, event_id, market_id):
                return
        raise NotFound(f"no market {market_id!r} of event {event_id!r} was ever offered")

    async def rollback(self, actor: str, result_id: str) -> dict[str, Any]:
        del actor
        result_id = text.record_id(result_id)

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            row = await self.results.get(conn, result_id)
            if row is None:
                raise NotFound(f"no result {result_id!r}")
            if row["rolled_back_at"] is not None:
                raise NotSettled(f"result {result_id} was already rolled back")
            now = datetime.now(UTC)
            moves = _Moves()
            entries, marks = [], {}
            for bet in await settled_by(conn, result_id):
                stake, paid = cents(bet["stake"]), cents(bet["payout"])
                settled = ledger.settle(bet["sub"], stake, paid, bet["id"])
                entries.append(settled.reversed("reversal", bet["id"]))
                marks[bet["id"]] = {
                    "status": "open",
                    "result": None,
                    "payout": None,
                    "settled_at": None,
                    "result_id": None,
                }
                moves.settle(bet, paid, 1)
            try:
                await self.wallets.post_many(conn, entries)
            except InsufficientFunds as exc:
                raise InsufficientFunds(
                    f"result {result_id} cannot be rolled back yet: a winner has already staked the winnings "
                    f"({exc.message}); nothing was changed"
                ) from None
            await mark_bets(conn, marks)
            await moves.apply(conn)
            await self.results.release(conn, result_id, now)
            return _public({**row, "rolled_back_at": now})

        undone = await serializable(self.wallets.engine, work)
        await self._tell(self.on_rolled_back, undone)
        return undone

    @staticmethod
    def _again(existing: dict[str, Any], fingerprint: str) -> tuple[Made, dict[str, Any]]:
        if existing["request_hash"] != fingerprint:
            raise AlreadySettled(
                f"market {existing['market_id']} of {existing['event_id']} is settled by result {existing['id']} "
                "with other outcomes; roll it back first"
            )
        return Made.REPLAYED, _public(existing)


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "event_id": row["event_id"],
        "market_id": row["market_id"],
        "outcomes": row["outcomes"],
        "dead_heat_factor": None if row.get("dead_heat_factor") is None else str(row["dead_heat_factor"]),
        "bets": row["bets"],
        "paid": str(cents(row["paid"])),
        "created_at": row["created_at"],
        "rolled_back_at": row.get("rolled_back_at"),
    }
