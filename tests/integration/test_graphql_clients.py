"""What normalizing GraphQL clients rely on: ids unique in the whole graph. Apollo Client (Node, its
default InMemoryCache) reads four events back from its cache as the gateway sent them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from gql import Client

from tests.conftest import RunningGateway
from tests.integration.payloads import batch, update
from tests.integration.test_graphql import SUBSCRIPTION, graphql, request, transport_for
from tests.support.node_clients import NodeClients, node_clients
from tests.support.waiting import until

# Four events with the same markets (moneyline, total 47.5), each at its own prices.
MATCHES = [
    ("San Francisco 49ers", "Baltimore Ravens", (1.50, 2.60), (1.80, 2.00)),
    ("Kansas City Chiefs", "Buffalo Bills", (1.65, 2.30), (1.85, 1.95)),
    ("Dallas Cowboys", "Philadelphia Eagles", (2.40, 1.60), (1.90, 1.90)),
    ("Green Bay Packers", "Chicago Bears", (1.95, 1.87), (2.05, 1.75)),
]


@pytest.fixture(scope="session")
def clients() -> NodeClients:
    return node_clients()


async def ingest_matches(gateway: RunningGateway) -> None:
    updates: list[dict[str, Any]] = []
    for home, away, moneyline, total in MATCHES:
        updates.append(update(*moneyline, home_team=home, away_team=away))
        updates.append(update(*total, market="total", line=47.5, home_team=home, away_team=away))
    reply = await gateway.client.post("/api/v2/ingest", json=batch("vendor_a", *updates))
    assert reply.status_code == 200, reply.text
    assert reply.json()["accepted"] == len(updates)


async def test_apollo_client_reads_every_event_back_from_its_cache(
    gateway: RunningGateway, clients: NodeClients
) -> None:
    await ingest_matches(gateway)
    answer = await clients.run("apollo.mjs", gateway.url, gateway.token)
    events = {(e["homeTeam"], e["awayTeam"]): e for e in answer["data"]["events"]}
    assert len(events) == len(MATCHES)
    for home, away, moneyline, total in MATCHES:
        markets = {m["type"]: m for m in events[home, away]["markets"]}
        assert set(markets) == {"moneyline", "total"}
        outcomes = markets["moneyline"]["outcomes"]
        assert [(o["name"], o["odds"]["decimal"]) for o in outcomes] == [(home, moneyline[0]), (away, moneyline[1])]
        assert tuple(o["odds"]["decimal"] for o in markets["total"]["outcomes"]) == total
    # One cache entry per market and outcome of every event, none shared.
    cache = answer["cache"]
    assert sum(key.startswith("Market:") for key in cache) == 2 * len(MATCHES)
    assert sum(key.startswith("Outcome:") for key in cache) == 4 * len(MATCHES)


async def test_ids_are_unique_across_events_and_short_ids_stay(gateway: RunningGateway) -> None:
    await ingest_matches(gateway)
    body = await graphql(
        gateway,
        """{ events { id markets { id marketId outcomes { id outcomeId } }
                      state { incidents { id incidentId } } } }""",
    )
    assert "errors" not in body
    ids: list[str] = []
    for event in body["data"]["events"]:
        for market in event["markets"]:
            assert market["id"] == f"{event['id']}/{market['marketId']}"
            ids.append(market["id"])
            for outcome in market["outcomes"]:
                assert outcome["id"] == f"{market['id']}/{outcome['outcomeId']}"
                ids.append(outcome["id"])
    assert len(ids) == len(set(ids)) == 6 * len(MATCHES)
    assert {m["marketId"] for e in body["data"]["events"] for m in e["markets"]} == {"moneyline", "total:47.5"}


async def test_a_delta_names_its_outcomes_as_the_event_does(gateway: RunningGateway) -> None:
    """A client cache merges a delta's outcomes into the event it holds only when the ids agree."""
    await ingest_matches(gateway)
    event = await graphql(gateway, '{ event(id: "chiefs-bills-2026-03-23") { markets { id outcomes { id } } } }')
    [moneyline] = [m for m in event["data"]["event"]["markets"] if m["id"].endswith("/moneyline")]

    async def moneyline_delta(stream: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
        async for result in stream:
            if result["oddsUpdated"]["marketId"] == "moneyline":
                return dict(result["oddsUpdated"])
        raise AssertionError("the subscription ended")

    async with Client(transport=transport_for(gateway), fetch_schema_from_transport=False) as session:
        stream = session.subscribe(request(SUBSCRIPTION, ids=["chiefs-bills-2026-03-23"]))
        task = asyncio.ensure_future(moneyline_delta(stream))
        cohorts = gateway.app.state.graphql.cohorts_in_use

        async def subscribed() -> bool:
            return any(c.members for c in cohorts())

        await until(subscribed)
        await gateway.client.post(
            "/api/v2/ingest",
            json=batch("vendor_a", update(1.70, 2.20, home_team="Kansas City Chiefs", away_team="Buffalo Bills")),
        )
        async with asyncio.timeout(10):
            delta = await task
    assert [o["id"] for o in delta["outcomes"]] == [o["id"] for o in moneyline["outcomes"]]
