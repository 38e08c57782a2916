"""`oddsUpdated` opens with snapshots and resumes from `since`, through uvicorn, driven by a real
graphql-transport-ws client (`gql`), on the cohort path and on the plain path alike."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from tests.conftest import RunningGateway, gateway_settings, serving
from tests.integration.payloads import batch, update
from tests.support.waiting import until

EVENT = "49ers-ravens-2026-03-23"
OTHER = "chiefs-bills-2026-03-23"
FIELDS = """kind reset eventId seq epoch conflated marketType
    outcomes { odds { decimal } }
    markets { type outcomes { odds { decimal } } }"""
# One root field: a cohort takes it. A fragment at the root: strawberry's own (plain) path.
DOCUMENTS = {
    "cohort": f"""subscription Odds($ids: [String!], $markets: [String!], $since: [EventPosition!],
                                  $snapshot: Boolean! = true) {{
      oddsUpdated(eventIds: $ids, markets: $markets, since: $since, snapshot: $snapshot) {{ {FIELDS} }}
    }}""",
    "plain": f"""subscription Odds($ids: [String!], $markets: [String!], $since: [EventPosition!],
                                 $snapshot: Boolean! = true) {{
      ... on Subscription {{
        oddsUpdated(eventIds: $ids, markets: $markets, since: $since, snapshot: $snapshot) {{ {FIELDS} }}
      }}
    }}""",
}


@pytest.fixture(params=sorted(DOCUMENTS))
def path(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def subscription(path: str, **variables: Any) -> GraphQLRequest:
    document = gql(DOCUMENTS[path])
    document.variable_values = variables
    return document


async def ingest(gateway: RunningGateway, *updates: dict[str, Any]) -> None:
    reply = await gateway.client.post("/api/v2/ingest", json=batch("vendor_a", *updates))
    assert reply.status_code == 200, reply.text


async def live_seq(gateway: RunningGateway) -> tuple[int, str]:
    event = (await gateway.client.get(f"/api/v2/events/{EVENT}")).json()["data"]
    return event["seq"], event["epoch"]


def price(step: int) -> float:
    """A home price that differs from the one before it, so every update is a delta."""
    return round(1.50 + (step % 40) / 100, 2)


class Stream:
    """A subscription on a connection of its own, read as it arrives; `close` hangs up mid-stream."""

    def __init__(self, gateway: RunningGateway, document: GraphQLRequest):
        self.transport = WebsocketsTransport(
            url=gateway.url.replace("http://", "ws://") + "/graphql",
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
            init_payload={"authorization": f"Bearer {gateway.token}"},
        )
        self.document = document
        self.payloads: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async with Client(transport=self.transport, fetch_schema_from_transport=False) as client_session:
            async for result in client_session.subscribe(self.document):
                await self.payloads.put(result["oddsUpdated"])

    async def next(self) -> dict[str, Any]:
        getter = asyncio.ensure_future(self.payloads.get())
        await asyncio.wait({getter, self.task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            return getter.result()
        getter.cancel()
        if self.task.done():
            self.task.result()  # what ended the subscription
            raise AssertionError("the subscription completed")
        raise TimeoutError("no payload within 10 s")

    async def take(self, count: int) -> list[dict[str, Any]]:
        return [await self.next() for _ in range(count)]

    async def close(self) -> None:
        """Hangs up; what ended the subscription before is `next`'s to report."""
        self.task.cancel()
        await asyncio.wait({self.task})


@contextlib.asynccontextmanager
async def stream(gateway: RunningGateway, document: GraphQLRequest) -> AsyncIterator[Stream]:
    opened = Stream(gateway, document)
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_client_that_reconnects_with_since_gets_every_delta_exactly_once(sqlite_url: str, path: str) -> None:
    async with serving(gateway_settings(sqlite_url)) as gateway:
        await ingest(gateway, update(price(0), 2.40))
        hung_up, reconnected = asyncio.Event(), asyncio.Event()

        async def keep_ingesting() -> None:
            # Paced by the client, not by the clock: it hangs up, and comes back, mid-stream.
            for step in range(1, 81):
                if step == 20:
                    await hung_up.wait()
                if step == 40:
                    await reconnected.wait()
                await ingest(gateway, update(price(step), 2.40))

        async with stream(gateway, subscription(path, ids=[EVENT])) as odds:
            first = [await odds.next()]
            assert len(gateway.app.state.graphql.cohorts_in_use()) == (path == "cohort")
            producer = asyncio.ensure_future(keep_ingesting())
            first += await odds.take(5)
        hung_up.set()
        last = first[-1]
        since = [{"eventId": EVENT, "seq": last["seq"], "epoch": last["epoch"]}]
        async with stream(gateway, subscription(path, ids=[EVENT], since=since)) as odds:
            second = [await odds.next()]
            reconnected.set()
            await producer
            final_seq, epoch = await live_seq(gateway)
            while second[-1]["seq"] < final_seq:
                second.append(await odds.next())
        final = (await gateway.client.get(f"/api/v2/events/{EVENT}")).json()["data"]["markets"][0]
    snapshot, *deltas = first + second
    assert (snapshot["kind"], snapshot["reset"], snapshot["conflated"], snapshot["seq"]) == (
        "SNAPSHOT",
        False,
        False,
        1,
    )
    assert snapshot["markets"][0]["outcomes"][0]["odds"]["decimal"] == price(0)
    assert all(d["kind"] == "DELTA" and not d["conflated"] for d in deltas)
    # No gap and no duplicate, across the hang-up, up to the last delta made.
    assert [p["seq"] for p in first + second] == list(range(1, final_seq + 1))
    assert final_seq == 81
    assert {p["epoch"] for p in first + second} == {epoch}
    assert deltas[-1]["outcomes"][0]["odds"]["decimal"] == final["outcomes"][0]["odds"]["decimal"]


