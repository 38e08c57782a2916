"""Webhooks cannot be turned against the gateway's own network (SSRF), their delivery log tells
nothing about ports behind an address, and only their owner (or an admin) can change them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from auth.principal import Principal
from schema.commands import RegisterWebhook
from store.db import create_engine
from store.migrate import upgrade_async
from store.webhooks import WebhookRepository
from tests.conftest import RunningGateway, gateway_settings, mint, serving
from tests.integration.payloads import batch, update
from tests.integration.test_control import Receiver, serve_receiver
from tests.support.servers import free_port
from tests.support.waiting import never, until
from usecases.webhook_addresses import AddressPolicy, AddressRefused
from usecases.webhooks import WebhookService

EVENT = "49ers-ravens-2026-03-23"
SECRET = "partner-secret-0123456789"


def hook(url: str) -> dict[str, Any]:
    return {"url": url, "events": ["suspension"], "secret": SECRET}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/",
        "http://localhost:8000/hook",
        "http://2130706433/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://10.1.2.3/hook",
        "http://192.168.0.1/",
        "http://172.16.5.4/",
        "http://100.64.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://224.0.0.1/",
        "http://user:pass@example.com/",
        "http://no-such-host.invalid/hook",
        "gopher://example.com/",
    ],
)
async def test_private_and_metadata_addresses_are_refused(gateway: RunningGateway, url: str) -> None:
    reply = await gateway.client.post("/api/v2/webhooks", json=hook(url))
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["code"] == "INVALID_REQUEST"
    assert (await gateway.client.get("/api/v2/webhooks")).json()["data"] == []


async def test_an_allowed_network_may_be_reached(sqlite_url: str) -> None:
    settings = gateway_settings(sqlite_url, webhook_allowed_networks=["127.0.0.0/8"])
    async with serving(settings) as gateway:
        allowed = await gateway.client.post("/api/v2/webhooks", json=hook("http://127.0.0.1:9/hook"))
        still_refused = await gateway.client.post("/api/v2/webhooks", json=hook("http://10.0.0.1/hook"))
    assert allowed.status_code == 201
    assert still_refused.status_code == 422


@pytest.fixture
async def trading(sqlite_url: str) -> AsyncIterator[RunningGateway]:
    settings = gateway_settings(
        sqlite_url, webhook_allowed_networks=["127.0.0.0/8"], webhook_backoff=0.2, webhook_max_attempts=20
    )
    async with serving(settings) as gateway:
        await gateway.client.post("/api/v2/ingest", json=batch("a", update()))
        yield gateway


def trader(gateway: RunningGateway, sub: str, *scopes: str) -> httpx.AsyncClient:
    token = mint(gateway.app.state.settings, *(scopes or ("odds:control",)), sub=sub)
    return httpx.AsyncClient(base_url=gateway.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


async def test_only_the_owner_or_an_admin_changes_a_webhook(trading: RunningGateway) -> None:
    async with (
        trader(trading, "alice") as alice,
        trader(trading, "mallory") as mallory,
        trader(trading, "root", "admin") as admin,
    ):
        made = (await alice.post("/api/v2/webhooks", json=hook("http://127.0.0.1:9/a"))).json()
        other = (await mallory.post("/api/v2/webhooks", json=hook("http://127.0.0.1:9/m"))).json()
        stolen = await mallory.delete(f"/api/v2/webhooks/{made['id']}")
        peek = await mallory.get(f"/api/v2/webhooks/{made['id']}/deliveries")
        theirs = (await mallory.get("/api/v2/webhooks")).json()["data"]
        everyone = (await admin.get("/api/v2/webhooks")).json()["data"]
        own = await alice.delete(f"/api/v2/webhooks/{made['id']}")
        by_admin = await admin.delete(f"/api/v2/webhooks/{other['id']}")
    assert (stolen.status_code, stolen.json()["error"]["code"]) == (404, "NOT_FOUND")
    assert peek.status_code == 404
    assert [h["id"] for h in theirs] == [other["id"]]
    assert {h["id"] for h in everyone} == {made["id"], other["id"]}
    assert (own.status_code, by_admin.status_code) == (204, 204)


async def test_the_delivery_log_tells_only_status_classes(trading: RunningGateway) -> None:
    failing = Receiver(status=503)
    server, task, failing_url = await serve_receiver(failing)
    closed_url = f"http://127.0.0.1:{free_port()}/hook"
    try:
        ids = []
        for url in (failing_url, closed_url):
            made = await trading.client.post("/api/v2/webhooks", json=hook(url))
            assert made.status_code == 201, made.text
            ids.append(made.json()["id"])
        suspend = {"scope": {"event_id": EVENT}, "action": "suspend", "reason": "test"}
        await trading.client.post("/api/v2/overrides", json=suspend)

        async def errors(webhook_id: str) -> list[str | None]:
            rows = (await trading.client.get(f"/api/v2/webhooks/{webhook_id}/deliveries")).json()["data"]
            return [row["last_error"] for row in rows]

        async def logged() -> bool:
            found = await errors(ids[0]) + await errors(ids[1])
            return len(found) == 2 and None not in found

        await until(logged)
        assert await errors(ids[0]) == ["HTTP 5xx"]
        # A closed port and a timeout read the same: the log does not scan ports for anyone.
        assert await errors(ids[1]) == ["no response"]
    finally:
        server.should_exit = True
        await task


async def test_deleting_a_webhook_cancels_its_queued_deliveries(trading: RunningGateway) -> None:
    failing = Receiver(status=500)
    server, task, url = await serve_receiver(failing)
    try:
        made = (await trading.client.post("/api/v2/webhooks", json=hook(url))).json()
        await trading.client.post(
            "/api/v2/overrides", json={"scope": {"event_id": EVENT}, "action": "suspend", "reason": "test"}
        )

        async def retried() -> bool:
            return len(failing.received) >= 2

        await until(retried)
        assert (await trading.client.delete(f"/api/v2/webhooks/{made['id']}")).status_code == 204
        attempts = len(failing.received)
        # The next retry was due within 0.5 s (backoff 0.2 s, doubling): 1.5 s would see it made.
        await never(lambda: len(failing.received) > attempts, seconds=1.5)
        deliveries = (await trading.client.get(f"/api/v2/webhooks/{made['id']}/deliveries")).json()["data"]
    finally:
        server.should_exit = True
        await task
    assert len(failing.received) == attempts
    assert [d["status"] for d in deliveries] == ["cancelled"]


class Rebinding:
    """A name that resolves to a public address when registered, then to loopback."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return ["93.184.216.34"] if self.calls == 1 else ["127.0.0.1"]


