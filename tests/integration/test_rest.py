"""The REST API through a real uvicorn server and an HTTP client."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest

from tests.conftest import RunningGateway, gateway_settings, serving
from tests.integration.payloads import batch, now_iso, update
from tests.support.waiting import until

EVENT = "49ers-ravens-2026-03-23"


async def test_ingest_then_read_the_contract_example(gateway: RunningGateway) -> None:
    reply = await gateway.client.post("/api/v2/ingest", json=batch("vendor_a", update()))
    assert reply.status_code == 200
    assert reply.json() == {"accepted": 1, "rejected": [], "deltas": 1}

    odds = (await gateway.client.get("/api/v2/odds")).json()
    assert odds["schema_version"] == "2.1"
    assert odds["pagination"] == {"limit": 100, "offset": 0, "total": 1}
    [event] = odds["data"]
    assert event["id"] == EVENT
    assert (event["sport"], event["league"], event["status"]) == ("american_football", "NFL", "live")
    assert event["home_team"] == "San Francisco 49ers"
    [market] = event["markets"]
    assert (market["id"], market["type"], market["line"], market["suspended"]) == (
        "moneyline",
        "moneyline",
        None,
        False,
    )
    home, away = market["outcomes"]
    assert home["odds"] == {"decimal": 1.85, "american": "-118", "fractional": "17/20"}
    assert away["odds"] == {"decimal": 2.1, "american": "+110", "fractional": "11/10"}
    assert home["implied_probability"] == 0.5405
    assert home["sources"] == {"vendor_a": 1.85}
    assert home["source_count"] == 1
    assert "single_source" in home["flags"]
    assert home["updated_at"].endswith("Z")


async def test_a_bad_update_never_loses_the_good_ones(gateway: RunningGateway) -> None:
    bad_odds = update(1.0, 2.1, home_team="Dallas Cowboys", away_team="New York Giants")
    no_team = update(home_team="")
    unknown_market = update(market="corners")
    good = update(home_team="Kansas City Chiefs", away_team="Buffalo Bills")
    body = batch("vendor_a", update(), bad_odds, no_team, unknown_market, good)
    body["updates"].insert(3, 42)
    reply = await gateway.client.post("/api/v2/ingest", json=body)
    assert reply.status_code == 200
    result = reply.json()
    assert result["accepted"] == 2
    rejected = {r["index"]: r for r in result["rejected"]}
    assert set(rejected) == {1, 2, 3, 4}
    assert rejected[1]["code"] == "INVALID_ODDS"
    assert "greater than 1.0" in rejected[1]["reason"]
    assert rejected[2]["reason"] == "'home_team' is required"
    assert "must be an object" in rejected[3]["reason"]
    assert "unknown market 'corners'" in rejected[4]["reason"]
    ids = {e["id"] for e in (await gateway.client.get("/api/v2/odds")).json()["data"]}
    assert ids == {EVENT, "chiefs-bills-2026-03-23"}


async def test_a_batch_with_nothing_good_is_an_error(gateway: RunningGateway) -> None:
    reply = await gateway.client.post("/api/v2/ingest", json=batch("vendor_a", update(0.5, 2.0)))
    assert reply.status_code == 422
    body = reply.json()
    assert body["error"]["code"] == "INVALID_REQUEST"
    assert body["error"]["message"] == "all 1 update were rejected"
    assert body["accepted"] == 0
    assert body["rejected"][0]["index"] == 0


async def test_unreadable_bodies_change_nothing(gateway: RunningGateway) -> None:
    for body, message in [
        (b"{not json", "not valid JSON"),
        (b"[]", "must be an object"),
        (b'{"source": "a"}', "'updates' must be a list"),
        (b'{"updates": []}', "'source' must be a non-empty string"),
    ]:
        reply = await gateway.client.post("/api/v2/ingest", content=body)
        assert reply.status_code == 422, body
        assert reply.json()["error"]["code"] == "INVALID_REQUEST"
        assert message in reply.json()["error"]["message"]
    assert (await gateway.client.get("/api/v2/odds")).json()["data"] == []


async def test_an_update_older_than_the_last_from_its_source_is_refused(gateway: RunningGateway) -> None:
    await gateway.client.post("/api/v2/ingest", json=batch("a", update(timestamp=now_iso())))
    reply = await gateway.client.post("/api/v2/ingest", json=batch("a", update(3.0, 1.4, timestamp=now_iso(-60))))
    assert reply.status_code == 422
    assert reply.json()["rejected"][0]["code"] == "STALE_UPDATE"
    event = (await gateway.client.get(f"/api/v2/events/{EVENT}")).json()["data"]
    assert event["markets"][0]["outcomes"][0]["odds"]["decimal"] == 1.85


async def test_consensus_flags_an_outlier_and_keeps_every_source_visible(gateway: RunningGateway) -> None:
    for source, home, away in [("a", 1.85, 2.10), ("b", 1.87, 2.05), ("c", 1.83, 2.12), ("wild", 3.4, 1.35)]:
        await gateway.client.post("/api/v2/ingest", json=batch(source, update(home, away)))
    home = (await gateway.client.get(f"/api/v2/events/{EVENT}")).json()["data"]["markets"][0]["outcomes"][0]
    assert home["sources"] == {"a": 1.85, "b": 1.87, "c": 1.83, "wild": 3.4}
    assert "outlier:wild" in home["flags"]
    assert home["source_count"] == 3
    assert 1.82 <= home["odds"]["decimal"] <= 1.88


async def test_filters_formats_and_pages(gateway: RunningGateway) -> None:
    updates = [
        update(),
        update(1.91, 1.91, market="spread", line=-3.5),
        update(1.9, 1.9, market="total", line=47.5),
        update(1.5, 2.6, home_team="Kansas City Chiefs", away_team="Buffalo Bills", status="scheduled"),
        update(2.2, 1.7, sport="basketball", league="NBA", home_team="Lakers", away_team="Celtics"),
    ]
    await gateway.client.post("/api/v2/ingest", json=batch("a", *updates))
    get = gateway.client.get

    async def ids(query: str) -> list[str]:
        reply = await get(f"/api/v2/odds?{query}")
        assert reply.status_code == 200, reply.text
        return [e["id"] for e in reply.json()["data"]]

    assert len(await ids("")) == 3
    assert set(await ids("sport=nfl")) == {EVENT, "chiefs-bills-2026-03-23"}
    assert await ids("sport=american_football&league=NFL&live=true") == [EVENT]
    assert await ids("live=false") == ["chiefs-bills-2026-03-23"]
    assert len(await ids("league=NBA")) == 1
    assert await ids("league=Some Cup") == []
    assert len(await ids("sport=basketball&league=nba")) == 1
    assert await ids(f"event_id={EVENT}") == [EVENT]
    assert await ids("markets=spread,total") == [EVENT]
    spread_only = (await get("/api/v2/odds?markets=handicap")).json()["data"][0]["markets"]
    assert [m["id"] for m in spread_only] == ["spread:-3.5"]
    assert spread_only[0]["outcomes"][0]["name"] == "San Francisco 49ers -3.5"
    american = (await get(f"/api/v2/odds?event_id={EVENT}&format=american")).json()["data"][0]
    assert american["markets"][0]["outcomes"][0]["odds"] == {"american": "-118"}
    page = (await get("/api/v2/odds?limit=1&offset=1")).json()
    assert page["pagination"] == {"limit": 1, "offset": 1, "total": 3}
    assert len(page["data"]) == 1

    for query, message in [
        ("limit=0", "'limit' must be between 1 and 500"),
        ("limit=ten", "'limit' must be an integer"),
        ("live=maybe", "'live' must be true or false"),
        ("format=roman", "'format' must be decimal, american or fractional"),
        ("sport=quidditch", "unknown sport 'quidditch'"),
        ("markets=corners", "unknown market 'corners'"),
        ("sport=nfl&league=NBA", "league 'NBA' belongs to basketball, not american_football"),
    ]:
        reply = await get(f"/api/v2/odds?{query}")
        assert reply.status_code == 422, query
        assert reply.json() == {"error": {"code": "INVALID_REQUEST", "message": reply.json()["error"]["message"]}}
        assert message in reply.json()["error"]["message"], query


async def test_one_event_and_not_found(gateway: RunningGateway) -> None:
    await gateway.client.post("/api/v2/ingest", json=batch("a", update()))
    reply = await gateway.client.get(f"/api/v2/events/{EVENT}?format=fractional")
    assert reply.status_code == 200
    assert reply.json()["data"]["markets"][0]["outcomes"][0]["odds"] == {"fractional": "17/20"}
    missing = await gateway.client.get("/api/v2/events/nobody-2026-01-01")
    assert missing.status_code == 404
    assert missing.json()["error"] == {"code": "NOT_FOUND", "message": "no event 'nobody-2026-01-01' in the live book"}
    route = await gateway.client.get("/api/v2/nothing-here")
    assert route.status_code == 404
    assert route.json()["error"]["code"] == "NOT_FOUND"


async def test_vendor_formats_land_on_the_same_event(gateway: RunningGateway) -> None:
    decimal_json = {
        "bookmaker": "betpoint",
        "events": [
            {
                "id": "bp-1",
                "sport": "American Football",
                "competition": "NFL",
                "name": "49ers vs Ravens",
                "kickoff": "2026-03-23T20:20:00Z",
                "state": "inplay",
                "updated": now_iso(),
                "markets": [
                    {
                        "name": "Match Winner",
                        "selections": [{"name": "49ers", "price": "1.83"}, {"name": "Ravens", "price": "2.12"}],
                    }
                ],
            }
        ],
    }
    american_json = {
        "provider": "linestar",
        "games": [
            {
                "game_id": 1,
                "league": "NFL",
                "matchup": "SFO-BAL",
                "start": "2026-03-23 20:20:00",
                "status": "live",
                "as_of": int(time.time()),
                "lines": {"moneyline": {"home": "-118", "away": "+110"}},
            }
        ],
    }
    csv = (
        "match_date;kick_off;sport;league;home;away;market;line;selection;price;last_update\n"
        "23/03/2026;20:20;American Football;NFL;SF;BAL;Moneyline;;1;17/20;23/03/2026 14:30:27\n"
        "23/03/2026;20:20;American Football;NFL;SF;BAL;Moneyline;;2;11/10;23/03/2026 14:30:27\n"
    )
    now_ms = int(time.time() * 1000)
    stream = "\n".join(
        orjson.dumps(m).decode()
        for m in [
            {
                "type": "fixture",
                "match_id": 7,
                "sport": "NFL",
                "league": "NFL",
                "home": "49ers",
                "away": "Ravens",
                "start": 1774297200000,
                "status": "live",
            },
            {
                "type": "price",
                "match_id": 7,
                "bookmaker_id": "b1",
                "market": "ML",
                "selection": "home",
                "price": 1.86,
                "ts": now_ms,
            },
            {
                "type": "price",
                "match_id": 7,
                "bookmaker_id": "b1",
                "market": "ML",
                "selection": "away",
                "price": 2.08,
                "ts": now_ms,
            },
        ]
    )
    for adapter, body in [
        ("decimal_json", orjson.dumps(decimal_json)),
        ("american_json", orjson.dumps(american_json)),
        ("legacy_csv", csv.encode()),
        ("delta_stream", stream.encode()),
    ]:
        reply = await gateway.client.post(f"/api/v2/feeds/{adapter}", content=body)
        assert reply.status_code == 200, (adapter, reply.text)
        assert reply.json()["rejected"] == [], adapter
    [event] = (await gateway.client.get("/api/v2/odds")).json()["data"]
    assert event["id"] == EVENT
    sources = event["markets"][0]["outcomes"][0]["sources"]
    assert set(sources) == {"betpoint", "linestar", "legacy_csv", "delta_stream:b1"}
    assert sources["legacy_csv"] == 1.85

    unknown = await gateway.client.post("/api/v2/feeds/telex", content=b"{}")
    assert unknown.status_code == 404
    assert "unknown feed adapter 'telex'" in unknown.json()["error"]["message"]


async def test_oversized_bodies_are_refused(gateway: RunningGateway) -> None:
    limit = gateway.services.settings.ingest_max_body_bytes
    reply = await gateway.client.post("/api/v2/ingest", content=b" " * (limit + 1))
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_client_that_hangs_up_mid_body_is_no_server_error(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    host, port = gateway.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST /api/v2/ingest HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {gateway.token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 400\r\nExpect: 100-continue\r\n\r\n".encode()
    )
    await writer.drain()
    # The server asks for the body once the route reads it: from here on, it is mid-body.
    async with asyncio.timeout(5):
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b'{"source": ')
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    metric = 'oddsgate_request_seconds_count{method="POST",route="/api/v2/ingest",status="499"} 1.0'

    async def counted() -> bool:
        return metric in (await gateway.client.get("/metrics")).text

    await until(counted, seconds=5)
    assert "unhandled error" not in caplog.text
    assert (await gateway.client.get("/health")).status_code == 200


async def test_operations_endpoints(gateway: RunningGateway) -> None:
    assert (await gateway.client.get("/health")).json() == {"status": "ok"}
    await gateway.client.post("/api/v2/ingest", json=batch("a", update(), update(0.2, 3)))
    ready = await gateway.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == {"ok": True}
    assert ready.json()["checks"]["feeds"]["sources_up"] == 1
    await gateway.client.get("/api/v2/odds")
    metrics = (await gateway.client.get("/metrics")).text
    assert 'oddsgate_ingest_updates_total{adapter="canonical",result="accepted"} 1.0' in metrics
    assert 'oddsgate_ingest_rejections_total{adapter="canonical",code="INVALID_ODDS"} 1.0' in metrics
    assert 'oddsgate_deltas_total{reason="quote"} 1.0' in metrics
    assert 'oddsgate_request_seconds_count{method="GET",route="/api/v2/odds",status="200"} 1.0' in metrics
    assert "oddsgate_ingest_seconds_bucket" in metrics
    sources = (await gateway.client.get("/api/v2/sources")).json()["data"]
    assert [(s["source"], s["up"], s["updates"]) for s in sources] == [("a", True, 1)]


async def test_ready_reports_every_source_gone_silent_as_degraded_and_stays_in_service(sqlite_url: str) -> None:
    async with serving(gateway_settings(sqlite_url, source_down_after=0.3)) as gateway:
        client = gateway.client
        assert (await client.get("/ready")).json()["status"] == "ready"
        await client.post("/api/v2/ingest", json=batch("a", update()))
        assert (await client.get("/ready")).json()["status"] == "ready"

        async def degraded() -> bool:
            return bool((await client.get("/ready")).json()["status"] == "degraded")

        await until(degraded, seconds=5)  # silent for 0.3 s, then the next sweep marks it down
        reply = await client.get("/ready")
        # A load balancer must keep sending this process the feed that would bring the source back.
        assert reply.status_code == 200
        assert reply.json()["status"] == "degraded"
        assert reply.json()["checks"]["feeds"] == {"ok": False, "sources_up": 0, "sources_down": 1}
        assert reply.json()["checks"]["database"] == {"ok": True}
        sources = (await client.get("/api/v2/sources")).json()["data"]
        assert [(s["source"], s["up"]) for s in sources] == [("a", False)]
        await client.post("/api/v2/ingest", json=batch("a", update(1.8, 2.1)))
        assert (await client.get("/ready")).json()["status"] == "ready"


async def test_ready_is_unavailable_when_the_database_is_gone(tmp_path: Path) -> None:
    database = tmp_path / "gone.db"
    async with serving(gateway_settings(f"sqlite+aiosqlite:///{database}")) as gateway:
        await gateway.services.engine.dispose()
        database.unlink()
        database.mkdir()
        reply = await gateway.client.get("/ready")
        assert reply.status_code == 503
        assert reply.json()["status"] == "unavailable"
        assert reply.json()["checks"]["database"]["ok"] is False
        database.rmdir()


async def test_ingest_is_refused_whole_while_the_audit_backlog_is_over_its_limit(sqlite_url: str) -> None:
    settings = gateway_settings(sqlite_url, ingest_backlog_limit=3, audit_interval=3600, audit_batch=1000)
    async with serving(settings) as gateway:
        client = gateway.client
        first = await client.post("/api/v2/ingest", json=batch("a", update(), update(1.8, 2.1), update(1.7, 2.2)))
        assert first.json()["accepted"] == 3
        refused = await client.post("/api/v2/ingest", json=batch("a", update(1.6, 2.4)))
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        error = refused.json()["error"]
        assert error["code"] == "UNAVAILABLE"
        assert "audit rows waiting for the database" in error["message"]
        assert "limit 3" in error["message"]
        # Nothing of the refused payload reached the book.
        odds = (await client.get("/api/v2/odds")).json()["data"][0]["markets"][0]["outcomes"]
        assert sorted(o["odds"]["decimal"] for o in odds) == [1.7, 2.2]
        ready = (await client.get("/ready")).json()
        assert ready["status"] == "degraded"
        assert ready["checks"]["audit"]["ok"] is False
        await gateway.services.audit_writer.flush()
        assert (await client.post("/api/v2/ingest", json=batch("a", update(1.6, 2.4)))).status_code == 200
        metrics = (await client.get("/metrics")).text
        assert 'oddsgate_ingest_refusals_total{backlog="audit"} 1.0' in metrics
