"""Hostile and careless input through a real server: every bad value is a 4xx in the contract's
shape, and a refusal changes nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from jose import jwt

from gateway.settings import DEVELOPMENT_SECRET
from tests.conftest import RunningGateway
from tests.integration.conftest import punter
from tests.integration.payloads import batch, update

EVENT = "49ers-ravens-2026-03-23"


def bet(**fields: Any) -> dict[str, Any]:
    return {
        "event_id": EVENT,
        "market_id": "moneyline",
        "outcome_id": "home",
        "stake": "10.00",
        "odds": 1.85,
        "accept": "exact",
        **fields,
    }


def refused(reply: httpx.Response, status: int, code: str) -> None:
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["code"] == code, reply.text


async def unchanged_money(gateway: RunningGateway, client: httpx.AsyncClient) -> None:
    wallet = (await client.get("/api/v2/wallet")).json()
    assert (wallet["available"], wallet["locked"]) == ("100.00", "0.00")
    assert await gateway.services.wallets.check() == []


@pytest.mark.parametrize(
    "stake",
    [
        "1e27",
        "1e999",
        "-0",
        " 5.00",
        "5.00 ",
        "５.00",
        "5.001",
        "1E2",
        "Infinity",
        "NaN",
        "0x10",
        "1_000",
        "10000000000.00",
    ],
)
async def test_a_stake_is_a_plain_amount(book: RunningGateway, stake: str) -> None:
    async with punter(book) as client:
        reply = await client.post("/api/v2/bets", json=bet(stake=stake), headers={"Idempotency-Key": "k"})
        refused(reply, 422, "INVALID_REQUEST")
        assert "stake" in reply.json()["error"]["message"]
        await unchanged_money(book, client)


@pytest.mark.parametrize("amount", ["1e27", "1e999", " 5.00", "٥", "5.001", 1e27, 5.5, True, None, {}, "1000000000.01"])
async def test_a_deposit_is_a_plain_amount(book: RunningGateway, amount: object) -> None:
    reply = await book.client.post("/api/v2/wallets/bob/deposit", json={"amount": amount})
    refused(reply, 422, "INVALID_REQUEST")
    wallet = await book.services.wallets.wallet("bob")
    assert (wallet.available, wallet.locked) == (Decimal(0), Decimal(0))


async def test_the_largest_amount_is_accepted_and_one_cent_more_is_not(book: RunningGateway) -> None:
    assert (await book.client.post("/api/v2/wallets/bob/deposit", json={"amount": "1000000000.00"})).status_code == 201
    assert (await book.client.post("/api/v2/wallets/bob/deposit", json={"amount": 7})).status_code == 201


@pytest.mark.parametrize(
    "result",
    [
        {"winning_outcome_ids": ["home"], "dead_heat_factor": "abc"},
        {"winning_outcome_ids": ["home"], "dead_heat_factor": "NaN"},
        {"winning_outcome_ids": ["home"], "dead_heat_factor": {"a": 1}},
        {"winning_outcome_ids": ["home", "away"], "dead_heat_factor": "1e999"},
        {"winning_outcome_ids": ["home", "away"], "dead_heat_factor": 0},
        {"winning_outcome_ids": [{"id": "home"}]},
        {"winning_outcome_ids": [["home"]]},
        {"winning_outcome_ids": ["home", "home"]},
        {"winning_outcome_ids": "home"},
        {"outcomes": {"home": {"r": "won"}, "away": "lost"}},
        {"outcomes": {"home": "won", "away": "won"}},
        {"outcomes": {"home": "half_won", "away": "won"}},
        {"void": "yes", "winning_outcome_ids": ["home"]},
    ],
)
async def test_a_malformed_or_impossible_result_is_refused(book: RunningGateway, result: dict[str, Any]) -> None:
    async with punter(book) as client:
        placed = await client.post("/api/v2/bets", json=bet(), headers={"Idempotency-Key": "b"})
        assert placed.status_code == 201
        reply = await book.client.post("/api/v2/results", json={"event_id": EVENT, "market_id": "moneyline", **result})
        refused(reply, 422, "INVALID_REQUEST")
        mine = (await client.get(f"/api/v2/bets/{placed.json()['bet_id']}")).json()
        assert mine["status"] == "accepted"
    assert await book.services.wallets.check() == []


async def test_two_winners_of_a_moneyline_need_a_dead_heat(book: RunningGateway) -> None:
    body = {"event_id": EVENT, "market_id": "moneyline", "winning_outcome_ids": ["home", "away"]}
    reply = await book.client.post("/api/v2/results", json=body)
    refused(reply, 422, "INVALID_REQUEST")
    assert "dead_heat_factor" in reply.json()["error"]["message"]
    tie = await book.client.post("/api/v2/results", json={**body, "dead_heat_factor": "0.5"})
    assert tie.status_code == 201, tie.text


@pytest.mark.parametrize(
    ("event_id", "market_id"),
    [("nobody-nowhere-2026-03-23", "moneyline"), (EVENT, "total:47.5"), (EVENT, "spread:-3.5")],
)
async def test_a_result_for_a_market_that_does_not_exist_is_refused(
    book: RunningGateway, event_id: str, market_id: str
) -> None:
    body = {"event_id": event_id, "market_id": market_id, "void": True}
    refused(await book.client.post("/api/v2/results", json=body), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("name", "value"),
    [("event_id", "x" * 300), ("market_id", "m" * 100), ("outcome_id", "o" * 40), ("event_id", "bad\x00id")],
)
async def test_ids_longer_than_their_column_or_with_control_characters_are_refused(
    book: RunningGateway, name: str, value: str
) -> None:
    async with punter(book) as client:
        reply = await client.post("/api/v2/bets", json=bet(**{name: value}), headers={"Idempotency-Key": "long"})
        assert reply.status_code in (404, 422), reply.text
        assert reply.json()["error"]["code"] in ("NOT_FOUND", "INVALID_REQUEST")
        await unchanged_money(book, client)
    if name != "outcome_id":
        result = {"event_id": EVENT, "market_id": "moneyline", "void": True, name: value}
        settle = await book.client.post("/api/v2/results", json=result)
        assert settle.status_code in (404, 422), settle.text


@pytest.mark.parametrize(
    "path",
    [
        "/api/v2/wallets/" + "s" * 300 + "/deposit",
        "/api/v2/results/" + "r" * 300 + "/rollback",
        "/api/v2/overrides/" + "o" * 300 + "/rollback",
        "/api/v2/wallets/bad%00sub/deposit",
    ],
)
async def test_path_ids_longer_than_their_column_are_refused(book: RunningGateway, path: str) -> None:
    reply = await book.client.post(path, json={"amount": "1.00", "reason": "r"})
    assert reply.status_code in (404, 422), reply.text
    assert reply.json()["error"]["code"] in ("NOT_FOUND", "INVALID_REQUEST")


async def test_long_idempotency_keys_and_bet_ids_are_refused(book: RunningGateway) -> None:
    async with punter(book) as client:
        refused(
            await client.post("/api/v2/bets", json=bet(), headers={"Idempotency-Key": "k" * 201}),
            422,
            "INVALID_REQUEST",
        )
        refused(await client.get("/api/v2/bets/" + "b" * 300), 404, "NOT_FOUND")
        await unchanged_money(book, client)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (f"/api/v2/events/{EVENT}/history", "at"),
        ("/api/v2/overrides", "since"),
        ("/api/v2/alerts", "since"),
    ],
)
@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "99999-01-01T00:00:00Z"])
async def test_times_that_overflow_are_refused(book: RunningGateway, path: str, name: str, when: str) -> None:
    refused(await book.client.get(path, params={name: when}), 422, "INVALID_REQUEST")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v2/overrides?actor=a%00b",
        "/api/v2/alerts?kind=a%00b",
        "/api/v2/insights/log?event_id=a%00b",
        "/api/v2/webhooks/x/deliveries?status=a%00b",
        "/api/v2/overrides?actor=" + "a" * 300,
    ],
)
async def test_query_parameters_with_control_characters_or_no_end_are_refused(book: RunningGateway, path: str) -> None:
    refused(await book.client.get(path), 422, "INVALID_REQUEST")


@pytest.mark.parametrize("body", [b"\xff\xfe{}", b'{"query": "\xc3("}', b"\x00\x00\x00"])
async def test_a_graphql_body_that_is_not_utf8_is_a_client_error(book: RunningGateway, body: bytes) -> None:
    reply = await book.client.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "INVALID_REQUEST"


def signed(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, DEVELOPMENT_SECRET, algorithm="HS256")


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    base = {
        "sub": "x",
        "scopes": ["odds:read"],
        "sports": ["*"],
        "iss": "oddsgate",
        "aud": "oddsgate-api",
        "iat": now,
        "exp": now + 3600,
        "jti": "j1",
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"exp": 1e20}, "lifetime"),
        ({"exp": int(datetime.now(UTC).timestamp()) + 40 * 86400}, "lifetime"),
        ({"iat": int((datetime.now(UTC) + timedelta(hours=1)).timestamp())}, "future"),
        ({"region": ["GB"]}, "region"),
        ({"region": ""}, "region"),
        ({"region": "G\x00B"}, "region"),
        ({"age_verified": "yes"}, "age_verified"),
        ({"rate_limit": 5}, "rate_limit"),
        ({"sub": "s" * 300}, "sub"),
    ],
)
async def test_tokens_with_impossible_claims_are_refused(
    book: RunningGateway, overrides: dict[str, Any], says: str
) -> None:
    token = signed(claims(**overrides))
    reply = await book.client.get("/api/v2/odds", headers={"Authorization": f"Bearer {token}"})
    refused(reply, 401, "UNAUTHENTICATED")
    assert says in reply.json()["error"]["message"]


async def test_a_key_first_answered_with_a_refusal_keeps_that_answer(book: RunningGateway) -> None:
    """Stripe's rule: once a request was executed, its key replays the first answer, refusal or not."""
    suspend = {"scope": {"event_id": EVENT}, "action": "suspend", "reason": "test"}
    override = (await book.client.post("/api/v2/overrides", json=suspend)).json()
    async with punter(book) as client:
        first = await client.post("/api/v2/bets", json=bet(), headers={"Idempotency-Key": "s1"})
        refused(first, 409, "MARKET_SUSPENDED")
        assert (await book.client.post(f"/api/v2/overrides/{override['id']}/rollback", json={})).status_code == 201
        again = await client.post("/api/v2/bets", json=bet(), headers={"Idempotency-Key": "s1"})
        assert (again.status_code, again.json()) == (409, first.json())
        graphql = """mutation { placeBet(idempotencyKey: "s1", eventId: "49ers-ravens-2026-03-23",
                      marketId: "moneyline", outcomeId: "home", stake: "10.00", odds: 1.85) { betId } }"""
        replayed = (await client.post("/graphql", json={"query": graphql})).json()
        assert replayed["errors"][0]["extensions"]["code"] == "MARKET_SUSPENDED"

        moved = await client.post("/api/v2/bets", json=bet(odds=1.70), headers={"Idempotency-Key": "p1"})
        refused(moved, 409, "PRICE_CHANGED")
        assert moved.json()["error"]["current_odds"] == 1.85
        await book.client.post("/api/v2/ingest", json=batch("a", update(1.70, 2.30)))
        still = await client.post("/api/v2/bets", json=bet(odds=1.70), headers={"Idempotency-Key": "p1"})
        assert (still.status_code, still.json()) == (409, moved.json())

        # A request refused before it ran (the body did not parse) stores nothing: the key is free.
        invalid = await client.post("/api/v2/bets", json=bet(stake="ten"), headers={"Idempotency-Key": "v1"})
        refused(invalid, 422, "INVALID_REQUEST")
        fixed = await client.post("/api/v2/bets", json=bet(odds=1.70), headers={"Idempotency-Key": "v1"})
        assert fixed.status_code == 201, fixed.text
        wallet = (await client.get("/api/v2/wallet")).json()
    assert (wallet["available"], wallet["locked"]) == ("90.00", "10.00")
    assert await book.services.wallets.check() == []


async def test_an_id_is_checked_below_the_doors_so_graphql_takes_the_same_rule(book: RunningGateway) -> None:
    mutation = "mutation ($id: ID!) { rollbackOverride(id: $id) { id } }"
    for bad in ("a\x00b", "o" * 300):
        reply = await book.client.post("/graphql", json={"query": mutation, "variables": {"id": bad}})
        assert reply.status_code == 200
        assert reply.json()["errors"][0]["extensions"]["code"] == "INVALID_REQUEST", reply.text
