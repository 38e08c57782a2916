"""The socket core under both WebSocket doors, through uvicorn: the same refusal closes `/ws` and
GraphQL's graphql-transport-ws with the same code, and a client that hangs up is let go at once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from websockets.asyncio.client import ClientConnection, connect

from gateway.settings import Settings
from tests.conftest import RunningGateway, gateway_settings, mint, serving
from tests.support.sockets import closed_code
from tests.support.waiting import until

EVENT = "49ers-ravens-2026-03-23"


@pytest.fixture
async def gateway(sqlite_url: str) -> AsyncIterator[RunningGateway]:
    settings = gateway_settings(sqlite_url, ws_init_timeout=0.5, ws_message_rate="5/second")
    async with serving(settings) as running:
        yield running


def url(gateway: RunningGateway, path: str) -> str:
    return gateway.url.replace("http://", "ws://") + path


@asynccontextmanager
async def partner(gateway: RunningGateway, token: str | None) -> AsyncIterator[ClientConnection]:
    """A /ws client that sends `token` in its auth message (none: it skips the auth message)."""
    async with connect(url(gateway, "/ws")) as socket:
        if token is not None:
            await socket.send(json.dumps({"action": "auth", "token": token}))
        yield socket


@asynccontextmanager
async def graphql(gateway: RunningGateway, token: str | None) -> AsyncIterator[ClientConnection]:
    """A graphql-transport-ws client whose connection_init carries `token` (none: an empty payload)."""
    async with connect(url(gateway, "/graphql"), subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        payload = {} if token is None else {"authorization": f"Bearer {token}"}
        await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        yield socket


DOORS = {"/ws": partner, "/graphql": graphql}


async def ping(door: str, socket: ClientConnection) -> None:
    await socket.send(json.dumps({"action": "ping"} if door == "/ws" else {"type": "ping"}))


# The token, what the client does after sending it, and the code both doors close with.
SCENARIOS: dict[str, tuple[Callable[[Settings], str | None], str, int]] = {
    "no token": (lambda settings: None, "subscribe", 4401),
    "a token that is no JWT": (lambda settings: "not-a-jwt", "", 4401),
    "a region that may not view odds": (lambda settings: mint(settings, "odds:read", region="KP"), "", 4403),
    "a token without odds:read": (lambda settings: mint(settings, "bets:place"), "", 4403),
    "a token whose rate is spent": (lambda settings: mint(settings, "odds:read", rate_limit="1/minute"), "twice", 1013),
    "too many messages": (lambda settings: mint(settings, "odds:read"), "flood", 4429),
    "a token that expires": (lambda settings: mint(settings, "odds:read", ttl=timedelta(seconds=1.5)), "", 4498),
}


@pytest.mark.parametrize("door", sorted(DOORS))
@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_the_same_refusal_closes_both_doors_with_the_same_code(
    gateway: RunningGateway, door: str, scenario: str
) -> None:
    make_token, then, expected = SCENARIOS[scenario]
    token = make_token(gateway.app.state.settings)
    opened = DOORS[door]
    if then == "twice":
        # The first connection takes the token's one unit; the second finds the rate spent.
        async with opened(gateway, token) as first:
            await first.recv()
    async with opened(gateway, token) as socket:
        if then == "subscribe" and door == "/ws":
            await socket.send(json.dumps({"action": "subscribe", "channels": [f"event.{EVENT}"]}))
        if then == "flood":
            for _ in range(7):
                await ping(door, socket)
        assert await closed_code(socket) == expected


@pytest.mark.parametrize("door", sorted(DOORS))
async def test_no_token_in_time_closes_both_doors_with_4408(gateway: RunningGateway, door: str) -> None:
    path, protocols = (door, ["graphql-transport-ws"] if door == "/graphql" else None)
    async with connect(url(gateway, path), subprotocols=protocols) as socket:  # type: ignore[arg-type]
        assert await closed_code(socket) == 4408


async def test_a_partner_client_that_hangs_up_is_let_go_at_once(gateway: RunningGateway) -> None:
    """The connection's writer stops with the disconnect instead of waiting out its drain timeout
    (one second) for a close the server never decided."""
    registry = gateway.services.metrics.registry

    def open_sockets() -> float:
        return registry.get_sample_value("oddsgate_connections", {"protocol": "ws"}) or 0.0

    async with partner(gateway, gateway.token) as socket:
        assert json.loads(await socket.recv())["event"] == "authenticated"
        await socket.send(json.dumps({"action": "subscribe", "channels": [f"event.{EVENT}"]}))
        assert json.loads(await socket.recv())["event"] == "subscribed"
        assert open_sockets() == 1

    async def let_go() -> bool:
        return open_sockets() == 0

    await until(let_go, seconds=0.5)
