"""auth.tokens: issuing and verifying bearer tokens (HS256 and RS256 with key rotation), bearer(),
load_key_set(), and the scope checks of auth.principal."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwt

from auth.errors import Forbidden, Unauthenticated
from auth.principal import SCOPES, Principal
from auth.tokens import AUDIENCE, ISSUER, SigningKey, TokenConfig, TokenService, bearer, load_key_set
from schema.errors import Forbidden as SchemaForbidden
from schema.errors import InvalidRequest

SECRET = "x" * 40


@pytest.fixture
def service() -> TokenService:
    return TokenService(TokenConfig(secret=SECRET))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_by_hand(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """A JWT signed with HMAC-SHA256 without python-jose (which refuses some keys, e.g. PEMs)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def valid_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "alice",
        "scopes": ["odds:read"],
        "sports": ["*"],
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "jti": "j-1",
    }
    claims.update(overrides)
    return claims


# -- HS256: issue and verify ------------------------------------------------------------------------


def test_issue_then_verify_round_trips_every_claim(service: TokenService) -> None:
    token, claims = service.issue(
        "alice",
        ["odds:read", "bets:place", "odds:read"],
        ["nfl", "nba"],
        region="us-nj",
        age_verified=True,
        rate_limit="10/second",
        ttl=timedelta(minutes=5),
    )

    principal = service.verify(token)

    assert principal.sub == "alice"
    assert principal.scopes == frozenset({"odds:read", "bets:place"})
    assert principal.sports == frozenset({"nfl", "nba"})
    assert principal.region == "US-NJ"
    assert claims["region"] == "US-NJ"
    assert principal.age_verified is True
    assert principal.rate_limit == "10/second"
    assert principal.jti == claims["jti"]
    assert principal.expires_at == datetime.fromtimestamp(claims["exp"], UTC)
    assert claims["exp"] - claims["iat"] == 300
    assert claims["scopes"] == ["bets:place", "odds:read"]


def test_issue_defaults_to_all_sports_no_region_and_not_age_verified(service: TokenService) -> None:
    token, _ = service.issue("bob", ["odds:read"])

    principal = service.verify(token)

    assert principal.sports == frozenset({"*"})
    assert principal.all_sports
    assert principal.region is None
    assert principal.age_verified is False
    assert principal.rate_limit is None


def test_each_issued_token_gets_its_own_jti(service: TokenService) -> None:
    _, first = service.issue("alice", ["odds:read"])
    _, second = service.issue("alice", ["odds:read"])

    assert first["jti"] != second["jti"]


def test_issue_refuses_an_unknown_scope(service: TokenService) -> None:
    with pytest.raises(InvalidRequest, match="odds:write"):
        service.issue("alice", ["odds:read", "odds:write"])


@pytest.mark.parametrize("ttl", [timedelta(days=30, seconds=1), timedelta(0), timedelta(seconds=-1)])
def test_issue_refuses_a_ttl_outside_zero_to_max_ttl(service: TokenService, ttl: timedelta) -> None:
    with pytest.raises(InvalidRequest, match="ttl"):
        service.issue("alice", ["odds:read"], ttl=ttl)


def test_issue_accepts_exactly_max_ttl(service: TokenService) -> None:
    token, claims = service.issue("alice", ["odds:read"], ttl=timedelta(days=30))

    assert service.verify(token).sub == "alice"
    assert claims["exp"] - claims["iat"] == 30 * 86400


def test_an_expired_token_is_refused(service: TokenService) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=1, seconds=120)
    token, _ = service.issue("alice", ["odds:read"], ttl=timedelta(hours=1), now=long_ago)

    with pytest.raises(Unauthenticated, match="expired"):
        service.verify(token)


def test_a_token_expired_by_less_than_the_leeway_is_accepted(service: TokenService) -> None:
    assert service.config.leeway == 30
    just_now = datetime.now(UTC) - timedelta(hours=1, seconds=5)
    token, claims = service.issue("alice", ["odds:read"], ttl=timedelta(hours=1), now=just_now)

    assert claims["exp"] < time.time()
    assert service.verify(token).sub == "alice"


