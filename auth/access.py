"""Every access decision in one place: who the caller is, what they may do and see, and at what rate."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from auth.errors import Forbidden, Unauthenticated
from auth.jurisdictions import Jurisdictions
from auth.principal import ALL_SPORTS, Principal, Scopes
from auth.ratelimit import RateLimiter, RateState
from auth.tokens import TokenService, bearer, origin_allowed
from schema.visibility import Visibility

# Scopes that show odds: gated by the caller's region and, where it says so, age verification.
VIEWING = frozenset({"odds:read", "insights:read"})
BETTING = frozenset({"bets:place"})

SportResolver = Callable[[str], tuple[str, str] | None]
MarketResolver = Callable[[str], str | None]


class AccessControl:
    def __init__(
        self,
        tokens: TokenService,
        limiter: RateLimiter,
        jurisdictions: Jurisdictions,
        resolve_sport: SportResolver,
        resolve_market: MarketResolver,
    ):
        self.tokens = tokens
        self.limiter = limiter
        self.jurisdictions = jurisdictions
        self.resolve_sport = resolve_sport
        self.resolve_market = resolve_market
        # Refreshed from the database by the gateway; checked on every authentication.
        self.revoked: frozenset[str] = frozenset()
        self._visibility: dict[tuple[frozenset[str], str | None], Visibility] = {}
        # Open connections by token id: told when their token is revoked, so they can close.
        self._watchers: dict[str, set[Callable[[], None]]] = {}

    def watch(self, principal: Principal, revoked: Callable[[], None]) -> Callable[[], None]:
        """Call `revoked` if the principal's token is revoked while a connection holds it; returns
        the function that stops watching (call it when the connection ends)."""
        jti = principal.jti
        if jti is None:
            return _nothing
        self._watchers.setdefault(jti, set()).add(revoked)

        def unwatch() -> None:
            watchers = self._watchers.get(jti)
            if watchers is not None:
                watchers.discard(revoked)
                if not watchers:
                    del self._watchers[jti]

        return unwatch

    def update_revoked(self, revoked: frozenset[str]) -> None:
        """The revoked token ids as the database lists them now; connections of newly revoked
        tokens are told."""
        fresh = revoked - self.revoked
        self.revoked = revoked
        for jti in fresh & self._watchers.keys():
            for told in tuple(self._watchers.pop(jti, ())):
                told()

    def authenticate(self, token: str, origin: str | None = None) -> Principal:
        """`origin`: the request's Origin header. A token bound to origins (an embed token) is refused
        from a page elsewhere; a request without an Origin is not a browser page's and passes."""
        principal = self.tokens.verify(token)
        if principal.jti is not None and principal.jti in self.revoked:
            raise Unauthenticated("this token has been revoked")
        allowed = principal.origins
        if allowed is not None and not origin_allowed(origin, allowed):
            raise Forbidden(f"this token may be used from {', '.join(sorted(allowed))}, not {(origin or '')[:100]!r}")
        return principal

    def authenticate_header(self, header: str | None, origin: str | None = None) -> Principal:
        return self.authenticate(bearer(header), origin)

    async def charge(self, principal: Principal, cost: int = 1) -> RateState:
        return await self.limiter.charge(principal, cost)

    def admit(self, principal: Principal, scope: Scopes) -> None:
        """Raises FORBIDDEN without the scope (or without any of several, when one will do),
        REGION_BLOCKED or AGE_VERIFICATION_REQUIRED where the caller's region says so."""
        principal.require(scope)
        wanted = (scope,) if isinstance(scope, str) else scope
        if not BETTING.isdisjoint(wanted):
            self.jurisdictions.check_betting(principal)
        elif not VIEWING.isdisjoint(wanted):
            self.jurisdictions.check_view(principal)

    def visibility(self, principal: Principal) -> Visibility:
        """The token's sports, narrowed by its region's sports and markets."""
        return self.visibility_of(principal.sports, principal.region)

    def visibility_of(self, sports: frozenset[str], region: str | None) -> Visibility:
        """What a token with these `sports` and `region` claims sees: also for claims recorded
        earlier (a webhook sees what its owner's token did)."""
        key = (sports, region)
        found = self._visibility.get(key)
        if found is None:
            rules = self.jurisdictions.rules(region)
            sports_seen = None if ALL_SPORTS in sports else self._pairs(sports)
            if rules.sports is not None:
                allowed = self._pairs(rules.sports)
                sports_seen = allowed if sports_seen is None else _intersect(sports_seen, allowed)
            markets = None
            if rules.markets is not None:
                markets = frozenset(m for m in (self.resolve_market(n) for n in rules.markets) if m is not None)
            found = self._visibility[key] = Visibility(sports_seen, markets, rules.sources)
        return found

    def _pairs(self, names: Iterable[str]) -> frozenset[tuple[str, str]]:
        if ALL_SPORTS in names:
            raise ValueError("'*' is every sport, not a list of them")
        return frozenset(p for p in (self.resolve_sport(n) for n in names) if p is not None)


def _nothing() -> None:
    return None


def _intersect(a: frozenset[tuple[str, str]], b: frozenset[tuple[str, str]]) -> frozenset[tuple[str, str]]:
    both: set[tuple[str, str]] = set()
    for sport, league in a:
        for other_sport, other_league in b:
            if sport != other_sport:
                continue
            if not league or not other_league or league == other_league:
                both.add((sport, league or other_league))
    return frozenset(both)