@pytest.mark.parametrize("stale", ["older than the history", "another epoch"])
async def test_a_since_that_cannot_be_resumed_gets_a_reset_snapshot(sqlite_url: str, path: str, stale: str) -> None:
    async with serving(gateway_settings(sqlite_url, history_size=3)) as gateway:
        for step in range(6):
            await ingest(gateway, update(price(step), 2.40), update(1.91, 1.91, market="spread", line=-3.5))
        seq, epoch = await live_seq(gateway)
        if stale == "older than the history":
            mark = {"eventId": EVENT, "seq": 2, "epoch": epoch}
        else:
            mark = {"eventId": EVENT, "seq": seq - 1, "epoch": "an-epoch-of-another-run"}
        document = subscription(path, ids=[EVENT], markets=["moneyline"], since=[mark])
        async with stream(gateway, document) as odds:
            reset = await odds.next()
            await ingest(gateway, update(price(7), 2.40))
            live = await odds.next()
    assert (reset["kind"], reset["reset"], reset["conflated"], reset["seq"]) == ("SNAPSHOT", True, True, seq)
    assert [m["type"] for m in reset["markets"]] == ["moneyline"]  # only the markets it selects
    assert reset["markets"][0]["outcomes"][0]["odds"]["decimal"] == price(5)
    assert (live["kind"], live["seq"], live["conflated"]) == ("DELTA", seq + 1, False)


async def test_a_new_subscription_opens_with_a_snapshot_of_each_selected_event(sqlite_url: str) -> None:
    nba = update(1.70, 2.20, sport="NBA", league="NBA", home_team="Lakers", away_team="Celtics")
    document = gql('subscription { oddsUpdated(sport: "nfl") { kind eventId seq markets { type } } }')
    async with serving(gateway_settings(sqlite_url)) as gateway:
        await ingest(gateway, update(), update(1.75, 2.20, home_team="Chiefs", away_team="Bills"), nba)
        async with stream(gateway, document) as odds:
            snapshots = await odds.take(2)
            await ingest(gateway, update(1.80, 2.20))
            live = await odds.next()
        quiet = gql('subscription { oddsUpdated(sport: "nfl", snapshot: false) { kind eventId seq } }')
        async with stream(gateway, quiet) as odds:
            # Subscribed once a delta gets through: none was made before it subscribed.
            async def through() -> bool:
                tries.append(len(tries))
                await ingest(gateway, update(price(len(tries)), 2.20))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.2):
                        seen.append(await odds.payloads.get())
                return bool(seen)

            seen: list[dict[str, Any]] = []
            tries: list[int] = []
            await until(through)
    assert {(s["kind"], s["eventId"], s["seq"]) for s in snapshots} == {("SNAPSHOT", EVENT, 1), ("SNAPSHOT", OTHER, 1)}
    assert all(s["markets"] == [{"type": "moneyline"}] for s in snapshots)
    assert (live["kind"], live["eventId"], live["seq"]) == ("DELTA", EVENT, 2)
    assert seen[0]["kind"] == "DELTA"


async def test_members_that_differ_only_in_since_share_one_cohort(sqlite_url: str) -> None:
    async with serving(gateway_settings(sqlite_url)) as gateway:
        for step in range(4):
            await ingest(gateway, update(price(step), 2.40))
        _, epoch = await live_seq(gateway)
        resuming = subscription("cohort", ids=[EVENT], since=[{"eventId": EVENT, "seq": 2, "epoch": epoch}])
        async with stream(gateway, resuming) as resumed, stream(gateway, subscription("cohort", ids=[EVENT])) as new:
            replayed = await resumed.take(2)
            started = await new.next()
            [cohort] = gateway.app.state.graphql.cohorts_in_use()
            members = len(cohort.members)
            await ingest(gateway, update(price(5), 2.40))
            live = [await resumed.next(), await new.next()]
    assert members == 2
    assert [(p["kind"], p["seq"]) for p in replayed] == [("DELTA", 3), ("DELTA", 4)]
    assert (started["kind"], started["seq"]) == ("SNAPSHOT", 4)
    assert live[0] == live[1]
    assert (live[0]["kind"], live[0]["seq"]) == ("DELTA", 5)


async def test_a_since_that_is_no_position_is_refused(gateway: RunningGateway, path: str) -> None:
    document = subscription(path, ids=[EVENT], since=[{"eventId": EVENT, "seq": -1}])
    async with stream(gateway, document) as odds:
        with pytest.raises(TransportQueryError) as refused:
            await odds.next()
    assert refused.value.errors is not None
    [error] = refused.value.errors
    assert error["extensions"]["code"] == "INVALID_REQUEST"
    assert "'since'" in error["message"]
