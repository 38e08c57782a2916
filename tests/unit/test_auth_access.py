"""auth.jurisdictions and auth.access: region rules, admission by scope and region, and what a token sees."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from auth.access import AccessControl
from auth.errors import AgeVerificationRequired, Forbidden, RegionBlocked, Unauthenticated
from auth.jurisdictions import Jurisdictions
from auth.principal import Principal
from auth.ratelimit import RateLimiter
from auth.tokens import TokenConfig, TokenService

SPORTS: dict[str, tuple[str, str]] = {
    "nfl": ("american_football", "NFL"),
    "nba": ("basketball", "NBA"),
    "football": ("football", ""),
    "epl": ("football", "EPL"),
}
MARKETS: dict[str, str] = {"moneyline": "moneyline", "1x2": "1x2", "total": "total"}


def resolve_sport(name: str) -> tuple[str, str] | None:
    return SPORTS.get(name)


def resolve_market(name: str) -> str | None:
    return MARKETS.get(name)


def principal(region: str | None = None, *, age_verified: bool = False, scopes: tuple[str, ...] = ()) -> Principal:
    return Principal("alice", frozenset(scopes), frozenset({"*"}), region, age_verified, None, "j", datetime.now(UTC))


@pytest.fixture(scope="module")
def built_in() -> Jurisdictions:
    return Jurisdictions.load()


@pytest.fixture
def tokens() -> TokenService:
    return TokenService(TokenConfig(secret="x" * 40))


def access_control(tokens: TokenService, jurisdictions: Jurisdictions) -> AccessControl:
    return AccessControl(tokens, RateLimiter(None, "100/minute"), jurisdictions, resolve_sport, resolve_market)


@pytest.fixture
def access(tokens: TokenService, built_in: Jurisdictions) -> AccessControl:
    return access_control(tokens, built_in)


# -- Jurisdictions: the built-in file -------------------------------------------------------------------


def test_no_region_follows_the_default_which_lets_anyone_view(built_in: Jurisdictions) -> None:
    rules = built_in.check_view(principal(None))

    assert rules is built_in.default
    assert not rules.blocked
    assert not rules.view_requires_age_verification
    assert rules.minimum_age == 18


@pytest.mark.parametrize("region", ["US-UT", "us-ut", "US-HI", "KP"])
def test_a_blocked_region_cannot_view(built_in: Jurisdictions, region: str) -> None:
    with pytest.raises(RegionBlocked) as raised:
        built_in.check_view(principal(region, age_verified=True))
    assert raised.value.code == "REGION_BLOCKED"


def test_an_unlisted_subdivision_falls_back_to_its_country(built_in: Jurisdictions) -> None:
    rules = built_in.rules("US-NJ")

    assert rules is built_in.regions["US"]
    assert rules.view_requires_age_verification
    assert rules.minimum_age == 21


def test_viewing_in_us_nj_needs_age_verification(built_in: Jurisdictions) -> None:
    with pytest.raises(AgeVerificationRequired, match="minimum age 21") as raised:
        built_in.check_view(principal("US-NJ", age_verified=False))
    assert raised.value.code == "AGE_VERIFICATION_REQUIRED"


def test_viewing_in_us_nj_passes_when_age_verified(built_in: Jurisdictions) -> None:
    assert built_in.check_view(principal("US-NJ", age_verified=True)).region == "US"


@pytest.mark.parametrize("region", ["ZZ", "ZZ-QQ", ""])
def test_an_unknown_region_follows_the_default(built_in: Jurisdictions, region: str) -> None:
    assert built_in.rules(region) is built_in.default
    assert built_in.check_view(principal(region)) is built_in.default


@pytest.mark.parametrize("region", [None, "GB", "ZZ", "US-NJ"])
def test_betting_always_needs_age_verification(built_in: Jurisdictions, region: str | None) -> None:
    with pytest.raises(AgeVerificationRequired):
        built_in.check_betting(principal(region, age_verified=False))


def test_betting_names_the_minimum_age_of_the_region(built_in: Jurisdictions) -> None:
    with pytest.raises(AgeVerificationRequired, match=r"placing bets .*minimum age 18"):
        built_in.check_betting(principal("GB", age_verified=False))


def test_betting_passes_when_age_verified(built_in: Jurisdictions) -> None:
    assert built_in.check_betting(principal("GB", age_verified=True)).region == "GB"


def test_betting_in_a_blocked_region_is_blocked_even_when_age_verified(built_in: Jurisdictions) -> None:
    with pytest.raises(RegionBlocked):
        built_in.check_betting(principal("US-UT", age_verified=True))


def test_france_lists_its_market_types(built_in: Jurisdictions) -> None:
    assert built_in.rules("fr").markets == frozenset({"moneyline", "1x2", "total"})


# -- Jurisdictions: files of one's own ---------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jurisdictions.toml"
    path.write_text(text)
    return path


def test_a_region_inherits_unset_keys_from_the_default(tmp_path: Path) -> None:
    loaded = Jurisdictions.load(write(tmp_path, "[default]\nminimum_age = 19\n[regions.ca]\nmarkets = ['1x2']\n"))

    assert loaded.rules("CA").minimum_age == 19
    assert loaded.rules("CA").region == "CA"
    assert loaded.rules("CA").markets == frozenset({"1x2"})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[regions.FR]\nmarket = ['1x2']\n", "unknown keys market"),
        ("[default]\nblock = true\n", "unknown keys block"),
        ("[regions.FR]\nblocked = 'yes'\n", "blocked must be true or false"),
        ("[regions.US]\nview_requires_age_verification = 1\n", "view_requires_age_verification must be true or false"),
        ("[regions.US]\nminimum_age = '21'\n", "minimum_age must be a whole number"),
        ("[regions.US]\nminimum_age = 0\n", "minimum_age must be a whole number"),
        ("[regions.US]\nminimum_age = 21.5\n", "minimum_age must be a whole number"),
        ("[regions.FR]\nmarkets = 'moneyline'\n", "markets must be a list of names"),
        ("[regions.FR]\nsports = ['nfl', 3]\n", "sports must be a list of names"),
        ("default = 3\n", "[default] must be a table"),
        ("[regions]\nFR = 3\n", "[FR] must be a table"),
        ("[regions.FR\nblocked = true\n", "jurisdictions file"),
    ],
)
def test_a_bad_file_raises_value_error_naming_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, text)

    with pytest.raises(ValueError, match=r"jurisdictions\.toml") as raised:
        Jurisdictions.load(path)
    assert problem in str(raised.value)


def test_a_missing_file_raises_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"nowhere\.toml"):
        Jurisdictions.load(tmp_path / "nowhere.toml")


def test_a_regions_key_that_is_not_a_table_raises_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="regions"):
        Jurisdictions.load(write(tmp_path, "regions = 5\n"))


def test_a_boolean_minimum_age_raises_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="minimum_age"):
        Jurisdictions.load(write(tmp_path, "[default]\nminimum_age = true\n"))


# -- AccessControl: authentication ---------------------------------------------------------------------------


def test_authenticate_returns_the_tokens_principal(access: AccessControl, tokens: TokenService) -> None:
    token, claims = tokens.issue("alice", ["odds:read"])

    found = access.authenticate(token)

    assert found.sub == "alice"
    assert found.jti == claims["jti"]


def test_a_revoked_jti_is_refused(access: AccessControl, tokens: TokenService) -> None:
    token, claims = tokens.issue("alice", ["odds:read"])
    other, _ = tokens.issue("bob", ["odds:read"])
    access.update_revoked(frozenset({claims["jti"]}))

    with pytest.raises(Unauthenticated, match="revoked"):
        access.authenticate(token)
    assert access.authenticate(other).sub == "bob"


def test_connections_are_told_once_when_their_token_is_revoked(access: AccessControl, tokens: TokenService) -> None:
    alice = access.authenticate(tokens.issue("alice", ["odds:read"])[0])
    bob = access.authenticate(tokens.issue("bob", ["odds:read"])[0])
    told: list[str] = []
    access.watch(alice, lambda: told.append("alice-1"))
    access.watch(alice, lambda: told.append("alice-2"))
    stop_bob = access.watch(bob, lambda: told.append("bob"))
    stop_bob()
    assert alice.jti is not None
    assert bob.jti is not None
    access.update_revoked(frozenset({alice.jti, bob.jti}))
    access.update_revoked(frozenset({alice.jti, bob.jti}))
    assert sorted(told) == ["alice-1", "alice-2"]


def test_authenticate_header_reads_a_bearer_header(access: AccessControl, tokens: TokenService) -> None:
    token, _ = tokens.issue("alice", ["odds:read"])

    assert access.authenticate_header(f"Bearer {token}").sub == "alice"
    with pytest.raises(Unauthenticated):
        access.authenticate_header(token)


# -- AccessControl: admission -----------------------------------------------------------------------------------


def test_admit_refuses_a_token_without_the_scope(access: AccessControl) -> None:
    with pytest.raises(Forbidden, match="odds:read"):
        access.admit(principal(scopes=("bets:place",), age_verified=True), "odds:read")


def test_admit_blocks_odds_reading_in_a_blocked_region(access: AccessControl) -> None:
    with pytest.raises(RegionBlocked):
        access.admit(principal("US-UT", scopes=("odds:read",), age_verified=True), "odds:read")


def test_admit_blocks_insights_reading_in_a_blocked_region(access: AccessControl) -> None:
    with pytest.raises(RegionBlocked):
        access.admit(principal("US-UT", scopes=("insights:read",)), "insights:read")


def test_admit_requires_age_verification_to_place_bets(access: AccessControl) -> None:
    with pytest.raises(AgeVerificationRequired):
        access.admit(principal("GB", scopes=("bets:place",), age_verified=False), "bets:place")


def test_admit_lets_an_age_verified_caller_place_bets(access: AccessControl) -> None:
    access.admit(principal("GB", scopes=("bets:place",), age_verified=True), "bets:place")


def test_admit_checks_the_scope_before_the_region(access: AccessControl) -> None:
    with pytest.raises(Forbidden):
        access.admit(principal("US-UT", scopes=("odds:read",)), "bets:place")


def test_admin_still_obeys_region_rules_for_viewing(access: AccessControl) -> None:
    with pytest.raises(RegionBlocked):
        access.admit(principal("US-UT", scopes=("admin",), age_verified=True), "odds:read")


def test_scopes_that_do_not_show_odds_are_not_region_gated(access: AccessControl) -> None:
    access.admit(principal("US-UT", scopes=("odds:ingest",)), "odds:ingest")


# -- AccessControl: visibility ---------------------------------------------------------------------------------


def sports_principal(*sports: str, region: str | None = None) -> Principal:
    return Principal("alice", frozenset({"odds:read"}), frozenset(sports), region, True, None, "j", datetime.now(UTC))


def test_all_sports_sees_everything(access: AccessControl) -> None:
    seen = access.visibility(sports_principal("*"))

    assert seen.everything
    assert seen.sees_event("curling", "World Cup")
    assert seen.sees_market("handicap")


def test_a_token_for_nfl_sees_only_the_nfl(access: AccessControl) -> None:
    seen = access.visibility(sports_principal("nfl"))

    assert seen.sports == frozenset({("american_football", "NFL")})
    assert seen.market_types is None
    assert seen.sees_event("american_football", "NFL")
    assert not seen.sees_event("american_football", "CFL")
    assert not seen.sees_event("basketball", "NBA")
    assert seen.overlaps("american_football", "")
    assert seen.overlaps("american_football", "NFL")
    assert not seen.overlaps("american_football", "CFL")
    assert not seen.overlaps("basketball", "")


def test_a_token_for_a_whole_sport_sees_every_league_of_it(access: AccessControl) -> None:
    seen = access.visibility(sports_principal("football"))

    assert seen.sees_event("football", "EPL")
    assert seen.sees_event("football", "Serie A")
    assert not seen.sees_event("basketball", "NBA")


def test_unresolvable_sport_names_are_dropped(access: AccessControl) -> None:
    seen = access.visibility(sports_principal("nba", "quidditch"))

    assert seen.sports == frozenset({("basketball", "NBA")})


def test_france_narrows_the_market_types(access: AccessControl) -> None:
    seen = access.visibility(sports_principal("*", region="FR"))

    assert seen.sports is None
    assert seen.market_types == frozenset({"moneyline", "1x2", "total"})
    assert seen.sees_market("1x2")
    assert not seen.sees_market("spread")


def test_a_region_without_rules_on_sports_or_markets_does_not_narrow(access: AccessControl) -> None:
    assert access.visibility(sports_principal("nfl", region="GB")).market_types is None
    assert access.visibility(sports_principal("*", region="GB")).everything


def test_region_sports_intersect_with_the_tokens(tokens: TokenService, tmp_path: Path) -> None:
    rules = Jurisdictions.load(write(tmp_path, "[regions.XA]\nsports = ['nfl', 'football']\n"))
    access = access_control(tokens, rules)

    assert access.visibility(sports_principal("*", region="XA")).sports == frozenset(
        {("american_football", "NFL"), ("football", "")}
    )
    assert access.visibility(sports_principal("nfl", "nba", region="XA")).sports == frozenset(
        {("american_football", "NFL")}
    )
    # A league of a sport the region allows whole stays that league.
    assert access.visibility(sports_principal("epl", region="XA")).sports == frozenset({("football", "EPL")})


def test_visibility_is_cached_per_sports_and_region(access: AccessControl) -> None:
    first = access.visibility(sports_principal("nfl", region="FR"))

    assert access.visibility(sports_principal("nfl", region="FR")) is first
    assert access.visibility(sports_principal("nfl")) is not first


def test_a_listed_subdivision_starts_from_its_countrys_rules(tmp_path: Path) -> None:
    rules = Jurisdictions.load(
        write(
            tmp_path,
            "[regions.US]\nview_requires_age_verification = true\nminimum_age = 21\n"
            '[regions.US-NV]\nmarkets = ["moneyline"]\n',
        )
    ).rules("US-NV")
    assert (rules.view_requires_age_verification, rules.minimum_age) == (True, 21)
    assert rules.markets == frozenset({"moneyline"})


def test_unknown_top_level_tables_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="defaults"):
        Jurisdictions.load(write(tmp_path, "[defaults]\nblocked = true\n"))


def test_a_star_lists_everything(tmp_path: Path) -> None:
    rules = Jurisdictions.load(write(tmp_path, '[regions.GB]\nsports = ["*"]\n')).rules("GB")
    assert rules.sports is None
