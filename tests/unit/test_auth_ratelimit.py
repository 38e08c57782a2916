"""auth.ratelimit: per-token budgets in memory, their headers and their refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from auth.errors import RateLimited, Unauthenticated
from auth.principal import Principal
from auth.ratelimit import RateLimiter, RateState


def token(jti: str | None = "j-1", *, rate_limit: str | None = None, sub: str = "alice") -> Principal:
    return Principal(sub, frozenset({"odds:read"}), frozenset({"*"}), None, False, rate_limit, jti, datetime.now(UTC))


@pytest.fixture
def limiter() -> RateLimiter:
    return RateLimiter(None, "3/minute")


async def test_charges_within_the_budget_count_down_the_remainder(limiter: RateLimiter) -> None:
    states = [await limiter.charge(token()) for _ in range(3)]

    assert [s.remaining for s in states] == [2, 1, 0]
    assert all(s.limit == 3 and s.window == 60 for s in states)
    assert all(1 <= s.reset <= 60 for s in states)


async def test_the_state_renders_the_ietf_ratelimit_headers(limiter: RateLimiter) -> None:
    state = await limiter.charge(token())

    assert state.headers() == {
        "RateLimit-Policy": '"token";q=3;w=60',
        "RateLimit": f'"token";r=2;t={state.reset}',
    }


def test_headers_format_every_field() -> None:
    assert RateState(limit=10, window=1, remaining=7, reset=1).headers() == {
        "RateLimit-Policy": '"token";q=10;w=1',
        "RateLimit": '"token";r=7;t=1',
    }


async def test_the_charge_past_the_budget_is_refused_with_retry_after_and_state(limiter: RateLimiter) -> None:
    for _ in range(3):
        await limiter.charge(token())

    with pytest.raises(RateLimited) as raised:
        await limiter.charge(token())

    refused = raised.value
    assert refused.code == "RATE_LIMITED"
    assert 1 <= refused.retry_after <= 60
    assert refused.details == {"retry_after": refused.retry_after}
    assert isinstance(refused.state, RateState)
    assert refused.state.remaining == 0
    assert refused.state.limit == 3
    assert refused.state.headers()["RateLimit"] == f'"token";r=0;t={refused.state.reset}'


async def test_the_tokens_own_rate_limit_overrides_the_default(limiter: RateLimiter) -> None:
    fast = token("j-fast", rate_limit="1/second")

    state = await limiter.charge(fast)

    assert (state.limit, state.window, state.remaining) == (1, 1, 0)
    with pytest.raises(RateLimited) as raised:
        await limiter.charge(fast)
    assert raised.value.retry_after >= 1


async def test_a_generous_rate_limit_claim_outlasts_the_default(limiter: RateLimiter) -> None:
    generous = token("j-generous", rate_limit="10 per minute")

    states = [await limiter.charge(generous) for _ in range(5)]

    assert states[-1].remaining == 5
    assert states[-1].limit == 10


@pytest.mark.parametrize("claim", ["lots", "", "3 per fortnight"])
async def test_an_unparsable_rate_limit_claim_is_unauthenticated(limiter: RateLimiter, claim: str) -> None:
    with pytest.raises(Unauthenticated, match="rate_limit"):
        await limiter.charge(token(rate_limit=claim))


async def test_two_tokens_have_separate_budgets(limiter: RateLimiter) -> None:
    for _ in range(3):
        await limiter.charge(token("j-1"))

    state = await limiter.charge(token("j-2"))

    assert state.remaining == 2
    with pytest.raises(RateLimited):
        await limiter.charge(token("j-1"))


async def test_tokens_without_a_jti_share_their_subjects_budget(limiter: RateLimiter) -> None:
    await limiter.charge(token(None, sub="bob"))
    await limiter.charge(token(None, sub="bob"))

    assert (await limiter.charge(token(None, sub="bob"))).remaining == 0
    assert (await limiter.charge(token(None, sub="carol"))).remaining == 2


async def test_a_cost_counts_that_many_charges(limiter: RateLimiter) -> None:
    state = await limiter.charge(token(), cost=2)

    assert state.remaining == 1


async def test_a_refused_cost_takes_nothing_from_the_budget(limiter: RateLimiter) -> None:
    with pytest.raises(RateLimited):
        await limiter.charge(token(), cost=4)

    assert (await limiter.charge(token(), cost=3)).remaining == 0


def test_an_unparsable_default_rate_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="lots"):
        RateLimiter(None, "lots")
