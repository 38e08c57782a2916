"""A revoked token's open sockets are closed with 4401 within REVOCATION_REFRESH, on every process
that serves them, whichever protocol (`/ws` or GraphQL over WebSocket)."""

from __future__ import annotations

import asyncio

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gateway.access import token_service
from store.tokens import TokenRepository
from tests.conftest import RunningGateway, gateway_settings, mint, serving
from tests.integration.payloads import batch, update

EVENT = "49ers-ravens-2026-03-23"
SUBSCRIPTION = "subscription { oddsUpdated { eventId seq } }"


async def partner_socket(gateway: RunningGateway, token: str) -> ClientConnection:
    socket = await connect(gateway.url.replace("http://", "ws://") + "/ws")
    await socket.send(orjson.dumps({"action": "auth", "token": token}))
    assert orjson.loads(await socket.recv())["event"] == "authenticated"
    await socket.send(orjson.dumps({"action": "subscribe", "channels": [f"event.{EVENT}"]}))
    assert orjson.loads(await socket.recv())["event"] == "subscribed"
    return socket


async def graphql_socket(gateway: RunningGateway, token: str) -> ClientConnection:
    socket = await connect(
        gateway.url.replace("http://", "ws://") + "/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
    )
    init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
    await socket.send(orjson.dumps(init).decode())
    assert orjson.loads(await socket.recv())["type"] == "connection_ack"
    await socket.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}).decode())
    return socket


async def data_message(socket: ClientConnection) -> dict[str, object]:
    """The next message that is not a keep-alive."""
    while True:
        message: dict[str, object] = orjson.loads(await socket.recv())
        if message.get("type") != "ping" and message.get("event") != "heartbeat":
            return message


async def closed_with(socket: ClientConnection) -> int | None:
    """The close code, once the server closes; messages before it are read and dropped."""
    try:
        async with asyncio.timeout(10):
            while True:
                await socket.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


async def test_revoking_a_token_closes_its_open_sockets_on_every_process(sqlite_url: str) -> None:
    settings = gateway_settings(sqlite_url, revocation_refresh=0.3)
    revoked = mint(settings, "odds:read", sub="leaked")
    kept = mint(settings, "odds:read", sub="fine")
    jti = token_service(settings).verify(revoked).jti
    assert jti is not None
    async with serving(settings) as first, serving(settings) as second:
        await first.client.post("/api/v2/ingest", json=batch("a", update(1.85, 2.10)))
        sockets = [
            await partner_socket(first, revoked),
            await graphql_socket(first, revoked),
            await partner_socket(second, revoked),
            await graphql_socket(second, revoked),
        ]
        # In memory (no Redis), each process prices what is ingested into it.
        others = [await partner_socket(first, kept), await graphql_socket(first, kept)]
        # As `oddsgate token revoke <jti>` does: the database, which every process reads.
        assert await TokenRepository(first.services.engine).revoke(jti) is False
        codes = await asyncio.gather(*(closed_with(s) for s in sockets))
        await first.client.post("/api/v2/ingest", json=batch("a", update(1.86, 2.08)))
        async with asyncio.timeout(10):
            alive = [await data_message(other) for other in others]
        for socket in (*sockets, *others):
            await socket.close()
    assert codes == [4401, 4401, 4401, 4401]
    assert [message.get("event") or message.get("type") for message in alive] == ["odds.updated", "next"]
