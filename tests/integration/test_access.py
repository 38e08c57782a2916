"""Access over every interface, through a real server: tokens, scopes, sports, regions, limits, sockets."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from jose import jwt
from websockets.asyncio.client import connect

from gateway.settings import Settings
from tests.conftest import RunningGateway, gateway_settings, mint, serving
from tests.integration.payloads import batch, update
from tests.support.sockets import closed_code
from tests.support.subscribers import cohort_members
from tests.support.waiting import until

NFL_EVENT = "49ers-ravens-2026-03-23"
NBA_EVENT = "lakers-celtics-2026-03-23"


def nba(home: float = 1.90) -> dict[str, Any]:
    return update(home, 1.95, sport="NBA", league="NBA", home_team="Lakers", away_team="Celtics")


def settings_of(gateway: RunningGateway) -> Settings:
    settings: Settings = gateway.app.state.settings
    return settings


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def forged(settings: Settings, **changes: Any) -> str:
    """A token signed with the gateway's secret, with claims changed or removed (value None)."""
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, Any] = {
        "sub": "forger",
        "scopes": ["odds:read"],
        "sports": ["*"],
        "iss": "oddsgate",
        "aud": "oddsgate-api",
        "iat": now,
        "exp": now + 600,
        "jti": "forged",
    }
    for key, value in changes.items():
        if value is None:
            claims.pop(key, None)
        else:
            claims[key] = value
    return str(jwt.encode(claims, settings.jwt_secret, algorithm="HS256"))


def unsigned(claims_token: str) -> str:
    _, body, _ = claims_token.split(".")
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=").decode()
    return f"{header}.{body}."


async def test_rest_refuses_every_kind_of_bad_token(gateway: RunningGateway) -> None:
    settings = settings_of(gateway)
    good = forged(settings)
    bad = {
        "missing": None,
        "garbage": "not-a-jwt",
        "expired": forged(settings, iat=1_700_000_000, exp=1_700_000_600),
        "unsigned": unsigned(good),
        "wrong audience": forged(settings, aud="someone-else"),
        "wrong issuer": forged(settings, iss="evil"),
        "no subject": forged(settings, sub=None),
        "no expiry": forged(settings, exp=None),
        "other secret": str(jwt.encode(jwt.get_unverified_claims(good), "x" * 40, algorithm="HS256")),
    }
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        assert (await client.get("/api/v2/odds", headers=auth(good))).status_code == 200
        for name, token in bad.items():
            reply = await client.get("/api/v2/odds", headers=auth(token) if token else {})
            assert reply.status_code == 401, name
            assert reply.json()["error"]["code"] == "UNAUTHENTICATED", name
            assert reply.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_revoked_token_is_refused_once_the_list_refreshes(sqlite_url: str) -> None:
    async with serving(gateway_settings(sqlite_url, revocation_refresh=0.1)) as gateway:
        token = mint(settings_of(gateway), "odds:read")
        jti = jwt.get_unverified_claims(token)["jti"]
        async with httpx.AsyncClient(base_url=gateway.url, headers=auth(token)) as client:
            assert (await client.get("/api/v2/odds")).status_code == 200
            await gateway.services.tokens.revoke(jti)
            await until(lambda: jti in gateway.services.access.revoked)
            reply = await client.get("/api/v2/odds")
    assert reply.status_code == 401
    assert "revoked" in reply.json()["error"]["message"]


