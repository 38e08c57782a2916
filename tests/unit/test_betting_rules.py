"""The betting rules that need no database: money, the accept policy, payouts, risk limits."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from betting.errors import PriceChanged, RiskLimitExceeded
from betting.ledger import HOUSE, Entry, Posting, available, deposit, locked, settle
from betting.ledger import stake as place
from betting.money import CENT, amount
from betting.pricing import Accept, price_to_take
from betting.risk import Exposure, RiskLimits, check
from betting.settlement import Result, payout
from schema.errors import InvalidRequest

stakes = st.integers(1, 10_000_000).map(lambda cents: Decimal(cents) / 100)
odds = st.integers(101, 100_000).map(lambda hundredths: Decimal(hundredths) / 100)


@pytest.mark.parametrize("good", ["10", "10.5", "10.50", "0.01", 7, Decimal("3.20")])
def test_amounts_in_cents_are_taken(good: object) -> None:
    assert amount(good) == Decimal(str(good)).quantize(CENT)


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("0", "positive"),
        ("-5", "digits"),
        (-5, "positive"),
        ("1.005", "two decimal"),
        (Decimal("1.005"), "two decimal"),
        (10.5, "decimal string"),
        ("abc", "digits"),
        (True, "decimal string"),
        ("NaN", "digits"),
        (Decimal("NaN"), "finite"),
        ("1e12", "digits"),
        ("1000000000.01", "at most"),
        (10**30, "at most"),
        (" 5", "digits"),
        ("٥", "digits"),
    ],
)
def test_bad_amounts_are_refused(bad: object, words: str) -> None:
    with pytest.raises(InvalidRequest, match=words):
        amount(bad, "stake")


@given(odds, odds)
def test_the_accept_policy(requested: Decimal, current: Decimal) -> None:
    assert price_to_take(requested, current, Accept.ANY) == current
    if current == requested:
        assert price_to_take(requested, current, Accept.EXACT) == current
    else:
        with pytest.raises(PriceChanged) as refused:
            price_to_take(requested, current, Accept.EXACT)
        assert refused.value.details == {"current_odds": float(current)}
    if current >= requested:
        assert price_to_take(requested, current, Accept.BETTER) == current
    else:
        with pytest.raises(PriceChanged):
            price_to_take(requested, current, Accept.BETTER)


@given(stakes, odds)
def test_payouts_are_in_cents_between_nothing_and_the_full_win(stake: Decimal, price: Decimal) -> None:
    won = payout(stake, price, Result.WON)
    paid = {result: payout(stake, price, result, Decimal("0.5")) for result in Result}
    for value in paid.values():
        assert value == value.quantize(CENT)
        assert Decimal(0) <= value <= stake * price
    assert won >= stake
    assert paid[Result.LOST] == 0
    assert paid[Result.VOID] == stake
    assert paid[Result.HALF_LOST] <= stake / 2
    assert stake <= paid[Result.HALF_WON] <= won
    assert paid[Result.DEAD_HEAT] <= won
    assert payout(stake, price, Result.DEAD_HEAT, Decimal(1)) == won


def test_payouts_round_down_and_dead_heats_need_a_factor() -> None:
    assert payout(Decimal("10.00"), Decimal("1.85"), Result.WON) == Decimal("18.50")
    assert payout(Decimal("3.33"), Decimal("1.91"), Result.WON) == Decimal("6.36")  # 6.3603
    assert payout(Decimal("10.00"), Decimal("1.90"), Result.HALF_WON) == Decimal("14.50")
    assert payout(Decimal("10.01"), Decimal("1.90"), Result.HALF_LOST) == Decimal("5.00")
    assert payout(Decimal("10.00"), Decimal("4.00"), Result.DEAD_HEAT, Decimal("0.5")) == Decimal("20.00")
    with pytest.raises(InvalidRequest, match="dead_heat_factor"):
        payout(Decimal("10.00"), Decimal("4.00"), Result.DEAD_HEAT)


QUIET = Exposure(Decimal(0), Decimal(0), 0, Decimal(0), Decimal(0))


@pytest.mark.parametrize(
    ("stake", "now", "limit"),
    [
        ("1000.01", QUIET, "max_stake"),
        ("100", Exposure(Decimal("4950"), Decimal(0), 0, Decimal(0), Decimal(0)), "daily_loss"),
        ("100", Exposure(Decimal(0), Decimal("9950"), 0, Decimal(0), Decimal(0)), "pending_exposure"),
        ("1", Exposure(Decimal(0), Decimal(0), 500, Decimal(0), Decimal(0)), "bets_per_day"),
        ("100", Exposure(Decimal(0), Decimal(0), 0, Decimal("99950"), Decimal(0)), "liability_per_outcome"),
        ("100", Exposure(Decimal(0), Decimal(0), 0, Decimal(0), Decimal("249950")), "liability_per_market"),
    ],
)
def test_each_risk_limit_vetoes_and_says_which(stake: str, now: Exposure, limit: str) -> None:
    with pytest.raises(RiskLimitExceeded) as refused:
        check(RiskLimits(), Decimal(stake), Decimal("2.00"), now)
    assert refused.value.limit == limit
    assert refused.value.details == {"limit": limit}


def test_per_user_limits_override_the_defaults() -> None:
    limits = RiskLimits().overridden({"max_stake": "50", "bets_per_day": 3})
    assert (limits.max_stake, limits.bets_per_day, limits.daily_loss) == (Decimal(50), 3, Decimal("5000.00"))
    check(limits, Decimal(50), Decimal(2), QUIET)
    with pytest.raises(ValueError, match="unknown"):
        RiskLimits().overridden({"max_bet": 1})


@given(stakes, odds, st.sampled_from(list(Result)))
def test_every_ledger_entry_balances_and_settling_conserves_money(
    stake: Decimal, price: Decimal, result: Result
) -> None:
    entries = [deposit("u", stake, "d1"), place("u", stake, "b1")]
    paid = payout(stake, price, result, Decimal("0.5"))
    entries.append(settle("u", stake, paid, "b1"))
    balances: dict[str, Decimal] = {}
    for entry in entries:
        assert sum(p.amount for p in entry.postings) == 0
        for posting in entry.postings:
            balances[posting.account] = balances.get(posting.account, Decimal(0)) + posting.amount
    assert sum(balances.values()) == 0  # nothing made or lost, only moved
    assert balances.get(available("u"), Decimal(0)) == paid
    assert balances.get(locked("u"), Decimal(0)) == 0
    assert balances.get(HOUSE, Decimal(0)) == stake - paid
    undone = entries[-1].reversed("reversal", "r1")
    assert [p.amount for p in undone.postings] == [-p.amount for p in entries[-1].postings]


def test_an_unbalanced_entry_cannot_be_made() -> None:
    with pytest.raises(ValueError, match="balance"):
        Entry("deposit", "x", (Posting("a", Decimal("1.00")), Posting("b", Decimal("-0.99"))))
    with pytest.raises(ValueError, match="sub-cent"):
        Entry("deposit", "x", (Posting("a", Decimal("0.001")), Posting("b", Decimal("-0.001"))))
