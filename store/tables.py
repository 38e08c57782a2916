"""SQLModel tables. Only repositories in `store` touch them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, Index, Integer, Text
from sqlmodel import Field, SQLModel

from store.types import ExactDecimal, UTCDateTime


class EventRow(SQLModel, table=True):
    __tablename__ = "events"

    id: str = Field(primary_key=True, max_length=200)
    sport: str = Field(max_length=64)
    league: str = Field(max_length=128)
    home_team: str = Field(max_length=200)
    away_team: str = Field(max_length=200)
    start_time: datetime = Field(sa_type=UTCDateTime)
    first_seen: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class OddsChangeRow(SQLModel, table=True):
    """One audited change. `kind` says what it describes: the event (status), a market
    (suspension, margin) or an outcome (price, sources, confidence, flags)."""

    __tablename__ = "odds_changes"
    __table_args__ = (Index("ix_odds_changes_event_time", "event_id", "changed_at"),)

    # SQLite only autoincrements an INTEGER primary key; PostgreSQL gets 64 bits for a long history.
    id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite"))
    event_id: str = Field(max_length=200)
    seq: int
    changed_at: datetime = Field(sa_type=UTCDateTime)
    kind: str = Field(max_length=16)
    source: str = Field(max_length=128)
    reason: str = Field(max_length=32)
    status: str | None = Field(default=None, max_length=16)
    market_id: str | None = Field(default=None, max_length=64)
    market_type: str | None = Field(default=None, max_length=16)
    line: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    suspended: bool | None = None
    margin: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    outcome_id: str | None = Field(default=None, max_length=16)
    # The source-limited audience a market or outcome row was served to; "" for everyone's price.
    view: str = Field(default="", max_length=255)
    outcome_name: str | None = Field(default=None, max_length=256)
    prev_odds: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    new_odds: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    odds_updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sources: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    source_count: int | None = None
    confidence: float | None = None
    flags: list[str] | None = Field(default=None, sa_column=Column(JSON))
    # kind "state": the match state as the delta carried it (the board and its new incidents).
    state: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    # kind "market" of a settled market: its result (see `schema.render.result_json`).
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    method: str = Field(max_length=64)
    method_version: int


class AuditJournalRow(SQLModel, table=True):
    """How many lines of a journal segment are in the audit, written in the transaction that wrote
    them: a segment recovered after a crash is written from there, never twice."""

    __tablename__ = "audit_journal"

    segment: str = Field(primary_key=True, max_length=128)
    written: int


class AuditDeadLetterRow(SQLModel, table=True):
    """An audit row the database refused on its own (the rest of its batch was written), with why."""

    __tablename__ = "audit_dead_letters"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite"))
    event_id: str = Field(max_length=200)
    seq: int
    kind: str = Field(max_length=16)
    error: str = Field(max_length=2000)
    # The row as JSON text (control characters escaped), to be written by hand once fixed.
    row: str = Field(sa_column=Column(Text))
    created_at: datetime = Field(sa_type=UTCDateTime)


class TokenRow(SQLModel, table=True):
    """A token issued by `oddsgate token create`, or only a revocation (a jti minted elsewhere)."""

    __tablename__ = "tokens"

    jti: str = Field(primary_key=True, max_length=64)
    sub: str | None = Field(default=None, max_length=200)
    scopes: list[str] | None = Field(default=None, sa_column=Column(JSON))
    sports: list[str] | None = Field(default=None, sa_column=Column(JSON))
    region: str | None = Field(default=None, max_length=8)
    age_verified: bool | None = None
    rate_limit: str | None = Field(default=None, max_length=64)
    issued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OverrideRow(SQLModel, table=True):
    """One trader action: an override put in force, or the rollback of one (`target_id`)."""

    __tablename__ = "overrides"
    __table_args__ = (Index("ix_overrides_created", "created_at"),)

    id: str = Field(primary_key=True, max_length=64)
    action: str = Field(max_length=16)
    sport: str | None = Field(default=None, max_length=64)
    league: str | None = Field(default=None, max_length=128)
    event_id: str | None = Field(default=None, max_length=200)
    market_id: str | None = Field(default=None, max_length=64)
    outcome_id: str | None = Field(default=None, max_length=16)
    value: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    reason: str = Field(max_length=500)
    actor: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
    active: bool = False
    replaces: str | None = Field(default=None, max_length=64)
    target_id: str | None = Field(default=None, max_length=64)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class AlertRow(SQLModel, table=True):
    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_raised", "raised_at"),)

    id: str = Field(primary_key=True, max_length=64)
    rule: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    raised_at: datetime = Field(sa_type=UTCDateTime)
    message: str = Field(max_length=1000)
    event_id: str | None = Field(default=None, max_length=200)
    market_id: str | None = Field(default=None, max_length=64)
    outcome_id: str | None = Field(default=None, max_length=16)
    source: str | None = Field(default=None, max_length=128)
    details: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class WebhookRow(SQLModel, table=True):
    __tablename__ = "webhooks"

    id: str = Field(primary_key=True, max_length=64)
    url: str = Field(max_length=2000)
    events: list[str] = Field(sa_column=Column(JSON))
    secret: str = Field(max_length=200)
    owner: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
    active: bool = True
    # The owner's token's `sports` and `region` claims at registration: the webhook delivers only
    # what that token could see.
    owner_sports: list[str] | None = Field(default=None, sa_column=Column(JSON))
    owner_region: str | None = Field(default=None, max_length=8)
    # Filters given at registration (None: none): canonical {"sport", "league"?} and event ids.
    sports: list[dict[str, str]] | None = Field(default=None, sa_column=Column(JSON))
    event_ids: list[str] | None = Field(default=None, sa_column=Column(JSON))


class DeliveryRow(SQLModel, table=True):
    """One delivery to one webhook: its attempts, its last error, and whether it was dead-lettered."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_deliveries_webhook", "webhook_id", "created_at"),)

    id: str = Field(primary_key=True, max_length=64)
    webhook_id: str = Field(max_length=64)
    event: str = Field(max_length=32)
    payload: dict[str, Any] = Field(sa_column=Column(JSON))
    status: str = Field(max_length=16)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AccountRow(SQLModel, table=True):
    """A ledger account. Its balance is kept with every posting, in the same transaction; the
    database itself refuses a negative balance for anything but the house and the outside world."""

    __tablename__ = "accounts"
    __table_args__ = (CheckConstraint("kind IN ('house', 'world') OR balance >= 0", name="ck_accounts_non_negative"),)

    id: str = Field(primary_key=True, max_length=256)
    kind: str = Field(max_length=16)
    owner: str | None = Field(default=None, max_length=200)
    balance: Decimal = Field(default=Decimal("0.00"), sa_type=ExactDecimal)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class LedgerEntryRow(SQLModel, table=True):
    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_reference", "reference"),)

    id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=16)
    reference: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)