async def test_scopes_sports_and_regions_over_rest(gateway: RunningGateway) -> None:
    await gateway.client.post("/api/v2/ingest", json=batch("a", update(), nba()))
    settings = settings_of(gateway)
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        reader = auth(mint(settings, "odds:read"))
        ingest = await client.post("/api/v2/ingest", json=batch("a", update()), headers=reader)
        assert (ingest.status_code, ingest.json()["error"]["code"]) == (403, "FORBIDDEN")

        nfl_only = auth(mint(settings, "odds:read", sports=["nfl"]))
        events = (await client.get("/api/v2/odds", headers=nfl_only)).json()["data"]
        assert [e["id"] for e in events] == [NFL_EVENT]
        other = await client.get(f"/api/v2/events/{NBA_EVENT}", headers=nfl_only)
        assert (other.status_code, other.json()["error"]["code"]) == (403, "FORBIDDEN")

        blocked = await client.get("/api/v2/odds", headers=auth(mint(settings, "odds:read", region="US-UT")))
        assert (blocked.status_code, blocked.json()["error"]["code"]) == (451, "REGION_BLOCKED")
        minor = await client.get("/api/v2/odds", headers=auth(mint(settings, "odds:read", region="US-NJ")))
        assert (minor.status_code, minor.json()["error"]["code"]) == (403, "AGE_VERIFICATION_REQUIRED")
        adult = auth(mint(settings, "odds:read", region="US-NJ", age_verified=True))
        assert (await client.get("/api/v2/odds", headers=adult)).status_code == 200

        french = auth(mint(settings, "odds:read", region="FR"))
        await gateway.client.post("/api/v2/ingest", json=batch("a", update(1.91, 1.91, market="spread", line=-3.5)))
        event = (await client.get(f"/api/v2/events/{NFL_EVENT}", headers=french)).json()["data"]
        assert [m["type"] for m in event["markets"]] == ["moneyline"]  # no spreads in FR


async def test_rate_limit_with_headers_on_every_response(gateway: RunningGateway) -> None:
    token = mint(settings_of(gateway), "odds:read", rate_limit="3/minute")
    async with httpx.AsyncClient(base_url=gateway.url, headers=auth(token)) as client:
        replies = [await client.get("/api/v2/odds") for _ in range(4)]
    assert [r.status_code for r in replies] == [200, 200, 200, 429]
    assert replies[0].headers["RateLimit-Policy"] == '"token";q=3;w=60'
    assert [r.headers["RateLimit"].split(";")[1] for r in replies[:3]] == ["r=2", "r=1", "r=0"]
    limited = replies[3]
    assert limited.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["RateLimit"].startswith('"token";r=0;')


async def test_graphql_over_http_checks_tokens_scopes_and_sports(gateway: RunningGateway) -> None:
    await gateway.client.post("/api/v2/ingest", json=batch("a", update(), nba()))
    settings = settings_of(gateway)
    query = {"query": "{ events { id } }"}
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        missing = await client.post("/graphql", json=query)
        assert (missing.status_code, missing.json()["error"]["code"]) == (401, "UNAUTHENTICATED")
        nfl_only = await client.post("/graphql", json=query, headers=auth(mint(settings, "odds:read", sports=["nfl"])))
        assert nfl_only.json()["data"]["events"] == [{"id": NFL_EVENT}]
        assert "RateLimit" in nfl_only.headers
        no_scope = await client.post("/graphql", json=query, headers=auth(mint(settings, "odds:ingest")))
        assert no_scope.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        blocked = await client.post("/graphql", json=query, headers=auth(mint(settings, "odds:read", region="KP")))
        assert blocked.json()["errors"][0]["extensions"]["code"] == "REGION_BLOCKED"
        limited_token = auth(mint(settings, "odds:read", rate_limit="1/minute"))
        await client.post("/graphql", json=query, headers=limited_token)
        limited = await client.post("/graphql", json=query, headers=limited_token)
        assert (limited.status_code, limited.json()["error"]["code"]) == (429, "RATE_LIMITED")


async def test_graphql_documents_that_try_to_exhaust_the_server_are_refused(gateway: RunningGateway) -> None:
    aliases = "{ " + " ".join(f"a{i}: sources {{ name }}" for i in range(1000)) + " }"
    cycle = "query { events { ...A } } fragment A on Event { markets { ...B } } fragment B on Market { id ...A }"
    for document in (aliases, cycle):
        reply = await gateway.client.post("/graphql", json={"query": document})
        assert reply.status_code < 500
        assert reply.json()["errors"], document[:60]
    batched = await gateway.client.post("/graphql", json=[{"query": "{ sources { name } }"}] * 50)
    assert 400 <= batched.status_code < 500


