"""The use-cases, called as a door calls them, without HTTP: one rule each for scopes, paging,
visibility and what "made" means, whichever door asks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from auth.principal import Principal
from gateway.services import Services, start_services, stop_services
from schema.answers import Made
from schema.commands import CreateOverride, Deposit, PlaceBet, command
from schema.errors import Forbidden, InvalidRequest, NotFound
from schema.paging import Page
from tests.conftest import gateway_settings
from tests.integration.payloads import batch, update
from tests.support.waiting import until
from usecases.odds import EventFilter
from usecases.operators import OverrideFilter

NFL = "49ers-ravens-2026-03-23"
NBA = "lakers-celtics-2026-03-23"


def caller(*scopes: str, sub: str = "tests", sports: tuple[str, ...] = ("*",), region: str | None = None) -> Principal:
    return Principal(
        sub,
        frozenset(scopes),
        frozenset(sports),
        region,
        True,
        None,
        None,
        datetime.now(UTC) + timedelta(hours=1),
    )


@pytest.fixture
async def services(sqlite_url: str) -> AsyncIterator[Services]:
    running = await start_services(gateway_settings(sqlite_url))
    try:
        nba = update(1.90, 1.95, sport="NBA", league="NBA", home_team="Lakers", away_team="Celtics")
        result = running.ingesting.run("canonical", orjson.dumps(batch("a", update(), nba)))
        assert not result.rejected
        yield running
    finally:
        await stop_services(running)


def test_pages_have_one_rule() -> None:
    assert Page() == Page(100, 0)
    for limit, offset in ((0, 0), (501, 0), (10, -1), (10, 1_000_001)):
        with pytest.raises(InvalidRequest):
            Page(limit, offset)


async def test_listing_admits_the_scope_and_shows_the_callers_sports(services: Services) -> None:
    everyone = services.odds.events(caller("odds:read"), EventFilter(), Page())
    nfl_only = services.odds.events(caller("odds:read", sports=("nfl",)), EventFilter(), Page())
    assert {e.info.id for e in everyone.items} == {NFL, NBA}
    assert ([e.info.id for e in nfl_only.items], nfl_only.total) == ([NFL], 1)
    with pytest.raises(Forbidden):
        services.odds.events(caller("bets:place"), EventFilter(), Page())
    with pytest.raises(Forbidden):
        services.odds.event(caller("odds:read", sports=("nfl",)), NBA)
    with pytest.raises(NotFound):
        services.odds.event(caller("odds:read"), "no-such-event")
    assert services.odds.find(caller("odds:read"), "no-such-event") is None


async def test_a_listing_names_sports_as_clients_write_them(services: Services) -> None:
    found = services.odds.events(caller("odds:read"), EventFilter(sport="nfl", markets=("moneyline",)), Page(1))
    assert ([e.info.id for e in found.items], found.total, found.page) == ([NFL], 1, Page(1))


async def test_a_deposit_is_made_once_per_reference(services: Services) -> None:
    admin = caller("wallet:admin")
    first = await services.betting.deposit(admin, "ann", Deposit(amount="10.00", reference="pay-1"))
    again = await services.betting.deposit(admin, "ann", Deposit(amount="10.00", reference="pay-1"))
    assert (first.made, again.made, str(again.wallet.available)) == (Made.CREATED, Made.REPLAYED, "10.00")
    with pytest.raises(Forbidden):
        await services.betting.deposit(caller("bets:place"), "ann", Deposit(amount="10.00", reference="pay-2"))
    with pytest.raises(InvalidRequest):
        command(Deposit, {"amount": 10.5, "reference": "pay-3"})


async def test_a_bet_is_made_then_replayed_at_the_audiences_price(services: Services) -> None:
    await services.betting.deposit(caller("wallet:admin"), "ann", Deposit(amount="100.00", reference="pay"))
    ann = caller("bets:place", sub="ann")
    body = PlaceBet(event_id=NFL, market_id="moneyline", outcome_id="home", stake="10.00", odds=1.85)
    made, bet = await services.betting.place(ann, "k", body)
    again, same = await services.betting.place(ann, "k", body)
    assert (made, again, same) == (Made.CREATED, Made.REPLAYED, bet)
    page = await services.betting.bets(ann, Page(10))
    assert ([b.bet_id for b in page.items], page.total) == ([bet.bet_id], 1)
    nba_only = caller("bets:place", sub="ann", sports=("nba",))
    with pytest.raises(Forbidden):
        await services.betting.place(nba_only, "k2", body)


async def test_operator_views_admit_control_and_filter_by_sport(services: Services) -> None:
    trader = caller("odds:control")
    for scope in ({"sport": "nba"}, {"event_id": NFL}):
        await services.operators.override(
            trader, command(CreateOverride, {"scope": scope, "action": "suspend", "reason": "t"})
        )
    nfl_trader = caller("odds:control", sports=("nfl",))

    async def audited() -> bool:
        # An event's sport is read from the audit, which the writer fills in the background.
        return (await services.operators.overrides(nfl_trader, OverrideFilter(), Page())).total == 1

    await until(audited)
    everything = await services.operators.overrides(trader, OverrideFilter(), Page())
    nfl = await services.operators.overrides(nfl_trader, OverrideFilter(), Page())
    by_name = await services.operators.overrides(trader, OverrideFilter(sport="nba"), Page())
    assert (everything.total, nfl.total, by_name.total) == (2, 1, 1)
    with pytest.raises(Forbidden):
        await services.operators.overrides(caller("odds:read"), OverrideFilter(), Page())