class PostingRow(SQLModel, table=True):
    __tablename__ = "postings"
    __table_args__ = (Index("ix_postings_account", "account_id"), Index("ix_postings_entry", "entry_id"))

    id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite"))
    entry_id: str = Field(max_length=64)
    account_id: str = Field(max_length=256)
    amount: Decimal = Field(sa_type=ExactDecimal)
    created_at: datetime = Field(sa_type=UTCDateTime)


class BetRow(SQLModel, table=True):
    """A bet, with the exact price context the user was given."""

    __tablename__ = "bets"
    __table_args__ = (Index("ix_bets_sub_time", "sub", "accepted_at"), Index("ix_bets_market", "event_id", "market_id"))

    id: str = Field(primary_key=True, max_length=64)
    sub: str = Field(max_length=200)
    event_id: str = Field(max_length=200)
    sport: str = Field(max_length=64)
    market_id: str = Field(max_length=64)
    outcome_id: str = Field(max_length=16)
    stake: Decimal = Field(sa_type=ExactDecimal)
    odds: Decimal = Field(sa_type=ExactDecimal)
    requested_odds: Decimal = Field(sa_type=ExactDecimal)
    accept: str = Field(max_length=8)
    potential_payout: Decimal = Field(sa_type=ExactDecimal)
    status: str = Field(max_length=16)
    accepted_at: datetime = Field(sa_type=UTCDateTime)
    context: dict[str, Any] = Field(sa_column=Column(JSON))
    result: str | None = Field(default=None, max_length=16)
    payout: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    result_id: str | None = Field(default=None, max_length=64)


