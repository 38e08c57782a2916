"""Bearer tokens: python-jose behind one small module, exactly one algorithm per key.

python-jose accepts whatever algorithm a token names unless `algorithms` is given (an HS256 token
signed with an RSA public key's bytes then verifies), so every decode passes exactly the configured
one. `exp`, `iat`, `iss`, `aud` and `sub` are required.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jose import JWTError, jwt

from auth.errors import Unauthenticated
from auth.principal import SCOPES, Principal
from auth.ratelimit import parse_rate
from schema import text
from schema.errors import InvalidRequest

ISSUER = "oddsgate"
AUDIENCE = "oddsgate-api"
ALGORITHMS = ("HS256", "RS256")


@dataclass(slots=True, frozen=True)
class SigningKey:
    kid: str
    verify: str
    sign: str | None = None


@dataclass(slots=True, frozen=True)
class TokenConfig:
    algorithm: str = "HS256"
    secret: str = ""
    # RS256: every key still accepted, by kid; the active one signs. Old keys stay for the longest
    # token lifetime after a rotation.
    keys: tuple[SigningKey, ...] = ()
    active_kid: str | None = None
    leeway: int = 30
    max_ttl: timedelta = timedelta(days=30)
    default_rate: str = "600/minute"
    _by_kid: dict[str, SigningKey] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"JWT algorithm must be one of {', '.join(ALGORITHMS)}, not {self.algorithm!r}")
        if self.algorithm == "HS256" and len(self.secret) < 32:
            raise ValueError("ODDSGATE_JWT_SECRET must be at least 32 characters for HS256")
        if self.algorithm == "RS256":
            if not self.keys:
                raise ValueError("RS256 needs a key set (ODDSGATE_JWT_KEYS)")
            self._by_kid.update({k.kid: k for k in self.keys})
            if self.active_kid not in self._by_kid:
                raise ValueError(f"the active key id {self.active_kid!r} is not in the key set")


class TokenService:
    def __init__(self, config: TokenConfig):
        self.config = config

    def issue(
        self,
        sub: str,
        scopes: Iterable[str],
        sports: Iterable[str] = ("*",),
        *,
        region: str | None = None,
        age_verified: bool = False,
        rate_limit: str | None = None,
        origins: Iterable[str] | None = None,
        ttl: timedelta = timedelta(hours=1),
        now: datetime | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """A signed token and its claims; raises InvalidRequest for an unknown scope or a bad ttl."""
        scopes = sorted(set(scopes))
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown:
            raise InvalidRequest(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(sorted(SCOPES))}")
        if not timedelta(0) < ttl <= self.config.max_ttl:
            raise InvalidRequest(f"ttl must be positive and at most {self.config.max_ttl}")
        issued = (now or datetime.now(UTC)).replace(microsecond=0)
        claims: dict[str, Any] = {
            "sub": sub,
            "scopes": scopes,
            "sports": sorted(set(sports)),
            "age_verified": age_verified,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": int(issued.timestamp()),
            "exp": int((issued + ttl).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        if region is not None:
            if _REGION.fullmatch(region.upper()) is None:
                raise InvalidRequest(f"region {region!r} is not an ISO 3166 code such as GB or US-NJ")
            claims["region"] = region.upper()
        if rate_limit is not None:
            claims["rate_limit"] = rate_limit
        if origins is not None:
            claims["origins"] = sorted({normal_origin(o) for o in origins})
        config = self.config
        if config.algorithm == "HS256":
            return jwt.encode(claims, config.secret, algorithm="HS256"), claims
        key = config._by_kid[config.active_kid or ""]
        if key.sign is None:
            raise InvalidRequest(f"the active key {key.kid!r} has no private key to sign with")
        return jwt.encode(claims, key.sign, algorithm="RS256", headers={"kid": key.kid}), claims

    def verify(self, token: str) -> Principal:
        """The token's principal; raises Unauthenticated for anything short of a valid token."""
        config = self.config
        try:
            header = jwt.get_unverified_header(token)
        except JWTError:
            raise Unauthenticated("the bearer token is not a JWT") from None
        if header.get("alg") != config.algorithm:
            raise Unauthenticated(f"tokens here are signed {config.algorithm}, not {header.get('alg')!r}")
        if config.algorithm == "HS256":
            key = config.secret
        else:
            known = config._by_kid.get(str(header.get("kid")))
            if known is None:
                raise Unauthenticated(f"unknown signing key id {header.get('kid')!r}")
            key = known.verify
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[config.algorithm],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={
                    "require_exp": True,
                    "require_iat": True,
                    "require_iss": True,
                    "require_aud": True,
                    "require_sub": True,
                    "leeway": config.leeway,
                },
            )
        except JWTError as exc:
            raise Unauthenticated(f"the bearer token was refused: {exc}") from None
        _check_lifetime(claims, config)
        return _principal(claims)


def _check_lifetime(claims: dict[str, Any], config: TokenConfig) -> None:
    """A token issued in the future, or living longer than tokens may here, is not one we issued;
    it is refused rather than trusted until some far-off `exp`."""
    issued, expires = claims["iat"], claims["exp"]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (issued, expires)):
        raise Unauthenticated("the token's 'iat' and 'exp' claims must be numbers")
    now = datetime.now(UTC).timestamp()
    if issued > now + config.leeway:
        raise Unauthenticated("the token was issued in the future (check the issuer's clock)")
    if expires - issued > config.max_ttl.total_seconds():
        raise Unauthenticated(f"the token's lifetime is longer than the {config.max_ttl} allowed here")


