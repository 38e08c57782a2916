"""The control layer's service: a trader's override checked, put in force, recorded and shared.

The rules (scopes, precedence, what an override does to prices) are in `feeds.overrides` and the
book; this module orders the steps around them and keeps every process's book in step.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from auth.access import AccessControl
from auth.principal import Principal
from feeds.book import OddsBook
from feeds.broadcast import Broadcast
from feeds.normalize import Normalizer
from feeds.overrides import Action, Override, Scope, check
from schema import text
from schema.commands import CreateOverride, OverrideScope, RollbackOverride
from schema.errors import Forbidden, InvalidRequest, NotFound, OddsgateError
from schema.model import OUTCOMES
from store.overrides import OverrideRepository

log = logging.getLogger(__name__)
OVERRIDES_CHANNEL = "oddsgate.overrides"
_STATE_LIMIT = 200
_SCOPE_KEYS = {"sport", "event_id", "market_id", "outcome_id"}


class OverrideNotActive(OddsgateError):
    code = "OVERRIDE_NOT_ACTIVE"


class ControlService:
    def __init__(
        self,
        book: OddsBook,
        normalizer: Normalizer,
        repository: OverrideRepository,
        broadcast: Broadcast,
        access: AccessControl,
    ):
        self.book = book
        self.normalizer = normalizer
        self.repository = repository
        self.broadcast = broadcast
        self.access = access

    async def load(self) -> None:
        """Put back in force what was in force when the gateway stopped."""
        for row in await self.repository.active():
            self.book.override(_override(row))

    async def create(self, principal: Principal, command: CreateOverride) -> dict[str, Any]:
        scope = self._scope(command.scope)
        try:
            action = Action(command.action)
        except ValueError:
            raise InvalidRequest("'action' must be suspend, resume, margin or price") from None
        value = check(scope, action, _decimal(command.value))
        reason = _reason(command.reason)
        self._check_visible(principal, scope)
        self._check_exists(scope)
        now = datetime.now(UTC)
        override = Override(uuid.uuid4().hex, scope, action, value, reason, principal.sub, now)
        before = self._state(scope)
        replaced, deltas = self.book.override(override)
        row = _row(override, active=True, replaces=replaced.id if replaced else None)
        row["before"], row["after"] = before, self._state(scope)
        await self.repository.record(row, [replaced.id] if replaced else [], now)
        self._share({"op": "add", "override": _wire(override)})
        return {**_public(row), "deltas": len(deltas)}

    async def rollback(self, principal: Principal, override_id: str, command: RollbackOverride) -> dict[str, Any]:
        reason = _reason(command.reason, default="rollback")
        override_id = text.record_id(override_id)
        row = await self.repository.get(override_id)
        if row is None or row["action"] == "rollback":
            raise NotFound(f"no override {override_id!r}")
        if not row["active"]:
            raise OverrideNotActive(f"override {override_id} is no longer in force (replaced or rolled back)")
        target = _override(row)
        self._check_visible(principal, target.scope)
        now = datetime.now(UTC)
        before = self._state(target.scope)
        _, deltas = self.book.lift(override_id)
        resumed: list[str] = []
        earlier = await self.repository.get(row["replaces"]) if row["replaces"] else None
        if earlier is not None and not earlier["active"]:
            # The earlier state at this scope comes back as it was.
            deltas += self.book.override(_override(earlier))[1]
            resumed.append(earlier["id"])
        record = _row(Override(uuid.uuid4().hex, target.scope, target.action, None, reason, principal.sub, now), False)
        record.update(action="rollback", target_id=override_id, before=before, after=self._state(target.scope))
        await self.repository.record(record, [override_id], now, resumed)
        self._share({"op": "lift", "id": override_id})
        if earlier is not None and resumed:
            self._share({"op": "add", "override": _wire(_override(earlier))})
        return {**_public(record), "deltas": len(deltas)}

    async def history(self, principal: Principal, **filters: Any) -> tuple[list[dict[str, Any]], int]:
        """Actions and rollbacks, newest first: only those whose scope the caller's token sees."""
        rows, total = await self.repository.history(visibility=self.access.visibility(principal), **filters)
        return [_public(r) for r in rows], total

    async def follow(self) -> None:
        """Apply what other processes put in force (with Redis); our own messages are no-ops."""
        await self.broadcast.follow(OVERRIDES_CHANNEL, self._apply, self._resync)

    def _apply(self, raw: bytes) -> None:
        message = orjson.loads(raw)
        if message.get("op") == "add":
            override = _override(message["override"])
            if override.id not in self.book.overrides.active:
                self.book.override(override)
        elif message.get("op") == "lift":
            self.book.lift(str(message["id"]))

    async def _resync(self) -> None:
        active = {row["id"]: row for row in await self.repository.active()}
        for override_id in set(self.book.overrides.active) - set(active):
            self.book.lift(override_id)
        for override_id, row in active.items():
            if override_id not in self.book.overrides.active:
                self.book.override(_override(row))

    def _share(self, message: dict[str, Any]) -> None:
        if self.broadcast.redis is not None:
            self.broadcast.publish(OVERRIDES_CHANNEL, orjson.dumps(message))

    def _scope(self, given: OverrideScope) -> Scope:
        raw = given.body()
        if not raw:
            raise InvalidRequest(f"'scope' is an object with some of {', '.join(sorted(_SCOPE_KEYS))}")
        if not all(isinstance(v, str) and v for v in raw.values()):
            raise InvalidRequest("scope values are non-empty strings")
        sport = league = None
        if "sport" in raw:
            sport, league = self.normalizer.sport_and_league(raw["sport"], None)
        return Scope(sport, raw.get("event_id"), raw.get("market_id"), raw.get("outcome_id"), league or None)

    def _check_visible(self, principal: Principal, scope: Scope) -> None:
        visibility = self.access.visibility(principal)
        state = self.book.events.get(scope.event_id) if scope.event_id else None
        if state is not None and not visibility.sees_event(state.info.sport, state.info.league):
            raise Forbidden(f"this token does not cover {state.info.league or state.info.sport}")
        if scope.sport is not None and not visibility.overlaps(scope.sport, scope.league or ""):
            raise Forbidden(f"this token does not cover {scope.league or scope.sport}")

    def _check_exists(self, scope: Scope) -> None:
        if scope.event_id is None:
            return
        state = self.book.events.get(scope.event_id)
        if state is None:
            raise NotFound(f"no event {scope.event_id!r} in the live book")
        if scope.sport is not None and state.info.sport != scope.sport:
            raise InvalidRequest(f"event {scope.event_id} is {state.info.sport}, not {scope.sport}")
        if scope.market_id is None:
            return
        market = state.markets.get(scope.market_id)
        if market is None:
            raise NotFound(f"event {scope.event_id} has no market {scope.market_id!r}")
        if scope.outcome_id is not None and scope.outcome_id not in OUTCOMES[market.type]:
            known = ", ".join(OUTCOMES[market.type])
            raise InvalidRequest(f"market {scope.market_id} has no outcome {scope.outcome_id!r} (it has {known})")

    def _state(self, scope: Scope) -> dict[str, Any]:
        """The served state of the markets a scope covers (at most 200 of them), for the record."""
        state: dict[str, Any] = {}
        events = self.book.events
        candidates = [events[scope.event_id]] if scope.event_id in events else [] if scope.event_id else events.values()
        for event_state in candidates:
            info = event_state.info
            if len(state) >= _STATE_LIMIT:
                break
            if (scope.sport and info.sport != scope.sport) or (scope.league and info.league != scope.league):
                continue
            event = self.book.event(info.id)
            if event is None:
                continue
            for market in event.markets:
                if replace_outcome(scope).covers(event.info, market.id):
                    state[f"{event.info.id}/{market.id}"] = {
                        "suspended": market.suspended,
                        "margin": None if market.margin is None else str(market.margin),
                        "odds": {o.id: str(o.odds) for o in market.outcomes},
                    }
        return state


