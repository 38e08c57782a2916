"""The socket core under both WebSocket doors, the partner `/ws` and GraphQL over
graphql-transport-ws: the token (an Authorization header, the connection_init payload or an auth
message) and its admission, charging, the expiry timer and revocation watch, heartbeats, the
per-connection message and subscription limits, and the close code of every refusal. Each door
keeps only its protocol: its messages, and how it sends an error or a close.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from limits import RateLimitItem

from auth.access import AccessControl
from auth.errors import RateLimited, Unauthenticated
from auth.principal import Principal
from auth.ratelimit import parse_rate
from auth.tokens import bearer
from gateway.settings import Settings
from schema.errors import InvalidRequest, OddsgateError, Unavailable
from schema.visibility import EVERYTHING, Visibility

# Close codes follow graphql-ws's retry rules (its client.ts, `shouldRetryConnectOrThrow`): its
# client gives up at once on 4400, 4401, 4406, 4409, 4429, 4500, 4004, 4005 and 1002-1011, and
# reconnects with backoff after any other. So a code is fatal exactly when retrying cannot help.
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_BAD_MESSAGE = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_INIT_TIMEOUT = 4408
# Too many messages or subscriptions on one connection.
CLOSE_RATE = 4429
# A token that was good when the connection opened has expired (HTTP 498, "token expired"): the
# client reconnects with a fresh one, which graphql-ws does when its connectionParams fetch one.
CLOSE_TOKEN_EXPIRED = 4498
READ = "odds:read"


class InitTimeout(Unauthenticated):
    """No token arrived within WS_INIT_TIMEOUT."""


class TokenExpired(Unauthenticated):
    """The connection's token expired while the connection was open."""


class TooManyMessages(OddsgateError):
    code = "RATE_LIMITED"


class TooManySubscriptions(InvalidRequest):
    """Closes the connection: a client that asks for more is misconfigured or abusive."""


def close_code(error: OddsgateError, *, admitted: bool) -> int | None:
    """The code `error` closes the connection with, or None when the connection goes on and the
    door answers the error in its own protocol. `admitted`: the token was taken (checked, admitted
    and charged); until then every refusal of the token ends the connection."""
    if isinstance(error, InitTimeout):
        return CLOSE_INIT_TIMEOUT
    if isinstance(error, TokenExpired):
        return CLOSE_TOKEN_EXPIRED
    if isinstance(error, Unauthenticated):
        return CLOSE_UNAUTHENTICATED
    if isinstance(error, TooManyMessages | TooManySubscriptions):
        return CLOSE_RATE
    if admitted or isinstance(error, InvalidRequest):
        return None
    if isinstance(error, RateLimited | Unavailable):
        return CLOSE_TRY_AGAIN_LATER
    return CLOSE_FORBIDDEN


class ConnectionRate:
    """One connection's message rate, counted here: it guards this process, whatever the token."""

    def __init__(self, rate: RateLimitItem):
        self.amount = rate.amount
        self.window = float(rate.get_expiry())
        self.started = time.monotonic()
        self.count = 0

    def allow(self) -> bool:
        now = time.monotonic()
        if now - self.started >= self.window:
            self.started, self.count = now, 0
        self.count += 1
        return self.count <= self.amount


Close = Callable[[int, OddsgateError], None]


class SocketSession:
    """One WebSocket connection's token and limits. `close(code, error)` is the door's way to end
    the connection when a timer or the revocation watch does; it may be called more than once."""

    def __init__(self, access: AccessControl, settings: Settings, origin: str | None, close: Close):
        self.access = access
        self.settings = settings
        self.origin = origin
        self.close = close
        self.principal: Principal | None = None
        self.visibility: Visibility = EVERYTHING
        self._rate = ConnectionRate(parse_rate(settings.ws_message_rate))
        # Timers rather than tasks: an idle connection should hold as little as possible.
        self._init_timer: asyncio.TimerHandle | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._heartbeat: asyncio.TimerHandle | None = None
        self._unwatch: Callable[[], None] | None = None

    @property
    def admitted(self) -> bool:
        return self.principal is not None

    def close_code(self, error: OddsgateError) -> int | None:
        return close_code(error, admitted=self.admitted)

    def expect_token(self) -> None:
        """The connection is closed (4408) unless a token is admitted within WS_INIT_TIMEOUT."""
        self._init_timer = asyncio.get_running_loop().call_later(self.settings.ws_init_timeout, self._init_expired)

    async def admit_header(self, header: str | None) -> Principal:
        return await self.admit(bearer(header))

    async def admit(self, token: object) -> Principal:
        """Checks the token, admits it to read odds and charges it one unit; from then on the
        connection lasts until the token expires or is revoked. Raises the contract's refusals."""
        if not isinstance(token, str) or not token:
            raise Unauthenticated("'token' must be the bearer token (a JWT)")
        access = self.access
        principal = access.authenticate(token, self.origin)
        access.admit(principal, READ)
        await access.charge(principal)
        self.principal, self.visibility = principal, access.visibility(principal)
        if self._init_timer is not None:
            self._init_timer.cancel()
            self._init_timer = None
        delay = (principal.expires_at - datetime.now(UTC)).total_seconds()
        self._expiry = asyncio.get_running_loop().call_later(max(0.0, delay), self._expired)
        self._unwatch = access.watch(principal, self._revoked)
        return principal

    async def charge(self) -> None:
        """One unit of the token's rate, for a message or a subscription."""
        if self.principal is None:
            raise Unauthenticated("the connection has no token yet")
        await self.access.charge(self.principal)

    def count_message(self) -> None:
        """Raises TooManyMessages past WS_MESSAGE_RATE on this connection."""
        if not self._rate.allow():
            raise TooManyMessages(f"more than {self.settings.ws_message_rate} messages on this connection")

    def count_subscriptions(self, count: int, what: str = "subscriptions") -> None:
        """Raises TooManySubscriptions when the connection would hold more than WS_MAX_SUBSCRIPTIONS."""
        limit = self.settings.ws_max_subscriptions
        if count > limit:
            raise TooManySubscriptions(f"at most {limit} {what} per connection")

    def keep_alive(self, beat: Callable[[], None]) -> None:
        """`beat` every WS_HEARTBEAT seconds until the session ends."""
        if self._heartbeat is not None:
            return
        interval = self.settings.ws_heartbeat
        loop = asyncio.get_running_loop()

        def tick() -> None:
            beat()
            self._heartbeat = loop.call_later(interval, tick)

        self._heartbeat = loop.call_later(interval, tick)

    def end(self) -> None:
        """Stops the timers and the revocation watch."""
        for handle in (self._init_timer, self._expiry, self._heartbeat):
            if handle is not None:
                handle.cancel()
        self._init_timer = self._expiry = self._heartbeat = None
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None

    def _init_expired(self) -> None:
        self._init_timer = None
        if self.principal is None:
            self.close(CLOSE_INIT_TIMEOUT, InitTimeout("no token within the time allowed to send one"))

    def _expired(self) -> None:
        self._expiry = None
        self.close(CLOSE_TOKEN_EXPIRED, TokenExpired("the token expired"))

    def _revoked(self) -> None:
        self._unwatch = None
        self.close(CLOSE_UNAUTHENTICATED, Unauthenticated("this token has been revoked"))
