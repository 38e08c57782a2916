"""Request bodies as typed commands, parsed at the edge: JSON types, required fields and unknown fields are
checked here, once, with a message naming the field; what the values mean (an amount, a price, a sport)
is checked by the use-case that takes the command.

pydantic rather than msgspec: it is already how insights are validated, its JSON Schema (2020-12) is
what OpenAPI 3.1 documents, and strict mode refuses `true` for a number and `"1"` for a list."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schema import text
from schema.errors import InvalidRequest

C = TypeVar("C", bound="Command")
# Whole numbers a JSON number carries exactly (and a 64-bit encoder takes): larger is refused here.
Whole = Annotated[int, Field(ge=-(2**53), le=2**53)]
# A decimal amount as text ("10.00") or a whole number: never a float, which would not be exact.
Amount = str | Whole
# Decimal odds: 1.85, or as text. An int stays an int, so the body is matched as it was sent.
Odds = Whole | float | str


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def body(self) -> dict[str, Any]:
        """The fields the client sent, as it sent them (what an idempotency key is matched against)."""
        return self.model_dump(exclude_unset=True)


class PlaceBet(Command):
    """`POST /api/v2/bets`."""

    event_id: str = Field(max_length=text.EVENT_ID)
    market_id: str = Field(max_length=text.MARKET_ID)
    outcome_id: str = Field(max_length=text.OUTCOME_ID)
    stake: Amount = Field(description='"10.00": at most two decimal places')
    odds: Odds = Field(description="the decimal odds the bettor saw")
    accept: str | None = Field(default=None, description="exact (default), better or any")


class SettleMarket(Command):
    """`POST /api/v2/results`: exactly one of `winning_outcome_ids`, `outcomes` or `void: true`."""

    event_id: str = Field(max_length=text.EVENT_ID)
    market_id: str = Field(max_length=text.MARKET_ID)
    winning_outcome_ids: list[str] | None = None
    outcomes: dict[str, str] | None = Field(default=None, description="outcome id -> result")
    void: bool | None = None
    dead_heat_factor: Whole | float | str | None = None


class OverrideScope(Command):
    """Any prefix of sport > event > market > outcome."""

    sport: str | None = None
    event_id: str | None = None
    market_id: str | None = None
    outcome_id: str | None = None


class CreateOverride(Command):
    """`POST /api/v2/overrides`."""

    scope: OverrideScope
    action: str = Field(description="suspend, resume, margin or price")
    value: Whole | float | str | None = Field(default=None, description="the margin or the price")
    reason: str | None = Field(default=None, max_length=text.REASON)


class RollbackOverride(Command):
    """`POST /api/v2/overrides/{id}/rollback`."""

    reason: str | None = Field(default=None, max_length=text.REASON)


class RegisterWebhook(Command):
    """`POST /api/v2/webhooks`."""

    url: str
    events: list[str]
    secret: str
    sports: list[str] | None = None
    event_ids: list[str] | None = None


class Deposit(Command):
    """`POST /api/v2/wallets/{sub}/deposit`."""

    amount: Amount
    reference: str | None = Field(default=None, description="a payment id: the deposit is made once per reference")


def command(model: type[C], raw: bytes | dict[str, Any] | None) -> C:
    """The body as `model`, or INVALID_REQUEST saying which field is wrong and how."""
    try:
        if isinstance(raw, bytes):
            return model.model_validate_json(raw or b"{}")
        return model.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        raise InvalidRequest(_explain(model, exc)) from None


def _explain(model: type[Command], error: ValidationError) -> str:
    problems: dict[str, str] = {}
    expected: dict[str, list[str]] = {}
    for item in error.errors(include_url=False):
        # A union's members name themselves in the path: "stake.str", "stake.int".
        path = [str(p) for p in item["loc"] if not _is_tag(p)]
        where = ".".join(path)
        kind = item["type"]
        if kind == "json_invalid":
            problems["body"] = "the body is not valid JSON"
        elif kind in ("model_type", "model_attributes_type") and not where:
            problems["body"] = f"the body is a JSON object with {', '.join(model.model_fields)}"
        elif kind == "missing":
            problems[where] = f"'{where}' is required"
        elif kind == "extra_forbidden":
            problems[where] = f"unknown field '{where}' (this request takes {', '.join(model.model_fields)})"
        elif kind.removesuffix("_type") in _NAMES:
            named = expected.setdefault(where, [])
            named.append(_NAMES[kind.removesuffix("_type")])
            if "a number" in named and "a whole number" in named:
                named.remove("a whole number")
            problems[where] = f"'{where}' must be {' or '.join(dict.fromkeys(named))}"
        else:
            problems[where] = f"'{where}': {item['msg'][0].lower()}{item['msg'][1:]}"
    return "; ".join(list(problems.values())[:5])


_TYPE_TAGS = frozenset({"str", "int", "float", "bool"})


def _is_tag(part: object) -> bool:
    """A union member's name in an error's path (`str`, `constrained-int`), not a field."""
    return isinstance(part, str) and (part in _TYPE_TAGS or "-" in part or "[" in part)


_NAMES = {
    "string": "a string",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "list": "a list",
    "dict": "an object",
    "model": "an object",
}
