import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from feeds.aliases import AliasBook, AliasDataError, alias_key, slugify
from feeds.normalize import Normalizer, outcome_name
from schema.errors import InvalidRequest
from schema.model import EventStatus, MarketType, SourceQuote

START = datetime(2026, 3, 23, 20, 20, tzinfo=UTC)


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer(AliasBook.load())


def quote(
    *,
    sport: str = "NFL",
    league: str | None = "NFL",
    home: str = "San Francisco 49ers",
    away: str = "Baltimore Ravens",
    status: str | None = "live",
    market: str | None = "moneyline",
    line: Decimal | None = None,
    prices: tuple[tuple[str, Decimal | None], ...] = (("home", Decimal("1.85")), ("away", Decimal("2.10"))),
) -> SourceQuote:
    return SourceQuote("v", sport, league, home, away, START, status, market, line, prices, False, START)


def test_the_contract_example_gets_its_persistent_id(normalizer: Normalizer) -> None:
    result = normalizer.normalize(quote())
    assert result.event.id == "49ers-ravens-2026-03-23"
    assert result.event.sport == "american_football"
    assert result.event.league == "NFL"
    assert result.status is EventStatus.LIVE
    assert result.market_id == "moneyline"


@pytest.mark.parametrize(
    ("home", "away"), [("SF", "BAL"), ("49ers", "Ravens"), ("sfo", "baltimore"), ("Niners", "BAL")]
)
def test_team_aliases_reach_one_event(normalizer: Normalizer, home: str, away: str) -> None:
    result = normalizer.normalize(quote(home=home, away=away))
    assert result.event.id == "49ers-ravens-2026-03-23"
    assert result.event.home_team == "San Francisco 49ers"


@pytest.mark.parametrize(
    ("sport", "league", "expected"),
    [
        ("American Football", "nfl", ("american_football", "NFL")),
        ("NFL", None, ("american_football", "NFL")),
        ("soccer", "EPL", ("football", "Premier League")),
        ("Football", "eng.1", ("football", "Premier League")),
        ("ice-hockey", "NHL", ("ice_hockey", "NHL")),
        ("Basketball", "Some Cup", ("basketball", "Some Cup")),
    ],
)
def test_sports_and_leagues(normalizer: Normalizer, sport: str, league: str | None, expected: tuple[str, str]) -> None:
    assert normalizer.sport_and_league(sport, league) == expected


def test_unknown_names_are_refused_with_the_name(normalizer: Normalizer) -> None:
    with pytest.raises(InvalidRequest, match="unknown sport 'curling'"):
        normalizer.normalize(quote(sport="curling", league=None))
    with pytest.raises(InvalidRequest, match="unknown market 'corners'"):
        normalizer.normalize(quote(market="corners"))
    with pytest.raises(InvalidRequest, match="unknown status 'halftime-ish'"):
        normalizer.normalize(quote(status="halftime-ish"))
    with pytest.raises(InvalidRequest, match="belongs to basketball"):
        normalizer.normalize(quote(league="NBA"))


@pytest.mark.parametrize(
    ("market", "line", "labels", "expected_type", "expected_ids"),
    [
        ("h2h", None, ("49ers", "Ravens"), MarketType.MONEYLINE, ("home", "away")),
        ("Match Winner", None, ("1", "2"), MarketType.MONEYLINE, ("home", "away")),
        ("1X2", None, ("1", "X", "2"), MarketType.THREE_WAY, ("home", "draw", "away")),
        ("moneyline", None, ("home", "draw", "away"), MarketType.THREE_WAY, ("home", "draw", "away")),
        ("Handicap", Decimal("-3.5"), ("49ers -3.5", "Ravens +3.5"), MarketType.SPREAD, ("home", "away")),
        ("Total Points", Decimal("47.5"), ("Over 47.5", "Under 47.5"), MarketType.TOTAL, ("over", "under")),
        ("ou", Decimal("47.5"), ("o", "u"), MarketType.TOTAL, ("over", "under")),
    ],
)
def test_markets_and_outcomes(
    normalizer: Normalizer,
    market: str,
    line: Decimal | None,
    labels: tuple[str, ...],
    expected_type: MarketType,
    expected_ids: tuple[str, ...],
) -> None:
    prices = tuple((label, Decimal("1.9")) for label in labels)
    result = normalizer.normalize(quote(market=market, line=line, prices=prices))
    assert result.market_type is expected_type
    assert tuple(o for o, _ in result.prices) == expected_ids
    assert result.market_id == (expected_type.value if line is None else f"{expected_type.value}:{line}")


def test_lines_are_required_where_they_belong(normalizer: Normalizer) -> None:
    with pytest.raises(InvalidRequest, match="spread market needs a line"):
        normalizer.normalize(quote(market="spread"))
    with pytest.raises(InvalidRequest, match="moneyline market has no line"):
        normalizer.normalize(quote(line=Decimal("3.5")))


