"""Domain errors carrying a contract error code; the edge maps codes to transport statuses."""

from __future__ import annotations


class OddsgateError(Exception):
    """A refusal with a stable code from CONTRACT.md and a message a human can act on."""

    code = "INTERNAL"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, object] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}


class InvalidRequest(OddsgateError):
    code = "INVALID_REQUEST"


class InvalidOdds(InvalidRequest):
    code = "INVALID_ODDS"


class NotFound(OddsgateError):
    code = "NOT_FOUND"


class Forbidden(OddsgateError):
    code = "FORBIDDEN"


class Unavailable(OddsgateError):
    """This process cannot take the request now; the same request may succeed after `retry_after` seconds."""

    code = "UNAVAILABLE"

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after