async def test_graphql_depth_limit_counts_exactly(sqlite_url: str) -> None:
    # Depth counts from 0 at the root field: outcomes is at 2, outcomes.odds.decimal at 4.
    async with serving(gateway_settings(sqlite_url, graphql_max_depth=3)) as gateway:
        at_limit = "{ events { markets { outcomes { name } } } }"
        over_limit = "{ events { markets { outcomes { odds { decimal } } } } }"
        ok = await gateway.client.post("/graphql", json={"query": at_limit})
        refused = await gateway.client.post("/graphql", json={"query": over_limit})
    assert "errors" not in ok.json()
    assert refused.status_code < 500
    assert "depth" in refused.json()["errors"][0]["message"]


TYPOS = [
    "{ evnts { id } }",
    '{ events(sportt: "nfl") { id } }',
    "query ($n: Strng) { events(limit: $n) { id } }",
    'mutation { createOverride(scope: {eventid: "x"}, action: "suspend", reason: "r") { id } }',
    "{ events { markets { outcomes { odds { decimall } } } } }",
]


@pytest.mark.parametrize("environment", ["production", "development"])
async def test_production_mode_hides_introspection_and_suggestions(sqlite_url: str, environment: str) -> None:
    settings = gateway_settings(sqlite_url, environment=environment, jwt_secret="p" * 40)
    variables = {"query": "query ($s: OverrideScopeInput!) { events { id } }", "variables": {"s": {"eventid": "x"}}}
    async with serving(settings) as gateway:
        schema = await gateway.client.post("/graphql", json={"query": "{ __schema { types { name } } }"})
        replies = [await gateway.client.post("/graphql", json={"query": typo}) for typo in TYPOS]
        replies.append(await gateway.client.post("/graphql", json=variables))
        socket = await graphql_socket(gateway, gateway.token)
        await socket.recv()
        await socket.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "subscription { oddsUpdatd { seq } }"}})
        )
        over_socket = json.loads(await socket.recv())
        await socket.close()
    messages = [e["message"] for r in replies for e in r.json()["errors"]] + [
        e["message"] for e in over_socket["payload"]
    ]
    assert len(messages) >= len(TYPOS) + 2
    if environment == "production":
        assert "introspection" in schema.json()["errors"][0]["message"].lower()
        assert [m for m in messages if "Did you mean" in m] == []
    else:
        assert sum("Did you mean" in m for m in messages) >= 5


# -- WebSockets ----------------------------------------------------------------------------------


def ws(gateway: RunningGateway, path: str) -> str:
    return gateway.url.replace("http://", "ws://") + path


async def graphql_socket(gateway: RunningGateway, token: str | None, **options: Any) -> Any:
    socket = await connect(ws(gateway, "/graphql"), subprotocols=["graphql-transport-ws"], **options)  # type: ignore[list-item]
    payload = {} if token is None else {"authorization": f"Bearer {token}"}
    await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
    return socket


async def test_graphql_socket_rules(sqlite_url: str) -> None:
    settings = gateway_settings(
        sqlite_url, ws_init_timeout=0.3, ws_max_subscriptions=2, allowed_origins=["https://odds.example"]
    )
    async with serving(settings) as gateway:
        # No connection_init in time.
        async with connect(ws(gateway, "/graphql"), subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
            assert await closed_code(socket) == 4408
        # No token, a bad token, a blocked region.
        for token, code in ((None, 4401), ("not-a-jwt", 4401), (mint(settings, "odds:read", region="KP"), 4403)):
            socket = await graphql_socket(gateway, token)
            assert await closed_code(socket) == code
        # One subscription too many.
        socket = await graphql_socket(gateway, gateway.token)
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        for op in ("1", "2", "3"):
            query = {"query": "subscription { oddsUpdated { seq } }"}
            await socket.send(json.dumps({"id": op, "type": "subscribe", "payload": query}))
        assert await closed_code(socket) == 4429
        # An oversized frame.
        socket = await graphql_socket(gateway, gateway.token)
        await socket.recv()
        await socket.send(json.dumps({"type": "ping", "payload": {"x": "y" * 70_000}}))
        assert await closed_code(socket) == 1009
        # A page from another site.
        with pytest.raises(websockets.InvalidStatus) as refused:
            await connect(ws(gateway, "/graphql"), subprotocols=["graphql-transport-ws"], origin="https://evil.example")  # type: ignore[arg-type,list-item]
        assert refused.value.response.status_code == 403
        # An operation id longer than the protocol's limit here.
        socket = await graphql_socket(gateway, gateway.token)
        await socket.recv()
        query = {"query": "subscription { oddsUpdated { seq } }"}
        await socket.send(json.dumps({"id": "x" * 200, "type": "subscribe", "payload": query}))
        assert await closed_code(socket) == 4400


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://odds.example", True),
        ("https://ODDS.Example", True),
        ("https://odds.example:443", True),
        ("https://odds.example/", True),
        ("http://odds.example", False),
        ("https://odds.example:8443", False),
        ("https://odds.example.evil", False),
        ("null", False),
    ],
)
async def test_both_sockets_check_origins_the_same_way(sqlite_url: str, origin: str, allowed: bool) -> None:
    settings = gateway_settings(sqlite_url, allowed_origins=["https://odds.example"])
    async with serving(settings) as gateway:
        outcomes = []
        for path, protocols in (("/ws", None), ("/graphql", ["graphql-transport-ws"])):
            try:
                socket = await connect(ws(gateway, path), subprotocols=protocols, origin=origin)  # type: ignore[arg-type]
            except websockets.InvalidStatus as refused:
                outcomes.append(refused.response.status_code)
            else:
                outcomes.append(101)
                await socket.close()
    assert outcomes == ([101, 101] if allowed else [403, 403])


