"""Access refusals, each with its contract code."""

from __future__ import annotations

from schema.errors import Forbidden, OddsgateError

__all__ = ["AgeVerificationRequired", "Forbidden", "RateLimited", "RegionBlocked", "Unauthenticated"]


class Unauthenticated(OddsgateError):
    code = "UNAUTHENTICATED"


class AgeVerificationRequired(OddsgateError):
    code = "AGE_VERIFICATION_REQUIRED"


class RegionBlocked(OddsgateError):
    code = "REGION_BLOCKED"


class RateLimited(OddsgateError):
    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: int, state: object = None):
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after
        # The limiter's RateState, for the response headers.
        self.state = state
