"""Operator surfaces respect the token's sports (issue 17, item 4), through a real server: alerts,
overrides, exposure and reports list only what the caller's token sees; a webhook delivers only what
its owner's token could see, narrowed by its own filters; `webhooks:manage` manages webhooks and
nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from store.db import create_engine
from store.migrate import upgrade_async
from store.webhooks import WebhookRepository
from tests.conftest import RunningGateway, create_database, gateway_settings, mint, serving
from tests.integration.conftest import punter
from tests.integration.payloads import batch, update
from tests.integration.test_cli import token as cli_token
from tests.integration.test_control import Receiver, serve_receiver
from tests.support.waiting import until

NFL_EVENT = "49ers-ravens-2026-03-23"
NBA_EVENT = "lakers-celtics-2026-03-23"
SECRET = "partner-secret-0123456789"
SHARP = [{"name": "sharp", "kind": "price_move", "percent": 10, "seconds": 60}]


def nba(home: float = 1.90, away: float = 1.95) -> dict[str, Any]:
    return update(home, away, sport="NBA", league="NBA", home_team="Lakers", away_team="Celtics")


def client_for(gateway: RunningGateway, *scopes: str, sub: str = "operator", **claims: Any) -> httpx.AsyncClient:
    token = mint(gateway.app.state.settings, *scopes, sub=sub, **claims)
    return httpx.AsyncClient(base_url=gateway.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


async def ingest(gateway: RunningGateway, *updates: dict[str, Any]) -> None:
    reply = await gateway.client.post("/api/v2/ingest", json=batch("a", *updates))
    assert reply.status_code == 200, reply.text


async def suspend(gateway: RunningGateway, scope: dict[str, str]) -> dict[str, Any]:
    reply = await gateway.client.post("/api/v2/overrides", json={"scope": scope, "action": "suspend", "reason": "t"})
    assert reply.status_code == 201, reply.text
    made: dict[str, Any] = reply.json()
    return made


# -- alerts, overrides, exposure, reports ------------------------------------------------------------


async def test_alerts_list_only_the_events_the_token_sees(sqlite_url: str) -> None:
    settings = gateway_settings(sqlite_url, alert_rules=SHARP, alert_flush_interval=0.05)
    async with serving(settings) as gateway:
        await ingest(gateway, update(2.00, 1.90), nba(2.00, 1.90))
        await ingest(gateway, update(2.40, 1.60), nba(2.40, 1.60))  # both move: two alerts each

        async def stored() -> bool:
            total: int = (await gateway.client.get("/api/v2/alerts")).json()["pagination"]["total"]
            return total == 4

        await until(stored)
        async with client_for(gateway, "odds:control", sports=["nfl"]) as nfl_only:
            mine = (await nfl_only.get("/api/v2/alerts")).json()
            asked_for_nba = (await nfl_only.get(f"/api/v2/alerts?event_id={NBA_EVENT}")).json()
    assert {a["event_id"] for a in mine["data"]} == {NFL_EVENT}
    assert mine["pagination"]["total"] == 2
    assert (asked_for_nba["data"], asked_for_nba["pagination"]["total"]) == ([], 0)


async def test_overrides_list_only_scopes_the_token_sees(gateway: RunningGateway) -> None:
    await ingest(gateway, update(), nba())
    nba_sport = await suspend(gateway, {"sport": "nba"})
    nba_event = await suspend(gateway, {"event_id": NBA_EVENT})
    nfl_sport = await suspend(gateway, {"sport": "nfl"})
    nfl_event = await suspend(gateway, {"event_id": NFL_EVENT})
    football = await suspend(gateway, {"sport": "american_football"})  # every league, NFL among them
    rolled = await gateway.client.post(f"/api/v2/overrides/{nba_event['id']}/rollback", json={"reason": "undo"})
    assert rolled.status_code == 201
    async with client_for(gateway, "odds:control", sports=["nfl"]) as nfl_only:
        # An event's sport and league are those the audit recorded: written within AUDIT_INTERVAL.
        async def listed() -> bool:
            mine.update((await nfl_only.get("/api/v2/overrides")).json())
            return bool(mine["pagination"]["total"] >= 3)

        mine: dict[str, Any] = {}
        await until(listed)
        nba_asked = (await nfl_only.get("/api/v2/overrides?sport=nba")).json()
    everything = (await gateway.client.get("/api/v2/overrides")).json()
    assert {r["id"] for r in mine["data"]} == {nfl_sport["id"], nfl_event["id"], football["id"]}
    assert mine["pagination"]["total"] == 3
    assert nba_asked["pagination"]["total"] == 0
    assert everything["pagination"]["total"] == 6
    assert nba_sport["id"] in {r["id"] for r in everything["data"]}


async def test_exposure_and_reports_count_only_the_tokens_sports(book: RunningGateway) -> None:
    await ingest(book, nba(1.90, 1.95))
    bets = [
        {"event_id": NFL_EVENT, "market_id": "moneyline", "outcome_id": "home", "stake": "10.00", "odds": 1.85},
        {"event_id": NBA_EVENT, "market_id": "moneyline", "outcome_id": "away", "stake": "20.00", "odds": 1.95},
    ]
    async with punter(book) as ann:
        for key, body in enumerate(bets):
            placed = await ann.post("/api/v2/bets", json=body, headers={"Idempotency-Key": str(key)})
            assert placed.status_code == 201, placed.text
    async with client_for(book, "odds:control", sports=["nfl"]) as nfl_only:
        exposure = (await nfl_only.get("/api/v2/exposure")).json()["data"]
        for event in (NFL_EVENT, NBA_EVENT):
            result = {"event_id": event, "market_id": "moneyline", "winning_outcome_ids": ["home"]}
            assert (await book.client.post("/api/v2/results", json=result)).status_code in (200, 201)
        report = (await nfl_only.get("/api/v2/reports")).json()
    everyone = (await book.client.get("/api/v2/reports")).json()
    assert [(e["event_id"], e["outcome_id"], e["stakes"]) for e in exposure] == [(NFL_EVENT, "home", "10.00")]
    assert report["overall"]["bets"] == 1
    assert report["overall"]["staked"] == "10.00"
    assert set(report["by_sport"]) == {"american_football"}
    assert everyone["overall"]["bets"] == 2
    assert set(everyone["by_sport"]) == {"american_football", "basketball"}


# -- webhooks -----------------------------------------------------------------------------------------


@pytest.fixture
async def hooked(sqlite_url: str) -> AsyncIterator[RunningGateway]:
    """One delivery worker: deliveries leave in the order they were made, so once a webhook has the
    last one it expects, everything made before it has been delivered (or was never made)."""
    settings = gateway_settings(
        sqlite_url,
        alert_rules=SHARP,
        webhook_allowed_networks=["127.0.0.0/8"],
        webhook_workers=1,
        webhook_backoff=0.05,
    )
    async with serving(settings) as gateway:
        await ingest(gateway, update(2.00, 1.90), nba(2.00, 1.90))
        yield gateway


def payloads(receiver: Receiver) -> list[dict[str, Any]]:
    return [orjson.loads(body) for _, body in receiver.received]


async def test_a_webhook_delivers_only_what_its_owners_token_sees(hooked: RunningGateway) -> None:
    receiver = Receiver()
    server, task, url = await serve_receiver(receiver)
    try:
        async with client_for(hooked, "odds:control", sub="nfl-partner", sports=["nfl"]) as owner:
            made = await owner.post(
                "/api/v2/webhooks", json={"url": url, "events": ["suspension", "alert"], "secret": SECRET}
            )
            assert made.status_code == 201, made.text
        await ingest(hooked, nba(2.40, 1.60), update(2.40, 1.60))  # NBA alerts, then NFL alerts
        await suspend(hooked, {"sport": "nba"})
        await suspend(hooked, {"event_id": NFL_EVENT})

        async def nfl_suspension_arrived() -> bool:
            return any(p["event"] == "suspension" for p in payloads(receiver))

        await until(nfl_suspension_arrived)
    finally:
        server.should_exit = True
        await task
    got = payloads(receiver)
    assert {p["data"]["event_id"] for p in got} == {NFL_EVENT}
    assert sorted(p["event"] for p in got) == ["alert", "alert", "suspension"]
    assert made.json()["owner_sports"] == ["nfl"]


async def test_settling_and_rolling_back_reach_webhooks_the_owner_may_see(hooked: RunningGateway) -> None:
    receiver = Receiver()
    server, task, url = await serve_receiver(receiver)
    kinds = ["market.settled", "market.unsettled", "suspension"]
    try:
        async with client_for(hooked, "webhooks:manage", sub="cms", sports=["nfl"]) as owner:
            made = await owner.post("/api/v2/webhooks", json={"url": url, "events": kinds, "secret": SECRET})
            assert made.status_code == 201, made.text
        settled = []
        for event_id in (NBA_EVENT, NFL_EVENT):
            reply = await hooked.client.post(
                "/api/v2/results",
                json={"event_id": event_id, "market_id": "moneyline", "winning_outcome_ids": ["home"]},
            )
            assert reply.status_code == 201, reply.text
            settled.append(reply.json()["id"])
        for result_id in settled:
            undone = await hooked.client.post(f"/api/v2/results/{result_id}/rollback")
            assert undone.status_code == 200, undone.text

        async def reopened() -> bool:
            return any(p["event"] == "market.unsettled" for p in payloads(receiver))

        await until(reopened)
    finally:
        server.should_exit = True
        await task
    got = payloads(receiver)
    assert [(p["event"], p["data"]["event_id"]) for p in got] == [
        ("market.settled", NFL_EVENT),
        ("market.unsettled", NFL_EVENT),
    ]
    first, second = (p["data"] for p in got)
    assert (first["market_status"], first["result"]["winners"]) == ("settled", ["home"])
    assert (second["market_status"], second["result"]) == ("open", None)


async def test_registration_filters_narrow_deliveries(hooked: RunningGateway) -> None:
    receivers = [Receiver(), Receiver(), Receiver()]
    served = [await serve_receiver(r) for r in receivers]
    try:
        bodies: list[dict[str, Any]] = [
            {"sports": ["NBA"]},
            {"event_ids": [NFL_EVENT]},
            {},  # the witness: registered last, so its delivery of each change is made last
        ]
        for (_, _, url), extra in zip(served, bodies, strict=True):
            made = await hooked.client.post(
                "/api/v2/webhooks", json={"url": url, "events": ["suspension"], "secret": SECRET, **extra}
            )
            assert made.status_code == 201, made.text
        await suspend(hooked, {"event_id": NFL_EVENT})
        await suspend(hooked, {"event_id": NBA_EVENT})

        async def witness_has_both() -> bool:
            return len(receivers[2].received) == 2

        await until(witness_has_both)
        listed = (await hooked.client.get("/api/v2/webhooks")).json()["data"]
    finally:
        for server, task, _ in served:
            server.should_exit = True
            await task
    assert [p["data"]["event_id"] for p in payloads(receivers[0])] == [NBA_EVENT]
    assert [p["data"]["event_id"] for p in payloads(receivers[1])] == [NFL_EVENT]
    assert [(h["sports"], h["event_ids"]) for h in listed] == [
        ([{"sport": "basketball", "league": "NBA"}], None),
        (None, [NFL_EVENT]),
        (None, None),
    ]


async def test_bad_registration_filters_are_refused_clearly(hooked: RunningGateway) -> None:
    base = {"url": "http://127.0.0.1:9/hook", "events": ["suspension"], "secret": SECRET}
    cases: list[tuple[dict[str, Any], int, str, str]] = [
        ({"sports": ["nba"]}, 403, "FORBIDDEN", "nba"),
        ({"sports": ["american_football"]}, 403, "FORBIDDEN", "american_football"),
        ({"sports": ["curling-on-mars"]}, 422, "INVALID_REQUEST", "curling-on-mars"),
        ({"sports": "nfl"}, 422, "INVALID_REQUEST", "sports"),
        ({"sports": []}, 422, "INVALID_REQUEST", "sports"),
        ({"event_ids": [""]}, 422, "INVALID_REQUEST", "event_ids"),
        ({"event_ids": "x"}, 422, "INVALID_REQUEST", "event_ids"),
        ({"event_ids": [NBA_EVENT]}, 403, "FORBIDDEN", NBA_EVENT),
        ({"sport": "nfl"}, 422, "INVALID_REQUEST", "sport"),
        ({"events": ["goal"]}, 422, "INVALID_REQUEST", "events"),
    ]
    async with client_for(hooked, "odds:control", sub="nfl-partner", sports=["nfl"]) as owner:
        for extra, status, code, words in cases:
            reply = await owner.post("/api/v2/webhooks", json={**base, **extra})
            assert (reply.status_code, reply.json()["error"]["code"]) == (status, code), extra
            assert words in reply.json()["error"]["message"], extra
        fine = await owner.post("/api/v2/webhooks", json={**base, "sports": ["nfl"], "event_ids": [NFL_EVENT]})
        assert fine.status_code == 201, fine.text
        listed = (await owner.get("/api/v2/webhooks")).json()["data"]
    assert [h["id"] for h in listed] == [fine.json()["id"]]


async def test_webhooks_manage_manages_webhooks_and_nothing_else(hooked: RunningGateway) -> None:
    receiver = Receiver()
    server, task, url = await serve_receiver(receiver)
    try:
        async with client_for(hooked, "webhooks:manage", sub="cms") as cms:
            made = await cms.post("/api/v2/webhooks", json={"url": url, "events": ["suspension"], "secret": SECRET})
            assert made.status_code == 201, made.text
            hook_id = made.json()["id"]
            await suspend(hooked, {"event_id": NFL_EVENT})

            async def delivered() -> bool:
                rows = (await cms.get(f"/api/v2/webhooks/{hook_id}/deliveries")).json()["data"]
                return [r["status"] for r in rows] == ["delivered"]

            await until(delivered)
            listed = (await cms.get("/api/v2/webhooks")).json()["data"]
            alerts_hook = await cms.post("/api/v2/webhooks", json={"url": url, "events": ["alert"], "secret": SECRET})
            refused = {
                "override": await cms.post(
                    "/api/v2/overrides", json={"scope": {"sport": "nfl"}, "action": "suspend", "reason": "x"}
                ),
                "alerts": await cms.get("/api/v2/alerts"),
                "exposure": await cms.get("/api/v2/exposure"),
                "reports": await cms.get("/api/v2/reports"),
                "overrides": await cms.get("/api/v2/overrides"),
            }
            removed = await cms.delete(f"/api/v2/webhooks/{hook_id}")
        async with client_for(hooked, "odds:read", sub="cms") as reader:
            no_scope = await reader.get("/api/v2/webhooks")
    finally:
        server.should_exit = True
        await task
    assert [h["id"] for h in listed] == [hook_id]
    assert (alerts_hook.status_code, alerts_hook.json()["error"]["code"]) == (403, "FORBIDDEN")
    assert "odds:control" in alerts_hook.json()["error"]["message"]
    for name, reply in refused.items():
        assert (reply.status_code, reply.json()["error"]["code"]) == (403, "FORBIDDEN"), name
    assert removed.status_code == 204
    assert (no_scope.status_code, no_scope.json()["error"]["code"]) == (403, "FORBIDDEN")
    assert "webhooks:manage" in no_scope.json()["error"]["message"]


@pytest.mark.e2e
async def test_the_token_cli_issues_webhooks_manage(tmp_path: Path, hooked: RunningGateway) -> None:
    token = cli_token(tmp_path, "--sub", "cms", "--scope", "webhooks:manage", "--sport", "nfl")
    async with httpx.AsyncClient(base_url=hooked.url, headers={"Authorization": f"Bearer {token}"}) as cms:
        made = await cms.post(
            "/api/v2/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["suspension"], "secret": SECRET}
        )
    assert made.status_code == 201, made.text
    assert made.json()["owner_sports"] == ["nfl"]


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_webhooks_registered_before_the_migration_keep_delivering_every_sport(
    request: pytest.FixtureRequest, sqlite_url: str, database: str
) -> None:
    url = sqlite_url if database == "sqlite" else await create_database(request.getfixturevalue("postgres_cluster"))
    await upgrade_async(url, "0013")
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO webhooks (id, url, events, secret, owner, created_at, active) "
                    "VALUES ('old', 'https://partner.example/hook', '[\"suspension\"]', :secret, 'alice', :at, true)"
                ),
                {"secret": SECRET, "at": datetime.now(UTC)},
            )
        await upgrade_async(url)
        [row] = await WebhookRepository(engine).active()
    finally:
        await engine.dispose()
    assert (row["owner_sports"], row["owner_region"], row["sports"], row["event_ids"]) == (["*"], None, None, None)
