"""GraphQL over HTTP (httpx) and over graphql-transport-ws (the `gql` client), through uvicorn."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport

from tests.conftest import RunningGateway, gateway_settings, serving
from tests.integration.payloads import batch, update
from tests.support.subscribers import cohort_members, hub_listeners
from tests.support.waiting import until

EVENT = "49ers-ravens-2026-03-23"
SUBSCRIPTION = """
subscription Odds($ids: [String!], $sport: String, $markets: [String!]) {
  oddsUpdated(eventIds: $ids, sport: $sport, markets: $markets) {
    eventId seq marketId suspended status conflated
    outcomes { id odds { decimal american fractional } }
  }
}
"""


def request(document: str, **variables: Any) -> Any:
    built = gql(document)
    built.variable_values = variables
    return built


async def graphql(gateway: RunningGateway, query: str, **variables: Any) -> dict[str, Any]:
    reply = await gateway.client.post("/graphql", json={"query": query, "variables": variables})
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


async def ingest(gateway: RunningGateway, *updates: dict[str, Any], source: str = "vendor_a") -> None:
    reply = await gateway.client.post("/api/v2/ingest", json=batch(source, *updates))
    assert reply.status_code == 200, reply.text


def ws_url(gateway: RunningGateway, path: str) -> str:
    return gateway.url.replace("http://", "ws://") + path


def transport_for(gateway: RunningGateway, token: str | None = None) -> WebsocketsTransport:
    return WebsocketsTransport(
        url=ws_url(gateway, "/graphql"),
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        init_payload={"authorization": f"Bearer {token or gateway.token}"},
    )


@pytest.fixture
async def session(gateway: RunningGateway) -> AsyncIterator[Any]:
    transport = transport_for(gateway)
    async with Client(transport=transport, fetch_schema_from_transport=False) as client_session:
        yield client_session


async def collect(stream: AsyncIterator[Any], count: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        async for result in stream:
            got.append(result["oddsUpdated"])
            if len(got) == count:
                break
    return got


async def test_queries_follow_the_contract(gateway: RunningGateway) -> None:
    await ingest(gateway, update(), update(market="spread", line=-3.5, home=1.91, away=1.91))
    body = await graphql(
        gateway,
        """query($sport: String) {
             events(sport: $sport) { id sport league homeTeam status seq
               markets(types: ["spread"]) { id marketId type line suspended
                 outcomes { id name odds { decimal american fractional } impliedProbability
                            sources { source decimal } flags } } }
             event(id: "49ers-ravens-2026-03-23") { id markets { marketId } }
             sources { name up updates }
           }""",
        sport="nfl",
    )
    assert "errors" not in body
    [event] = body["data"]["events"]
    assert (event["id"], event["sport"], event["league"], event["status"]) == (
        EVENT,
        "american_football",
        "NFL",
        "live",
    )
    [spread] = event["markets"]
    assert (spread["id"], spread["marketId"], spread["line"], spread["suspended"]) == (
        f"{EVENT}/spread:-3.5",
        "spread:-3.5",
        -3.5,
        False,
    )
    assert spread["outcomes"][0]["odds"] == {"decimal": 1.91, "american": "-110", "fractional": "91/100"}
    assert spread["outcomes"][0]["sources"] == [{"source": "vendor_a", "decimal": 1.91}]
    assert [m["marketId"] for m in body["data"]["event"]["markets"]] == ["moneyline", "spread:-3.5"]
    assert body["data"]["sources"] == [{"name": "vendor_a", "up": True, "updates": 2}]


async def test_errors_carry_the_rest_code(gateway: RunningGateway) -> None:
    body = await graphql(gateway, '{ events(sport: "curling") { id } }')
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INVALID_REQUEST"
    assert "curling" in error["message"]
    body = await graphql(gateway, "{ events(limit: 0) { id } }")
    assert body["errors"][0]["extensions"]["code"] == "INVALID_REQUEST"


async def test_depth_and_alias_limits(gateway: RunningGateway) -> None:
    aliases = " ".join(f"a{i}: sources {{ name }}" for i in range(40))
    body = await graphql(gateway, f"{{ {aliases} }}")
    assert "aliases" in body["errors"][0]["message"].lower()


async def test_subscription_yields_deltas_with_seq(gateway: RunningGateway, session: Any) -> None:
    stream = session.subscribe(request(SUBSCRIPTION, ids=[EVENT]))
    task = asyncio.ensure_future(collect(stream, 3))
    await until(lambda: cohort_members(gateway.app) == 1)
    await ingest(gateway, update(1.85, 2.10))
    await ingest(gateway, update(1.80, 2.20))
    await ingest(gateway, update(1.75, 2.25, home_team="Chiefs", away_team="Bills"))  # another event
    await ingest(gateway, update(1.80, 2.20, status="finished"))
    deltas = await task
    assert [d["seq"] for d in deltas] == [1, 2, 3]
    assert all(d["eventId"] == EVENT for d in deltas)
    assert deltas[0]["outcomes"][0]["odds"] == {"decimal": 1.85, "american": "-118", "fractional": "17/20"}
    assert deltas[1]["outcomes"][0]["odds"]["decimal"] == 1.8
    assert deltas[2]["status"] == "finished"
    assert not any(d["conflated"] for d in deltas)


async def test_cohort_members_each_get_their_own_operation_id(gateway: RunningGateway) -> None:
    transports = [transport_for(gateway) for _ in range(3)]
    clients = [Client(transport=t, fetch_schema_from_transport=False) for t in transports]
    sessions = [await c.connect_async() for c in clients]  # type: ignore[no-untyped-call]
    try:
        tasks = [asyncio.ensure_future(collect(s.subscribe(request(SUBSCRIPTION, sport="nfl")), 2)) for s in sessions]
        await until(lambda: cohort_members(gateway.app) == 3)
        cohorts = gateway.app.state.graphql.cohorts_in_use()
        assert len(cohorts) == 1
        assert len(cohorts[0].members) == 3
        await ingest(gateway, update(1.85, 2.10))
        await ingest(gateway, update(1.80, 2.20))
        results = await asyncio.gather(*tasks)
        assert results[0] == results[1] == results[2]
        assert next(iter(cohorts)).executions == 2  # once per delta, not once per subscriber
    finally:
        for c in clients:
            await c.close_async()  # type: ignore[no-untyped-call]


async def test_one_off_documents_take_the_plain_path(gateway: RunningGateway, session: Any) -> None:
    document = gql('subscription { ... on Subscription { oddsUpdated(sport: "nfl") { eventId seq } } }')
    task = asyncio.ensure_future(collect(session.subscribe(document), 1))
    await until(lambda: hub_listeners(gateway.services) == 1)
    await ingest(gateway, update())
    assert await task == [{"eventId": EVENT, "seq": 1}]
    assert gateway.app.state.graphql.cohorts_in_use() == []


async def test_invalid_subscription_gets_an_error(gateway: RunningGateway, session: Any) -> None:
    stream = session.subscribe(gql('subscription { oddsUpdated(sport: "curling") { seq } }'))
    with pytest.raises(Exception, match="curling"):
        await collect(stream, 1)


async def test_legacy_graphql_ws_protocol_is_refused(gateway: RunningGateway) -> None:
    async with websockets.connect(ws_url(gateway, "/graphql"), subprotocols=["graphql-ws"]) as socket:  # type: ignore[list-item]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4406


async def test_subscribe_before_connection_init_is_closed(gateway: RunningGateway) -> None:
    async with websockets.connect(ws_url(gateway, "/graphql"), subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        await socket.send(
            '{"id": "1", "type": "subscribe", "payload": {"query": "subscription { oddsUpdated { seq } }"}}'
        )
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


async def test_connection_init_payload_is_checked(gateway: RunningGateway) -> None:
    async with websockets.connect(ws_url(gateway, "/graphql"), subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        await socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": 42}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401  # no usable credential: unauthenticated


async def test_times_are_utc_with_z(gateway: RunningGateway) -> None:
    await ingest(gateway, update())
    body = await graphql(gateway, '{ event(id: "49ers-ravens-2026-03-23") { startTime updatedAt } }')
    assert body["data"]["event"]["startTime"] == "2026-03-23T20:20:00Z"
    assert body["data"]["event"]["updatedAt"].endswith("Z")


async def test_variables_a_cohort_cannot_key_still_get_an_answer(gateway: RunningGateway, session: Any) -> None:
    # orjson cannot encode 2**70; the plain path reports what is wrong with it.
    document = request("subscription($ids: [String!]) { oddsUpdated(eventIds: $ids) { seq } }", ids=[2**70])
    with pytest.raises(Exception, match="String cannot represent"):
        await collect(session.subscribe(document), 1)


async def test_the_server_pings_idle_subscriptions(sqlite_url: str) -> None:
    async with serving(gateway_settings(sqlite_url, ws_heartbeat=0.2)) as gateway:
        socket = await websockets.connect(ws_url(gateway, "/graphql"), subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {gateway.token}"}}
        await socket.send(json.dumps(init))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        async with asyncio.timeout(2):
            pings = [json.loads(await socket.recv()) for _ in range(2)]
        await socket.close()
    assert pings == [{"type": "ping"}, {"type": "ping"}]
