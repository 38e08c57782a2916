"""Arbitrary JSON, query strings and path segments thrown at every route and GraphQL operation of a
real server (its own process): never a 5xx, never a traceback, always the contract's error shape.

`make test` runs a bounded number of examples per route; `make fuzz` (ODDSGATE_FUZZ_EXAMPLES)
runs many more. Hypothesis shrinks any failure to the smallest request that causes it.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route
from websockets.sync.client import connect as sync_connect

from gateway.app import create_app
from gateway.settings import Settings
from tests.conftest import create_database, mint
from tests.integration.payloads import batch, update
from tests.support.servers import GatewayProcess

pytestmark = pytest.mark.e2e
EVENT = "49ers-ravens-2026-03-23"
EXAMPLES = int(os.environ.get("ODDSGATE_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    derandomize=os.environ.get("ODDSGATE_FUZZ_RANDOM") is None,
)

# Names the routes read, so that generated requests reach past "unknown parameter" into the code.
KEYS = [
    "source", "updates", "sport", "league", "home_team", "away_team", "start_time", "status", "market", "line",
    "outcomes", "id", "odds", "timestamp", "state", "score", "incidents", "suspended", "event_id", "market_id",
    "outcome_id", "stake", "accept", "winning_outcome_ids", "void", "dead_heat_factor", "amount", "reference",
    "scope", "action", "value", "reason", "url", "events", "secret", "type", "team", "player",
]  # fmt: skip
PARAMS = [
    "sport", "league", "event_id", "markets", "live", "format", "limit", "offset", "status", "at", "market",
    "since", "kind", "actor", "action", "active", "code", "token", "source", "window", "generator",
]  # fmt: skip

text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "nfl", "moneyline", "home", EVENT, "1e999", "NaN", "-1", "9" * 30, "💥"]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=10)), inner, max_size=6),
    ),
    max_leaves=25,
)
bodies = st.one_of(
    st.dictionaries(st.sampled_from(KEYS), values, max_size=8),
    st.builds(
        lambda u: {"source": "fuzz", "updates": u}, st.lists(st.dictionaries(st.sampled_from(KEYS), values), max_size=4)
    ),
    values,
)
# What a client can put in a header at all (visible ASCII): anything else the client refuses to send.
header_values = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=300)
query_strings = st.dictionaries(st.sampled_from(PARAMS), text, max_size=4)
segments = st.one_of(
    st.sampled_from([EVENT, "moneyline", "canonical", "ann", "x"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/?#%"), min_size=1, max_size=250),
)


def http_routes() -> list[tuple[str, str]]:
    app = create_app(Settings(demo_feed=False))
    found: list[tuple[str, str]] = []
    for route in app.routes:
        if isinstance(route, Route) and route.path != "/graphql":
            found.extend((method, route.path) for method in sorted(route.methods or ()) if method != "HEAD")
    return found


ROUTES = http_routes()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, postgres_cluster: str
) -> Iterator[tuple[GatewayProcess, httpx.Client]]:
    workdir = tmp_path_factory.mktemp("fuzz")
    # PostgreSQL, the stricter of the two: it refuses NUL and over-long text that SQLite keeps.
    gateway = GatewayProcess(
        workdir,
        "fuzzed",
        ODDSGATE_DATABASE_URL=asyncio.run(create_database(postgres_cluster)),
        ODDSGATE_DEMO_FEED="0",
        ODDSGATE_DEFAULT_RATE_LIMIT="10000000/minute",
        ODDSGATE_WS_MESSAGE_RATE="100000/second",
        ODDSGATE_LOG_LEVEL="info",
    )
    gateway.start()
    token = mint(Settings(), "admin", sub="ann", age_verified=True)
    with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        assert client.post("/api/v2/ingest", json=batch("a", update())).status_code == 200
        assert client.post("/api/v2/wallets/ann/deposit", json={"amount": "1000.00"}).status_code == 201
        try:
            yield gateway, client
        finally:
            gateway.stop()
    log = gateway.log_path.read_text()
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 : log.index("Traceback") + 4000]


def fill(path: str, segment: str) -> str:
    return re.sub(r"\{[a-z_]+(:[a-z]+)?\}", lambda _: httpx.URL("/" + segment).raw_path.decode()[1:], path)


def check(reply: httpx.Response) -> None:
    assert reply.status_code < 500, reply.text[:2000]
    if reply.status_code >= 400 and reply.headers.get("content-type", "").startswith("application/json"):
        body = reply.json()
        assert isinstance(body.get("error", {}).get("code"), str), reply.text[:2000]


def check_graphql(reply: httpx.Response) -> None:
    check(reply)
    for error in reply.json().get("errors") or []:
        # A bug is masked as "internal error"; every other error says what was wrong.
        assert "internal error" not in error["message"], error


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_no_request_breaks_a_route(server: tuple[GatewayProcess, httpx.Client], method: str, path: str) -> None:
    _, client = server

    @FUZZ
    @given(body=bodies, params=query_strings, segment=segments, key=header_values)
    def one(body: Any, params: dict[str, str], segment: str, key: str) -> None:
        content = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS) if method in ("POST", "PUT", "PATCH") else None
        headers = {"Idempotency-Key": key}
        try:
            reply = client.request(method, fill(path, segment), params=params, content=content, headers=headers)
        except httpx.InvalidURL:
            return
        check(reply)

    one()


GRAPHQL = [
    ("query ($s: String, $l: Int, $o: Int) { events(sport: $s, limit: $l, offset: $o) { id markets { id } } }", "s"),
    ('query ($id: String!) { event(id: $id) { id seq epoch markets(types: ["moneyline"]) { id } } }', "id"),
    ("query ($id: String!) { insight(eventId: $id) { summary } }", "id"),
    ("query ($l: Int, $o: Int) { bets(limit: $l, offset: $o) { betId } wallet { available } }", "l"),
    (
        "mutation ($k: String!, $e: String!, $s: String!, $o: Float!) { placeBet(idempotencyKey: $k, eventId: $e, "
        'marketId: "moneyline", outcomeId: "home", stake: $s, odds: $o) { betId } }',
        "s",
    ),
    (
        "mutation ($scope: OverrideScopeInput!, $a: String!, $v: Float) { createOverride(scope: $scope, action: $a, "
        'reason: "fuzz", value: $v) { id } }',
        "scope",
    ),
    ("mutation ($id: ID!) { rollbackOverride(id: $id) { id } }", "id"),
]


@pytest.mark.parametrize(("document", "_name"), GRAPHQL)
def test_no_variables_break_a_graphql_operation(
    server: tuple[GatewayProcess, httpx.Client], document: str, _name: str
) -> None:
    _, client = server

    @FUZZ
    @given(variables=st.dictionaries(st.sampled_from(["s", "l", "o", "id", "k", "e", "scope", "a", "v"]), values))
    def one(variables: dict[str, Any]) -> None:
        check_graphql(client.post("/graphql", json={"query": document, "variables": variables}))

    one()


def test_no_document_breaks_graphql(server: tuple[GatewayProcess, httpx.Client]) -> None:
    _, client = server

    @FUZZ
    @given(query=st.one_of(text, st.text(alphabet="{}()[]:$!@., \n\"'abcdefgqueryidsmtn0123456789", max_size=200)))
    def one(query: str) -> None:
        check_graphql(client.post("/graphql", json={"query": query}))

    one()


def test_no_message_breaks_a_partner_socket(server: tuple[GatewayProcess, httpx.Client]) -> None:
    gateway, client = server
    token = client.headers["Authorization"].removeprefix("Bearer ")
    actions = st.sampled_from(["auth", "subscribe", "unsubscribe", "ping", "", "x"])
    messages = st.one_of(
        values,
        st.builds(
            lambda action, rest: {**rest, "action": action},
            actions,
            st.dictionaries(st.sampled_from(["channels", "since", "conflate_ms", "include_history", "token"]), values),
        ),
    )
    with sync_connect(gateway.url.replace("http://", "ws://") + "/ws") as socket:
        socket.send(orjson.dumps({"action": "auth", "token": token}).decode())
        assert orjson.loads(socket.recv(timeout=5))["event"] == "authenticated"

        @FUZZ
        @given(message=messages)
        def one(message: Any) -> None:
            socket.send(orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS).decode())
            socket.send(orjson.dumps({"action": "ping"}).decode())
            # Whatever the message did, the connection still answers, and no answer was a bug's.
            while True:
                reply = orjson.loads(socket.recv(timeout=5))
                assert reply.get("error", {}).get("code") != "INTERNAL", reply
                if reply.get("event") == "pong":
                    return

        one()


def test_nothing_reached_the_log_as_unhandled(server: tuple[GatewayProcess, httpx.Client]) -> None:
    gateway, _ = server
    log = Path(gateway.log_path).read_text()
    assert "unhandled error" not in log
    assert "Traceback" not in log