async def test_graphql_subscription_closes_when_the_token_expires(gateway: RunningGateway) -> None:
    token = mint(settings_of(gateway), "odds:read", ttl=timedelta(seconds=1.5))
    socket = await graphql_socket(gateway, token)
    assert json.loads(await socket.recv())["type"] == "connection_ack"
    await socket.send(
        json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "subscription { oddsUpdated { seq } }"}})
    )
    assert await closed_code(socket, seconds=5) == 4498  # expired: a client reconnects with a fresh token


async def test_an_nfl_token_never_receives_an_nba_delta(gateway: RunningGateway) -> None:
    token = mint(settings_of(gateway), "odds:read", sports=["nfl"])
    socket = await graphql_socket(gateway, token)
    await socket.recv()
    query = {"query": "subscription { oddsUpdated { eventId seq } }"}
    await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": query}))
    async with connect(ws(gateway, "/ws")) as partner:
        await partner.send(json.dumps({"action": "auth", "token": token}))
        await partner.recv()
        await partner.send(json.dumps({"action": "subscribe", "channels": ["odds.american_football"]}))
        await partner.recv()
        await partner.send(json.dumps({"action": "subscribe", "channels": ["odds.nba"]}))
        refusal = json.loads(await partner.recv())
        await until(lambda: cohort_members(gateway.app) == 1)
        await gateway.client.post("/api/v2/ingest", json=batch("a", nba(), update(), nba(1.80)))
        college = update(1.5, 2.5, league="NCAAF", home_team="Alabama", away_team="Georgia")
        await gateway.client.post("/api/v2/ingest", json=batch("a", college, update(1.80, 2.20)))
        async with asyncio.timeout(5):
            graphql_seen = [json.loads(await socket.recv())["payload"]["data"]["oddsUpdated"] for _ in range(2)]
            partner_seen = [json.loads(await partner.recv()) for _ in range(2)]
    await socket.close()
    assert refusal["error"]["code"] == "FORBIDDEN"
    assert [d["eventId"] for d in graphql_seen] == [NFL_EVENT, NFL_EVENT]
    assert [d["event_id"] for d in partner_seen] == [NFL_EVENT, NFL_EVENT]  # NCAAF is not NFL


