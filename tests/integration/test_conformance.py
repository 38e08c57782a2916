"""Conformance across doors: for each audience (everyone, an NFL-only token, a French token whose
region offers some market types, a Dutch token whose region admits one source), REST lists and
events, GraphQL queries, GraphQL subscriptions, the partner `/ws`, the CMS fragment and bet
revalidation agree on every price, flag and market status; with overrides of every kind, a
source gone stale and a settled market."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect

from tests.conftest import RunningGateway, create_database, gateway_settings, mint, serving
from tests.integration.payloads import batch, now_iso, update
from tests.support.waiting import until

NFL = "49ers-ravens-2026-03-23"
RULES = """
[regions.FR]
markets = ["moneyline", "1x2", "total"]

[regions.NL]
sources = ["official"]
"""
# Each audience: the claims of its token.
AUDIENCES: dict[str, dict[str, Any]] = {
    "everyone": {},
    "nfl_only": {"sports": ["nfl"]},
    "fr": {"region": "FR"},
    "nl": {"region": "NL"},
}
# event -> market -> (status, suspended, margin, outcome -> (decimal, flags))
View = dict[str, dict[str, tuple[str, bool, float | None, dict[str, tuple[float, tuple[str, ...]]]]]]

# GraphQL ids are unique in the whole graph; the short ids, aliased to `id`, compare with REST's.
SUBSCRIPTION = """subscription { oddsUpdated {
  eventId seq marketId suspended marketStatus margin outcomes { id: outcomeId odds { decimal } flags } } }"""
QUERY = """{ events(limit: 100) { id markets { id: marketId status suspended margin
  outcomes { id: outcomeId odds { decimal } flags } } } }"""


def nba_update(source_home: float, source_away: float, start: str) -> dict[str, Any]:
    return update(
        source_home,
        source_away,
        sport="NBA",
        league="NBA",
        home_team="Lakers",
        away_team="Celtics",
        status="scheduled",
        start_time=start,
    )


def outcomes_of(raw: list[dict[str, Any]]) -> dict[str, tuple[float, tuple[str, ...]]]:
    return {o["id"]: (o["odds"]["decimal"], tuple(o["flags"])) for o in raw}


def rest_view(events: list[dict[str, Any]]) -> View:
    return {
        e["id"]: {m["id"]: (m["status"], m["suspended"], m["margin"], outcomes_of(m["outcomes"])) for m in e["markets"]}
        for e in events
    }


@dataclass
class Folded:
    """A stream of deltas folded into what its client shows."""

    view: View = field(default_factory=dict)

    def market(self, event_id: str, market_id: str | None, body: dict[str, Any], outcomes: list[Any]) -> None:
        markets = self.view.setdefault(event_id, {})
        if market_id is None:
            return
        _, _, _, shown = markets.get(market_id, ("open", False, None, {}))
        shown = {**shown, **outcomes_of(outcomes)}
        markets[market_id] = (body["status"], body["suspended"], body["margin"], shown)


class Cms(HTMLParser):
    """Prices and market states as the CMS fragment renders them."""

    def __init__(self) -> None:
        super().__init__()
        self.view: dict[str, dict[str, tuple[bool, bool, dict[str, Decimal]]]] = {}
        self._event = self._market = self._outcome = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        classes = (found.get("class") or "").split()
        if "data-oddsgate-event" in found and tag == "div":
            self._event = found["data-oddsgate-event"] or ""
            self.view.setdefault(self._event, {})
        elif "data-oddsgate-market" in found:
            self._market = found["data-oddsgate-market"] or ""
            self.view[self._event][self._market] = ("og-suspended" in classes, "og-settled" in classes, {})
        elif "data-oddsgate-outcome" in found:
            self._outcome = found["data-oddsgate-outcome"] or ""
        elif "data-oddsgate-decimal" in found:
            self.view[self._event][self._market][2][self._outcome] = Decimal(found["data-oddsgate-decimal"] or "0")


def cms_expected(view: View) -> dict[str, dict[str, tuple[bool, bool, dict[str, Decimal]]]]:
    return {
        event: {
            market: (suspended, status == "settled", {o: Decimal(str(p)) for o, (p, _) in outcomes.items()})
            for market, (status, suspended, _, outcomes) in markets.items()
        }
        for event, markets in view.items()
    }


@contextlib.asynccontextmanager
async def graphql_stream(gateway: RunningGateway, token: str, folded: Folded) -> AsyncIterator[None]:
    url = gateway.url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        await socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}))

        async def read() -> None:
            async for raw in socket:
                message = json.loads(raw)
                assert message["type"] == "next", message
                delta = message["payload"]["data"]["oddsUpdated"]
                body = {"status": delta["marketStatus"], "suspended": delta["suspended"], "margin": delta["margin"]}
                folded.market(delta["eventId"], delta["marketId"], body, delta["outcomes"])

        task = asyncio.create_task(read())
        try:
            yield
        finally:
            task.cancel()


@contextlib.asynccontextmanager
async def partner_stream(
    gateway: RunningGateway, token: str, channels: list[str], folded: Folded
) -> AsyncIterator[None]:
    async with connect(gateway.url.replace("http://", "ws://") + "/ws") as socket:
        await socket.send(json.dumps({"action": "auth", "token": token}))
        assert json.loads(await socket.recv())["event"] == "authenticated"
        await socket.send(json.dumps({"action": "subscribe", "channels": channels}))
        assert json.loads(await socket.recv())["event"] == "subscribed"

        async def read() -> None:
            async for raw in socket:
                message = json.loads(raw)
                if message["event"] == "odds.updated":
                    body = {
                        "status": message["market_status"],
                        "suspended": message["suspended"],
                        "margin": message["margin"],
                    }
                    folded.market(message["event_id"], message["market_id"], body, message["outcomes"])
                elif message["event"] == "event.updated":
                    folded.view.setdefault(message["event_id"], {})

        task = asyncio.create_task(read())
        try:
            yield
        finally:
            task.cancel()


async def quiet_round(
    gateway: RunningGateway, keep_fresh: Callable[[], Awaitable[None]], read: Callable[[], Awaitable[Any]]
) -> Any:
    """Reads every door with nothing changing in between: the book's sequences are the same before
    and after, else the round is read again (after the sources quote again)."""
    result: list[Any] = []

    async def settled() -> bool:
        await keep_fresh()
        before = (await gateway.client.get("/api/v2/odds")).json()["data"]
        result[:] = [await read()]
        after = (await gateway.client.get("/api/v2/odds")).json()["data"]
        return [(e["id"], e["seq"]) for e in before] == [(e["id"], e["seq"]) for e in after]

    await until(settled, seconds=20)
    return result[0]


def caught_up(
    folded: Folded, expected: View, keep_fresh: Callable[[], Awaitable[None]]
) -> Callable[[], Awaitable[bool]]:
    """Whether a stream shows what the reads showed: markets with prices or suspended, as listed."""

    async def check() -> bool:
        await keep_fresh()
        shown = {e: {m: v for m, v in ms.items() if v[3] or v[1]} for e, ms in folded.view.items()}
        return {e: ms for e, ms in shown.items() if e in expected} == expected

    return check


def expected_bet(market: tuple[str, bool, float | None, dict[str, Any]], flags: tuple[str, ...]) -> str:
    status, suspended, _, _ = market
    if status == "settled":
        return "MARKET_CLOSED"
    if suspended:
        return "MARKET_SUSPENDED"
    if "stale" in flags or ("single_source" in flags and any(f.startswith("stale:") for f in flags)):
        return "PRICE_UNRELIABLE"
    return "ACCEPTED"


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_every_door_shows_each_audience_the_same_prices_flags_and_states(
    database: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    rules = tmp_path / "jurisdictions.toml"
    rules.write_text(RULES)
    if database == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'oddsgate.db'}"
    else:
        url = await create_database(request.getfixturevalue("postgres_cluster"))
    settings = gateway_settings(
        url,
        jurisdictions_file=rules,
        fresh_seconds=1.0,
        stale_seconds=3.0,
        risk_limits={"bets_per_day": 10_000},
    )
    start = now_iso(7200)
    nba = f"lakers-celtics-{start[:10]}"
    async with serving(settings) as gateway:
        tokens = {
            name: mint(settings, "odds:read", "bets:place", sub=name, age_verified=True, **claims)
            for name, claims in AUDIENCES.items()
        }
        channels = {name: ["odds.nfl"] if name == "nfl_only" else ["odds.nfl", "odds.nba"] for name in AUDIENCES}
        streams = {name: (Folded(), Folded()) for name in AUDIENCES}
        async with contextlib.AsyncExitStack() as stack:
            for name, (graphql, partner) in streams.items():
                await stack.enter_async_context(graphql_stream(gateway, tokens[name], graphql))
                await stack.enter_async_context(partner_stream(gateway, tokens[name], channels[name], partner))

            async def ingest(source: str, *updates: dict[str, Any]) -> None:
                reply = await gateway.client.post("/api/v2/ingest", json=batch(source, *updates))
                assert reply.status_code == 200, reply.text
                assert not reply.json()["rejected"], reply.text

            async def keep_fresh() -> None:
                await ingest("official", update(1.80, 2.10), update(1.95, 1.87, market="total", line=47.5))
                await ingest(
                    "other",
                    update(1.70, 2.25),
                    update(1.91, 1.91, market="spread", line=-3.5),
                    update(1.90, 1.92, market="total", line=47.5),
                )
                await ingest("busy", nba_update(1.60, 2.40, start))

            await ingest("ghost", nba_update(1.50, 2.70, start))
            await keep_fresh()
            for body in (
                {"scope": {"event_id": NFL, "market_id": "moneyline"}, "action": "margin", "value": 9},
                {
                    "scope": {"event_id": NFL, "market_id": "total:47.5", "outcome_id": "over"},
                    "action": "price",
                    "value": 2.5,
                },
                {"scope": {"event_id": NFL, "market_id": "spread:-3.5"}, "action": "suspend"},
                {"scope": {"sport": "nba"}, "action": "margin", "value": 6},
            ):
                reply = await gateway.client.post("/api/v2/overrides", json={**body, "reason": "conformance"})
                assert reply.status_code == 201, reply.text
            result = {"event_id": NFL, "market_id": "total:47.5", "winning_outcome_ids": ["under"]}
            assert (await gateway.client.post("/api/v2/results", json=result)).status_code == 201

            async def ghost_stale() -> bool:
                await keep_fresh()
                event = (await gateway.client.get(f"/api/v2/events/{nba}")).json()["data"]
                return "stale:ghost" in event["markets"][0]["outcomes"][0]["flags"]

            await until(ghost_stale, seconds=20)

            async def read_doors() -> dict[str, tuple[View, View, View, list[Any], dict[str, Any]]]:
                doors = {}
                for name, token in tokens.items():
                    headers = {"Authorization": f"Bearer {token}"}
                    listed = (await gateway.client.get("/api/v2/odds", headers=headers)).json()["data"]
                    one_by_one = []
                    for event_id in (NFL, nba):
                        reply = await gateway.client.get(f"/api/v2/events/{event_id}", headers=headers)
                        if reply.status_code == 200:
                            one_by_one.append(reply.json()["data"])
                    query = await gateway.client.post("/graphql", json={"query": QUERY}, headers=headers)
                    graphql = query.json()["data"]["events"]
                    fragments = []
                    for event_id in (NFL, nba):
                        reply = await gateway.client.get(
                            "/cms/shortcode",
                            params={"code": f'[odds event="{event_id}" markets="moneyline,spread,total"]'},
                            headers=headers,
                        )
                        if reply.status_code == 200:
                            fragments.append(reply.text)
                    refusals = {
                        event_id: (await gateway.client.get(f"/api/v2/events/{event_id}", headers=headers)).status_code
                        for event_id in (NFL, nba)
                    }
                    doors[name] = (rest_view(listed), rest_view(one_by_one), rest_view(graphql), fragments, refusals)
                return doors

            doors = await quiet_round(gateway, keep_fresh, read_doors)
            everyone = doors["everyone"][0]
            found: dict[str, Any] = {}
            for name, (listed, one_by_one, graphql, fragments, _) in doors.items():
                assert one_by_one == listed, name
                assert graphql == listed, name
                cms = Cms()
                for fragment in fragments:
                    cms.feed(fragment)
                assert cms.view == cms_expected(listed), name
                for folded in streams[name]:
                    await until(caught_up(folded, listed, keep_fresh))
                found[name] = listed

            # What each audience is shown, per the rules.
            assert set(found["nfl_only"]) == {NFL}
            assert set(found["fr"][NFL]) == {"moneyline", "total:47.5"}
            assert set(found["nl"][NFL]) == {"moneyline", "total:47.5"}
            assert found["nl"][nba] == {}
            assert set(everyone[NFL]) == {"moneyline", "spread:-3.5", "total:47.5"}
            _status, _suspended, _, outcomes = everyone[NFL]["moneyline"]
            assert "override:margin" in outcomes["home"][1]
            assert found["nl"][NFL]["moneyline"][3]["home"][0] != outcomes["home"][0]
            assert "override:margin" in found["nl"][NFL]["moneyline"][3]["home"][1]
            assert everyone[NFL]["spread:-3.5"][:2] == ("suspended", True)
            assert all(view[NFL]["total:47.5"][0] == "settled" for view in found.values())
            assert any(f.startswith("stale:ghost") for f in everyone[nba]["moneyline"][3]["home"][1])
            assert "override:margin" in everyone[nba]["moneyline"][3]["home"][1]

            # Bet revalidation agrees: every shown price is taken as shown, or refused for the
            # reason the state shows; what an audience is not shown is refused as reading it.
            codes: list[tuple[str, str, str, str, str, str]] = []
            for name, token in tokens.items():
                assert (
                    await gateway.client.post(f"/api/v2/wallets/{name}/deposit", json={"amount": "500.00"})
                ).status_code == 201
                async with httpx.AsyncClient(
                    base_url=gateway.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
                ) as client:
                    for event_id, markets in everyone.items():
                        for market_id, market in markets.items():
                            for outcome_id in market[3]:
                                shown = found[name].get(event_id, {}).get(market_id)
                                price = (shown or market)[3].get(outcome_id, market[3][outcome_id])[0]
                                body = {
                                    "event_id": event_id,
                                    "market_id": market_id,
                                    "outcome_id": outcome_id,
                                    "stake": "1.00",
                                    "odds": price,
                                }
                                key = f"{name}-{event_id}-{market_id}-{outcome_id}"
                                # The sources quote again (the same prices): nothing ages while betting.
                                await keep_fresh()
                                reply = await client.post("/api/v2/bets", json=body, headers={"Idempotency-Key": key})
                                got = "ACCEPTED" if reply.status_code == 201 else reply.json()["error"]["code"]
                                if event_id not in found[name]:
                                    wanted = {403: "FORBIDDEN", 404: "NOT_FOUND"}[doors[name][4][event_id]]
                                elif shown is None:
                                    wanted = "NOT_FOUND"
                                else:
                                    wanted = expected_bet(shown, shown[3][outcome_id][1])
                                codes.append((name, event_id, market_id, outcome_id, got, wanted))
                                if got == "ACCEPTED":
                                    assert reply.json()["odds"] == price
    assert [c for c in codes if c[4] != c[5]] == []
    # Every kind of answer is met somewhere in the matrix.
    assert {c[4] for c in codes} == {
        "ACCEPTED",
        "MARKET_CLOSED",
        "MARKET_SUSPENDED",
        "PRICE_UNRELIABLE",
        "NOT_FOUND",
        "FORBIDDEN",
    }