def test_outcomes_must_fit_the_market(normalizer: Normalizer) -> None:
    with pytest.raises(InvalidRequest, match="does not belong to a total market"):
        normalizer.normalize(quote(market="total", line=Decimal("47.5"), prices=(("home", Decimal("1.9")),)))
    with pytest.raises(InvalidRequest, match="appears twice"):
        normalizer.normalize(quote(prices=(("home", Decimal("1.9")), ("SF", Decimal("1.9")))))
    with pytest.raises(InvalidRequest, match="unknown outcome 'Bengals'"):
        normalizer.normalize(quote(prices=(("Bengals", Decimal("1.9")),)))


def test_the_same_team_on_both_sides_is_refused(normalizer: Normalizer) -> None:
    with pytest.raises(InvalidRequest, match="same team"):
        normalizer.normalize(quote(home="SF", away="49ers"))


def test_unknown_teams_are_kept_and_slugified(normalizer: Normalizer) -> None:
    result = normalizer.normalize(quote(sport="tennis", league="ATP", home="Ada  Quillfeather", away="Bo Tarrant"))
    assert result.event.home_team == "Ada Quillfeather"
    assert result.event.id == "ada-quillfeather-bo-tarrant-2026-03-23"


def test_outcome_names_read_like_a_bookmaker_writes_them() -> None:
    event = Normalizer(AliasBook.load()).normalize(quote()).event
    assert outcome_name(event, MarketType.SPREAD, Decimal("-3.5"), "home") == "San Francisco 49ers -3.5"
    assert outcome_name(event, MarketType.SPREAD, Decimal("-3.5"), "away") == "Baltimore Ravens +3.5"
    assert outcome_name(event, MarketType.TOTAL, Decimal("47.5"), "over") == "Over 47.5"
    assert outcome_name(event, MarketType.THREE_WAY, None, "draw") == "Draw"


def test_users_extend_aliases_with_their_own_file(tmp_path: Path) -> None:
    extra = tmp_path / "mine.toml"
    extra.write_text(
        '[sports.cricket]\naliases = ["cricket", "t20"]\n'
        '[[teams]]\nsport = "american_football"\nname = "San Francisco 49ers"\n'
        'slug = "49ers"\naliases = ["Gold Rush"]\n'
    )
    normalizer = Normalizer(AliasBook.load([extra]))
    assert normalizer.sport_and_league("T20", None) == ("cricket", "")
    assert normalizer.normalize(quote(home="Gold Rush")).event.home_team == "San Francisco 49ers"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[leagues.X]\nsport = 'polo'\n", "unknown sport 'polo'"),
        ("[markets.corners]\naliases = []\n", "not a canonical MarketType"),
        ("[[teams]]\nsport = 'tennis'\nname = 'A'\nslug = 'Not A Slug'\n", "must be lowercase"),
        ("not toml = = =", "mine.toml"),
    ],
)
def test_a_malformed_alias_file_names_the_problem(tmp_path: Path, content: str, message: str) -> None:
    extra = tmp_path / "mine.toml"
    extra.write_text(content)
    with pytest.raises(AliasDataError, match=message):
        AliasBook.load([extra])


def test_keys_and_slugs() -> None:
    assert alias_key("Ice-Hockey") == alias_key("ice hockey") == alias_key("ICE_HOCKEY")
    assert slugify("Paris Saint-Germain") == "paris-saint-germain"
    assert slugify("Atlético Madrid") == "atletico-madrid"
    assert slugify("Borussia Mönchengladbach") == "borussia-monchengladbach"


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("home_team", "San Francisco\x0049ers", "'home_team' contains the control character U+0000"),
        ("away_team", "Ravens\u2028", "'away_team' contains the control character U+2028"),
        ("source", "s" * 129, "'source' is 129 characters long"),
        ("league", "N\x85FL", "'league' contains the control character U+0085"),
        ("home_team", "x" * 91, "'home_team' is 91 characters long"),
    ],
)
def test_text_that_cannot_be_stored_is_refused_by_field(
    normalizer: Normalizer, field: str, value: str, says: str
) -> None:
    changes: dict[str, Any] = {field: value}
    bad = replace(quote(), **changes)
    for _ in range(2):  # the second time from what the first remembered
        with pytest.raises(InvalidRequest, match=re.escape(says)):
            normalizer.normalize(bad)


def test_text_is_stored_in_nfc_and_stripped(normalizer: Normalizer) -> None:
    decomposed = replace(quote(), home_team=" Cafe\u0301 Olympique ", source=" vendor_a ")
    for _ in range(2):
        normalized = normalizer.normalize(decomposed)
        assert normalized.event.home_team == "Café Olympique"
        assert normalized.source == "vendor_a"