async def test_partner_socket_rules(sqlite_url: str) -> None:
    settings = gateway_settings(
        sqlite_url,
        ws_init_timeout=0.3,
        ws_max_subscriptions=2,
        ws_message_rate="5/second",
        allowed_origins=["https://odds.example"],
    )
    async with serving(settings) as gateway:
        async with connect(ws(gateway, "/ws")) as socket:
            assert await closed_code(socket) == 4408
        async with connect(ws(gateway, "/ws")) as socket:
            await socket.send(json.dumps({"action": "subscribe", "channels": ["odds.nfl"]}))
            assert json.loads(await socket.recv())["error"]["code"] == "UNAUTHENTICATED"
            assert await closed_code(socket) == 4401
        async with connect(ws(gateway, "/ws"), additional_headers=auth(gateway.token)) as socket:
            assert json.loads(await socket.recv())["event"] == "authenticated"
            await socket.send(json.dumps({"action": "subscribe", "channels": ["odds.nfl", "odds.nba", "odds.nhl"]}))
            assert await closed_code(socket) == 4429
        async with connect(ws(gateway, "/ws"), additional_headers=auth(gateway.token)) as socket:
            await socket.recv()
            for _ in range(7):
                await socket.send(json.dumps({"action": "ping"}))
            assert await closed_code(socket) == 4429
        async with connect(ws(gateway, "/ws"), additional_headers=auth(gateway.token)) as socket:
            await socket.recv()
            await socket.send(json.dumps({"action": "ping", "pad": "x" * 70_000}))
            assert await closed_code(socket) == 1009
        with pytest.raises(websockets.InvalidStatus) as refused:
            await connect(ws(gateway, "/ws"), origin="https://evil.example")  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403
        token = mint(settings, "odds:read", ttl=timedelta(seconds=1.5))
        async with connect(ws(gateway, "/ws"), origin="https://odds.example") as socket:  # type: ignore[arg-type]
            await socket.send(json.dumps({"action": "auth", "token": token}))
            assert json.loads(await socket.recv())["event"] == "authenticated"
            assert await closed_code(socket, seconds=5) == 4498


async def test_partner_socket_messages_are_charged_to_the_token(gateway: RunningGateway) -> None:
    token = mint(settings_of(gateway), "odds:read", rate_limit="3/minute")
    async with connect(ws(gateway, "/ws")) as socket:
        await socket.send(json.dumps({"action": "auth", "token": token}))
        await socket.recv()
        replies = []
        for _ in range(3):
            await socket.send(json.dumps({"action": "ping"}))
            replies.append(orjson.loads(await socket.recv()))
    assert [r["event"] for r in replies[:2]] == ["pong", "pong"]
    assert replies[2]["error"]["code"] == "RATE_LIMITED"
    assert replies[2]["error"]["retry_after"] >= 1


def bad_tokens(settings: Settings) -> dict[str, str]:
    good = forged(settings)
    return {
        "expired": forged(settings, iat=1_700_000_000, exp=1_700_000_600),
        "unsigned": unsigned(good),
        "wrong audience": forged(settings, aud="someone-else"),
        "wrong issuer": forged(settings, iss="evil"),
        "garbage": "not-a-jwt",
    }


async def test_bad_tokens_are_refused_on_every_interface(sqlite_url: str) -> None:
    async with serving(gateway_settings(sqlite_url, revocation_refresh=0.1)) as gateway:
        settings = settings_of(gateway)
        tokens = bad_tokens(settings)
        revoked = mint(settings, "odds:read")
        jti = jwt.get_unverified_claims(revoked)["jti"]
        await gateway.services.tokens.revoke(jti)
        await until(lambda: jti in gateway.services.access.revoked)
        tokens["revoked"] = revoked
        async with httpx.AsyncClient(base_url=gateway.url) as client:
            for name, token in tokens.items():
                rest = await client.get("/api/v2/sources", headers=auth(token))
                graphql = await client.post("/graphql", json={"query": "{ sources { name } }"}, headers=auth(token))
                assert (rest.status_code, graphql.status_code) == (401, 401), name
                socket = await graphql_socket(gateway, token)
                assert await closed_code(socket) == 4401, name
                async with connect(ws(gateway, "/ws")) as partner:
                    await partner.send(json.dumps({"action": "auth", "token": token}))
                    assert json.loads(await partner.recv())["error"]["code"] == "UNAUTHENTICATED", name
                    assert await closed_code(partner) == 4401, name