def replace_outcome(scope: Scope) -> Scope:
    return Scope(scope.sport, scope.event_id, scope.market_id, None, scope.league)


def _decimal(value: object) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidRequest("'value' must be a number")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise InvalidRequest(f"'value' must be a number, got {value!r}") from None


def _reason(value: object, default: str | None = None) -> str:
    if value is None and default is not None:
        return default
    if not isinstance(value, str) or not value.strip() or len(value) > 500:
        raise InvalidRequest("'reason' is required: why, in at most 500 characters")
    return value.strip()


def _row(override: Override, active: bool, replaces: str | None = None) -> dict[str, Any]:
    scope = override.scope
    return {
        "id": override.id,
        "action": override.action.value,
        "sport": scope.sport,
        "league": scope.league,
        "event_id": scope.event_id,
        "market_id": scope.market_id,
        "outcome_id": scope.outcome_id,
        "value": override.value,
        "reason": override.reason,
        "actor": override.actor,
        "created_at": override.created_at,
        "active": active,
        "replaces": replaces,
        "target_id": None,
        "ended_at": None,
        "before": None,
        "after": None,
    }


def _override(row: dict[str, Any]) -> Override:
    created = row["created_at"]
    return Override(
        str(row["id"]),
        Scope(row.get("sport"), row.get("event_id"), row.get("market_id"), row.get("outcome_id"), row.get("league")),
        Action(row["action"]),
        None if row.get("value") is None else Decimal(str(row["value"])),
        str(row["reason"]),
        str(row["actor"]),
        created if isinstance(created, datetime) else datetime.fromisoformat(created),
    )


def _wire(override: Override) -> dict[str, Any]:
    return {**_row(override, True), "value": None if override.value is None else str(override.value)}


def _public(row: dict[str, Any]) -> dict[str, Any]:
    scope = {k: row[k] for k in ("sport", "league", "event_id", "market_id", "outcome_id") if row.get(k)}
    return {
        "id": row["id"],
        "action": row["action"],
        "scope": scope,
        "value": None if row["value"] is None else float(row["value"]),
        "reason": row["reason"],
        "actor": row["actor"],
        "created_at": row["created_at"],
        "active": bool(row["active"]),
        "replaces": row["replaces"],
        "target_id": row["target_id"],
        "ended_at": row["ended_at"],
        "before": row["before"],
        "after": row["after"],
    }