class IdempotencyRow(SQLModel, table=True):
    """The first answer to a request with this key, replayed for the same key and body."""

    __tablename__ = "idempotency_keys"

    sub: str = Field(primary_key=True, max_length=200)
    key: str = Field(primary_key=True, max_length=200)
    request_hash: str = Field(max_length=64)
    status: int
    response: dict[str, Any] = Field(sa_column=Column(JSON))
    created_at: datetime = Field(sa_type=UTCDateTime)


class ExposureRow(SQLModel, table=True):
    """The house's position on one outcome, kept current in the transaction that changes it."""

    __tablename__ = "exposure"

    event_id: str = Field(primary_key=True, max_length=200)
    market_id: str = Field(primary_key=True, max_length=64)
    outcome_id: str = Field(primary_key=True, max_length=16)
    stakes: Decimal = Field(default=Decimal("0.00"), sa_type=ExactDecimal)
    liability: Decimal = Field(default=Decimal("0.00"), sa_type=ExactDecimal)
    bets: int = 0


class MarketResultRow(SQLModel, table=True):
    """A market's result as it was applied, and whether it was rolled back."""

    __tablename__ = "market_results"

    id: str = Field(primary_key=True, max_length=64)
    event_id: str = Field(max_length=200)
    market_id: str = Field(max_length=64)
    outcomes: dict[str, Any] = Field(sa_column=Column(JSON))
    dead_heat_factor: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    request_hash: str = Field(max_length=64)
    actor: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
    bets: int = 0
    paid: Decimal = Field(default=Decimal("0.00"), sa_type=ExactDecimal)
    rolled_back_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MarketSettlementRow(SQLModel, table=True):
    """At most one result in force per market: the key makes settling exactly once a database fact."""

    __tablename__ = "market_settlements"

    event_id: str = Field(primary_key=True, max_length=200)
    market_id: str = Field(primary_key=True, max_length=64)
    result_id: str = Field(max_length=64)


class UserDayRow(SQLModel, table=True):
    """A user's bets placed on one UTC day and what the settled ones lost: the daily limits read one
    row instead of counting the day's bets, and it moves in the transaction that places or settles."""

    __tablename__ = "user_days"

    sub: str = Field(primary_key=True, max_length=200)
    day: str = Field(primary_key=True, max_length=10)
    bets: int = 0
    lost: Decimal = Field(default=Decimal("0.00"), sa_type=ExactDecimal)


class InsightRow(SQLModel, table=True):
    """Every insight served: who wrote it, from which prompt, what it said and what it cost."""

    __tablename__ = "insights"
    __table_args__ = (Index("ix_insights_event", "event_id", "created_at"),)

    id: str = Field(primary_key=True, max_length=64)
    event_id: str = Field(max_length=200)
    sport: str = Field(max_length=64)
    generator: str = Field(max_length=128)
    model: str | None = Field(default=None, max_length=128)
    prompt_hash: str | None = Field(default=None, max_length=64)
    fallback_reason: str | None = Field(default=None, max_length=500)
    odds_seq: int
    output: dict[str, Any] = Field(sa_column=Column(JSON))
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)


class InsightScoreRow(SQLModel, table=True):
    """An insight's probabilities scored against the result that settled its match-winner market."""

    __tablename__ = "insight_scores"
    __table_args__ = (Index("ix_insight_scores_result", "result_id"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite"))
    result_id: str = Field(max_length=64)
    insight_id: str = Field(max_length=64)
    event_id: str = Field(max_length=200)
    sport: str = Field(max_length=64)
    generator: str = Field(max_length=128)
    # "market" (win_probability: the heuristic) or "model" (a language model's own estimate).
    basis: str = Field(max_length=16)
    probabilities: dict[str, Any] = Field(sa_column=Column(JSON))
    outcome: str = Field(max_length=16)
    brier: float
    log_loss: float
    scored_at: datetime = Field(sa_type=UTCDateTime)
