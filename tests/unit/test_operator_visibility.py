"""What operator surfaces let a token see: the SQL form of `Visibility` gives the same answers as the
object, a webhook wants only what its owner's token and its filters allow, and scopes of which any
one will do."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, Engine, MetaData, String, Table, create_engine, insert, select

from auth.access import AccessControl
from auth.errors import Forbidden
from auth.jurisdictions import Jurisdictions
from auth.principal import MANAGE_WEBHOOKS, SCOPES, Principal
from auth.ratelimit import RateLimiter
from auth.tokens import TokenConfig, TokenService
from schema.visibility import EVERYTHING, Visibility
from store.visible import overlaps, sees_event
from usecases.alerting import sees_place
from usecases.webhooks import Hook

NFL = ("american_football", "NFL")
NCAAF = ("american_football", "NCAAF")
NBA = ("basketball", "NBA")
VISIBILITIES = [
    EVERYTHING,
    Visibility(frozenset()),
    Visibility(frozenset({NFL})),
    Visibility(frozenset({("american_football", "")})),
    Visibility(frozenset({NFL, NBA})),
    Visibility(frozenset({("football", ""), NBA})),
]
PLACES: list[tuple[str | None, str | None]] = [
    (sport, league)
    for sport, league in itertools.product(
        ["american_football", "basketball", "football", None], ["NFL", "NCAAF", "NBA", "", None]
    )
]


@pytest.fixture(scope="module")
def rows() -> tuple[Table, Engine]:
    engine = create_engine("sqlite://")
    table = Table("places", MetaData(), Column("sport", String, nullable=True), Column("league", String, nullable=True))
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"sport": s, "league": lg} for s, lg in PLACES])
    return table, engine


@pytest.mark.parametrize("visibility", VISIBILITIES, ids=lambda v: repr(v.sports))
def test_the_sql_conditions_answer_as_visibility_does(rows: tuple[Table, Engine], visibility: Visibility) -> None:
    table, engine = rows
    with engine.connect() as conn:
        seen = {
            tuple(r) for r in conn.execute(select(table).where(sees_event(visibility, table.c.sport, table.c.league)))
        }
        overlapping = {
            tuple(r) for r in conn.execute(select(table).where(overlaps(visibility, table.c.sport, table.c.league)))
        }
    known = [(s, lg) for s, lg in PLACES if s is not None and lg is not None]
    assert {p for p in seen if p in known} == {p for p in known if visibility.sees_event(*p)}
    assert {p for p in overlapping if p in known} == {p for p in known if visibility.overlaps(*p)}
    # An event the database has no sport for is seen only by a caller who sees every sport.
    unknown = {p for p in seen if p[0] is None}
    assert bool(unknown) == (visibility.sports is None)
    # A scope without a league is the whole sport.
    for sport, _ in NFL, NBA:
        if visibility.overlaps(sport, ""):
            assert (sport, None) in overlapping


def test_an_event_the_book_cannot_place_is_seen_only_by_every_sport() -> None:
    assert sees_place(EVERYTHING, None)
    assert not sees_place(Visibility(frozenset({NFL})), None)
    assert sees_place(Visibility(frozenset({NFL})), NFL)
    assert not sees_place(Visibility(frozenset({NFL})), NCAAF)


def hook(
    visibility: Visibility = EVERYTHING,
    sports: Visibility | None = None,
    event_ids: frozenset[str] | None = None,
) -> Hook:
    return Hook("h", "https://partner.example/hook", frozenset({"alert"}), "s" * 16, "o", visibility, sports, event_ids)


def test_a_webhook_wants_only_what_its_owner_sees_and_its_filters_name() -> None:
    nfl_owner = hook(Visibility(frozenset({NFL})))
    assert nfl_owner.wants("e1", NFL)
    assert not nfl_owner.wants("e2", NBA)
    assert not nfl_owner.wants("e3", NCAAF)
    assert not nfl_owner.wants("e4", None)  # gone from the book: it might not be theirs
    assert nfl_owner.wants(None, None)  # a source down concerns every sport
    french = hook(Visibility(None, frozenset({"moneyline"})))
    assert french.wants("e1", NFL, "moneyline")
    assert not french.wants("e1", NFL, "spread")
    nba_only = hook(sports=Visibility(frozenset({NBA})))
    assert nba_only.wants("e2", NBA)
    assert not nba_only.wants("e1", NFL)
    assert not nba_only.wants(None, None)  # filtered to events: nothing about no event
    one_event = hook(event_ids=frozenset({"e1"}))
    assert one_event.wants("e1", NFL)
    assert not one_event.wants("e2", NFL)
    assert not one_event.wants(None, None)


def principal(*scopes: str) -> Principal:
    return Principal("p", frozenset(scopes), frozenset({"*"}), None, False, None, "j", datetime.now(UTC) + timedelta(1))


def test_webhooks_manage_is_a_scope_and_either_scope_manages_webhooks() -> None:
    assert "webhooks:manage" in SCOPES
    principal("webhooks:manage").require(MANAGE_WEBHOOKS)
    principal("odds:control").require(MANAGE_WEBHOOKS)
    principal("admin").require(MANAGE_WEBHOOKS)
    with pytest.raises(Forbidden, match="'webhooks:manage' or 'odds:control'"):
        principal("odds:read").require(MANAGE_WEBHOOKS)
    with pytest.raises(Forbidden, match="'odds:control'"):
        principal("webhooks:manage").require("odds:control")


def test_recorded_claims_see_what_the_token_saw() -> None:
    sports = {"nfl": NFL, "nba": NBA}
    access = AccessControl(
        TokenService(TokenConfig(secret="x" * 40)),
        RateLimiter(None, "100/minute"),
        Jurisdictions.load(),
        sports.get,
        lambda name: name,
    )
    token = Principal("p", frozenset(), frozenset({"nfl"}), "FR", False, None, "j", datetime.now(UTC))
    assert access.visibility_of(frozenset({"nfl"}), "FR") == access.visibility(token)
    assert access.visibility_of(frozenset({"nfl"}), None).sports == frozenset({NFL})
    assert access.visibility_of(frozenset({"*"}), None).sports is None
