"""The ceiling for bench/peers/run.py: a bare ASGI broadcast app under uvicorn.

    .venv/bin/python bench/peers/raw_asgi.py --port 8200            # what the benchmark starts, on core 0
    taskset -c 0 .venv/bin/python bench/peers/raw_asgi.py --port 8200

- `GET /health` answers 200.
- `WS /ws?event=<id>`: the socket is registered under that event before the handshake is accepted,
  so a client that sees the upgrade succeed is already subscribed. Whatever the client sends is read
  and dropped.
- `POST /publish` with a JSON array of deltas: the batch is queued and the POST answers
  `{"published": n}`; one broadcaster task takes the batches in order and sends each delta,
  serialized once, as a binary frame to every socket of its `event_id`, one after the other.

The POST does not wait for its fan-out (oddsgate's ingest does not either): with one publisher
waiting for each answer, fanning out inside the request would leave the server idle while the
publisher builds its next batch, and the "ceiling" would be the round trip's. One task keeps the
batches, and so every event's seq, in order.

No framework, no GraphQL, no protocol, no per-client queue or writer task: the only work per
message is uvicorn's (the websockets sans-I/O frame and one `transport.write`). uvicorn runs with
the options `oddsgate serve` passes (`gateway.serving.uvicorn_options`), so the two differ only in
what the application does.
"""

# ruff: noqa: E402

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson

from gateway.serving import uvicorn_options
from gateway.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]


class Broadcast:
    """The ASGI callable: event id -> the `send` of each socket subscribed to it."""

    def __init__(self) -> None:
        self.sockets: dict[str, set[Send]] = {}
        self.batches: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
        self.broadcaster: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "websocket":
            await self.websocket(scope, receive, send)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.broadcaster = asyncio.create_task(self.broadcast())
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self.broadcaster is not None:
                        self.broadcaster.cancel()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        if method == "GET" and path == "/health":
            await respond(send, 200, b'{"status":"ok"}')
            return
        if method != "POST" or path != "/publish":
            await respond(send, 404, b'{"error":"not found"}')
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        try:
            deltas = orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError as exc:
            await respond(send, 400, orjson.dumps({"error": str(exc)}))
            return
        if not isinstance(deltas, list):
            await respond(send, 400, b'{"error":"expected a JSON array of deltas"}')
            return
        self.batches.put_nowait(deltas)
        await respond(send, 200, orjson.dumps({"published": len(deltas)}))

    async def broadcast(self) -> None:
        sockets = self.sockets
        while True:
            deltas = await self.batches.get()
            for delta in deltas:
                targets = sockets.get(delta["event_id"])
                if not targets:
                    continue
                frame = {"type": "websocket.send", "bytes": orjson.dumps(delta)}
                # A copy: a socket that closes while an earlier send awaits must not break the loop.
                for target in tuple(targets):
                    try:
                        await target(frame)
                    except Exception:  # a socket gone mid-send: the others go on
                        targets.discard(target)

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] != "/ws":
            await receive()
            await send({"type": "websocket.close", "code": 4404})
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        event_id = (query.get("event") or [""])[0]
        message = await receive()
        if message["type"] != "websocket.connect" or not event_id:
            await send({"type": "websocket.close", "code": 4400})
            return
        self.sockets.setdefault(event_id, set()).add(send)
        try:
            await send({"type": "websocket.accept"})
            while (await receive())["type"] != "websocket.disconnect":
                pass
        finally:
            targets = self.sockets.get(event_id)
            if targets is not None:
                targets.discard(send)
                if not targets:
                    del self.sockets[event_id]


async def respond(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": JSON_HEADERS})
    await send({"type": "http.response.body", "body": body})


app = Broadcast()


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description="Raw ASGI broadcast: the ceiling for bench/peers/run.py")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    options = uvicorn_options(Settings(log_level=args.log_level))
    uvicorn.run(app, host=args.host, port=args.port, **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
