"""The one typed settings object, read from ODDSGATE_* environment variables; passed, never re-read."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from auth.ratelimit import parse_rate
from auth.tokens import normal_origin
from betting.risk import RiskLimits
from feeds.alerts import AlertRule
from feeds.partitions import partition_set
from schema.errors import InvalidRequest

DEVELOPMENT_SECRET = "change-me-oddsgate-development-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ODDSGATE_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    database_url: str = "sqlite+aiosqlite:///oddsgate.db"
    auto_migrate: bool = True
    redis_url: str | None = None
    environment: Literal["development", "production"] = "development"
    jwt_secret: str = DEVELOPMENT_SECRET
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_keys: Path | None = Field(None, description="RS256 key set (JSON): active kid and PEM files by kid")
    jwt_leeway: int = Field(30, ge=0, le=300)
    jwt_max_ttl: float = Field(30 * 86400, gt=0, description="longest token lifetime, seconds")
    default_rate_limit: str = "600/minute"
    jurisdictions_file: Path | None = None
    allowed_origins: list[str] = Field(default_factory=list, description="JSON list; empty: any origin")
    revocation_refresh: float = Field(5.0, gt=0)
    ws_init_timeout: float = Field(5.0, gt=0)
    ws_max_message_bytes: int = Field(64 * 1024, gt=0)
    ws_max_subscriptions: int = Field(100, gt=0)
    ws_message_rate: str = "50/second"
    ws_compression: bool = Field(False, description="offer permessage-deflate: less bandwidth, ~50 KB more per socket")
    ws_close_timeout: float = Field(
        5.0, gt=0, description="seconds a closing socket's client has to read what is queued before it is cut"
    )
    log_level: str = "info"

    demo_feed: bool = True
    demo_rate: float = Field(20.0, gt=0, description="vendor messages per second from the demo feed")
    demo_seed: int | None = None

    aliases_file: Path | None = None
    source_weights: dict[str, float] = Field(default_factory=dict, description="JSON: source -> accuracy weight")
    fresh_seconds: float = Field(30.0, gt=0)
    stale_seconds: float = Field(120.0, gt=0)
    source_down_after: float = Field(60.0, gt=0)
    outlier_logit: float = Field(0.35, gt=0)
    divergence: float = Field(0.05, gt=0, lt=1)
    auto_suspend: bool = True
    sweep_interval: float = Field(1.0, gt=0)
    closed_retention: float = Field(3600.0, ge=0, description="seconds a finished event stays in the live book")

    audit_interval: float = Field(0.25, gt=0)
    audit_batch: int = Field(250, gt=0)
    audit_journal: Path = Field(
        Path("oddsgate-journal"), description="directory of the audit's journal (a subdirectory per database)"
    )
    audit_shutdown_timeout: float = Field(10.0, gt=0, description="seconds a shutdown spends writing the audit")
    ingest_max_body_bytes: int = Field(10 * 1024 * 1024, gt=0, description="largest body of the ingest routes")
    graphql_max_body_bytes: int = Field(64 * 1024, gt=0, description="largest body of a GraphQL request")
    request_max_body_bytes: int = Field(64 * 1024, gt=0, description="largest body of every other route")
    body_timeout: float = Field(30.0, gt=0, description="seconds a client has to send a request body")
    max_header_bytes: int = Field(16 * 1024, ge=1024, description="largest request line and headers together")
    header_timeout: float = Field(10.0, gt=0, description="seconds a client has to send a request's headers")
    broadcast_queue: int = Field(1024, gt=0)
    ingest_backlog_limit: int = Field(
        20_000, gt=0, description="audit rows or Redis messages waiting beyond which ingest is refused (503)"
    )

    partition_count: int = Field(16, gt=0, description="events are hashed into this many partitions")
    partitions: str = Field("all", description="partitions this process ingests: all, none, or e.g. 0-7,12")
    history_size: int = Field(512, gt=0, description="deltas kept per event for resume")
    snapshot_interval: float = Field(1.0, gt=0, description="seconds between live-book snapshots to Redis")
    client_queue: int = Field(256, gt=0, description="messages buffered per client before conflation")
    slow_client_seconds: float = Field(10.0, gt=0, description="a client conflated this long is closed")
    ws_heartbeat: float = Field(15.0, gt=0)
    graphql_cohorts: bool = Field(True, description="execute and serialize a subscription once per cohort")
    graphql_max_depth: int = Field(8, gt=0)
    graphql_max_aliases: int = Field(30, gt=0)
    graphql_max_tokens: int = Field(2000, gt=0)

    alert_rules: list[dict[str, Any]] = Field(
        default_factory=list, description="JSON list of alert rules; empty: the built-in ones"
    )
    alert_flush_interval: float = Field(0.5, gt=0)
    risk_limits: dict[str, Any] = Field(default_factory=dict, description="JSON: default risk limits over the built-in")
    user_risk_limits: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="JSON: per-user risk limits, by token sub"
    )
    bet_inplay_delay: float = Field(
        5.0, ge=0, le=60, description="seconds an in-play bet is held, then checked again (0: no delay)"
    )
    bet_close_at_start: bool = Field(True, description="pre-match betting closes at the event's scheduled start")
    bet_refuse_unreliable: bool = Field(
        True, description="refuse bets on prices flagged stale (no fresh source, or one left of several)"
    )
    webhook_max_attempts: int = Field(5, ge=1, le=20)
    webhook_backoff: float = Field(1.0, gt=0, description="seconds before the first retry; doubles each time")
    webhook_timeout: float = Field(5.0, gt=0)
    webhook_workers: int = Field(4, ge=1, le=64)
    webhook_refresh: float = Field(5.0, gt=0, description="seconds between reloads of registered webhooks")
    webhook_allowed_networks: list[str] = Field(
        default_factory=list, description="JSON list of CIDRs webhooks may reach although not public"
    )

    llm_base_url: str | None = Field(
        None, description="any OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1; unset: the heuristic"
    )
    llm_model: str = Field("gpt-4o-mini", min_length=1)
    llm_api_key: str | None = Field(None, description="empty for local servers that need none")
    llm_timeout: float = Field(10.0, gt=0, description="seconds per attempt")
    llm_retries: int = Field(1, ge=0, le=5, description="retries of a 5xx, 429 or timeout, with backoff")
    llm_rate: str = Field("60/minute", description="language-model calls allowed across all processes")
    insight_window: int = Field(300, gt=0, description="seconds of price history an insight looks back on")
    insight_seq_bucket: int = Field(10, gt=0, description="odds sequence numbers that share one cached insight")

    @model_validator(mode="after")
    def _windows(self) -> Self:
        if self.stale_seconds <= self.fresh_seconds:
            raise ValueError("ODDSGATE_STALE_SECONDS must be greater than ODDSGATE_FRESH_SECONDS")
        partition_set(self.partitions, self.partition_count)
        if self.environment == "production" and self.jwt_algorithm == "HS256" and self.jwt_secret == DEVELOPMENT_SECRET:
            raise ValueError("ODDSGATE_JWT_SECRET must be set in production")
        for rate in (self.default_rate_limit, self.ws_message_rate, self.llm_rate):
            parse_rate(rate)
        for rule in self.alert_rules:
            AlertRule.of(rule)
        defaults = RiskLimits().overridden(self.risk_limits)
        for limits in self.user_risk_limits.values():
            defaults.overridden(limits)
        for origin in self.allowed_origins:
            try:
                normal_origin(origin)
            except InvalidRequest as exc:
                raise ValueError(f"ODDSGATE_ALLOWED_ORIGINS: {exc.message}") from None
        for network in self.webhook_allowed_networks:
            ipaddress.ip_network(network, strict=False)
        if any(weight < 0 for weight in self.source_weights.values()):
            raise ValueError("ODDSGATE_SOURCE_WEIGHTS must not contain negative weights")
        return self
