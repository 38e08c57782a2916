"""GraphQL mirrors every REST write and covers what REST reads, over the same use-cases: the same
answers, the same refusals with the same codes."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import RunningGateway, gateway_settings, mint, serving
from tests.integration.conftest import punter
from tests.integration.payloads import batch, update

EVENT = "49ers-ravens-2026-03-23"


async def gql(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    reply = await client.post("/graphql", json={"query": query, "variables": variables})
    body: dict[str, Any] = reply.json()
    return body


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def test_paging_is_refused_alike(book: RunningGateway) -> None:
    async with punter(book) as ann:
        rest = await ann.get("/api/v2/bets?limit=501")
        graphql = await gql(ann, "{ bets(limit: 501) { betId } }")
        events = await gql(book.client, "{ events(limit: 0) { id } }")
    assert (rest.status_code, rest.json()["error"]["code"]) == (422, "INVALID_REQUEST")
    assert codes(graphql) == ["INVALID_REQUEST"] == codes(events)
    assert rest.json()["error"]["message"] == graphql["errors"][0]["message"]


async def test_results_settle_and_roll_back_through_graphql(book: RunningGateway) -> None:
    async with punter(book) as ann:
        placed = await ann.post(
            "/api/v2/bets",
            json={"event_id": EVENT, "market_id": "moneyline", "outcome_id": "home", "stake": "10.00", "odds": 1.85},
            headers={"Idempotency-Key": "1"},
        )
        assert placed.status_code == 201, placed.text
        refused = await gql(
            ann, 'mutation { settleMarket(result: {eventId: "x", marketId: "moneyline", void: true}) { id } }'
        )
    settle = """mutation($e: String!) {
      settleMarket(result: {eventId: $e, marketId: "moneyline", winningOutcomeIds: ["home"]}) { id bets paid }
    }"""
    settled = await gql(book.client, settle, e=EVENT)
    again = await gql(book.client, settle, e=EVENT)
    result = settled["data"]["settleMarket"]
    assert (result["bets"], result["paid"]) == (1, "18.50")
    assert again["data"]["settleMarket"]["id"] == result["id"]
    context = await gql(book.client, "query($b: ID!) { betContext(betId: $b) }", b=placed.json()["bet_id"])
    rest_context = (await book.client.get(f"/api/v2/bets/{placed.json()['bet_id']}/context")).json()["data"]
    assert context.get("errors") is None, context
    assert context["data"]["betContext"]["price"] == rest_context["price"]
    undone = await gql(book.client, "mutation($r: ID!) { rollbackResult(id: $r) { id rolledBackAt } }", r=result["id"])
    assert undone["data"]["rollbackResult"]["rolledBackAt"] is not None
    assert codes(refused) == ["FORBIDDEN"]


async def test_deposits_through_graphql_are_made_once(book: RunningGateway) -> None:
    deposit = 'mutation { deposit(sub: "bob", amount: "25.00", reference: "pay-9") { sub available } }'
    first = await gql(book.client, deposit)
    again = await gql(book.client, deposit)
    bad = await gql(book.client, 'mutation { deposit(sub: "bob", amount: "1.234") { sub } }')
    rest = await book.client.post("/api/v2/wallets/bob/deposit", json={"amount": "25.00", "reference": "pay-9"})
    assert first["data"]["deposit"] == again["data"]["deposit"] == {"sub": "bob", "available": "25.00"}
    assert (rest.status_code, rest.headers["idempotent-replayed"]) == (200, "true")
    assert codes(bad) == ["INVALID_REQUEST"]


async def test_operator_reads_match_rest(book: RunningGateway) -> None:
    await book.client.post(
        "/api/v2/overrides", json={"scope": {"event_id": EVENT}, "action": "margin", "value": "0.1", "reason": "t"}
    )
    overrides = await gql(book.client, "{ overrides(limit: 5) { id action scope active } }")
    rest = (await book.client.get("/api/v2/overrides?limit=5")).json()["data"]
    assert [o["id"] for o in overrides["data"]["overrides"]] == [o["id"] for o in rest]
    exposure = await gql(book.client, "{ exposure { eventId outcomeId stakes liability } }")
    assert exposure["data"]["exposure"] == [
        {"eventId": e["event_id"], "outcomeId": e["outcome_id"], "stakes": e["stakes"], "liability": e["liability"]}
        for e in (await book.client.get("/api/v2/exposure")).json()["data"]
    ]
    report = await gql(book.client, "{ bookReport }")
    assert report["data"]["bookReport"] == (await book.client.get("/api/v2/reports")).json()
    alerts = await gql(book.client, "{ alerts(limit: 5) { id kind } }")
    assert alerts["data"]["alerts"] == [
        {"id": a["id"], "kind": a["kind"]} for a in (await book.client.get("/api/v2/alerts?limit=5")).json()["data"]
    ]
    history = await gql(book.client, "query($e: ID!) { history(eventId: $e) { id seq homeTeam } }", e=EVENT)
    assert history["data"]["history"]["homeTeam"] == "San Francisco 49ers"
    async with punter(book) as ann:
        refused = await gql(ann, "{ exposure { eventId } }")
    assert codes(refused) == ["FORBIDDEN"]


async def test_webhooks_are_managed_through_graphql(sqlite_url: str) -> None:
    settings = gateway_settings(sqlite_url, webhook_allowed_networks=["127.0.0.0/8"])
    token = mint(settings, "webhooks:manage", sub="cms")
    async with (
        serving(settings) as gateway,
        httpx.AsyncClient(base_url=gateway.url, headers={"Authorization": f"Bearer {token}"}) as cms,
    ):
        made = await gql(
            cms,
            'mutation { registerWebhook(url: "http://127.0.0.1:9/hook", events: ["suspension"], '
            'secret: "0123456789abcdef", sports: ["nfl"]) { id events sports owner } }',
        )
        listed = await gql(cms, "{ webhooks { id url } }")
        webhook_id = made["data"]["registerWebhook"]["id"] if made.get("data") else None
        removed = await gql(cms, "mutation($w: ID!) { removeWebhook(id: $w) }", w=webhook_id)
        alerts = await gql(
            cms,
            'mutation { registerWebhook(url: "http://127.0.0.1:9/h", events: ["alert"], '
            'secret: "0123456789abcdef") { id } }',
        )
    assert made.get("errors") is None, made
    assert made["data"]["registerWebhook"]["owner"] == "cms"
    assert [w["id"] for w in listed["data"]["webhooks"]] == [webhook_id]
    assert removed["data"]["removeWebhook"] is True
    assert codes(alerts) == ["FORBIDDEN"]


async def test_ingested_later_is_read_alike(book: RunningGateway) -> None:
    reply = await book.client.post("/api/v2/ingest", json=batch("b", update(1.90, 2.00)))
    assert reply.status_code == 200
    rest = (await book.client.get("/api/v2/sources")).json()["data"]
    graphql = await gql(book.client, "{ sources { name updates up } }")
    assert graphql["data"]["sources"] == [{"name": s["source"], "updates": s["updates"], "up": s["up"]} for s in rest]


async def test_bodies_are_typed_commands_refused_by_field(book: RunningGateway) -> None:
    bet = {"event_id": EVENT, "market_id": "moneyline", "outcome_id": "home", "stake": "10.00", "odd": 1.85}
    async with punter(book) as ann:
        unknown = await ann.post("/api/v2/bets", json=bet, headers={"Idempotency-Key": "u"})
        typed = await ann.post(
            "/api/v2/bets", json={**bet, "odd": None, "odds": True}, headers={"Idempotency-Key": "t"}
        )
        huge = await ann.post(
            "/api/v2/bets",
            json={k: v for k, v in bet.items() if k != "odd"} | {"odds": 2, "stake": 2**70},
            headers={"Idempotency-Key": "h"},
        )
    override = await book.client.post("/api/v2/overrides", json={"scope": {"team": "x"}, "action": "suspend"})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "INVALID_REQUEST")
    assert "unknown field 'odd'" in unknown.json()["error"]["message"]
    assert "'odds' must be" in typed.json()["error"]["message"]
    assert "unknown field 'scope.team'" in override.json()["error"]["message"]
    assert (huge.status_code, huge.json()["error"]["code"]) == (422, "INVALID_REQUEST")
    assert "'stake'" in huge.json()["error"]["message"]


async def test_times_are_bounded_alike(book: RunningGateway) -> None:
    rest = await book.client.get(f"/api/v2/events/{EVENT}/history?at=1900-01-01T00:00:00Z")
    graphql = await gql(
        book.client, 'query($e: ID!) { history(eventId: $e, at: "1900-01-01T00:00:00Z") { id } }', e=EVENT
    )
    since = await gql(book.client, '{ overrides(since: "9999-01-01T00:00:00Z") { id } }')
    assert (rest.status_code, rest.json()["error"]["code"]) == (422, "INVALID_REQUEST")
    assert codes(graphql) == ["INVALID_REQUEST"] == codes(since)
    assert "between 1970 and 9000" in graphql["errors"][0]["message"]