# ISO 3166-1 alpha-2, or a 3166-2 subdivision such as US-NJ.
_REGION = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")


def _principal(claims: dict[str, Any]) -> Principal:
    scopes, sports = claims.get("scopes", []), claims.get("sports", [])
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise Unauthenticated("the token's 'scopes' claim must be a list of strings")
    if not isinstance(sports, list) or not all(isinstance(s, str) for s in sports):
        raise Unauthenticated("the token's 'sports' claim must be a list of strings")
    region, rate, origins = claims.get("region"), claims.get("rate_limit"), claims.get("origins")
    if origins is not None and (not isinstance(origins, list) or not all(isinstance(o, str) for o in origins)):
        raise Unauthenticated("the token's 'origins' claim must be a list of origins")
    # Jurisdiction rules hang on the region: one that cannot be read must not fall back to the
    # default rules, which would let a blocked region through.
    if region is not None and (not isinstance(region, str) or _REGION.fullmatch(region.upper()) is None):
        raise Unauthenticated("the token's 'region' claim must be an ISO 3166 code such as GB or US-NJ")
    age_verified = claims.get("age_verified", False)
    if not isinstance(age_verified, bool):
        raise Unauthenticated("the token's 'age_verified' claim must be true or false")
    if rate is not None:
        if not isinstance(rate, str):
            raise Unauthenticated("the token's 'rate_limit' claim must be a rate such as \"600/minute\"")
        try:
            parse_rate(rate)
        except ValueError:
            raise Unauthenticated(f"the token's 'rate_limit' claim {rate[:40]!r} is not a rate") from None
    jti = claims.get("jti")
    if jti is not None and (not isinstance(jti, str) or not 0 < len(jti) <= text.RECORD_ID):
        raise Unauthenticated(f"the token's 'jti' claim must be a string of at most {text.RECORD_ID} characters")
    try:
        origins_set = None if origins is None else frozenset(normal_origin(o) for o in origins)
        sub = text.clean(str(claims["sub"]), "sub", text.SUB)
    except InvalidRequest as exc:
        raise Unauthenticated(f"the token's claims are malformed: {exc.message}") from None
    return Principal(
        sub=sub,
        scopes=_shared(scopes),
        sports=_shared(sports),
        region=region.upper() if isinstance(region, str) else None,
        age_verified=age_verified,
        rate_limit=rate,
        jti=jti,
        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        origins=origins_set,
    )


# Tokens come in few shapes but are held by many connections at once: each distinct set of scopes
# or sports is kept once (bounded, in case tokens are minted with endless variety).
_SETS: dict[frozenset[str], frozenset[str]] = {}
_SETS_KEPT = 4096


def _shared(items: list[str]) -> frozenset[str]:
    value = frozenset(items)
    found = _SETS.get(value)
    if found is not None:
        return found
    if len(_SETS) < _SETS_KEPT:
        _SETS[value] = value
    return value


def normal_origin(origin: str) -> str:
    """`https://news.example` as browsers send it: scheme and host (and a port that is not the
    scheme's default), no slash, lower case; raises InvalidRequest for anything else. Origins are
    compared in this form everywhere: hosts are case-insensitive, schemes are not interchangeable."""
    value = origin.strip().rstrip("/").lower()
    found = re.fullmatch(r"(https?)://([a-z0-9.\-]+)(?::([0-9]{1,5}))?", value)
    if found is None:
        raise InvalidRequest(f"{origin[:100]!r} is not an origin like https://news.example")
    scheme, host, port = found.groups()
    if port is None or int(port) == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{int(port)}"


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_allowed(origin: str | None, allowed: Iterable[str]) -> bool:
    """Whether a request's Origin header is one of `allowed` (normal origins). A request without
    one is not a browser page's; one that is not an origin at all is refused."""
    if origin is None:
        return True
    try:
        return normal_origin(origin) in allowed
    except InvalidRequest:
        return False


def bearer(header: str | None) -> str:
    """The token in an `Authorization: Bearer <JWT>` value; raises Unauthenticated."""
    if not header:
        raise Unauthenticated("a bearer token is required: Authorization: Bearer <JWT>")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <JWT>'")
    return token.strip()


def load_key_set(path: Path) -> tuple[tuple[SigningKey, ...], str]:
    """An RS256 key set: `{"active": "k2", "keys": {"k1": {"public": "k1.pub.pem"}, "k2": {"public":
    "k2.pub.pem", "private": "k2.pem"}}}`, paths relative to the file. Raises ValueError."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        active = data["active"]
        keys = tuple(
            SigningKey(
                kid,
                (path.parent / entry["public"]).read_text(encoding="utf-8"),
                (path.parent / entry["private"]).read_text(encoding="utf-8") if "private" in entry else None,
            )
            for kid, entry in data["keys"].items()
        )
    except OSError as exc:
        raise ValueError(f"JWT key set {path}: cannot read {exc.filename}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"JWT key set {path}: {exc!r}") from None
    return keys, str(active)