async def test_an_rs256_gateway_refuses_hs256_signed_with_its_public_key(sqlite_url: str, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "k1.pem").write_bytes(private)
    (tmp_path / "k1.pub.pem").write_bytes(public)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"active": "k1", "keys": {"k1": {"public": "k1.pub.pem", "private": "k1.pem"}}}))
    settings = gateway_settings(sqlite_url, jwt_algorithm="RS256", jwt_keys=keys)
    async with serving(settings) as gateway:
        assert (await gateway.client.get("/api/v2/sources")).status_code == 200  # RS256 works
        claims = jwt.get_unverified_claims(gateway.token)
        segments = [
            base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=")
            for part in ({"alg": "HS256", "typ": "JWT", "kid": "k1"}, claims)
        ]
        signing_input = b".".join(segments)
        signature = base64.urlsafe_b64encode(hmac.new(public, signing_input, hashlib.sha256).digest()).rstrip(b"=")
        confused = (signing_input + b"." + signature).decode()
        reply = await gateway.client.get("/api/v2/sources", headers=auth(confused))
    assert reply.status_code == 401
    assert "RS256" in reply.json()["error"]["message"]


async def test_a_region_sees_prices_made_only_from_the_sources_it_admits(sqlite_url: str, tmp_path: Path) -> None:
    rules = tmp_path / "jurisdictions.toml"
    rules.write_text('[regions.XX]\nsources = ["official"]\n')
    async with serving(gateway_settings(sqlite_url, jurisdictions_file=rules)) as gateway:
        token = mint(settings_of(gateway), "odds:read", region="XX")
        async with connect(ws(gateway, "/ws")) as partner:
            await partner.send(json.dumps({"action": "auth", "token": token}))
            await partner.recv()
            await partner.send(json.dumps({"action": "subscribe", "channels": [f"event.{NFL_EVENT}"]}))
            await partner.recv()
            await gateway.client.post("/api/v2/ingest", json=batch("official", update(1.80, 2.10)))
            await gateway.client.post("/api/v2/ingest", json=batch("other", update(2.40, 1.60)))
            only_other = update(1.91, 1.91, market="spread", line=-3.5)
            await gateway.client.post("/api/v2/ingest", json=batch("other", only_other))
            await gateway.client.post("/api/v2/ingest", json=batch("official", update(1.75, 2.20)))
            async with asyncio.timeout(5):
                deltas = [json.loads(await partner.recv()) for _ in range(3)]
        everyone = (await gateway.client.get(f"/api/v2/events/{NFL_EVENT}")).json()["data"]
        regional = (await gateway.client.get(f"/api/v2/events/{NFL_EVENT}", headers=auth(token))).json()["data"]
        document = '{ event(id: "EVENT") { markets { marketId outcomes { odds { decimal } } } } }'.replace(
            "EVENT", NFL_EVENT
        )
        query = {"query": document}
        graphql = (await gateway.client.post("/graphql", json=query, headers=auth(token))).json()["data"]["event"]
    assert graphql["markets"] == [
        {"marketId": "moneyline", "outcomes": [{"odds": {"decimal": 1.75}}, {"odds": {"decimal": 2.2}}]}
    ]
    blended = everyone["markets"][0]["outcomes"][0]
    assert set(blended["sources"]) == {"official", "other"}
    [moneyline] = regional["markets"]  # the spread only "other" quotes is not offered there
    home = moneyline["outcomes"][0]
    assert home["sources"] == {"official": 1.75}
    assert home["odds"]["decimal"] == 1.75
    assert home["odds"]["decimal"] != blended["odds"]["decimal"]
    # Deltas say the same: the second source moved nothing there.
    assert [o["odds"]["decimal"] for o in deltas[0]["outcomes"]] == [1.8, 2.1]
    assert (deltas[1]["outcomes"], deltas[1]["market_changed"]) == ([], False)
    # The spread is not offered there: its deltas are not sent there either.
    assert (deltas[2]["market_id"], deltas[2]["outcomes"][0]["odds"]["decimal"]) == ("moneyline", 1.75)


async def test_a_feed_token_may_only_feed_its_sports(gateway: RunningGateway) -> None:
    feed = auth(mint(settings_of(gateway), "odds:ingest", sports=["nfl"]))
    reply = await gateway.client.post("/api/v2/ingest", json=batch("a", update(), nba()), headers=feed)
    body = reply.json()
    assert (reply.status_code, body["accepted"]) == (200, 1)
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [(1, "FORBIDDEN")]
