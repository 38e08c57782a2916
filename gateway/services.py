"""Builds and owns the running parts: database, broadcast, book, ingest, audit, background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from auth.access import AccessControl
from betting.acceptance import BetGuards
from betting.bet_context import BetContexts
from betting.catalog import KnownMarkets
from betting.placement import BetService
from betting.reports import BookReports
from betting.risk import RiskBook, RiskLimits
from betting.settled_markets import SettledMarkets
from betting.settling import SettlementService
from betting.wallet import WalletService
from feeds.adapters import load_adapters
from feeds.alerts import DEFAULT_RULES, AlertEngine, AlertRule
from feeds.aliases import AliasBook
from feeds.book import BookConfig, OddsBook
from feeds.broadcast import Broadcast
from feeds.cancellation import stop_if_cancelled
from feeds.consensus import METHOD, METHOD_VERSION, ConsensusConfig
from feeds.demo.simulator import Payload, run_demo
from feeds.fanout import Hub
from feeds.ingest import Ingestor, IngestResult
from feeds.live_store import HISTORY_INDEX, RedisLiveStore
from feeds.normalize import Normalizer
from feeds.partitions import Ownership, partition_set
from feeds.publish import BroadcastSink
from feeds.replication import SnapshotWriter
from feeds.source_board import SourceBoard
from gateway.access import build_access
from gateway.metrics import Metrics
from gateway.settings import Settings
from insights.budget import LLMBudget
from insights.llm import LLMClient
from insights.service import InsightService
from store.alerts import AlertRepository
from store.audit import AuditRepository
from store.audit_journal import AuditJournal, journal_directory
from store.audit_writer import AuditWriter
from store.db import create_engine
from store.insights import InsightRepository
from store.migrate import upgrade_async
from store.overrides import OverrideRepository
from store.tokens import TokenRepository
from store.webhooks import WebhookRepository
from usecases.alerting import AlertService, place_of
from usecases.betting import Betting
from usecases.control import ControlService
from usecases.ingest import Backlog, Ingesting
from usecases.insights import InsightReading
from usecases.odds import OddsReading
from usecases.operators import OperatorViews
from usecases.webhook_addresses import AddressPolicy
from usecases.webhooks import WebhookService

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    broadcast: Broadcast
    book: OddsBook
    normalizer: Normalizer
    audit: AuditRepository
    audit_writer: AuditWriter
    metrics: Metrics
    hub: Hub
    ownership: Ownership
    access: AccessControl
    tokens: TokenRepository
    control: ControlService
    alerts: AlertService
    alert_engine: AlertEngine
    webhooks: WebhookService
    wallets: WalletService
    bets: BetService
    settlements: SettlementService
    bet_contexts: BetContexts
    insights: InsightService
    sources: SourceBoard
    reports: BookReports
    odds: OddsReading
    operators: OperatorViews
    betting: Betting
    insight_reading: InsightReading
    ingesting: Ingesting
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)

    def background(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        self.tasks.append(asyncio.create_task(_guarded(name, work), name=name))

    def refresh_gauges(self) -> None:
        self.metrics.events.set(len(self.book.events))
        sources = self.sources.health()
        up = sum(1 for s in sources if s.up)
        self.metrics.sources_up.set(up)
        self.metrics.sources_down.set(len(sources) - up)
        self.metrics.broadcast_overflows.set(self.broadcast.stats.overflowed)
        self.metrics.broadcast_outbound.set(self.broadcast.outbound)
        self.metrics.broadcast_dropped.set(self.broadcast.stats.dropped)
        self.metrics.publish_failures.set(self.broadcast.stats.publish_failures)
        self.metrics.hub_dispatched.set(self.hub.stats.dispatched)
        self.metrics.hub_repaired.set(self.hub.stats.repaired)
        self.metrics.hub_resets.set(self.hub.stats.resets)


async def start_services(settings: Settings) -> Services:
    if settings.auto_migrate:
        await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    broadcast = Broadcast(
        settings.redis_url or "memory://",
        queue_size=settings.broadcast_queue,
        history_size=settings.history_size,
        history_index=HISTORY_INDEX,
    )
    await broadcast.connect()
    metrics = Metrics()
    audit = AuditRepository(engine)
    writer = AuditWriter(
        audit,
        AuditJournal(journal_directory(settings.audit_journal, settings.database_url)),
        method=METHOD,
        method_version=METHOD_VERSION,
        interval=settings.audit_interval,
        batch=settings.audit_batch,
        shutdown_timeout=settings.audit_shutdown_timeout,
    )
    # What a process that stopped left in the journal is written before anything new.
    await writer.recover()
    metrics.audit_backlog.set_function(lambda: writer.backlog)
    metrics.audit_written.set_function(lambda: writer.written)
    metrics.audit_dead_letters.set_function(lambda: writer.dead_lettered)
    consensus = ConsensusConfig(
        accuracy=dict(settings.source_weights),
        fresh_seconds=settings.fresh_seconds,
        stale_seconds=settings.stale_seconds,
        outlier_logit=settings.outlier_logit,
        divergence=settings.divergence,
    )
    ownership = Ownership(partition_set(settings.partitions, settings.partition_count), settings.partition_count)
    aliases = AliasBook.load([settings.aliases_file] if settings.aliases_file else [])
    normalizer = Normalizer(aliases)
    access = build_access(settings, normalizer)
    book = OddsBook(
        BookConfig(
            source_down_after=settings.source_down_after,
            auto_suspend=settings.auto_suspend,
            closed_retention=settings.closed_retention,
        ),
        consensus,
        sinks=[publisher := BroadcastSink(broadcast, audit=writer.record), metrics.delta_sink()],
        owns=ownership.owns,
        describe_owner=ownership.describe,
        views=access.jurisdictions.views(),
    )
    store = RedisLiveStore(broadcast.redis.client) if broadcast.redis is not None else None
    hub = Hub(broadcast, book, history_size=settings.history_size, store=store)
    publisher.local = hub.accept_local
    await hub.start()
    tokens = TokenRepository(engine)
    access.update_revoked(frozenset(await tokens.revoked()))
    wallets, bets, settlements, contexts = _betting(settings, book, audit)
    services = Services(
        settings,
        engine,
        broadcast,
        book,
        normalizer,
        audit,
        writer,
        metrics,
        hub,
        ownership,
        access,
        tokens,
        control := ControlService(book, normalizer, OverrideRepository(engine), broadcast, access),
        alerts := AlertService(broadcast, AlertRepository(engine), book),
        alert_engine := AlertEngine(
            [AlertRule.of(r) for r in settings.alert_rules] or DEFAULT_RULES, alerts.raise_alert
        ),
        webhooks := _webhooks(settings, engine, access, normalizer, book),
        wallets,
        bets,
        settlements,
        contexts,
        insights := _insights(settings, engine, audit),
        sources := SourceBoard(book, store, interval=settings.snapshot_interval),
        reports := BookReports(engine),
        OddsReading(book, normalizer, access, audit, sources),
        OperatorViews(access, normalizer, control, alerts, reports, webhooks),
        Betting(access, bets, wallets, settlements, contexts),
        InsightReading(book, access, insights),
        _ingesting(settings, book, normalizer, access, writer, broadcast, metrics),
    )
    settled = SettledMarkets(book, broadcast, engine, lookback=max(settings.closed_retention, 86400.0) * 2)
    await settled.load()
    settlements.on_settled.extend([settled.settled, insights.score_result])
    settlements.on_rolled_back.extend([settled.rolled_back, insights.forget_result])
    await webhooks.start(settings.webhook_refresh)
    book.sinks.extend([alert_engine, webhooks.on_delta])
    alerts.observers.append(webhooks.on_alert)
    services.background("alert-writer", lambda: alerts.write_forever(settings.alert_flush_interval))
    await services.control.load()
    writer.start()
    if broadcast.redis is not None:
        services.background("overrides", services.control.follow)
        services.background("alerts", alerts.follow)
        services.background("results", settled.follow)
    services.background("revocations", lambda: _refresh_revocations(services))
    if store is not None:
        snapshots = SnapshotWriter(book, store, broadcast.published)
        assert broadcast.redis is not None
        broadcast.redis.on_reconnect(snapshots.rewrite_all)
        services.background("snapshot-writer", lambda: snapshots.run(settings.snapshot_interval))
        services.background("source-board", lambda: _exchange_sources(services))
    services.background("book-sweeper", lambda: _sweep_forever(services))
    if settings.demo_feed:
        services.background("demo-feed", lambda: _demo(services))
    return services


# -- per-area builders ---------------------------------------------------------------------------


def _webhooks(
    settings: Settings, engine: AsyncEngine, access: AccessControl, normalizer: Normalizer, book: OddsBook
) -> WebhookService:
    return WebhookService(
        WebhookRepository(engine),
        AddressPolicy(settings.webhook_allowed_networks),
        access=access,
        normalizer=normalizer,
        locate=partial(place_of, book),
        max_attempts=settings.webhook_max_attempts,
        backoff=settings.webhook_backoff,
        timeout=settings.webhook_timeout,
        workers=settings.webhook_workers,
    )


def _betting(
    settings: Settings, book: OddsBook, audit: AuditRepository
) -> tuple[WalletService, BetService, SettlementService, BetContexts]:
    """Bets, wallets, settlement and bet contexts, on their own engine (SQLite: IMMEDIATE transactions)."""
    wallets = WalletService(create_engine(settings.database_url, immediate=True))
    bets = BetService(
        wallets,
        book,
        RiskBook(RiskLimits().overridden(settings.risk_limits), settings.user_risk_limits),
        BetGuards(settings.bet_refuse_unreliable, settings.bet_close_at_start, settings.bet_inplay_delay),
    )
    return wallets, bets, SettlementService(wallets, KnownMarkets(book, audit)), BetContexts(wallets.engine, audit)


def _insights(settings: Settings, engine: AsyncEngine, audit: AuditRepository) -> InsightService:
    llm = None
    if settings.llm_base_url is not None:
        llm = LLMClient(
            settings.llm_base_url,
            settings.llm_api_key or "",
            settings.llm_model,
            timeout=settings.llm_timeout,
            retries=settings.llm_retries,
        )
    return InsightService(
        InsightRepository(engine),
        audit,
        llm,
        LLMBudget(settings.llm_rate, settings.redis_url),
        window_seconds=settings.insight_window,
        seq_bucket=settings.insight_seq_bucket,
    )


def _ingesting(
    settings: Settings,
    book: OddsBook,
    normalizer: Normalizer,
    access: AccessControl,
    writer: AuditWriter,
    broadcast: Broadcast,
    metrics: Metrics,
) -> Ingesting:
    return Ingesting(
        Ingestor(book, normalizer, load_adapters()),
        access,
        (
            Backlog("audit", "audit rows waiting for the database", lambda: writer.backlog),
            Backlog("redis", "messages waiting for Redis", lambda: broadcast.outbound),
        ),
        settings.ingest_backlog_limit,
        metrics.observe_ingest,
        lambda label: metrics.ingest_refusals.labels(label).inc(),
    )


async def stop_services(services: Services) -> None:
    for task in services.tasks:
        task.cancel()
    for task in services.tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await services.webhooks.stop()
    await services.audit_writer.stop()
    with contextlib.suppress(Exception):
        await services.alerts.flush()
    await services.hub.stop()
    await services.broadcast.disconnect()
    if services.insights.llm is not None:
        await services.insights.llm.close()
    await services.wallets.engine.dispose()
    await services.engine.dispose()


async def _sweep_forever(services: Services) -> None:
    while True:
        await asyncio.sleep(services.settings.sweep_interval)
        try:
            services.book.sweep()
            services.hub.prune()
            services.alert_engine.sources(services.book.sources.values())
            services.alert_engine.prune(services.book.events)
        except Exception:
            # One bad market must not stop staleness checks for every other market.
            log.exception("book sweep failed")
        services.refresh_gauges()


async def _exchange_sources(services: Services) -> None:
    while True:
        stop_if_cancelled()
        await asyncio.sleep(services.settings.snapshot_interval)
        try:
            await services.sources.exchange()
        except (RedisError, OSError) as exc:
            log.warning("exchanging source health through Redis failed (%s); retrying", exc)


async def _refresh_revocations(services: Services) -> None:
    while True:
        await asyncio.sleep(services.settings.revocation_refresh)
        try:
            services.access.update_revoked(frozenset(await services.tokens.revoked()))
        except Exception:
            # The last known list stays in force; a database hiccup must not stop the checks.
            log.exception("refreshing revoked tokens failed")


async def _demo(services: Services) -> None:
    async def ingest(payload: Payload) -> IngestResult:
        return services.ingesting.run(payload.adapter, payload.body, payload.source)

    await run_demo(ingest, rate=services.settings.demo_rate, seed=services.settings.demo_seed)


async def _guarded(name: str, work: Callable[[], Awaitable[None]]) -> None:
    try:
        await work()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("background task %s stopped", name)
        raise
