"""Match insights through a running gateway: the heuristic, a real `openai` client against a fake
OpenAI-compatible server in each of its moods, caching, the LLM budget, and accuracy scoring."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from schema.odds import fair_probabilities
from tests.conftest import RunningGateway, gateway_settings, mint, serving
from tests.integration.payloads import batch, update
from tests.integration.test_graphql import graphql
from tests.support.fake_llm import SAMPLE_ANSWER, FakeLLM, fake_llm

FOOTBALL = "arsenal-chelsea-2026-03-23"
NFL = "49ers-ravens-2026-03-23"


def three_way(home: float, draw: float, away: float, state: dict[str, Any] | None = None) -> dict[str, Any]:
    body = update(
        home,
        away,
        market="1x2",
        sport="football",
        league="Premier League",
        home_team="Arsenal",
        away_team="Chelsea",
        start_time="2026-03-23T20:00:00Z",
    )
    body["outcomes"] = [{"id": "home", "odds": home}, {"id": "draw", "odds": draw}, {"id": "away", "odds": away}]
    if state is not None:
        body["state"] = state
    return body


RED_CARD = {"id": "rc-1", "type": "red_card", "team": "home", "period": "2H", "clock": "61:40"}


def fair(*odds: str) -> dict[str, float]:
    probabilities = fair_probabilities(
        dict(zip(("home", "draw", "away")[: len(odds)], map(Decimal, odds), strict=True))
    )
    return {o: round(float(p), 4) for o, p in probabilities.items()}


async def ingest(gateway: RunningGateway, *updates: dict[str, Any]) -> None:
    reply = await gateway.client.post("/api/v2/ingest", json=batch("vendor_a", *updates))
    assert reply.status_code == 200, reply.text
    assert reply.json()["rejected"] == []
    # The history comes from the audit: written now rather than at the writer's next interval.
    await gateway.services.audit_writer.flush()


async def insight(gateway: RunningGateway, event_id: str) -> dict[str, Any]:
    reply = await gateway.client.get(f"/api/v2/events/{event_id}/insight")
    assert reply.status_code == 200, reply.text
    data: dict[str, Any] = reply.json()["data"]
    return data


async def test_the_heuristic_insight_is_served_scored_and_unscored(gateway: RunningGateway) -> None:
    await ingest(gateway, three_way(2.30, 3.20, 3.40))
    await ingest(gateway, three_way(3.80, 3.10, 2.05, {"score": {"home": 0, "away": 0}, "incidents": [RED_CARD]}))
    served = await insight(gateway, FOOTBALL)
    assert (served["generator"], served["fallback_reason"], served["model_probability"]) == ("heuristic", None, None)
    assert served["summary"].startswith("Odds drift triggered by red card to Arsenal in the 62nd minute.")
    assert "dropped from 42% to 25%" in served["summary"]
    assert {k: v for k, v in served["win_probability"].items() if v is not None} == fair("3.80", "3.10", "2.05")
    assert served["probability_shift"]["start"] == {**fair("2.30", "3.20", "3.40")}
    assert served["momentum"] == "away"
    assert [k["type"] for k in served["key_events"]] == ["red_card"]
    assert served["event_id"] == FOOTBALL
    assert served["sport"] == "football"

    query = "query($id: ID!) { insight(eventId: $id) { generator summary winProbability { home draw away } } }"
    reply = await graphql(gateway, query, id=FOOTBALL)
    assert reply["data"]["insight"]["summary"] == served["summary"]
    assert reply["data"]["insight"]["winProbability"]["draw"] == served["win_probability"]["draw"]

    log = (await gateway.client.get(f"/api/v2/insights/log?event_id={FOOTBALL}")).json()["data"]
    assert [(r["generator"], r["prompt_hash"], r["output"]["summary"]) for r in log] == [
        ("heuristic", None, served["summary"])
    ]

    result = {"event_id": FOOTBALL, "market_id": "1x2", "winning_outcome_ids": ["away"]}
    settled = await gateway.client.post("/api/v2/results", json=result)
    assert settled.status_code == 201, settled.text
    [report] = (await gateway.client.get("/api/v2/insights/accuracy")).json()["data"]
    p = served["win_probability"]
    # Away won: Brier = home^2 + draw^2 + (away - 1)^2; log loss = -ln(away).
    expected_brier = p["home"] ** 2 + p["draw"] ** 2 + (p["away"] - 1) ** 2
    assert (report["generator"], report["sport"], report["forecasts"]) == ("heuristic", "football", 1)
    assert report["brier"] == pytest.approx(expected_brier, abs=1e-6)
    assert report["log_loss"] == pytest.approx(-math.log(p["away"]), abs=1e-6)
    assert sum(b["count"] for b in report["calibration"]) == 3

    undone = await gateway.client.post(f"/api/v2/results/{settled.json()['id']}/rollback")
    assert undone.status_code == 200
    assert (await gateway.client.get("/api/v2/insights/accuracy")).json()["data"] == []


async def test_insights_are_refused_and_explained(gateway: RunningGateway) -> None:
    await ingest(gateway, update(1.85, 2.10))
    missing = await gateway.client.get("/api/v2/events/nope/insight")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "NOT_FOUND")
    token = mint(gateway.app.state.settings, "odds:read")
    async with httpx.AsyncClient(base_url=gateway.url, headers={"Authorization": f"Bearer {token}"}) as reader:
        refused = await reader.get(f"/api/v2/events/{NFL}/insight")
        accuracy = await reader.get("/api/v2/insights/accuracy")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "FORBIDDEN")
    assert accuracy.status_code == 403
    suspended = {**update(1.85, 2.10), "suspended": True, "outcomes": []}
    await ingest(gateway, suspended)
    closed = await gateway.client.get(f"/api/v2/events/{NFL}/insight")
    assert closed.status_code == 404
    assert "no open match-winner market" in closed.json()["error"]["message"]


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    async with fake_llm() as server:
        yield server


def llm_settings(url: str, server: FakeLLM, **overrides: object) -> Any:
    values: dict[str, object] = {
        "llm_base_url": server.url,
        "llm_model": "gpt-test",
        "llm_timeout": 0.5,
        "llm_retries": 0,
        "insight_seq_bucket": 1,
        **overrides,
    }
    return gateway_settings(url, **values)


async def test_the_model_answers_or_the_labelled_heuristic_does(sqlite_url: str, llm: FakeLLM) -> None:
    async with serving(llm_settings(sqlite_url, llm)) as gateway:
        moods = [
            ("valid", None),
            ("invalid_json", "invalid_json:"),
            ("wrong_shape", "invalid_answer:"),
            ("refusal", "refusal:"),
            ("length", "length:"),
            ("error", "error: HTTP 500"),
            ("timeout", "timeout:"),
        ]
        price = 1.80
        for mood, reason in moods:
            llm.mode = mood  # type: ignore[assignment]
            price += 0.01  # a new odds sequence: a new insight
            await ingest(gateway, update(round(price, 2), 2.10))
            served = await insight(gateway, NFL)
            market = fair(f"{round(price, 2):.2f}", "2.10")
            assert served["win_probability"] == {"home": market["home"], "away": market["draw"], "draw": None}, mood
            if reason is None:
                assert served["generator"] == "llm:fake-gpt-2026-01-01"
                assert served["fallback_reason"] is None
                assert served["summary"] == SAMPLE_ANSWER["summary"]
                assert served["momentum"] == "home"
                assert served["model_probability"] == {
                    "home": 0.71,
                    "away": 0.29,
                    "draw": None,
                    "basis": "model",
                    "model": "fake-gpt-2026-01-01",
                }
                sent = llm.requests[-1]
                assert sent["model"] == "gpt-test"
                assert sent["response_format"]["type"] == "json_schema"
                assert "San Francisco 49ers (home) v Baltimore Ravens (away)" in sent["messages"][1]["content"]
            else:
                assert served["generator"] == "heuristic", mood
                assert served["fallback_reason"].startswith(reason), (mood, served["fallback_reason"])
                assert served["model_probability"] is None
        log = (await gateway.client.get(f"/api/v2/insights/log?event_id={NFL}&limit=20")).json()["data"]
        assert len(log) == len(moods)
        first = log[-1]
        assert (first["generator"], first["model"], first["prompt_tokens"] > 0, len(first["prompt_hash"])) == (
            "llm:fake-gpt-2026-01-01",
            "fake-gpt-2026-01-01",
            True,
            64,
        )


async def test_a_burst_of_readers_makes_one_call(sqlite_url: str, llm: FakeLLM) -> None:
    async with serving(llm_settings(sqlite_url, llm, insight_seq_bucket=100)) as gateway:
        await ingest(gateway, update(1.85, 2.10))
        replies = await asyncio.gather(*(insight(gateway, NFL) for _ in range(20)))
        assert llm.calls == 1
        assert {r["summary"] for r in replies} == {SAMPLE_ANSWER["summary"]}
        await ingest(gateway, update(1.86, 2.09))  # the same bucket of sequence numbers
        await insight(gateway, NFL)
        assert llm.calls == 1


async def test_the_budget_and_the_sport_shape_are_kept(sqlite_url: str, llm: FakeLLM) -> None:
    async with serving(llm_settings(sqlite_url, llm, llm_rate="1/hour")) as gateway:
        await ingest(gateway, update(1.85, 2.10))
        assert (await insight(gateway, NFL))["generator"].startswith("llm:")
        await ingest(gateway, update(1.90, 2.05))
        spent = await insight(gateway, NFL)
        assert spent["generator"] == "heuristic"
        assert spent["fallback_reason"] == "rate_limited: the LLM budget of 1 per 3600s is spent"
        assert llm.calls == 1
    async with serving(llm_settings(sqlite_url, llm)) as gateway:
        # A football answer without a draw probability is not a football answer.
        await ingest(gateway, three_way(2.30, 3.20, 3.40))
        served = await insight(gateway, FOOTBALL)
        assert served["fallback_reason"] == "invalid_answer: football (soccer) needs a draw probability"
        llm.content = json.dumps({**SAMPLE_ANSWER, "model_probability": {"home": 0.4, "away": 0.3, "draw": 0.3}})
        await ingest(gateway, three_way(2.35, 3.20, 3.30))
        served = await insight(gateway, FOOTBALL)
        assert served["generator"] == "llm:fake-gpt-2026-01-01"
        assert served["model_probability"]["draw"] == 0.3
        # The model's own estimate is scored as the model's, beside the market's.
        result = {"event_id": FOOTBALL, "market_id": "1x2", "winning_outcome_ids": ["home"]}
        assert (await gateway.client.post("/api/v2/results", json=result)).status_code == 201
        reports = (await gateway.client.get("/api/v2/insights/accuracy?sport=football")).json()["data"]
        assert [(r["generator"], r["forecasts"]) for r in reports] == [
            ("heuristic", 1),
            ("llm:fake-gpt-2026-01-01", 1),
        ]
        # Home won: the model said 0.4, so Brier = 0.6^2 + 0.3^2 + 0.3^2 = 0.54.
        assert reports[1]["brier"] == pytest.approx(0.54)