@pytest.mark.parametrize(
    ("override", "reason"),
    [({"aud": "someone-else"}, "audience"), ({"iss": "not-oddsgate"}, "issuer")],
)
def test_a_token_for_another_audience_or_issuer_is_refused(
    service: TokenService, override: dict[str, str], reason: str
) -> None:
    token = jwt.encode(valid_claims(**override), SECRET, algorithm="HS256")

    with pytest.raises(Unauthenticated, match=f"(?i){reason}"):
        service.verify(token)


def test_a_hand_built_token_with_every_required_claim_is_accepted(service: TokenService) -> None:
    token = jwt.encode(valid_claims(), SECRET, algorithm="HS256")

    assert service.verify(token).sub == "alice"


@pytest.mark.parametrize("missing", ["sub", "exp", "iat", "iss", "aud"])
def test_a_token_missing_a_required_claim_is_refused(service: TokenService, missing: str) -> None:
    claims = valid_claims()
    del claims[missing]
    token = jwt.encode(claims, SECRET, algorithm="HS256")

    with pytest.raises(Unauthenticated, match=missing):
        service.verify(token)


def test_the_hand_signing_helper_makes_tokens_the_service_accepts(service: TokenService) -> None:
    # Guards the attack tests below: their tokens are refused for what they claim, not for bad encoding.
    token = hs256_by_hand({"alg": "HS256", "typ": "JWT"}, valid_claims(), SECRET.encode())

    assert service.verify(token).sub == "alice"


def test_an_unsigned_alg_none_token_is_refused(service: TokenService) -> None:
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(valid_claims()).encode())

    with pytest.raises(Unauthenticated, match="none"):
        service.verify(f"{header}.{payload}.")


def test_a_token_signed_with_another_secret_is_refused(service: TokenService) -> None:
    token = jwt.encode(valid_claims(), "y" * 40, algorithm="HS256")

    with pytest.raises(Unauthenticated, match="Signature"):
        service.verify(token)


def test_a_token_signed_with_another_hmac_algorithm_is_refused(service: TokenService) -> None:
    token = jwt.encode(valid_claims(), SECRET, algorithm="HS512")

    with pytest.raises(Unauthenticated, match="HS512"):
        service.verify(token)


@pytest.mark.parametrize("garbage", ["", "not-a-jwt", "a.b.c", "....", "Bearer abc"])
def test_a_garbage_string_is_refused(service: TokenService, garbage: str) -> None:
    with pytest.raises(Unauthenticated):
        service.verify(garbage)


@pytest.mark.parametrize("claim", ["scopes", "sports"])
def test_a_scopes_or_sports_claim_that_is_not_a_list_of_strings_is_refused(service: TokenService, claim: str) -> None:
    token = jwt.encode(valid_claims(**{claim: "odds:read"}), SECRET, algorithm="HS256")

    with pytest.raises(Unauthenticated, match=claim):
        service.verify(token)


def test_a_token_without_jti_verifies_with_jti_none(service: TokenService) -> None:
    claims = valid_claims()
    del claims["jti"]

    assert service.verify(jwt.encode(claims, SECRET, algorithm="HS256")).jti is None


@pytest.mark.parametrize(
    ("claims", "says"),
    [
        ({"age_verified": "yes"}, "age_verified"),
        ({"age_verified": 1}, "age_verified"),
        ({"region": ["GB"]}, "region"),
        ({"region": "Great Britain"}, "region"),
        ({"region": "G\x00"}, "region"),
        ({"rate_limit": 600}, "rate_limit"),
        ({"rate_limit": "lots"}, "rate_limit"),
        ({"jti": "j" * 65}, "jti"),
        ({"sub": "a\x00b"}, "sub"),
        ({"sub": "s" * 201}, "sub"),
        ({"iat": int(time.time()) + 3600, "exp": int(time.time()) + 7200}, "future"),
        ({"exp": 1e20}, "lifetime"),
        ({"exp": int(time.time()) + 31 * 86400}, "lifetime"),
    ],
)
def test_malformed_or_impossible_claims_fail_closed(service: TokenService, claims: dict[str, Any], says: str) -> None:
    token = jwt.encode(valid_claims(**claims), SECRET, algorithm="HS256")
    with pytest.raises(Unauthenticated, match=says):
        service.verify(token)


def test_an_iat_a_little_ahead_is_within_leeway(service: TokenService) -> None:
    token = jwt.encode(valid_claims(iat=int(time.time()) + 20), SECRET, algorithm="HS256")
    assert service.verify(token).sub == "alice"


