"""One audience view through a real server: what a user is shown is what they can bet on, what the
bet records, and what the audit keeps, for region-limited markets and sources, with overrides."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tests.conftest import RunningGateway, gateway_settings, mint, serving
from tests.integration.payloads import batch, now_iso, update
from tests.support.waiting import until

EVENT = "49ers-ravens-2026-03-23"
RULES = """
[regions.FR]
markets = ["moneyline", "1x2", "total"]

[regions.NL]
sources = ["official"]
"""


def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "jurisdictions.toml"
    path.write_text(RULES)
    return path


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def event_of(start_time: str) -> str:
    """The canonical id of the test fixture starting then (its teams and its UTC date)."""
    return f"49ers-ravens-{start_time[:10]}"


def bet(
    market: str = "moneyline", outcome: str = "home", odds: float = 1.85, event: str = EVENT, **extra: Any
) -> dict[str, Any]:
    return {
        "event_id": event,
        "market_id": market,
        "outcome_id": outcome,
        "stake": "10.00",
        "odds": odds,
        "accept": "exact",
        **extra,
    }


def bettor(gateway: RunningGateway, sub: str, **claims: Any) -> httpx.AsyncClient:
    token = mint(gateway.app.state.settings, "bets:place", "odds:read", sub=sub, age_verified=True, **claims)
    return httpx.AsyncClient(base_url=gateway.url, headers=auth(token), timeout=10)


async def fund(gateway: RunningGateway, *subs: str) -> None:
    for sub in subs:
        reply = await gateway.client.post(f"/api/v2/wallets/{sub}/deposit", json={"amount": "100.00"})
        assert reply.status_code == 201


def shown(event: dict[str, Any], market: str, outcome: str) -> dict[str, Any]:
    found = next(m for m in event["markets"] if m["id"] == market)
    result: dict[str, Any] = next(o for o in found["outcomes"] if o["id"] == outcome)
    return result


async def override(gateway: RunningGateway, scope: dict[str, str], action: str, value: float | None = None) -> None:
    body: dict[str, Any] = {"scope": scope, "action": action, "reason": "test"}
    if value is not None:
        body["value"] = value
    reply = await gateway.client.post("/api/v2/overrides", json=body)
    assert reply.status_code == 201, reply.text


async def test_a_sources_limited_region_sees_every_override_and_bets_at_the_price_it_sees(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with serving(gateway_settings(sqlite_url, jurisdictions_file=rules_file(tmp_path))) as gateway:
        await gateway.client.post("/api/v2/ingest", json=batch("official", update(1.56, 2.48)))
        await gateway.client.post("/api/v2/ingest", json=batch("other", update(1.90, 1.95)))
        market = {"event_id": EVENT, "market_id": "moneyline"}
        await override(gateway, market, "margin", 15)
        await override(gateway, {**market, "outcome_id": "home"}, "price", 7.77)
        await fund(gateway, "nl")
        async with bettor(gateway, "nl", region="NL") as nl:
            event = (await nl.get(f"/api/v2/events/{EVENT}")).json()["data"]
            home, away = shown(event, "moneyline", "home"), shown(event, "moneyline", "away")
            placed = await nl.post(
                "/api/v2/bets", json=bet(odds=home["odds"]["decimal"]), headers={"Idempotency-Key": "1"}
            )
            away_bet = bet(outcome="away", odds=away["odds"]["decimal"])
            placed_away = await nl.post("/api/v2/bets", json=away_bet, headers={"Idempotency-Key": "2"})
        everyone = (await gateway.client.get(f"/api/v2/events/{EVENT}")).json()["data"]
    assert (home["odds"]["decimal"], home["flags"]) == (7.77, ["single_source", "override:margin", "override:price"])
    assert home["sources"] == {"official": 1.56}
    assert "override:margin" in away["flags"]
    assert away["sources"] == {"official": 2.48}
    # The margin override is applied to the region's own consensus, not everyone's.
    assert away["odds"]["decimal"] != shown(everyone, "moneyline", "away")["odds"]["decimal"]
    assert shown(everyone, "moneyline", "home")["odds"]["decimal"] == 7.77
    assert placed.status_code == 201, placed.text
    assert placed.json()["odds"] == 7.77
    assert (placed_away.status_code, placed_away.json()["odds"]) == (201, away["odds"]["decimal"])


async def test_a_bet_on_a_market_the_region_does_not_offer_is_refused_as_reading_it(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with serving(gateway_settings(sqlite_url, jurisdictions_file=rules_file(tmp_path))) as gateway:
        spread = update(1.91, 1.91, market="spread", line=-9.5)
        await gateway.client.post("/api/v2/ingest", json=batch("a", update(), spread))
        await fund(gateway, "fr")
        async with bettor(gateway, "fr", region="FR") as fr:
            event = (await fr.get(f"/api/v2/events/{EVENT}")).json()["data"]
            refused = await fr.post(
                "/api/v2/bets", json=bet("spread:-9.5", odds=1.91), headers={"Idempotency-Key": "1"}
            )
            wallet = (await fr.get("/api/v2/wallet")).json()
        async with bettor(gateway, "gb", region="GB") as gb:
            await fund(gateway, "gb")
            elsewhere = await gb.post(
                "/api/v2/bets", json=bet("spread:-9.5", odds=1.91), headers={"Idempotency-Key": "1"}
            )
    assert [m["id"] for m in event["markets"]] == ["moneyline"]
    assert (refused.status_code, refused.json()["error"]["code"]) == (404, "NOT_FOUND")
    assert (wallet["available"], wallet["locked"]) == ("100.00", "0.00")
    assert elsewhere.status_code == 201


async def test_a_stale_price_is_not_bet_on(sqlite_url: str) -> None:
    settings = gateway_settings(sqlite_url, fresh_seconds=0.1, stale_seconds=0.3)
    async with serving(settings) as gateway:
        start = now_iso(3600)
        event_id = event_of(start)
        await gateway.client.post("/api/v2/ingest", json=batch("a", update(status="scheduled", start_time=start)))

        async def stale() -> bool:
            event = (await gateway.client.get(f"/api/v2/events/{event_id}")).json()["data"]
            return "stale" in shown(event, "moneyline", "home")["flags"]

        await until(stale)
        await fund(gateway, "ann")
        async with bettor(gateway, "ann") as ann:
            refused = await ann.post("/api/v2/bets", json=bet(event=event_id), headers={"Idempotency-Key": "1"})
            wallet = (await ann.get("/api/v2/wallet")).json()
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "PRICE_UNRELIABLE")
    assert "no source" in refused.json()["error"]["message"]
    assert wallet["available"] == "100.00"


async def test_one_source_left_of_several_is_not_bet_on(sqlite_url: str) -> None:
    settings = gateway_settings(sqlite_url, fresh_seconds=0.2, stale_seconds=0.6)
    async with serving(settings) as gateway:
        future: dict[str, Any] = {"status": "scheduled", "start_time": now_iso(3600)}
        event_id = event_of(future["start_time"])
        await gateway.client.post("/api/v2/ingest", json=batch("silent", update(1.85, 2.10, **future)))

        async def one_left() -> bool:
            # The other source keeps quoting: only "silent" goes stale.
            await gateway.client.post("/api/v2/ingest", json=batch("busy", update(1.86, 2.08, **future)))
            event = (await gateway.client.get(f"/api/v2/events/{event_id}")).json()["data"]
            return "stale:silent" in shown(event, "moneyline", "home")["flags"]

        await until(one_left)
        event = (await gateway.client.get(f"/api/v2/events/{event_id}")).json()["data"]
        home = shown(event, "moneyline", "home")
        await fund(gateway, "ann")
        async with bettor(gateway, "ann") as ann:
            odds = home["odds"]["decimal"]
            refused = await ann.post(
                "/api/v2/bets", json=bet(odds=odds, event=event_id), headers={"Idempotency-Key": "1"}
            )
    assert "single_source" in home["flags"]
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "PRICE_UNRELIABLE")
    assert "silent went silent" in refused.json()["error"]["message"]


async def test_pre_match_betting_closes_at_the_scheduled_start(sqlite_url: str) -> None:
    async with serving(gateway_settings(sqlite_url)) as gateway:
        start = now_iso(-60)
        await gateway.client.post("/api/v2/ingest", json=batch("a", update(status="scheduled", start_time=start)))
        await fund(gateway, "ann")
        async with bettor(gateway, "ann") as ann:
            started = bet(event=event_of(start))
            refused = await ann.post("/api/v2/bets", json=started, headers={"Idempotency-Key": "1"})
            live = update(status="live", start_time=start)
            await gateway.client.post("/api/v2/ingest", json=batch("a", live))
            in_play = await ann.post("/api/v2/bets", json=started, headers={"Idempotency-Key": "2"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "MARKET_CLOSED")
    assert "scheduled start" in refused.json()["error"]["message"]
    assert in_play.status_code == 201


async def test_pre_match_closing_can_be_turned_off(sqlite_url: str) -> None:
    async with serving(gateway_settings(sqlite_url, bet_close_at_start=False)) as gateway:
        start = now_iso(-60)
        await gateway.client.post("/api/v2/ingest", json=batch("a", update(status="scheduled", start_time=start)))
        await fund(gateway, "ann")
        async with bettor(gateway, "ann") as ann:
            placed = await ann.post("/api/v2/bets", json=bet(event=event_of(start)), headers={"Idempotency-Key": "1"})
    assert placed.status_code == 201


async def test_an_in_play_bet_is_held_then_checked_again(sqlite_url: str) -> None:
    async with serving(gateway_settings(sqlite_url, bet_inplay_delay=1.0)) as gateway:
        await gateway.client.post("/api/v2/ingest", json=batch("a", update(1.85, 2.10)))
        await fund(gateway, "ann")
        bets = gateway.services.bets

        async def held() -> bool:
            return bets.held == 1

        async with bettor(gateway, "ann") as ann:
            quiet = await ann.post("/api/v2/bets", json=bet(), headers={"Idempotency-Key": "1"})

            moved = asyncio.create_task(ann.post("/api/v2/bets", json=bet(), headers={"Idempotency-Key": "2"}))
            await until(held)
            await gateway.client.post("/api/v2/ingest", json=batch("a", update(1.70, 2.30)))
            await gateway.client.post("/api/v2/ingest", json=batch("a", update(1.85, 2.10)))
            moved_reply = await moved

            paused = asyncio.create_task(ann.post("/api/v2/bets", json=bet(), headers={"Idempotency-Key": "3"}))
            await until(held)
            await override(gateway, {"event_id": EVENT, "market_id": "moneyline"}, "suspend")
            await override(gateway, {"event_id": EVENT, "market_id": "moneyline"}, "resume")
            paused_reply = await paused
            wallet = (await ann.get("/api/v2/wallet")).json()
    assert quiet.status_code == 201
    assert quiet.json()["odds"] == 1.85
    # The price came back to 1.85 before the delay ended: it still moved while the bet was held.
    assert (moved_reply.status_code, moved_reply.json()["error"]["code"]) == (409, "PRICE_CHANGED")
    assert "in-play delay" in moved_reply.json()["error"]["message"]
    assert (paused_reply.status_code, paused_reply.json()["error"]["code"]) == (409, "MARKET_SUSPENDED")
    assert (wallet["available"], wallet["locked"]) == ("90.00", "10.00")


async def test_the_bet_record_and_its_context_hold_what_the_region_was_shown(sqlite_url: str, tmp_path: Path) -> None:
    async with serving(gateway_settings(sqlite_url, jurisdictions_file=rules_file(tmp_path))) as gateway:
        await gateway.client.post("/api/v2/ingest", json=batch("official", update(1.56, 2.48)))
        await gateway.client.post("/api/v2/ingest", json=batch("other", update(1.90, 1.95)))
        await override(gateway, {"event_id": EVENT, "market_id": "moneyline"}, "margin", 8)
        await fund(gateway, "nl")
        async with bettor(gateway, "nl", region="NL") as nl:
            home = shown((await nl.get(f"/api/v2/events/{EVENT}")).json()["data"], "moneyline", "home")
            placed = (
                await nl.post("/api/v2/bets", json=bet(odds=home["odds"]["decimal"]), headers={"Idempotency-Key": "1"})
            ).json()
        # Later changes do not rewrite what was shown then.
        await gateway.client.post("/api/v2/ingest", json=batch("official", update(1.40, 3.00)))
        writer = gateway.services.audit_writer

        async def written() -> bool:
            await writer.flush()
            return writer.backlog == 0

        await until(written)
        settle_token = mint(gateway.app.state.settings, "bets:settle", sub="compliance")
        reply = await gateway.client.get(f"/api/v2/bets/{placed['bet_id']}/context", headers=auth(settle_token))
        nfl_only = mint(gateway.app.state.settings, "bets:settle", sub="c2", sports=["nba"])
        hidden = await gateway.client.get(f"/api/v2/bets/{placed['bet_id']}/context", headers=auth(nfl_only))
        bettor_token = mint(gateway.app.state.settings, "bets:place", sub="nl", age_verified=True)
        not_theirs = await gateway.client.get(f"/api/v2/bets/{placed['bet_id']}/context", headers=auth(bettor_token))
    assert reply.status_code == 200, reply.text
    context = reply.json()["data"]
    assert context["bet"]["bet_id"] == placed["bet_id"]
    assert (context["region"], context["age_verified"]) == ("NL", True)
    assert context["audience"]["view"] == "official"
    assert context["sources"] == {"official": "1.56"}
    assert context["price"]["book_odds"] == str(home["odds"]["decimal"])
    assert context["price"]["flags"] == ["single_source", "override:margin"]
    assert [(o["action"], o["value"]) for o in context["overrides"]] == [("margin", "8")]
    market = context["shown"]["market"]
    assert shown({"markets": [market]}, "moneyline", "home")["odds"]["decimal"] == home["odds"]["decimal"]
    assert shown({"markets": [market]}, "moneyline", "home")["sources"] == {"official": 1.56}
    assert hidden.status_code == 404
    assert not_theirs.status_code == 403


async def test_history_rebuilds_what_a_region_was_shown(sqlite_url: str, tmp_path: Path) -> None:
    async with serving(gateway_settings(sqlite_url, jurisdictions_file=rules_file(tmp_path))) as gateway:
        await gateway.client.post("/api/v2/ingest", json=batch("official", update(1.56, 2.48)))
        await gateway.client.post("/api/v2/ingest", json=batch("other", update(1.90, 1.95)))
        nl = auth(mint(gateway.app.state.settings, "odds:read", region="NL"))
        then = (await gateway.client.get(f"/api/v2/events/{EVENT}", headers=nl)).json()["data"]
        at = now_iso()
        await override(gateway, {"event_id": EVENT, "market_id": "moneyline", "outcome_id": "home"}, "price", 3.33)
        writer = gateway.services.audit_writer

        async def written() -> bool:
            await writer.flush()
            return writer.backlog == 0

        await until(written)
        past = await gateway.client.get(f"/api/v2/events/{EVENT}/history", params={"at": at}, headers=nl)
        present = await gateway.client.get(f"/api/v2/events/{EVENT}/history", headers=nl)
    assert past.status_code == 200, past.text
    assert shown(past.json()["data"], "moneyline", "home") == shown(then, "moneyline", "home")
    now_home = shown(present.json()["data"], "moneyline", "home")
    assert (now_home["odds"]["decimal"], now_home["sources"]) == (3.33, {"official": 1.56})


async def test_a_settled_market_is_a_delta_on_every_interface_and_a_rollback_reopens_it(sqlite_url: str) -> None:
    async with serving(gateway_settings(sqlite_url)) as gateway:
        await gateway.client.post("/api/v2/ingest", json=batch("a", update(1.85, 2.10)))
        await fund(gateway, "ann")
        ws_url = gateway.url.replace("http", "ws") + "/ws"
        async with bettor(gateway, "ann") as ann, connect(ws_url) as partner:
            await partner.send(json.dumps({"action": "auth", "token": gateway.token}))
            await partner.recv()
            await partner.send(json.dumps({"action": "subscribe", "channels": [f"event.{EVENT}"]}))
            await partner.recv()  # subscribed
            await partner.recv()  # snapshot
            assert (await ann.post("/api/v2/bets", json=bet(), headers={"Idempotency-Key": "1"})).status_code == 201
            result = await gateway.client.post(
                "/api/v2/results", json={"event_id": EVENT, "market_id": "moneyline", "winning_outcome_ids": ["home"]}
            )
            settled_delta = json.loads(await asyncio.wait_for(partner.recv(), 5))
            event = (await gateway.client.get(f"/api/v2/events/{EVENT}")).json()["data"]
            query = f'{{ event(id: "{EVENT}") {{ markets {{ marketId status result {{ winners void }} }} }} }}'
            graphql = (await gateway.client.post("/graphql", json={"query": query})).json()["data"]["event"]
            late = await ann.post("/api/v2/bets", json=bet(), headers={"Idempotency-Key": "2"})
            undone = await gateway.client.post(f"/api/v2/results/{result.json()['id']}/rollback")
            reopened_delta = json.loads(await asyncio.wait_for(partner.recv(), 5))
            reopened = (await gateway.client.get(f"/api/v2/events/{EVENT}")).json()["data"]
    assert result.status_code == 201
    assert undone.status_code == 200
    assert (settled_delta["market_id"], settled_delta["market_status"]) == ("moneyline", "settled")
    assert (settled_delta["result"]["winners"], settled_delta["suspended"]) == (["home"], True)
    [market] = event["markets"]
    assert (market["status"], market["result"]["winners"], market["result"]["void"]) == ("settled", ["home"], False)
    assert graphql["markets"] == [
        {"marketId": "moneyline", "status": "settled", "result": {"winners": ["home"], "void": False}}
    ]
    assert (late.status_code, late.json()["error"]["code"]) == (409, "MARKET_CLOSED")
    assert (reopened_delta["market_status"], reopened_delta["result"]) == ("open", None)
    assert (reopened["markets"][0]["status"], reopened["markets"][0]["result"]) == ("open", None)
