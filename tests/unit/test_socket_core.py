"""gateway.socket_core: which refusal closes with which code, that those codes agree with
graphql-ws's retry rules, and one session's token, timers and limits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from auth.errors import AgeVerificationRequired, Forbidden, RateLimited, RegionBlocked, Unauthenticated
from feeds.aliases import AliasBook
from feeds.normalize import Normalizer
from gateway.access import build_access
from gateway.settings import Settings
from gateway.socket_core import (
    CLOSE_BAD_MESSAGE,
    CLOSE_FORBIDDEN,
    CLOSE_INIT_TIMEOUT,
    CLOSE_RATE,
    CLOSE_TOKEN_EXPIRED,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNAUTHENTICATED,
    InitTimeout,
    SocketSession,
    TokenExpired,
    TooManyMessages,
    TooManySubscriptions,
    close_code,
)
from resolvers.slow_clients import SLOW_CONSUMER_CLOSE
from schema.errors import InvalidRequest, NotFound, OddsgateError, Unavailable
from tests.conftest import mint
from tests.support.waiting import until


def graphql_ws_gives_up(code: int) -> bool:
    """graphql-ws 6's client (src/client.ts): `shouldRetryConnectOrThrow` throws at once on these
    codes, and `isFatalInternalCloseCode` on 1000-1999 but for the ones it lists as retryable."""
    fatal = {4500, 4005, 4400, 4004, 4401, 4406, 4409, 4429}
    retryable_internal = {1000, 1001, 1006, 1005, 1012, 1013, 1014}
    return code in fatal or (1000 <= code <= 1999 and code not in retryable_internal)


# Every code either door closes with, and whether a client should reconnect after it.
RECONNECT = {
    CLOSE_TRY_AGAIN_LATER: True,  # the token's rate is spent for now
    SLOW_CONSUMER_CLOSE: True,  # fell behind: reconnect and resume with `since`
    CLOSE_BAD_MESSAGE: False,
    CLOSE_UNAUTHENTICATED: False,  # no token, a bad one, or a revoked one: the same again fails
    CLOSE_FORBIDDEN: True,  # graphql-ws retries it, "might grant access after retry"; a few tries, no harm
    CLOSE_INIT_TIMEOUT: True,
    CLOSE_RATE: False,  # the client sends too much; the same client again would too
    CLOSE_TOKEN_EXPIRED: True,  # with a fresh token
    1009: False,  # a frame over WS_MAX_MESSAGE_BYTES
}


@pytest.mark.parametrize("code", sorted(RECONNECT))
def test_a_graphql_ws_client_reconnects_exactly_after_the_codes_meant_for_it(code: int) -> None:
    assert (not graphql_ws_gives_up(code)) is RECONNECT[code]


@pytest.mark.parametrize(
    ("error", "admitted", "code"),
    [
        (Unauthenticated("no token"), False, CLOSE_UNAUTHENTICATED),
        (Unauthenticated("revoked"), True, CLOSE_UNAUTHENTICATED),
        (TokenExpired("expired"), True, CLOSE_TOKEN_EXPIRED),
        (InitTimeout("too slow"), False, CLOSE_INIT_TIMEOUT),
        (Forbidden("no odds:read"), False, CLOSE_FORBIDDEN),
        (RegionBlocked("KP"), False, CLOSE_FORBIDDEN),
        (AgeVerificationRequired("age"), False, CLOSE_FORBIDDEN),
        (RateLimited("spent", retry_after=30), False, CLOSE_TRY_AGAIN_LATER),
        (Unavailable("limiter away"), False, CLOSE_TRY_AGAIN_LATER),
        (TooManyMessages("flood"), True, CLOSE_RATE),
        (TooManySubscriptions("too many"), True, CLOSE_RATE),
        # Once admitted, a refusal is answered and the connection goes on; before, a bad message too.
        (Forbidden("not this sport"), True, None),
        (RateLimited("spent", retry_after=30), True, None),
        (NotFound("no such event"), True, None),
        (InvalidRequest("not JSON"), False, None),
    ],
)
def test_each_refusal_has_one_close_code(error: OddsgateError, admitted: bool, code: int | None) -> None:
    assert close_code(error, admitted=admitted) == code


class Door:
    """What a door does when the core ends its connection: here, remember it."""

    def __init__(self) -> None:
        self.closes: list[tuple[int, str]] = []
        self.beats = 0

    def close(self, code: int, error: OddsgateError) -> None:
        self.closes.append((code, error.code))

    def beat(self) -> None:
        self.beats += 1


def session(door: Door, **values: object) -> tuple[SocketSession, Settings]:
    settings = Settings(**{"ws_init_timeout": 0.05, "ws_heartbeat": 0.02, **values})  # type: ignore[arg-type]
    access = build_access(settings, Normalizer(AliasBook.load([])))
    return SocketSession(access, settings, None, door.close), settings


async def test_no_token_in_time_closes_with_4408() -> None:
    door = Door()
    core, _ = session(door)
    core.expect_token()

    async def closed() -> bool:
        return bool(door.closes)

    await until(closed, seconds=2)
    assert door.closes == [(CLOSE_INIT_TIMEOUT, "UNAUTHENTICATED")]
    core.end()


async def test_an_admitted_token_stops_the_init_timer_and_an_expired_one_closes_with_4498() -> None:
    door = Door()
    core, settings = session(door)
    core.expect_token()
    # A token's `exp` is in whole seconds: two seconds leave at least one to live.
    principal = await core.admit(mint(settings, "odds:read", ttl=timedelta(seconds=2)))
    core.keep_alive(door.beat)
    assert core.principal == principal
    assert core.admitted

    async def beating() -> bool:
        return door.beats > 1

    async def expired() -> bool:
        return bool(door.closes)

    await until(beating, seconds=1)
    assert door.closes == []
    await until(expired, seconds=5)
    assert door.closes == [(CLOSE_TOKEN_EXPIRED, "UNAUTHENTICATED")]  # not 4408: the init timer stopped
    core.end()


async def test_a_refused_token_leaves_the_session_without_one() -> None:
    door = Door()
    core, settings = session(door)
    with pytest.raises(Forbidden):
        await core.admit(mint(settings, "bets:place"))
    with pytest.raises(Unauthenticated):
        await core.admit("")
    with pytest.raises(Unauthenticated):
        await core.admit_header("Basic abc")
    with pytest.raises(Unauthenticated):
        await core.charge()
    assert not core.admitted
    assert core.close_code(Forbidden("no odds:read")) == CLOSE_FORBIDDEN


async def test_messages_and_subscriptions_are_counted_per_connection() -> None:
    core, _ = session(Door(), ws_message_rate="3/second", ws_max_subscriptions=2)
    for _ in range(3):
        core.count_message()
    with pytest.raises(TooManyMessages):
        core.count_message()
    core.count_subscriptions(2)
    with pytest.raises(TooManySubscriptions, match="at most 2 channels"):
        core.count_subscriptions(3, "channels")
