"""Placing bets through a real server: prices, idempotency, refusals that move no money, risk limits."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import RunningGateway, gateway_settings, mint, serving
from tests.integration.conftest import punter
from tests.integration.payloads import batch, update

EVENT = "49ers-ravens-2026-03-23"


def bet(stake: str = "10.00", odds: float = 1.85, accept: str = "exact", outcome: str = "home") -> dict[str, Any]:
    return {
        "event_id": EVENT,
        "market_id": "moneyline",
        "outcome_id": outcome,
        "stake": stake,
        "odds": odds,
        "accept": accept,
    }


async def test_a_bet_is_taken_once_per_key(book: RunningGateway) -> None:
    async with punter(book) as client:
        first = await client.post("/api/v2/bets", json=bet(), headers={"Idempotency-Key": "k1"})
        again = await client.post("/api/v2/bets", json=bet(), headers={"Idempotency-Key": "k1"})
        other = await client.post("/api/v2/bets", json=bet("11.00"), headers={"Idempotency-Key": "k1"})
        wallet = (await client.get("/api/v2/wallet")).json()
        mine = (await client.get("/api/v2/bets")).json()
        detail = (await client.get(f"/api/v2/bets/{first.json()['bet_id']}")).json()
    assert first.status_code == 201
    placed = first.json()
    assert (placed["status"], placed["odds"], placed["stake"], placed["potential_payout"]) == (
        "accepted",
        1.85,
        "10.00",
        "18.50",
    )
    # The first answer again, marked as a replay (Stripe's `Idempotent-Replayed`).
    assert (again.status_code, again.json(), again.headers["idempotent-replayed"]) == (200, placed, "true")
    assert (other.status_code, other.json()["error"]["code"]) == (409, "IDEMPOTENCY_MISMATCH")
    assert (wallet["available"], wallet["locked"]) == ("90.00", "10.00")
    assert await book.services.wallets.check() == []
    assert mine["pagination"]["total"] == 1
    assert detail["context"]["seq"] == 1
    assert detail["context"]["sources"] == {"a": "1.85"}
    exposure = (await book.client.get("/api/v2/exposure")).json()["data"]
    assert [(e["outcome_id"], e["stakes"], e["liability"], e["bets"]) for e in exposure] == [
        ("home", "10.00", "8.50", 1)
    ]


async def test_the_accept_policy_against_the_live_price(book: RunningGateway) -> None:
    await book.client.post("/api/v2/ingest", json=batch("a", update(1.90, 2.05)))
    async with punter(book) as client:
        exact = await client.post("/api/v2/bets", json=bet(odds=1.85), headers={"Idempotency-Key": "a"})
        better = await client.post(
            "/api/v2/bets", json=bet(odds=1.85, accept="better"), headers={"Idempotency-Key": "b"}
        )
        worse = await client.post(
            "/api/v2/bets", json=bet(odds=2.10, outcome="away", accept="better"), headers={"Idempotency-Key": "c"}
        )
        anything = await client.post(
            "/api/v2/bets", json=bet(odds=3.0, outcome="away", accept="any"), headers={"Idempotency-Key": "d"}
        )
    assert (exact.status_code, exact.json()["error"]["code"], exact.json()["error"]["current_odds"]) == (
        409,
        "PRICE_CHANGED",
        1.9,
    )
    assert (better.status_code, better.json()["odds"]) == (201, 1.9)
    assert worse.status_code == 409
    assert (anything.status_code, anything.json()["odds"]) == (201, 2.05)


async def test_refused_bets_move_no_money(book: RunningGateway) -> None:
    await book.client.post(
        "/api/v2/overrides",
        json={"scope": {"event_id": EVENT, "market_id": "moneyline"}, "action": "suspend", "reason": "t"},
    )
    async with punter(book) as client:
        suspended = await client.post("/api/v2/bets", json=bet(), headers={"Idempotency-Key": "s"})
    assert (suspended.status_code, suspended.json()["error"]["code"]) == (409, "MARKET_SUSPENDED")
    overrides = (await book.client.get("/api/v2/overrides?active=true")).json()["data"]
    await book.client.post(f"/api/v2/overrides/{overrides[0]['id']}/rollback", json={})
    await book.client.post("/api/v2/wallets/ann/deposit", json={"amount": "2000.00"})
    async with punter(book) as client:
        broke = await client.post("/api/v2/bets", json=bet("999.00", odds=1.85), headers={"Idempotency-Key": "x"})
        await client.post("/api/v2/bets", json=bet("999.00"), headers={"Idempotency-Key": "y"})
        poor = await client.post("/api/v2/bets", json=bet("999.00"), headers={"Idempotency-Key": "z"})
        limit = await client.post("/api/v2/bets", json=bet("1000.01"), headers={"Idempotency-Key": "l"})
        nokey = await client.post("/api/v2/bets", json=bet())
        wallet = (await client.get("/api/v2/wallet")).json()
        count = (await client.get("/api/v2/bets")).json()["pagination"]["total"]
    assert broke.status_code == 201
    assert (poor.status_code, poor.json()["error"]["code"]) == (409, "INSUFFICIENT_FUNDS")
    assert (limit.status_code, limit.json()["error"]["code"], limit.json()["error"]["limit"]) == (
        403,
        "RISK_LIMIT",
        "max_stake",
    )
    assert nokey.status_code == 422
    assert (wallet["available"], wallet["locked"], count) == ("102.00", "1998.00", 2)
    async with punter(book, age_verified=False) as minor:
        refused = await minor.post("/api/v2/bets", json=bet(), headers={"Idempotency-Key": "m"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "AGE_VERIFICATION_REQUIRED")


async def test_concurrent_duplicates_make_one_bet(book: RunningGateway) -> None:
    async with punter(book) as client:
        replies = await asyncio.gather(
            *(client.post("/api/v2/bets", json=bet(), headers={"Idempotency-Key": "same"}) for _ in range(10))
        )
        wallet = (await client.get("/api/v2/wallet")).json()
    # One made it; the others are answered with it (201 while it was in flight, 200 as a replay).
    assert 201 in {r.status_code for r in replies} <= {200, 201}
    assert len({r.json()["bet_id"] for r in replies}) == 1
    assert (wallet["available"], wallet["locked"]) == ("90.00", "10.00")
    assert await book.services.wallets.check() == []


async def wallet_of(gateway: RunningGateway, sub: str) -> tuple[str, str]:
    async with punter(gateway, sub=sub) as client:
        body = (await client.get("/api/v2/wallet")).json()
    return body["available"], body["locked"]


async def test_a_market_settles_exactly_once_and_rolls_back(book: RunningGateway) -> None:
    await book.client.post("/api/v2/wallets/bob/deposit", json={"amount": "50.00"})
    async with punter(book) as ann, punter(book, sub="bob") as bob:
        assert (await ann.post("/api/v2/bets", json=bet(), headers={"Idempotency-Key": "1"})).status_code == 201
        away = bet("20.00", odds=2.10, outcome="away")
        assert (await bob.post("/api/v2/bets", json=away, headers={"Idempotency-Key": "1"})).status_code == 201
    result = {"event_id": EVENT, "market_id": "moneyline", "winning_outcome_ids": ["home"], "void": False}
    replies = await asyncio.gather(*(book.client.post("/api/v2/results", json=result) for _ in range(5)))
    assert sorted(r.status_code for r in replies) == [200, 200, 200, 200, 201]
    assert len({r.json()["id"] for r in replies}) == 1
    settled = next(r.json() for r in replies if r.status_code == 201)
    assert (settled["bets"], settled["paid"], settled["outcomes"]) == (2, "18.50", {"home": "won", "away": "lost"})
    assert await wallet_of(book, "ann") == ("108.50", "0.00")
    assert await wallet_of(book, "bob") == ("30.00", "0.00")
    other = {**result, "winning_outcome_ids": ["away"]}
    conflict = await book.client.post("/api/v2/results", json=other)
    assert (conflict.status_code, conflict.json()["error"]["code"]) == (409, "ALREADY_SETTLED")
    exposure = (await book.client.get("/api/v2/exposure")).json()["data"]
    assert {(e["outcome_id"], e["stakes"], e["liability"], e["bets"]) for e in exposure} == {
        ("home", "0.00", "0.00", 0),
        ("away", "0.00", "0.00", 0),
    }
    assert await book.services.wallets.check() == []

    undone = await book.client.post(f"/api/v2/results/{settled['id']}/rollback")
    assert undone.status_code == 200
    assert await wallet_of(book, "ann") == ("90.00", "10.00")
    assert await wallet_of(book, "bob") == ("30.00", "20.00")
    twice = await book.client.post(f"/api/v2/results/{settled['id']}/rollback")
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "NOT_SETTLED")
    voided = await book.client.post("/api/v2/results", json={"event_id": EVENT, "market_id": "moneyline", "void": True})
    assert (voided.status_code, voided.json()["outcomes"]) == (201, {"home": "void", "away": "void"})
    assert await wallet_of(book, "ann") == ("100.00", "0.00")
    assert await wallet_of(book, "bob") == ("50.00", "0.00")
    assert await book.services.wallets.check() == []
    async with punter(book) as ann:
        mine = (await ann.get("/api/v2/bets")).json()["data"]
    assert [(b["status"], b["result"], b["payout"]) for b in mine] == [("settled", "void", "10.00")]


async def test_results_are_checked(book: RunningGateway) -> None:
    cases = [
        ({"event_id": EVENT, "market_id": "moneyline", "winning_outcome_ids": ["draw"]}, "winning_outcome_ids"),
        ({"event_id": EVENT, "market_id": "polo", "winning_outcome_ids": ["home"]}, "unknown market"),
        ({"event_id": EVENT, "market_id": "moneyline", "outcomes": {"home": "won"}}, "each of"),
    ]
    for body, words in cases:
        reply = await book.client.post("/api/v2/results", json=body)
        assert reply.status_code == 422, body
        assert words in reply.json()["error"]["message"], body
    reader = {"Authorization": f"Bearer {mint(book.app.state.settings, 'odds:read')}"}
    refused = await book.client.post("/api/v2/results", json=cases[0][0], headers=reader)
    assert refused.status_code == 403


async def test_a_users_own_risk_limits_apply_to_them_only(sqlite_url: str) -> None:
    settings = gateway_settings(sqlite_url, user_risk_limits={"ann": {"max_stake": "5.00"}})
    async with serving(settings) as gateway:
        await gateway.client.post("/api/v2/ingest", json=batch("a", update(1.85, 2.10)))
        for sub in ("ann", "bob"):
            await gateway.client.post(f"/api/v2/wallets/{sub}/deposit", json={"amount": "100.00"})
        async with punter(gateway) as ann, punter(gateway, sub="bob") as bob:
            capped = await ann.post("/api/v2/bets", json=bet(), headers={"Idempotency-Key": "1"})
            free = await bob.post("/api/v2/bets", json=bet(), headers={"Idempotency-Key": "1"})
    assert (capped.status_code, capped.json()["error"]["limit"]) == (403, "max_stake")
    assert free.status_code == 201


async def test_graphql_places_bets_and_reads_the_wallet(book: RunningGateway) -> None:
    place = """mutation { placeBet(idempotencyKey: "g1", eventId: "49ers-ravens-2026-03-23", marketId: "moneyline",
                 outcomeId: "home", stake: "10.00", odds: 1.85) { betId status odds stake potentialPayout } }"""
    async with punter(book) as client:
        made = (await client.post("/graphql", json={"query": place})).json()["data"]["placeBet"]
        again = (await client.post("/graphql", json={"query": place})).json()["data"]["placeBet"]
        mine = (await client.post("/graphql", json={"query": "{ bets { betId } wallet { available locked } }"})).json()
        poor = place.replace('"10.00"', '"5000.00"').replace('"g1"', '"g2"')
        refused = (await client.post("/graphql", json={"query": poor})).json()
    assert (made["status"], made["odds"], made["stake"], made["potentialPayout"]) == (
        "accepted",
        1.85,
        "10.00",
        "18.50",
    )
    assert again == made
    assert mine["data"]["bets"] == [{"betId": made["betId"]}]
    assert mine["data"]["wallet"] == {"available": "90.00", "locked": "10.00"}
    assert refused["errors"][0]["extensions"]["code"] == "RISK_LIMIT"  # 5,000 is over the maximum stake


async def test_reports_give_pnl_roi_and_win_rate(book: RunningGateway) -> None:
    await book.client.post("/api/v2/ingest", json=batch("a", update(1.91, 1.91, market="total", line=47.5)))
    async with punter(book) as ann:
        await ann.post("/api/v2/bets", json=bet(), headers={"Idempotency-Key": "1"})
        total = {**bet("20.00", odds=1.91, outcome="over"), "market_id": "total:47.5"}
        await ann.post("/api/v2/bets", json=total, headers={"Idempotency-Key": "2"})
    await book.client.post(
        "/api/v2/results", json={"event_id": EVENT, "market_id": "moneyline", "winning_outcome_ids": ["home"]}
    )
    await book.client.post(
        "/api/v2/results", json={"event_id": EVENT, "market_id": "total:47.5", "winning_outcome_ids": ["under"]}
    )
    async with punter(book) as ann:
        mine = (await ann.get("/api/v2/reports/me")).json()
        graphql = (await ann.post("/graphql", json={"query": "{ report }"})).json()["data"]["report"]
    overall = (await book.client.get("/api/v2/reports")).json()
    assert mine["overall"] == {
        "bets": 2,
        "staked": "30.00",
        "returned": "18.50",
        "pnl": "-11.50",
        "roi": -0.3833,
        "win_rate": 0.5,
    }
    assert mine["by_market"]["moneyline"]["pnl"] == "8.50"
    assert mine["by_market"]["total"]["pnl"] == "-20.00"
    assert mine["by_sport"]["american_football"]["bets"] == 2
    assert graphql == {k: v for k, v in mine.items() if k != "sub"}
    assert overall["overall"]["bets"] == 2


async def test_bets_decided_together_are_each_decided_alone(book: RunningGateway) -> None:
    """Concurrent bets share transactions; a refused one never costs the others theirs."""
    for sub in ("p0", "p1", "p2", "p3", "p4", "p5"):
        await book.client.post(f"/api/v2/wallets/{sub}/deposit", json={"amount": "30.00"})
    clients = [punter(book, sub=f"p{i}") for i in range(6)] + [punter(book, sub="nobody")]
    bodies = [bet("25.00", odds=1.85, accept="better") for _ in range(6)] + [bet("5.00")]
    bodies[2] = bet("25.00", odds=1.99)  # the live price is 1.85: refused under `exact`
    try:
        replies = await asyncio.gather(
            *(
                c.post("/api/v2/bets", json=b, headers={"Idempotency-Key": "k"})
                for c, b in zip(clients, bodies, strict=True)
            )
        )
        # A second stake of 25 on a 30 balance: refused for funds, in whichever batch it lands.
        again = await asyncio.gather(
            *(c.post("/api/v2/bets", json=bet("25.00"), headers={"Idempotency-Key": "k2"}) for c in clients[:2])
        )
    finally:
        for c in clients:
            await c.aclose()
    codes = [r.status_code for r in replies]
    assert codes == [201, 201, 409, 201, 201, 201, 409]
    assert replies[2].json()["error"]["code"] == "PRICE_CHANGED"
    assert replies[6].json()["error"]["code"] == "INSUFFICIENT_FUNDS"
    assert [r.json()["error"]["code"] for r in again] == ["INSUFFICIENT_FUNDS"] * 2
    assert await wallet_of(book, "p2") == ("30.00", "0.00")
    assert await wallet_of(book, "p3") == ("5.00", "25.00")
    exposure = (await book.client.get("/api/v2/exposure")).json()["data"]
    assert [(e["outcome_id"], e["stakes"], e["bets"]) for e in exposure] == [("home", "125.00", 5)]
    assert await book.services.wallets.check() == []


async def test_the_daily_loss_counts_settled_losses_and_forgets_rolled_back_ones(sqlite_url: str) -> None:
    limits = {"ann": {"daily_loss": "30.00", "bets_per_day": 3}}
    async with serving(gateway_settings(sqlite_url, user_risk_limits=limits)) as gateway:
        other = update(1.85, 2.10, home_team="Kansas City Chiefs", away_team="Buffalo Bills")
        await gateway.client.post("/api/v2/ingest", json=batch("a", update(1.85, 2.10), other))
        await gateway.client.post("/api/v2/wallets/ann/deposit", json={"amount": "100.00"})
        events = (await gateway.client.get("/api/v2/odds")).json()["data"]
        later = {**bet("15.00"), "event_id": next(e["id"] for e in events if e["id"] != EVENT)}
        async with punter(gateway) as ann:
            first = await ann.post("/api/v2/bets", json=bet("20.00"), headers={"Idempotency-Key": "1"})
            assert first.status_code == 201
            lost = await gateway.client.post(
                "/api/v2/results", json={"event_id": EVENT, "market_id": "moneyline", "winning_outcome_ids": ["away"]}
            )
            # 20 lost today: a stake of 15 could take the day's losses to 35, above 30.
            refused = await ann.post("/api/v2/bets", json=later, headers={"Idempotency-Key": "2"})
            assert (refused.status_code, refused.json()["error"]["limit"]) == (403, "daily_loss")
            await gateway.client.post(f"/api/v2/results/{lost.json()['id']}/rollback")
            taken = await ann.post("/api/v2/bets", json=later, headers={"Idempotency-Key": "3"})
            assert taken.status_code == 201
            small = {**later, "stake": "1.00"}
            third = await ann.post("/api/v2/bets", json=small, headers={"Idempotency-Key": "4"})
            fourth = await ann.post("/api/v2/bets", json=small, headers={"Idempotency-Key": "5"})
        assert third.status_code == 201
        assert (fourth.status_code, fourth.json()["error"]["limit"]) == (403, "bets_per_day")


async def test_a_rollback_whose_winnings_are_staked_again_is_refused_whole(book: RunningGateway) -> None:
    other = update(1.85, 2.10, home_team="Kansas City Chiefs", away_team="Buffalo Bills")
    await book.client.post("/api/v2/ingest", json=batch("a", other))
    events = (await book.client.get("/api/v2/odds")).json()["data"]
    later = {**bet("100.00"), "event_id": next(e["id"] for e in events if e["id"] != EVENT)}
    async with punter(book) as ann:
        assert (await ann.post("/api/v2/bets", json=bet("100.00"), headers={"Idempotency-Key": "1"})).status_code == 201
        won = await book.client.post(
            "/api/v2/results", json={"event_id": EVENT, "market_id": "moneyline", "winning_outcome_ids": ["home"]}
        )
        # 185.00 paid out, 100 of it staked again: the 185 a rollback takes back is no longer there.
        assert (await ann.post("/api/v2/bets", json=later, headers={"Idempotency-Key": "2"})).status_code == 201
    before = await wallet_of(book, "ann")
    refused = await book.client.post(f"/api/v2/results/{won.json()['id']}/rollback")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "INSUFFICIENT_FUNDS")
    assert "already staked the winnings" in refused.json()["error"]["message"]
    assert await wallet_of(book, "ann") == before == ("85.00", "100.00")
    again = await book.client.post(
        "/api/v2/results", json={"event_id": EVENT, "market_id": "moneyline", "winning_outcome_ids": ["home"]}
    )
    assert (again.status_code, again.json()["id"]) == (200, won.json()["id"])
    assert await book.services.wallets.check() == []