async def test_a_name_rebound_to_a_private_address_is_not_delivered_to(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hooks.db'}"
    await upgrade_async(url)
    engine = create_engine(url)
    receiver = Receiver()
    server, task, receiver_url = await serve_receiver(receiver)
    service = WebhookService(
        WebhookRepository(engine), AddressPolicy(resolver=Rebinding()), max_attempts=1, backoff=0.01
    )
    await service.start(refresh=60)
    try:
        owner = Principal("alice", frozenset({"odds:control"}), frozenset({"*"}), None, False, None, "j", _far())
        port = receiver_url.split(":")[2].split("/")[0]
        made = await service.register(
            owner, RegisterWebhook(**{**hook(f"http://rebind.example:{port}/hook"), "events": ["alert"]})
        )
        service.on_alert(_alert())

        async def finished() -> bool:
            rows[:] = (await service.deliveries(owner, made["id"], None, 10, 0))[0]
            return bool(rows) and rows[0]["status"] not in ("pending", "retrying")

        rows: list[dict[str, Any]] = []
        await until(finished)
    finally:
        await service.stop()
        server.should_exit = True
        await task
        await engine.dispose()
    assert receiver.received == []
    assert (rows[0]["status"], rows[0]["last_error"]) == ("dead", "refused: the address is not public")


async def test_the_policy_checks_every_address_a_name_resolves_to() -> None:
    async def both(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.7"]

    with pytest.raises(AddressRefused, match=r"10\.0\.0\.7"):
        await AddressPolicy(resolver=both).check("https://mixed.example/hook")
    target = await AddressPolicy(resolver=both, allowed=["10.0.0.0/8"]).check("https://mixed.example:8443/hook")
    assert target.pinned_url() == "https://93.184.216.34:8443/hook"


def _far() -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(hours=1)


def _alert() -> Any:
    from datetime import UTC, datetime

    from feeds.alerts import Alert

    return Alert("a1", "rule", "price_move", datetime.now(UTC), "moved", EVENT, "moneyline", "home", "s", {})
