"""Size and time limits on what a client sends, through a real uvicorn: bodies (every route),
headers, slow headers and slow bodies; and tokens in query strings kept out of the access log."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from gateway.settings import Settings
from tests.conftest import RunningGateway, gateway_settings, mint, serving
from tests.support.servers import GatewayProcess

ROUTES = [
    ("/graphql", "graphql_max_body_bytes"),
    ("/api/v2/bets", "request_max_body_bytes"),
    ("/api/v2/results", "request_max_body_bytes"),
    ("/api/v2/wallets/ann/deposit", "request_max_body_bytes"),
    ("/api/v2/overrides", "request_max_body_bytes"),
    ("/api/v2/webhooks", "request_max_body_bytes"),
    ("/api/v2/ingest", "ingest_max_body_bytes"),
    ("/api/v2/feeds/canonical", "ingest_max_body_bytes"),
]


@pytest.fixture
async def limited(sqlite_url: str) -> AsyncIterator[RunningGateway]:
    settings = gateway_settings(
        sqlite_url, header_timeout=1.0, body_timeout=1.0, ingest_max_body_bytes=256 * 1024, max_header_bytes=8192
    )
    async with serving(settings) as gateway:
        # Age verified, so placing bets reads the body rather than refusing the caller first.
        gateway.token = mint(settings, age_verified=True)
        gateway.client.headers["Authorization"] = f"Bearer {gateway.token}"
        yield gateway


async def raw(gateway: RunningGateway) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = gateway.url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def response_of(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of the one HTTP/1.1 response on this connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    return status, await reader.readexactly(length)


async def flood(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chunk: bytes, most: int
) -> tuple[int, tuple[int, bytes]]:
    """Send `chunk` after `chunk`, up to `most` bytes unless the server answers first: how much
    was sent, and the answer."""
    sent = 0
    answer = asyncio.ensure_future(response_of(reader))
    with contextlib.suppress(ConnectionError):
        while not answer.done() and sent < most:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(0)  # a turn for the reader, which may have the answer already
            sent += len(chunk)
    async with asyncio.timeout(5):
        return sent, await answer


@pytest.mark.parametrize(("path", "setting"), ROUTES)
async def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(
    limited: RunningGateway, path: str, setting: str
) -> None:
    limit = getattr(limited.app.state.settings, setting)
    reader, writer = await raw(limited)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {limited.token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {200 * 1024 * 1024}\r\n\r\n".encode()
    )
    await writer.drain()
    async with asyncio.timeout(5):
        status, body = await response_of(reader)
    writer.close()
    assert status == 413
    error = orjson.loads(body)["error"]
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    assert str(limit) in error["message"]


@pytest.mark.parametrize(("path", "setting"), ROUTES)
async def test_a_streamed_body_over_the_limit_is_refused_as_it_arrives(
    limited: RunningGateway, path: str, setting: str
) -> None:
    reader, writer = await raw(limited)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {limited.token}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    )
    sent, (status, body) = await flood(reader, writer, b"%x\r\n%s\r\n" % (65536, b" " * 65536), 200 * 1024 * 1024)
    writer.close()
    assert status == 413
    assert orjson.loads(body)["error"]["code"] == "PAYLOAD_TOO_LARGE"
    # What the sockets' buffers held, not the 200 MB: the body was never read whole.
    assert sent < 16 * 1024 * 1024


async def test_bodies_within_their_limits_are_served(limited: RunningGateway) -> None:
    query = {"query": "{ events { id } }", "variables": {"pad": "x" * 60_000}}
    assert (await limited.client.post("/graphql", json=query)).status_code == 200
    big = {"source": "a", "updates": [], "pad": "x" * 200_000}
    assert (await limited.client.post("/api/v2/ingest", json=big)).status_code == 200


async def test_headers_over_the_limit_are_refused_with_431(limited: RunningGateway) -> None:
    reply = await limited.client.get("/health", headers={"X-Padding": "x" * 10_000})
    assert reply.status_code == 431
    assert reply.json()["error"]["code"] == "HEADERS_TOO_LARGE"
    # A 60 MB header is refused as it arrives, not buffered.
    reader, writer = await raw(limited)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: ")
    sent, (status, _) = await flood(reader, writer, b"x" * 65536, 60 * 1024 * 1024)
    writer.close()
    assert status == 431
    assert sent < 16 * 1024 * 1024
    assert (await limited.client.get("/health")).status_code == 200


async def test_slow_headers_are_cut_off(limited: RunningGateway) -> None:
    """Slowloris: sockets that trickle their headers are closed after HEADER_TIMEOUT."""
    sockets = [await raw(limited) for _ in range(20)]
    started = time.monotonic()

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        with contextlib.suppress(ConnectionError):
            for _ in range(60):
                writer.write(b"X-a: b\r\n")
                await writer.drain()
                if reader.at_eof():
                    break
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.25):
                        return await reader.read()
        return await reader.read()

    async with asyncio.timeout(10):
        answers = await asyncio.gather(*(trickle(r, w) for r, w in sockets))
    assert time.monotonic() - started < 5
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers)
    # An idle connection that never sends a byte is closed as well.
    reader, _ = await raw(limited)
    async with asyncio.timeout(5):
        assert await reader.read() == b""
    assert (await limited.client.get("/health")).status_code == 200


async def test_a_body_that_does_not_arrive_in_time_is_refused(limited: RunningGateway) -> None:
    reader, writer = await raw(limited)
    writer.write(
        f"POST /api/v2/bets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {limited.token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{".encode()
    )
    await writer.drain()
    async with asyncio.timeout(5):
        status, body = await response_of(reader)
    writer.close()
    assert status == 408
    assert orjson.loads(body)["error"]["code"] == "REQUEST_TIMEOUT"


async def test_a_token_in_the_query_string_never_reaches_the_log(tmp_path: Path) -> None:
    token = mint(Settings(), "odds:read")
    gateway = GatewayProcess(tmp_path, "logged", ODDSGATE_DEMO_FEED="0", ODDSGATE_LOG_LEVEL="info")
    gateway.start()
    try:
        async with httpx.AsyncClient(base_url=gateway.url) as client:
            await client.get("/cms/shortcode", params={"code": '[odds event="x"]', "token": token})
            await client.get("/api/v2/odds", params={"token": token, "sport": "nfl"})
        with contextlib.suppress(Exception):
            async with connect(gateway.url.replace("http://", "ws://") + f"/ws?token={token}&x=1") as socket:
                await socket.send(orjson.dumps({"action": "ping"}))
    finally:
        gateway.stop()
    log = gateway.log_path.read_text()
    assert "/cms/shortcode" in log
    assert "token=[redacted]" in log
    assert token not in log
    assert token.split(".")[2] not in log
