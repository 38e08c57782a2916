"""Refusals of money operations (bets, deposits), each with its contract code."""

from __future__ import annotations

from decimal import Decimal

from schema.errors import OddsgateError


class PriceChanged(OddsgateError):
    code = "PRICE_CHANGED"

    def __init__(self, message: str, current: Decimal):
        super().__init__(message, details={"current_odds": float(current)})
        self.current = current


class MarketSuspended(OddsgateError):
    code = "MARKET_SUSPENDED"


class InsufficientFunds(OddsgateError):
    code = "INSUFFICIENT_FUNDS"


class RiskLimitExceeded(OddsgateError):
    code = "RISK_LIMIT"

    def __init__(self, limit: str, message: str):
        super().__init__(message, details={"limit": limit})
        self.limit = limit


class IdempotencyMismatch(OddsgateError):
    """A key or reference already used for a different request."""

    code = "IDEMPOTENCY_MISMATCH"


class MarketClosed(OddsgateError):
    """Betting on the market has ended: settled, its event over, or a pre-match market past its start."""

    code = "MARKET_CLOSED"


class PriceUnreliable(OddsgateError):
    """The price on offer is flagged as not current: no fresh source, or one left after others went silent."""

    code = "PRICE_UNRELIABLE"
