"""Reading a WebSocket until the server closes it, as the socket tests check close codes."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from websockets.asyncio.client import ClientConnection


async def read_until_closed(socket: ClientConnection, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while True:
            await socket.recv()


async def closed_code(socket: ClientConnection, seconds: float = 5) -> int:
    """The code the server closed with (fails if it does not close within `seconds`)."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await read_until_closed(socket, seconds)
    assert closed.value.rcvd is not None
    return int(closed.value.rcvd.code)