def test_a_region_is_checked_when_a_token_is_issued(service: TokenService) -> None:
    with pytest.raises(InvalidRequest, match="ISO 3166"):
        service.issue("alice", ["odds:read"], region="Great Britain")
    assert service.issue("alice", ["odds:read"], region="us-nj")[1]["region"] == "US-NJ"


# -- TokenConfig ----------------------------------------------------------------------------------------


def test_hs256_config_refuses_a_short_secret() -> None:
    with pytest.raises(ValueError, match="32 characters"):
        TokenConfig(secret="x" * 31)


def test_config_refuses_an_unsupported_algorithm() -> None:
    with pytest.raises(ValueError, match="none"):
        TokenConfig(algorithm="none", secret=SECRET)


# -- RS256 and key rotation ------------------------------------------------------------------------


@dataclass(frozen=True)
class RsaPair:
    public: str
    private: str


def rsa_pair() -> RsaPair:
    key = rsa.generate_private_key(65537, 2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return RsaPair(public, private)


@pytest.fixture(scope="module")
def k1() -> RsaPair:
    return rsa_pair()


@pytest.fixture(scope="module")
def k2() -> RsaPair:
    return rsa_pair()


def rs256(*keys: SigningKey, active: str) -> TokenService:
    return TokenService(TokenConfig(algorithm="RS256", keys=keys, active_kid=active))


def test_rs256_token_signed_by_the_active_key_verifies_and_names_its_kid(k1: RsaPair, k2: RsaPair) -> None:
    service = rs256(SigningKey("k1", k1.public, k1.private), SigningKey("k2", k2.public, k2.private), active="k2")
    token, _ = service.issue("alice", ["odds:read"])

    assert jwt.get_unverified_header(token)["kid"] == "k2"
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert service.verify(token).sub == "alice"


def test_after_rotation_a_token_from_the_retired_key_still_verifies(k1: RsaPair, k2: RsaPair) -> None:
    before = rs256(SigningKey("k1", k1.public, k1.private), active="k1")
    old_token, _ = before.issue("alice", ["odds:read"])
    after = rs256(SigningKey("k1", k1.public), SigningKey("k2", k2.public, k2.private), active="k2")

    assert after.verify(old_token).sub == "alice"


def test_once_the_retired_key_is_dropped_its_tokens_are_refused(k1: RsaPair, k2: RsaPair) -> None:
    old_token, _ = rs256(SigningKey("k1", k1.public, k1.private), active="k1").issue("alice", ["odds:read"])
    dropped = rs256(SigningKey("k2", k2.public, k2.private), active="k2")

    with pytest.raises(Unauthenticated, match="unknown signing key id 'k1'"):
        dropped.verify(old_token)


def test_a_token_naming_an_unknown_kid_is_refused(k1: RsaPair, k2: RsaPair) -> None:
    service = rs256(SigningKey("k2", k2.public, k2.private), active="k2")
    token = jwt.encode(valid_claims(), k1.private, algorithm="RS256", headers={"kid": "k9"})

    with pytest.raises(Unauthenticated, match="k9"):
        service.verify(token)


def test_a_token_naming_a_known_kid_but_signed_by_another_key_is_refused(k1: RsaPair, k2: RsaPair) -> None:
    service = rs256(SigningKey("k1", k1.public), SigningKey("k2", k2.public, k2.private), active="k2")
    token = jwt.encode(valid_claims(), k1.private, algorithm="RS256", headers={"kid": "k2"})

    with pytest.raises(Unauthenticated, match="Signature"):
        service.verify(token)


def test_key_confusion_hs256_signed_with_the_rsa_public_key_is_refused(k1: RsaPair, k2: RsaPair) -> None:
    service = rs256(SigningKey("k1", k1.public), SigningKey("k2", k2.public, k2.private), active="k2")
    # The classic attack: the verifier's public key, used as an HMAC secret.
    forged = hs256_by_hand({"alg": "HS256", "typ": "JWT", "kid": "k2"}, valid_claims(), k2.public.encode())

    with pytest.raises(Unauthenticated, match="not 'HS256'"):
        service.verify(forged)


def test_an_hs256_service_refuses_an_rs256_token(service: TokenService, k1: RsaPair) -> None:
    token = jwt.encode(valid_claims(), k1.private, algorithm="RS256", headers={"kid": "k1"})

    with pytest.raises(Unauthenticated, match="RS256"):
        service.verify(token)


def test_an_active_key_without_a_private_half_cannot_issue(k1: RsaPair) -> None:
    service = rs256(SigningKey("k1", k1.public), active="k1")

    with pytest.raises(InvalidRequest, match="no private key"):
        service.issue("alice", ["odds:read"])


def test_rs256_config_refuses_an_active_kid_outside_the_key_set(k1: RsaPair) -> None:
    with pytest.raises(ValueError, match="k2"):
        TokenConfig(algorithm="RS256", keys=(SigningKey("k1", k1.public, k1.private),), active_kid="k2")


def test_rs256_config_refuses_an_empty_key_set() -> None:
    with pytest.raises(ValueError, match="key set"):
        TokenConfig(algorithm="RS256", active_kid="k1")


# -- load_key_set -------------------------------------------------------------------------------------------


def test_load_key_set_reads_pems_relative_to_the_file(tmp_path: Path, k1: RsaPair, k2: RsaPair) -> None:
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    (keys_dir / "k1.pub.pem").write_text(k1.public)
    (keys_dir / "k2.pub.pem").write_text(k2.public)
    (keys_dir / "k2.pem").write_text(k2.private)
    key_set = keys_dir / "keys.json"
    key_set.write_text(
        json.dumps(
            {
                "active": "k2",
                "keys": {"k1": {"public": "k1.pub.pem"}, "k2": {"public": "k2.pub.pem", "private": "k2.pem"}},
            }
        )
    )

    keys, active = load_key_set(key_set)

    assert active == "k2"
    assert keys == (SigningKey("k1", k1.public, None), SigningKey("k2", k2.public, k2.private))
    service = rs256(*keys, active=active)
    token, _ = service.issue("alice", ["odds:read"])
    assert service.verify(token).sub == "alice"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "JSONDecodeError"),
        (json.dumps({"keys": {}}), "'active'"),
        (json.dumps({"active": "k1", "keys": {"k1": {}}}), "'public'"),
        (json.dumps({"active": "k1", "keys": {"k1": {"public": "missing.pem"}}}), "missing.pem"),
        (json.dumps({"active": "k1", "keys": ["k1"]}), "AttributeError"),
        (json.dumps(["k1"]), "TypeError"),
    ],
)
def test_load_key_set_raises_value_error_for_a_broken_file(tmp_path: Path, content: str, problem: str) -> None:
    key_set = tmp_path / "keys.json"
    key_set.write_text(content)

    with pytest.raises(ValueError, match=r"keys\.json") as raised:
        load_key_set(key_set)
    assert problem in str(raised.value)


