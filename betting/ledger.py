"""The double-entry ledger's rules: accounts, and entries made of postings that sum to zero.

Every movement of money is one entry: a deposit moves it from the outside world into a user's
available balance; a stake moves it from available to locked; settlement moves it from locked to the
house (lost), back to available (void), or to available with the winnings drawn from the house
(won); a rollback posts the exact reverse of what it undoes. Balances are the sums of their postings.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from betting.money import CENT

HOUSE = "house"
# Money entering or leaving the system (deposits, withdrawals): it may go negative, like the house.
WORLD = "world"


class AccountKind(StrEnum):
    AVAILABLE = "available"
    LOCKED = "locked"
    HOUSE = "house"
    WORLD = "world"

    @property
    def may_go_negative(self) -> bool:
        return self in (AccountKind.HOUSE, AccountKind.WORLD)


def available(sub: str) -> str:
    return f"user:{sub}:available"


def locked(sub: str) -> str:
    return f"user:{sub}:locked"


def kind_of(account: str) -> AccountKind:
    if account == HOUSE:
        return AccountKind.HOUSE
    if account == WORLD:
        return AccountKind.WORLD
    return AccountKind.LOCKED if account.endswith(":locked") else AccountKind.AVAILABLE


@dataclass(slots=True, frozen=True)
class Posting:
    account: str
    amount: Decimal


@dataclass(slots=True, frozen=True)
class Entry:
    kind: str
    reference: str
    postings: tuple[Posting, ...]

    def __post_init__(self) -> None:
        if sum((p.amount for p in self.postings), Decimal(0)) != 0:
            raise ValueError(f"entry {self.kind} {self.reference} does not balance")
        if any(p.amount == 0 or p.amount != p.amount.quantize(CENT) for p in self.postings):
            raise ValueError(f"entry {self.kind} {self.reference} has a zero or sub-cent posting")

    def reversed(self, kind: str, reference: str) -> Entry:
        return Entry(kind, reference, tuple(Posting(p.account, -p.amount) for p in self.postings))


def _entry(kind: str, reference: str, *postings: tuple[str, Decimal]) -> Entry:
    return Entry(kind, reference, tuple(Posting(a, amount) for a, amount in postings if amount != 0))


def deposit(sub: str, amount: Decimal, reference: str) -> Entry:
    return _entry("deposit", reference, (WORLD, -amount), (available(sub), amount))


def stake(sub: str, amount: Decimal, bet_id: str) -> Entry:
    return _entry("stake", bet_id, (available(sub), -amount), (locked(sub), amount))


def settle(sub: str, stake_amount: Decimal, paid: Decimal, bet_id: str) -> Entry:
    """Release the locked stake: `paid` to the user, the difference to or from the house."""
    return _entry(
        "settle",
        bet_id,
        (locked(sub), -stake_amount),
        (available(sub), paid),
        (HOUSE, stake_amount - paid),
    )
