"""Builds the access layer from settings, and gives routes and sockets one way to ask it."""

from __future__ import annotations

import logging
from datetime import timedelta

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auth.access import AccessControl
from auth.jurisdictions import Jurisdictions
from auth.principal import Principal, Scopes
from auth.ratelimit import RateLimiter, RateState
from auth.tokens import TokenConfig, TokenService, load_key_set
from feeds.normalize import Normalizer
from gateway.settings import Settings
from schema.errors import OddsgateError

log = logging.getLogger(__name__)


def token_service(settings: Settings) -> TokenService:
    keys, active = load_key_set(settings.jwt_keys) if settings.jwt_keys else ((), None)
    return TokenService(
        TokenConfig(
            algorithm=settings.jwt_algorithm,
            secret=settings.jwt_secret,
            keys=keys,
            active_kid=active,
            leeway=settings.jwt_leeway,
            max_ttl=timedelta(seconds=settings.jwt_max_ttl),
        )
    )


def build_access(settings: Settings, normalizer: Normalizer) -> AccessControl:
    def resolve_sport(name: str) -> tuple[str, str] | None:
        try:
            return normalizer.sport_and_league(name, None)
        except OddsgateError:
            log.warning("a token or jurisdiction names the unknown sport %r: it grants nothing", name)
            return None

    def resolve_market(name: str) -> str | None:
        try:
            return normalizer.market_type(name).value
        except OddsgateError:
            log.warning("a jurisdiction names the unknown market %r", name)
            return None

    return AccessControl(
        token_service(settings),
        RateLimiter(settings.redis_url, settings.default_rate_limit),
        Jurisdictions.load(settings.jurisdictions_file),
        resolve_sport,
        resolve_market,
    )


async def authenticate(connection: HTTPConnection, *, token_param: bool = False) -> Principal:
    """The caller of an HTTP request, charged one unit of its rate; raises 401 or 429 in the
    contract's shape. The rate state is kept for the response headers. Admission to the operation's
    scope is the use-case's.
    `token_param`: a `?token=` may stand in for the header (embed tokens in a page's markup)."""
    access: AccessControl = connection.app.state.services.access
    origin = connection.headers.get("origin")
    query_token = connection.query_params.get("token") if token_param else None
    if query_token and connection.headers.get("authorization") is None:
        principal = access.authenticate(query_token, origin)
    else:
        principal = access.authenticate_header(connection.headers.get("authorization"), origin)
    connection.state.rate = await access.charge(principal)
    return principal


async def authorize(connection: HTTPConnection, scope: Scopes, *, token_param: bool = False) -> Principal:
    """`authenticate`, then admitted to `scope` (or to any one of several): 403 or 451 otherwise."""
    principal = await authenticate(connection, token_param=token_param)
    connection.app.state.services.access.admit(principal, scope)
    return principal


class RateLimitHeaders:
    """`RateLimit-Policy` and `RateLimit` on every response of a request that was charged."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                rate = scope.get("state", {}).get("rate")
                if isinstance(rate, RateState):
                    headers = MutableHeaders(scope=message)
                    for name, value in rate.headers().items():
                        if name not in headers:
                            headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
