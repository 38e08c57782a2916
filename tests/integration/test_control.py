"""The control layer through a real server: overrides reach every subscriber, are audited, roll back
and survive a restart."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

import uvicorn
from websockets.asyncio.client import connect

from tests.conftest import RunningGateway, gateway_settings, mint, serving
from tests.integration.payloads import batch, update
from tests.support.servers import free_port, serve_in_process
from tests.support.subscribers import alert_listeners, cohort_members
from tests.support.waiting import never, until

EVENT = "49ers-ravens-2026-03-23"
OTHER = "chiefs-bills-2026-03-23"


async def ingest(gateway: RunningGateway, *updates: dict[str, Any], source: str = "a") -> None:
    reply = await gateway.client.post("/api/v2/ingest", json=batch(source, *updates))
    assert reply.status_code == 200, reply.text


async def override(gateway: RunningGateway, **body: Any) -> dict[str, Any]:
    body.setdefault("reason", "trader test")
    reply = await gateway.client.post("/api/v2/overrides", json=body)
    assert reply.status_code == 201, reply.text
    record: dict[str, Any] = reply.json()
    return record


async def market(gateway: RunningGateway, market_id: str = "moneyline", event: str = EVENT) -> dict[str, Any]:
    data = (await gateway.client.get(f"/api/v2/events/{event}")).json()["data"]
    found: dict[str, Any] = next(m for m in data["markets"] if m["id"] == market_id)
    return found


def prices(found: dict[str, Any]) -> dict[str, float]:
    return {o["id"]: o["odds"]["decimal"] for o in found["outcomes"]}


async def test_a_suspension_reaches_graphql_and_ws_subscribers_as_a_delta(gateway: RunningGateway) -> None:
    await ingest(gateway, update(), update(1.5, 2.6, home_team="Chiefs", away_team="Bills"))
    url = gateway.url.replace("http://", "ws://")
    async with (
        connect(url + "/ws") as partner,
        connect(url + "/graphql", subprotocols=["graphql-transport-ws"]) as graphql,  # type: ignore[list-item]
    ):
        await partner.send(json.dumps({"action": "auth", "token": gateway.token}))
        await partner.recv()
        await partner.send(json.dumps({"action": "subscribe", "channels": [f"event.{EVENT}"]}))
        await partner.recv()
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {gateway.token}"}}
        await graphql.send(json.dumps(init))
        await graphql.recv()
        fields = "eventId marketId seq suspended reason"
        query = {"query": f'subscription {{ oddsUpdated(sport: "nfl", snapshot: false) {{ {fields} }} }}'}
        await graphql.send(json.dumps({"id": "1", "type": "subscribe", "payload": query}))
        await until(lambda: cohort_members(gateway.app) == 1)
        record = await override(gateway, scope={"sport": "nfl"}, action="suspend", reason="bet stop")
        async with asyncio.timeout(5):
            ws_delta = json.loads(await partner.recv())
            graphql_deltas = [json.loads(await graphql.recv())["payload"]["data"]["oddsUpdated"] for _ in range(2)]
    assert record["deltas"] == 2  # one per affected market: bulk stop over the sport
    assert (ws_delta["event_id"], ws_delta["seq"], ws_delta["suspended"], ws_delta["reason"]) == (
        EVENT,
        2,
        True,
        "override",
    )
    assert {(d["eventId"], d["suspended"], d["reason"]) for d in graphql_deltas} == {
        (EVENT, True, "override"),
        (OTHER, True, "override"),
    }


async def test_margin_and_price_overrides_change_served_odds_as_the_formula_says(gateway: RunningGateway) -> None:
    await ingest(gateway, update(1.80, 2.10))
    before = prices(await market(gateway))
    await override(gateway, scope={"event_id": EVENT, "market_id": "moneyline"}, action="margin", value=8)
    implied = {o: 1 / p for o, p in before.items()}
    total = sum(implied.values())
    expected = {o: float(Decimal(f"{1 / (p / total * 1.08):.2f}")) for o, p in implied.items()}
    after = await market(gateway)
    assert prices(after) == expected
    assert after["margin"] == round((sum(1 / p for p in expected.values()) - 1) * 100, 2)
    scope = {"event_id": EVENT, "market_id": "moneyline", "outcome_id": "home"}
    await override(gateway, scope=scope, action="price", value=1.95)
    assert prices(await market(gateway))["home"] == 1.95
    await ingest(gateway, update(1.60, 2.40))  # the feed moves; the fixed price holds
    assert prices(await market(gateway))["home"] == 1.95


async def test_rollback_restores_the_earlier_state_as_a_new_audited_action(gateway: RunningGateway) -> None:
    await ingest(gateway, update(1.80, 2.10))
    plain = prices(await market(gateway))
    first = await override(gateway, scope={"event_id": EVENT}, action="margin", value=10)
    ten = prices(await market(gateway))
    second = await override(gateway, scope={"event_id": EVENT}, action="margin", value=2)
    assert second["replaces"] == first["id"]
    assert prices(await market(gateway)) != ten
    back = await gateway.client.post(f"/api/v2/overrides/{second['id']}/rollback", json={"reason": "fat finger"})
    assert back.status_code == 201
    rollback = back.json()
    assert (rollback["action"], rollback["target_id"], rollback["reason"]) == ("rollback", second["id"], "fat finger")
    assert prices(await market(gateway)) == ten  # the 10% margin is back
    again = await gateway.client.post(f"/api/v2/overrides/{second['id']}/rollback", json={})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "OVERRIDE_NOT_ACTIVE")
    await gateway.client.post(f"/api/v2/overrides/{first['id']}/rollback", json={})
    assert prices(await market(gateway)) == plain
    history = (await gateway.client.get("/api/v2/overrides")).json()
    assert history["pagination"]["total"] == 4
    assert [r["action"] for r in history["data"]] == ["rollback", "rollback", "margin", "margin"]
    assert history["data"][-1]["actor"] == "tests"
    assert history["data"][-1]["before"][f"{EVENT}/moneyline"]["odds"] == {"home": "1.80", "away": "2.10"}
    active = (await gateway.client.get("/api/v2/overrides?active=true")).json()
    assert active["data"] == []


async def test_overrides_survive_a_restart(sqlite_url: str) -> None:
    settings = gateway_settings(sqlite_url)
    async with serving(settings) as gateway:
        await ingest(gateway, update())
        await override(gateway, scope={"event_id": EVENT}, action="suspend", reason="before restart")
    async with serving(settings) as gateway:
        await ingest(gateway, update(1.70, 2.20))
        assert (await market(gateway))["suspended"] is True
        active = (await gateway.client.get("/api/v2/overrides?active=true")).json()["data"]
        assert [(r["action"], r["reason"]) for r in active] == [("suspend", "before restart")]


async def test_bad_overrides_are_refused_and_change_nothing(gateway: RunningGateway) -> None:
    await ingest(gateway, update())
    cases = [
        ({"scope": {"event_id": EVENT}, "action": "explode", "reason": "x"}, 422, "action"),
        ({"scope": {"event_id": "nope"}, "action": "suspend", "reason": "x"}, 404, "nope"),
        (
            {"scope": {"event_id": EVENT, "market_id": "moneyline"}, "action": "price", "value": 2, "reason": "x"},
            422,
            "outcome",
        ),
        ({"scope": {"event_id": EVENT}, "action": "margin", "value": 90, "reason": "x"}, 422, "0 to 50"),
        ({"scope": {"event_id": EVENT}, "action": "suspend"}, 422, "reason"),
        ({"scope": {"colour": "red"}, "action": "suspend", "reason": "x"}, 422, "scope"),
    ]
    for body, status, words in cases:
        reply = await gateway.client.post("/api/v2/overrides", json=body)
        assert reply.status_code == status, body
        assert words in reply.json()["error"]["message"], body
    reader = {"Authorization": f"Bearer {mint(gateway.app.state.settings, 'odds:read')}"}
    refused = await gateway.client.post(
        "/api/v2/overrides", json={"scope": {"event_id": EVENT}, "action": "suspend", "reason": "x"}, headers=reader
    )
    assert refused.status_code == 403
    assert (await market(gateway))["suspended"] is False
    assert (await gateway.client.get("/api/v2/overrides")).json()["pagination"]["total"] == 0


async def test_graphql_mutations_mirror_the_rest_calls(gateway: RunningGateway) -> None:
    await ingest(gateway, update())
    create = """mutation($scope: OverrideScopeInput!, $value: Float) {
      createOverride(scope: $scope, action: "margin", value: $value, reason: "from graphql") {
        id action scope value actor active deltas } }"""
    variables = {"scope": {"eventId": EVENT, "marketId": "moneyline"}, "value": 6}
    made = (await gateway.client.post("/graphql", json={"query": create, "variables": variables})).json()
    record = made["data"]["createOverride"]
    assert (record["action"], record["value"], record["actor"], record["active"], record["deltas"]) == (
        "margin",
        6.0,
        "tests",
        True,
        1,
    )
    assert record["scope"] == {"event_id": EVENT, "market_id": "moneyline"}
    assert 5.5 <= (await market(gateway))["margin"] <= 6.5  # served at the target margin (two-place prices)
    undo = 'mutation($id: ID!) { rollbackOverride(id: $id, reason: "undo") { action targetId } }'
    undone = (await gateway.client.post("/graphql", json={"query": undo, "variables": {"id": record["id"]}})).json()
    assert undone["data"]["rollbackOverride"] == {"action": "rollback", "targetId": record["id"]}
    again = (await gateway.client.post("/graphql", json={"query": undo, "variables": {"id": record["id"]}})).json()
    assert again["errors"][0]["extensions"]["code"] == "OVERRIDE_NOT_ACTIVE"
    reader = {"Authorization": f"Bearer {mint(gateway.app.state.settings, 'odds:read')}"}
    refused = await gateway.client.post("/graphql", json={"query": create, "variables": variables}, headers=reader)
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    bad = {"scope": {"eventId": EVENT}, "value": 99}
    invalid = (await gateway.client.post("/graphql", json={"query": create, "variables": bad})).json()
    assert invalid["errors"][0]["extensions"]["code"] == "INVALID_REQUEST"


async def test_an_alert_fires_on_a_scripted_move_everywhere(sqlite_url: str) -> None:
    rules = [{"name": "sharp", "kind": "price_move", "percent": 10, "seconds": 60}]
    async with serving(gateway_settings(sqlite_url, alert_rules=rules, alert_flush_interval=0.05)) as gateway:
        url = gateway.url.replace("http://", "ws://")
        await ingest(gateway, update(2.00, 1.90))
        async with (
            connect(url + "/ws") as partner,
            connect(url + "/graphql", subprotocols=["graphql-transport-ws"]) as graphql,  # type: ignore[list-item]
        ):
            await partner.send(json.dumps({"action": "auth", "token": gateway.token}))
            await partner.recv()
            await partner.send(json.dumps({"action": "subscribe", "channels": ["alerts"]}))
            assert json.loads(await partner.recv())["channels"] == ["alerts"]
            init = {"type": "connection_init", "payload": {"authorization": f"Bearer {gateway.token}"}}
            await graphql.send(json.dumps(init))
            await graphql.recv()
            query = {"query": "subscription { alerts { rule kind eventId marketId outcomeId message details } }"}
            await graphql.send(json.dumps({"id": "a", "type": "subscribe", "payload": query}))
            await until(lambda: alert_listeners(gateway.services) == 2)  # the /ws client's and this one
            await ingest(gateway, update(2.40, 1.60))  # home +20%, away -15.8%
            async with asyncio.timeout(5):
                ws_alerts = [json.loads(await partner.recv()) for _ in range(2)]
                graphql_alerts = [json.loads(await graphql.recv())["payload"]["data"]["alerts"] for _ in range(2)]

        async def stored_alerts() -> dict[str, Any]:
            found: dict[str, Any] = (await gateway.client.get("/api/v2/alerts?kind=price_move")).json()
            return found

        async def both_stored() -> bool:
            return bool((await stored_alerts())["pagination"]["total"] >= 2)

        await until(both_stored)  # written in batches every 50 ms
        stored = await stored_alerts()
        reader = {"Authorization": f"Bearer {mint(gateway.app.state.settings, 'odds:read')}"}
        refused = await gateway.client.get("/api/v2/alerts", headers=reader)
    assert {(a["event"], a["rule"], a["outcome_id"]) for a in ws_alerts} == {
        ("alert", "sharp", "home"),
        ("alert", "sharp", "away"),
    }
    assert {(a["eventId"], a["outcomeId"], a["details"]["percent"]) for a in graphql_alerts} == {
        (EVENT, "home", 20.0),
        (EVENT, "away", -15.79),
    }
    assert stored["pagination"]["total"] == 2
    assert {a["outcome_id"] for a in stored["data"]} == {"home", "away"}
    assert refused.status_code == 403


class Receiver:
    """A webhook endpoint on loopback, as a partner runs one."""

    def __init__(self, status: int = 200, hold: asyncio.Event | None = None):
        self.status = status
        self.hold = hold
        self.received: list[tuple[dict[str, str], bytes]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if self.hold is not None:
            await self.hold.wait()
        self.received.append(({k.decode(): v.decode() for k, v in scope["headers"]}, body))
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def serve_receiver(receiver: Receiver) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    port = free_port()
    config = uvicorn.Config(receiver, host="127.0.0.1", port=port, log_level="warning")
    server, task = await serve_in_process(config, "the webhook receiver")
    return server, task, f"http://127.0.0.1:{port}/hook"


async def test_webhooks_are_signed_retried_and_dead_lettered(sqlite_url: str) -> None:
    settings = gateway_settings(
        sqlite_url, webhook_max_attempts=3, webhook_backoff=0.05, webhook_allowed_networks=["127.0.0.0/8"]
    )
    good, failing = Receiver(), Receiver(status=500)
    release = asyncio.Event()
    slow = Receiver(hold=release)
    receivers = [await serve_receiver(r) for r in (good, failing, slow)]
    secret = "partner-secret-0123456789"
    try:
        async with serving(settings) as gateway:
            hooks = []
            for _, _, url in receivers:
                reply = await gateway.client.post(
                    "/api/v2/webhooks", json={"url": url, "events": ["suspension"], "secret": secret}
                )
                assert reply.status_code == 201, reply.text
                assert "secret" not in reply.json()
                hooks.append(reply.json()["id"])
            await ingest(gateway, update())
            await override(gateway, scope={"event_id": EVENT}, action="suspend", reason="bet stop")
            # The odds path went on while the slow endpoint still holds its delivery.
            await ingest(gateway, update(1.70, 2.20))
            assert slow.received == []
            release.set()

            async def logs() -> tuple[dict[str, Any], dict[str, Any]]:
                dead = (await gateway.client.get(f"/api/v2/webhooks/{hooks[1]}/deliveries?status=dead")).json()
                delivered = (await gateway.client.get(f"/api/v2/webhooks/{hooks[0]}/deliveries")).json()
                return dead, delivered

            async def done() -> bool:
                if not (good.received and len(failing.received) >= 3 and slow.received):
                    return False
                dead, delivered = await logs()
                return bool(dead["data"]) and [d["status"] for d in delivered["data"]] == ["delivered"]

            await until(done)
            # Dead-lettered: no fourth attempt follows (the next backoff would be 0.2 s).
            await never(lambda: len(failing.received) > 3, seconds=0.25)
            dead, delivered = await logs()
            bad = await gateway.client.post("/api/v2/webhooks", json={"url": "ftp://x", "events": ["x"], "secret": "s"})
    finally:
        for server, task, _ in receivers:
            server.should_exit = True
            await task
    headers, body = good.received[0]
    parts = dict(part.split("=", 1) for part in headers["x-oddsgate-signature"].split(","))
    stamp, mac = parts["t"], parts["v1"]
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(mac, expected)
    payload = json.loads(body)
    assert (payload["event"], payload["data"]["event_id"], payload["data"]["suspended"]) == ("suspension", EVENT, True)
    assert headers["x-oddsgate-event"] == "suspension"
    assert len(failing.received) == 3  # the first attempt and two retries, no more
    [letter] = dead["data"]
    assert (letter["status"], letter["attempts"], letter["last_error"]) == ("dead", 3, "HTTP 5xx")
    assert [d["status"] for d in delivered["data"]] == ["delivered"]
    assert bad.status_code == 422
