"""Webhooks: partners' endpoints get significant moves, suspensions and alerts, signed, retried with
exponential backoff, logged, and dead-lettered after the last attempt. The odds path only enqueues:
a slow or dead endpoint holds up nobody. Deliveries go only to public addresses (see
`usecases.webhook_addresses`); a webhook is changed only by its owner or an admin, and deleting it
cancels what was still queued for it. A webhook delivers only what its owner's token could see (its
sports, narrowed by its region), narrowed again by the filters it was registered with."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from auth.access import AccessControl
from auth.principal import ALL_SPORTS, Principal
from feeds.alerts import Alert
from feeds.aliases import AliasBook
from feeds.normalize import Normalizer
from schema import text
from schema.commands import RegisterWebhook
from schema.errors import Forbidden, InvalidRequest, NotFound
from schema.model import Delta
from schema.render import delta_json
from schema.visibility import EVERYTHING, Visibility
from store.webhooks import WebhookRepository
from usecases.alerting import Place, sees_place
from usecases.webhook_addresses import AddressPolicy, AddressRefused

log = logging.getLogger(__name__)
EVENTS = ("suspension", "move", "alert", "market.settled", "market.unsettled")
# Kinds that carry alerts, an operator's surface: their owner needs `odds:control` (a token with
# `webhooks:manage` alone may not read alerts, so it may not have them sent either).
ALERT_KINDS = frozenset({"move", "alert"})
MAX_FILTER = 100
SIGNATURE_HEADER = "X-Oddsgate-Signature"
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
_QUEUE = 10_000


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`: receivers recompute and compare,
    and refuse old timestamps to stop replays."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@dataclass(slots=True, frozen=True)
class Hook:
    id: str
    url: str
    events: frozenset[str]
    secret: str
    owner: str
    # What the owner's token saw when it registered the webhook.
    visibility: Visibility = EVERYTHING
    # The registration's filters; None: not filtered.
    sports: Visibility | None = None
    event_ids: frozenset[str] | None = None

    def wants(self, event_id: str | None, place: Place | None, market_type: str | None = None) -> bool:
        """Whether a delivery about this event (at `place`, when the book can place it) goes here.
        One about no event (a source down) goes only to a webhook without filters."""
        if event_id is None:
            return self.sports is None and self.event_ids is None
        if self.event_ids is not None and event_id not in self.event_ids:
            return False
        if self.sports is not None and not sees_place(self.sports, place):
            return False
        return sees_place(self.visibility, place) and self.visibility.sees_market(market_type)


def _nowhere(event_id: str) -> Place | None:
    return None


@dataclass(slots=True)
class Job:
    id: str
    hook: Hook
    event: str
    body: bytes
    attempts: int = 0


class WebhookService:
    def __init__(
        self,
        repository: WebhookRepository,
        addresses: AddressPolicy,
        *,
        access: AccessControl | None = None,
        normalizer: Normalizer | None = None,
        locate: Callable[[str], Place | None] = _nowhere,
        max_attempts: int = 5,
        backoff: float = 1.0,
        timeout: float = 5.0,
        workers: int = 4,
    ):
        """`access`: what owners' tokens see (None: every owner sees everything); `locate`: an
        event's sport and league, from the live book."""
        self.repository = repository
        self.addresses = addresses
        self.access = access
        self.normalizer = normalizer if normalizer is not None else Normalizer(AliasBook.load())
        self.locate = locate
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.timeout = timeout
        self.workers = workers
        self.hooks: dict[str, Hook] = {}
        self.dropped = 0
        self._queue: asyncio.Queue[Job] = asyncio.Queue(_QUEUE)
        self._client: httpx.AsyncClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._retries: dict[str, tuple[asyncio.TimerHandle, Job]] = {}
        self._suspended: set[tuple[str, str]] = set()

    async def start(self, refresh: float = 5.0) -> None:
        await self.reload()
        self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        self._tasks = [asyncio.create_task(self._work(), name=f"webhook-{i}") for i in range(self.workers)]
        self._tasks.append(asyncio.create_task(self._refresh(refresh), name="webhook-refresh"))

    async def stop(self) -> None:
        for handle, _ in self._retries.values():
            handle.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()

    async def reload(self) -> None:
        """Registrations made by any process, from the database."""
        self.hooks = {row["id"]: self._hook(row) for row in await self.repository.active()}

    def _hook(self, row: dict[str, Any]) -> Hook:
        owner_sports = row.get("owner_sports")
        filters = row.get("sports")
        event_ids = row.get("event_ids")
        return Hook(
            row["id"],
            row["url"],
            frozenset(row["events"]),
            row["secret"],
            row["owner"],
            self._owner_visibility(
                frozenset(owner_sports if owner_sports is not None else [ALL_SPORTS]), row.get("owner_region")
            ),
            None if filters is None else Visibility(frozenset((f["sport"], f.get("league", "")) for f in filters)),
            None if event_ids is None else frozenset(event_ids),
        )

    def _owner_visibility(self, sports: frozenset[str], region: str | None) -> Visibility:
        return EVERYTHING if self.access is None else self.access.visibility_of(sports, region)

    # -- what happens ------------------------------------------------------------------------------

    def on_delta(self, delta: Delta) -> None:
        """A book sink: a market that becomes suspended is a `suspension` (once, until it resumes); a
        settlement is `market.settled`, its rollback `market.unsettled`."""
        if delta.market_id is None:
            return
        market_type = None if delta.market_type is None else delta.market_type.value
        if delta.reason == "settlement":
            kind = "market.settled" if delta.result is not None else "market.unsettled"
            self._emit(kind, delta_json(delta), delta.event_id, market_type)
            # A settled market is frozen, not suspended by anyone: no `suspension` for it, and none
            # when a rollback reopens it as it was.
            key = (delta.event_id, delta.market_id)
            (self._suspended.add if delta.suspended else self._suspended.discard)(key)
            return
        if delta.suspended is None or not delta.market_changed:
            return
        key = (delta.event_id, delta.market_id)
        if not delta.suspended:
            self._suspended.discard(key)
            return
        if key in self._suspended:
            return
        self._suspended.add(key)
        if any("suspension" in hook.events for hook in self.hooks.values()):
            self._emit("suspension", delta_json(delta), delta.event_id, market_type)

    def on_alert(self, alert: Alert) -> None:
        body = alert.json()
        self._emit("alert", body, alert.event_id)
        if alert.kind == "price_move":
            self._emit("move", body, alert.event_id)

    def _emit(self, event: str, payload: dict[str, Any], event_id: str | None, market_type: str | None = None) -> None:
        """To every webhook that asked for this kind and may have it (see `Hook.wants`)."""
        hooks = [hook for hook in self.hooks.values() if event in hook.events]
        if hooks:
            place = None if event_id is None else self.locate(event_id)
            hooks = [hook for hook in hooks if hook.wants(event_id, place, market_type)]
        if not hooks:
            return
        body = orjson.dumps({"event": event, "data": payload}, option=_OPTIONS)
        for hook in hooks:
            try:
                self._queue.put_nowait(Job(uuid.uuid4().hex, hook, event, body))
            except asyncio.QueueFull:
                self.dropped += 1
                log.warning("webhook queue full: %s delivery to %s dropped", event, hook.url)

    # -- delivering ---------------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._attempt(job)
            except Exception:
                log.exception("webhook delivery %s failed unexpectedly", job.id)

    async def _attempt(self, job: Job) -> None:
        assert self._client is not None
        now = datetime.now(UTC)
        if job.attempts == 0:
            await self.repository.record_delivery(
                {
                    "id": job.id,
                    "webhook_id": job.hook.id,
                    "event": job.event,
                    "payload": orjson.loads(job.body),
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                }
            )
        if job.hook.id not in self.hooks:
            # Deleted (here, or on another process: the list is reloaded) while this was queued.
            await self.repository.update_delivery(job.id, "cancelled", job.attempts, None, now)
            return
        job.attempts += 1
        error = await self._post(job)
        if error is None:
            await self.repository.update_delivery(job.id, "delivered", job.attempts, None, datetime.now(UTC))
            return
        if job.attempts >= self.max_attempts:
            log.warning(
                "webhook %s to %s dead-lettered after %d attempts: %s", job.id, job.hook.url, job.attempts, error
            )
            await self.repository.update_delivery(job.id, "dead", job.attempts, error, datetime.now(UTC))
            return
        await self.repository.update_delivery(job.id, "retrying", job.attempts, error, None)
        # Exponential backoff with jitter, off the workers: one slow endpoint does not hold a worker.
        delay = self.backoff * 2 ** (job.attempts - 1) * random.uniform(0.8, 1.2)
        self._retries[job.id] = (asyncio.get_running_loop().call_later(delay, self._requeue, job), job)

    async def _post(self, job: Job) -> str | None:
        """None when the endpoint took the delivery, else what the delivery log may say: the class
        of the status, or that there was no response. Nothing finer: the log must not tell a caller
        which ports are open behind an address (a refused connection and a timeout read the same)."""
        assert self._client is not None
        try:
            # Checked again now: the name may resolve elsewhere than when it was registered.
            target = await self.addresses.check(job.hook.url)
        except AddressRefused:
            return "refused: the address is not public"
        except InvalidRequest:
            return "refused: the URL is not deliverable"
        headers = {
            "Content-Type": "application/json",
            "Host": target.url.netloc,
            SIGNATURE_HEADER: signature(job.hook.secret, int(time.time()), job.body),
            "X-Oddsgate-Event": job.event,
            "X-Oddsgate-Delivery": job.id,
        }
        # Connect to the address that was checked; TLS still verifies the certificate for the name.
        extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
        try:
            response = await self._client.post(
                target.pinned_url(), content=job.body, headers=headers, extensions=extensions
            )
        except httpx.HTTPError:
            return "no response"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code // 100}xx"

    def _requeue(self, job: Job) -> None:
        self._retries.pop(job.id, None)
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self.dropped += 1

    async def _refresh(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reload()
            except Exception:
                log.exception("reloading webhooks failed; the last list stays in use")

    # -- registering -------------------------------------------------------------------------------

    async def register(self, principal: Principal, command: RegisterWebhook) -> dict[str, Any]:
        """Records what the owner's token sees now: the webhook never delivers more than that."""
        events, secret = command.events, command.secret
        url = text.text(command.url, "url", text.URL)
        await self.addresses.check(url)
        if not events or not all(e in EVENTS for e in events):
            raise InvalidRequest(f"'events' is a non-empty list of {', '.join(EVENTS)}")
        if not ALERT_KINDS.isdisjoint(events) and not principal.has_scope("odds:control"):
            raise Forbidden(
                "'alert' and 'move' deliveries are alerts: the owner's token needs the scope 'odds:control'"
            )
        if not 16 <= len(secret) <= 200:
            raise InvalidRequest("'secret' is required: 16 to 200 characters, used to sign deliveries")
        visibility = self._owner_visibility(principal.sports, principal.region)
        row = {
            "id": uuid.uuid4().hex,
            "url": url,
            "events": sorted(set(events)),
            "secret": secret,
            "owner": principal.sub,
            "created_at": datetime.now(UTC),
            "active": True,
            "owner_sports": sorted(principal.sports),
            "owner_region": principal.region,
            "sports": self._sports(command.sports, visibility),
            "event_ids": self._event_ids(command.event_ids, visibility),
        }
        await self.repository.add(row)
        await self.reload()
        return _public(row)

    def _sports(self, raw: object, visibility: Visibility) -> list[dict[str, str]] | None:
        """The `sports` filter: names normalized to canonical sports and leagues, each within what
        the owner's token sees (FORBIDDEN otherwise)."""
        if raw is None:
            return None
        if not isinstance(raw, list) or not raw or len(raw) > MAX_FILTER:
            raise InvalidRequest(f"'sports' is a non-empty list of at most {MAX_FILTER} sport or league names")
        found: set[tuple[str, str]] = set()
        for value in raw:
            name = text.text(value, "sports", text.SPORT)
            try:
                sport, league = self.normalizer.sport_and_league(name, None)
            except InvalidRequest as exc:
                raise InvalidRequest(f"'sports': {exc.message}") from None
            if not _covers(visibility, sport, league):
                raise Forbidden(
                    f"this token does not cover all of {name!r}; a webhook's 'sports' must lie within what "
                    "its owner's token sees"
                )
            found.add((sport, league))
        return [{"sport": s, "league": lg} if lg else {"sport": s} for s, lg in sorted(found)]

    def _event_ids(self, raw: object, visibility: Visibility) -> list[str] | None:
        """The `event_ids` filter. An event the live book holds must be one the owner's token sees;
        one it does not hold yet is taken (and delivered only if it turns out to be)."""
        if raw is None:
            return None
        if not isinstance(raw, list) or not raw or len(raw) > MAX_FILTER:
            raise InvalidRequest(f"'event_ids' is a non-empty list of at most {MAX_FILTER} event ids")
        ids: set[str] = set()
        for value in raw:
            event_id = text.text(value, "event_ids", text.EVENT_ID)
            place = self.locate(event_id)
            if place is not None and not visibility.sees_event(*place):
                raise Forbidden(f"this token does not cover the event {event_id!r}")
            ids.add(event_id)
        return sorted(ids)

    async def remove(self, principal: Principal, webhook_id: str) -> None:
        """Only the owner (or an admin) may; for anyone else the webhook does not exist."""
        webhook_id = text.record_id(webhook_id)
        if not await self.repository.deactivate(webhook_id, _owner(principal)):
            raise NotFound(f"no active webhook {webhook_id!r}")
        await self.reload()
        for job_id, (handle, job) in list(self._retries.items()):
            if job.hook.id == webhook_id:
                handle.cancel()
                del self._retries[job_id]
                await self.repository.update_delivery(job_id, "cancelled", job.attempts, None, datetime.now(UTC))

    async def registered(self, principal: Principal) -> list[dict[str, Any]]:
        """The caller's own webhooks; an admin's list has everyone's."""
        return [_public(row) for row in await self.repository.active(_owner(principal))]

    async def deliveries(
        self, principal: Principal, webhook_id: str, status: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        webhook_id = text.record_id(webhook_id)
        if not await self.repository.owned(webhook_id, _owner(principal)):
            raise NotFound(f"no webhook {webhook_id!r}")
        return await self.repository.deliveries(webhook_id, status, limit, offset)


def _owner(principal: Principal) -> str | None:
    """Whose webhooks the caller may see and change: its own, or (an admin) everyone's (None)."""
    return None if principal.has_scope("admin") else principal.sub


def _covers(visibility: Visibility, sport: str, league: str) -> bool:
    """Whether all of this sport (of this league, when one is named) is visible."""
    if visibility.sports is None:
        return True
    return visibility.sees_event(sport, league) if league else (sport, "") in visibility.sports


_PUBLIC = (
    "id",
    "url",
    "events",
    "sports",
    "event_ids",
    "owner",
    "owner_sports",
    "owner_region",
    "created_at",
    "active",
)


def _public(row: dict[str, Any]) -> dict[str, Any]:
    # The secret is never sent back.
    return {k: row.get(k) for k in _PUBLIC}
