"""Match state through a running gateway: ingest, REST, GraphQL, the partner /ws and the audit history."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from schema.match import INCIDENTS
from tests.conftest import RunningGateway
from tests.integration.payloads import batch, update
from tests.integration.test_graphql import graphql
from tests.integration.test_partner_ws import partner, receive, receive_n, send

EVENT = "arsenal-chelsea-2026-03-23"
NFL_EVENT = "49ers-ravens-2026-03-23"
RED_CARD = {"id": "rc-1", "type": "red_card", "team": "away", "period": "2H", "clock": "62:00", "player": "R. James"}
GOAL = {"type": "goal", "team": "home", "period": "2H", "clock": "70:05", "player": "B. Saka"}


def match(*incidents: dict[str, Any], home: int = 0, away: int = 0, clock: str = "62:14") -> dict[str, Any]:
    return {
        "score": {"home": home, "away": away},
        "period": "2H",
        "clock": clock,
        "detail": "Chelsea down to ten men" if RED_CARD in incidents else None,
        "incidents": list(incidents),
    }


def football(home: float = 1.90, away: float = 4.20, state: dict[str, Any] | None = None) -> dict[str, Any]:
    body = update(
        home,
        away,
        sport="football",
        league="Premier League",
        home_team="Arsenal",
        away_team="Chelsea",
        start_time="2026-03-23T20:00:00Z",
    )
    if state is not None:
        body["state"] = state
    return body


async def ingest(gateway: RunningGateway, *updates: dict[str, Any]) -> dict[str, Any]:
    reply = await gateway.client.post("/api/v2/ingest", json=batch("vendor_a", *updates))
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


async def served_state(gateway: RunningGateway, event_id: str = EVENT) -> dict[str, Any]:
    reply = await gateway.client.get(f"/api/v2/events/{event_id}")
    assert reply.status_code == 200, reply.text
    state: dict[str, Any] = reply.json()["data"]["state"]
    return state


async def test_ingested_state_is_served_with_the_event(gateway: RunningGateway) -> None:
    await ingest(gateway, update())
    assert await served_state(gateway, NFL_EVENT) is None  # no feed has reported any state yet

    reply = await ingest(gateway, football(state=match(RED_CARD)))
    assert (reply["accepted"], reply["rejected"], reply["deltas"]) == (1, [], 2)  # the state, then the prices
    state = await served_state(gateway)
    assert state["score"] == {"home": 0, "away": 0}
    assert (state["period"], state["clock"], state["detail"]) == ("2H", "62:14", "Chelsea down to ten men")
    [red] = state["incidents"]
    assert {k: red[k] for k in RED_CARD} == RED_CARD
    assert red["at"] == state["updated_at"]

    # Vendors resend every incident: only the goal is new, and the board moves on.
    await ingest(gateway, football(1.70, 5.00, state=match(RED_CARD, GOAL, home=1, clock="70:30")))
    state = await served_state(gateway)
    assert (state["score"], state["clock"]) == ({"home": 1, "away": 0}, "70:30")
    assert [(i["type"], i["team"], i["clock"]) for i in state["incidents"]] == [
        ("red_card", "away", "62:00"),
        ("goal", "home", "70:05"),
    ]
    listed = (await gateway.client.get("/api/v2/odds", params={"sport": "football"})).json()["data"]
    assert [e["state"] for e in listed] == [state]


async def test_an_unknown_incident_rejects_only_its_update(gateway: RunningGateway) -> None:
    touchdown = {"type": "touchdown", "team": "home", "clock": "40:00"}
    reply = await ingest(
        gateway,
        football(state=match(RED_CARD)),
        football(1.80, 4.50, state=match(RED_CARD, touchdown, home=6)),
        football(1.80, 4.50, state=match(RED_CARD, home=-1)),
    )
    assert reply["accepted"] == 1
    unknown, negative = reply["rejected"]
    assert (unknown["index"], unknown["code"]) == (1, "INVALID_REQUEST")
    assert "unknown football incident 'touchdown'" in unknown["reason"]
    assert f"known: {', '.join(sorted(INCIDENTS['football']))}" in unknown["reason"]
    assert (negative["index"], negative["code"], negative["path"]) == (2, "INVALID_REQUEST", "updates[2]")
    assert "state.score.home" in negative["reason"]
    # The refused updates changed nothing: neither their incidents, their score nor their prices.
    state = await served_state(gateway)
    assert (state["score"], [i["type"] for i in state["incidents"]]) == ({"home": 0, "away": 0}, ["red_card"])
    event = (await gateway.client.get(f"/api/v2/events/{EVENT}")).json()["data"]
    assert event["markets"][0]["outcomes"][0]["odds"]["decimal"] == 1.9

    only_bad = await gateway.client.post("/api/v2/ingest", json=batch("vendor_a", football(state=match(touchdown))))
    assert only_bad.status_code == 422
    assert only_bad.json()["error"]["code"] == "INVALID_REQUEST"


async def test_graphql_serves_the_state(gateway: RunningGateway) -> None:
    await ingest(gateway, football(state=match(RED_CARD)), update())
    query = """query($id: ID!) {
      event(id: $id) { seq state { score { home away } period clock incidents { type team clock } } }
    }"""
    body = await graphql(gateway, query, id=EVENT)
    assert "errors" not in body, body
    assert body["data"]["event"] == {
        "seq": 2,
        "state": {
            "score": {"home": 0, "away": 0},
            "period": "2H",
            "clock": "62:14",
            "incidents": [{"type": "red_card", "team": "away", "clock": "62:00"}],
        },
    }
    stateless = await graphql(gateway, query, id=NFL_EVENT)
    assert stateless["data"]["event"]["state"] is None


async def test_a_partner_sees_the_new_incidents_before_the_prices_they_move(gateway: RunningGateway) -> None:
    async with partner(gateway) as socket:
        await send(socket, action="subscribe", channels=[f"event.{EVENT}"])
        await receive(socket)
        await ingest(gateway, football(state=match(RED_CARD)))
        await ingest(gateway, football(1.70, 5.00, state=match(RED_CARD, GOAL, home=1, clock="70:30")))
        # Same state again, new prices: no state message this time.
        await ingest(gateway, football(1.65, 5.20, state=match(RED_CARD, GOAL, home=1, clock="70:30")))
        first_state, first_odds, goal_state, goal_odds, repeat_odds = await receive_n(socket, 5)
    assert (first_state["event"], first_state["seq"], first_state["reason"]) == ("event.updated", 1, "state")
    assert first_state["fixture"]["id"] == EVENT
    assert [i["id"] for i in first_state["state"]["incidents"]] == ["rc-1"]
    assert (first_odds["event"], first_odds["seq"], first_odds["market_id"]) == ("odds.updated", 2, "moneyline")
    assert "state" not in first_odds

    assert (goal_state["event"], goal_state["seq"]) == ("event.updated", 3)
    assert goal_state["state"]["score"] == {"home": 1, "away": 0}
    assert [(i["type"], i["player"]) for i in goal_state["state"]["incidents"]] == [("goal", "B. Saka")]
    assert (goal_odds["event"], goal_odds["seq"]) == ("odds.updated", 4)
    assert goal_odds["outcomes"][0]["odds"]["decimal"] == 1.7

    assert (repeat_odds["event"], repeat_odds["seq"]) == ("odds.updated", 5)


async def test_american_json_reports_game_state(gateway: RunningGateway) -> None:
    def game(matchup: str, state: dict[str, Any]) -> dict[str, Any]:
        return {
            "game_id": matchup,
            "league": "NFL",
            "matchup": matchup,
            "start": "2026-03-23 20:20:00",
            "status": "live",
            "as_of": int(time.time()),
            "state": state,
            "lines": {"moneyline": {"home": "-118", "away": "+110"}, "spread": {"line": -3.5, "home": -110}},
        }

    touchdown = {"id": "td-1", "type": "touchdown", "team": "home", "period": "Q2", "clock": "07:12"}
    nfl = {"score": {"home": 7, "away": 3}, "period": "Q2", "clock": "07:12", "incidents": [touchdown]}
    red_card = {**nfl, "incidents": [RED_CARD]}
    payload = {"provider": "linestar", "games": [game("SFO-BAL", nfl), game("KC-BUF", red_card)]}
    reply = await gateway.client.post("/api/v2/feeds/american_json", content=orjson.dumps(payload))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    # Each line of the first game is one accepted quote; its state is published once.
    assert body["accepted"] == 2
    assert len(body["rejected"]) == 2
    assert all("unknown american_football incident 'red_card'" in r["reason"] for r in body["rejected"])
    state = await served_state(gateway, NFL_EVENT)
    assert (state["score"], state["period"], state["clock"]) == ({"home": 7, "away": 3}, "Q2", "07:12")
    assert [(i["id"], i["type"], i["team"]) for i in state["incidents"]] == [("td-1", "touchdown", "home")]
    assert (await gateway.client.get("/api/v2/events/chiefs-bills-2026-03-23")).status_code == 404


async def settle(gateway: RunningGateway) -> datetime:
    await gateway.services.audit_writer.flush()
    moment = datetime.now(UTC)
    await asyncio.sleep(0.01)  # what is ingested next is stamped strictly after `moment`
    return moment


async def history(gateway: RunningGateway, moment: datetime) -> dict[str, Any]:
    reply = await gateway.client.get(f"/api/v2/events/{EVENT}/history", params={"at": moment.isoformat()})
    assert reply.status_code == 200, reply.text
    data: dict[str, Any] = reply.json()["data"]
    return data


async def test_history_shows_the_state_as_it_was(gateway: RunningGateway) -> None:
    await ingest(gateway, football())
    before_state = await settle(gateway)
    await ingest(gateway, football(1.80, 4.50, state=match(RED_CARD)))
    red_card = await settle(gateway)
    await ingest(gateway, football(1.70, 5.00, state=match(RED_CARD, GOAL, home=1, clock="70:30")))
    goal = await settle(gateway)

    assert (await history(gateway, before_state))["state"] is None
    then = (await history(gateway, red_card))["state"]
    assert (then["score"], then["clock"]) == ({"home": 0, "away": 0}, "62:14")
    assert [i["type"] for i in then["incidents"]] == ["red_card"]
    later = await history(gateway, goal)
    assert (later["state"]["score"], later["state"]["clock"]) == ({"home": 1, "away": 0}, "70:30")
    assert [i["type"] for i in later["state"]["incidents"]] == ["red_card", "goal"]
    assert later["state"] == await served_state(gateway)
    assert later["markets"][0]["outcomes"][0]["odds"]["decimal"] == 1.7
    filtered = await gateway.client.get(
        f"/api/v2/events/{EVENT}/history", params={"at": goal.isoformat(), "market": "moneyline"}
    )
    assert filtered.json()["data"]["state"] == later["state"]


async def test_history_keeps_incidents_after_many_clock_ticks(gateway: RunningGateway) -> None:
    await ingest(gateway, football(state=match(RED_CARD)))
    ticks = [football(state=match(RED_CARD, clock=f"{63 + n // 60}:{n % 60:02d}")) for n in range(60)]
    await ingest(gateway, *ticks)
    now = await settle(gateway)
    live = await served_state(gateway)
    assert [i["type"] for i in live["incidents"]] == ["red_card"]
    assert (await history(gateway, now))["state"] == live


async def test_history_of_one_market_keeps_the_state(gateway: RunningGateway) -> None:
    await ingest(gateway, football(state=match(RED_CARD)))
    now = await settle(gateway)
    event = await gateway.services.audit.event_at(EVENT, now, "moneyline")
    assert event is not None
    assert event.state is not None
