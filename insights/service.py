"""Serving insights: one generation per event and odds-sequence bucket however many ask (cached,
and shared while in flight), the language model within its budget, the heuristic otherwise, every
insight logged, and its probabilities scored when the match-winner market settles."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from insights.accuracy import Forecast, brier, log_loss, score
from insights.budget import LLMBudget
from insights.context import InsightContext, build_context, winner_market
from insights.heuristic import heuristic_insight
from insights.llm import LLMClient, LLMResult
from insights.prompt import SYSTEM, prompt_hash, user_prompt
from insights.sports import PROFILES, profile
from schema.insight import Insight
from schema.model import Event
from store.audit import AuditRepository
from store.insights import InsightRepository

log = logging.getLogger(__name__)
CACHE_SIZE = 10_000


class InsightService:
    def __init__(
        self,
        repository: InsightRepository,
        audit: AuditRepository,
        llm: LLMClient | None,
        budget: LLMBudget,
        *,
        window_seconds: int = 300,
        seq_bucket: int = 10,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.repository = repository
        self.audit = audit
        self.llm = llm
        self.budget = budget
        self.window_seconds = window_seconds
        self.seq_bucket = max(1, seq_bucket)
        self.clock = clock
        self._cache: OrderedDict[tuple[str, int, tuple[object, ...]], Insight] = OrderedDict()
        self._inflight: dict[tuple[str, int, tuple[object, ...]], asyncio.Task[Insight]] = {}
        self.generated = 0

    async def insight(self, event: Event, audience: tuple[object, ...] = (), history: bool = True) -> Insight:
        """The event's insight for its current prices (NotFound when it has no winner market).

        `event` is as the reader may see it; readers with the same `audience` see the same event.
        Without `history` (a reader restricted to some sources: the audit holds the consensus of
        all) the insight starts from the prices now."""
        key = (event.info.id, event.seq // self.seq_bucket, audience)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._generate(event, history))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._settle(key, done))
        # A reader that goes away must not cancel the generation the others wait for.
        return await asyncio.shield(task)

    def _settle(self, key: tuple[str, int, tuple[object, ...]], task: asyncio.Task[Insight]) -> None:
        self._inflight.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return
        self._cache[key] = task.result()
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    async def _generate(self, event: Event, history: bool) -> Insight:
        now = self.clock()
        market = winner_market(event, profile(event.info.sport))
        since = now - timedelta(seconds=self.window_seconds)
        prices = await self.audit.prices_between(event.info.id, market.id, since, now) if history else []
        ctx = build_context(event, prices, self.window_seconds, now)
        result: LLMResult | None = None
        system = user = None
        if self.llm is None:
            insight = heuristic_insight(ctx)
        elif not await self.budget.take():
            insight = heuristic_insight(ctx, f"rate_limited: the LLM budget of {self.budget.describe()} is spent")
        else:
            system, user = SYSTEM, user_prompt(ctx)
            result = await self.llm.answer(system, user)
            insight = self._from_model(ctx, result)
        self.generated += 1
        await self._record(insight, result, None if system is None or user is None else prompt_hash(system, user))
        return insight

    @staticmethod
    def _from_model(ctx: InsightContext, result: LLMResult) -> Insight:
        """The model's words and own probabilities over the market's numbers, or the labelled fallback."""
        answer = result.answer
        if answer is None:
            return heuristic_insight(ctx, result.failure)
        if (answer.model_probability.draw is None) == ctx.profile.draw:
            expected = "a draw probability" if ctx.profile.draw else "no draw probability"
            return heuristic_insight(ctx, f"invalid_answer: {ctx.profile.label} needs {expected}")
        market = heuristic_insight(ctx)
        try:
            return Insight.model_validate(
                market.model_dump()
                | {
                    "summary": answer.summary,
                    "key_events": [k.model_dump() for k in answer.key_events],
                    "momentum": answer.momentum,
                    "predictive_notes": answer.predictive_notes,
                    "model_probability": {**answer.model_probability.model_dump(), "model": result.model},
                    "generator": f"llm:{result.model}",
                }
            )
        except ValidationError as exc:
            first = exc.errors()[0]["msg"]
            return heuristic_insight(ctx, f"invalid_answer: {exc.error_count()} problem(s), first: {first}")

    async def _record(self, insight: Insight, result: LLMResult | None, prompt: str | None) -> None:
        row: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "event_id": insight.event_id,
            "sport": insight.sport,
            "generator": insight.generator,
            "model": None if result is None else result.model,
            "prompt_hash": prompt,
            "fallback_reason": insight.fallback_reason,
            "odds_seq": insight.odds_seq,
            "output": insight.model_dump(mode="json"),
            "latency_ms": None if result is None else round(result.latency_ms, 1),
            "prompt_tokens": None if result is None else result.prompt_tokens,
            "completion_tokens": None if result is None else result.completion_tokens,
            "created_at": insight.created_at,
        }
        try:
            await self.repository.record(row)
        except Exception:
            # The reader still gets the insight; the log is the part that failed, and says so.
            log.exception("could not log insight for %s", insight.event_id)

    async def score_result(self, result: dict[str, Any]) -> int:
        """Score each generator's latest insight for the event against a settled match-winner result
        (`result` as the results API shows it); the number scored. Voids, dead heats and other
        markets score nothing."""
        outcomes: dict[str, str] = result["outcomes"]
        winners = [o for o, r in outcomes.items() if r == "won"]
        if len(winners) != 1 or any(r not in ("won", "lost") for r in outcomes.values()):
            return 0
        rows = []
        now = self.clock()
        for insight in await self.repository.latest_per_generator(result["event_id"]):
            sport = PROFILES.get(insight["sport"])
            if sport is None or result["market_id"] != sport.winner_markets[0].value:
                continue
            output = insight["output"]
            model = output.get("model_probability")
            basis, probabilities = ("model", model) if model else ("market", output["win_probability"])
            forecast = {
                o: float(p) for o, p in probabilities.items() if o in ("home", "away", "draw") and p is not None
            }
            if winners[0] not in forecast:
                continue
            rows.append(
                {
                    "result_id": result["id"],
                    "insight_id": insight["id"],
                    "event_id": result["event_id"],
                    "sport": insight["sport"],
                    "generator": insight["generator"],
                    "basis": basis,
                    "probabilities": forecast,
                    "outcome": winners[0],
                    "brier": brier(forecast, winners[0]),
                    "log_loss": log_loss(forecast, winners[0]),
                    "scored_at": now,
                }
            )
        await self.repository.add_scores(rows)
        return len(rows)

    async def forget_result(self, result: dict[str, Any]) -> int:
        """A result rolled back: its scores go with it (it may be settled again, and scored again)."""
        return await self.repository.drop_scores(result["id"])

    async def log(self, event_id: str, limit: int = 50) -> list[dict[str, Any]]:
        return await self.repository.log(event_id, limit)

    async def accuracy(self, sport: str | None = None) -> list[dict[str, Any]]:
        rows = await self.repository.scores(sport)
        forecasts = [Forecast(r["generator"], r["sport"], r["probabilities"], r["outcome"]) for r in rows]
        return [report.json() for report in score(forecasts)]
