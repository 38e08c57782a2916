"""Whether a bet may be taken at the price the user saw, under their `accept` policy."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from betting.errors import PriceChanged
from schema.errors import InvalidRequest


class Accept(StrEnum):
    EXACT = "exact"
    BETTER = "better"
    ANY = "any"

    @classmethod
    def of(cls, value: object) -> Accept:
        try:
            return cls(str(value)) if value is not None else cls.EXACT
        except ValueError:
            raise InvalidRequest("'accept' must be exact, better or any") from None


def price_to_take(requested: Decimal, current: Decimal, policy: Accept) -> Decimal:
    """The odds the bet is struck at; raises PriceChanged (with the current odds) when the policy
    does not accept them. `better` takes a higher price than asked, never a lower one."""
    if policy is Accept.ANY or current == requested or (policy is Accept.BETTER and current > requested):
        return current
    raise PriceChanged(f"the price is now {current}, not {requested} ({policy.value} accepted)", current)