def test_load_key_set_raises_value_error_for_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"nowhere\.json"):
        load_key_set(tmp_path / "nowhere.json")


# -- bearer() --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "Basic YWxpY2U6cw==", "Token abc", "Bearer", "Bearer ", "Bearer    "])
def test_bearer_refuses_a_missing_or_malformed_header(header: str | None) -> None:
    with pytest.raises(Unauthenticated):
        bearer(header)


@pytest.mark.parametrize("header", ["Bearer abc", "bearer abc", "BEARER abc", "Bearer  abc "])
def test_bearer_returns_the_token(header: str) -> None:
    assert bearer(header) == "abc"


# -- Principal ---------------------------------------------------------------------------------------------


def principal(*scopes: str) -> Principal:
    return Principal("alice", frozenset(scopes), frozenset({"*"}), None, False, None, "j", datetime.now(UTC))


def test_require_refuses_a_missing_scope_with_forbidden() -> None:
    with pytest.raises(Forbidden, match="bets:place") as raised:
        principal("odds:read").require("bets:place")
    assert isinstance(raised.value, SchemaForbidden)
    assert raised.value.code == "FORBIDDEN"


def test_require_passes_a_held_scope() -> None:
    principal("odds:read").require("odds:read")


@pytest.mark.parametrize("scope", sorted(SCOPES))
def test_admin_implies_every_scope(scope: str) -> None:
    admin = principal("admin")

    admin.require(scope)
    assert admin.has_scope(scope)


def test_a_token_without_scopes_has_none() -> None:
    empty = principal()

    assert not any(empty.has_scope(scope) for scope in SCOPES)
