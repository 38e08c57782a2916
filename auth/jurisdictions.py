"""Jurisdiction rules by region: blocked regions, age verification for viewing, visible sports and markets."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from auth.errors import AgeVerificationRequired, RegionBlocked
from auth.principal import Principal
from schema.text import VIEW_NAME
from schema.visibility import view_name

BUILT_IN = Path(__file__).parent / "data" / "jurisdictions.toml"
_KEYS = {"blocked", "view_requires_age_verification", "minimum_age", "sports", "markets", "sources"}


@dataclass(slots=True, frozen=True)
class RegionRules:
    region: str
    blocked: bool = False
    view_requires_age_verification: bool = False
    minimum_age: int = 18
    sports: frozenset[str] | None = None
    markets: frozenset[str] | None = None
    sources: frozenset[str] | None = None


class Jurisdictions:
    def __init__(self, default: RegionRules, regions: dict[str, RegionRules]):
        self.default = default
        self.regions = regions

    @classmethod
    def load(cls, path: Path | None = None) -> Jurisdictions:
        """Raises ValueError naming the file and the key for anything it cannot read."""
        path = path or BUILT_IN
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"jurisdictions file {path}: {exc}") from None
        unknown = set(data) - {"default", "regions"}
        if unknown:
            raise ValueError(f"jurisdictions file {path}: unknown tables {', '.join(sorted(unknown))}")
        listed = data.get("regions", {})
        if not isinstance(listed, dict):
            raise ValueError(f"jurisdictions file {path}: [regions] must hold one table per region")
        default = _rules("default", data.get("default", {}), RegionRules("default"), path)
        regions: dict[str, RegionRules] = {}
        # Countries first: a listed subdivision (US-NV) starts from its country's rules, not the default's.
        for code in sorted(listed, key=lambda c: ("-" in c, c)):
            region = code.upper()
            base = regions.get(region.split("-", 1)[0], default) if "-" in region else default
            regions[region] = _rules(region, listed[code], replace(base, region=region), path)
        return cls(default, regions)

    def views(self) -> dict[str, frozenset[str]]:
        """The source-limited prices the regions need, by view name: the book prices each."""
        every = (self.default, *self.regions.values())
        return {view_name(r.sources): r.sources for r in every if r.sources is not None}

    def rules(self, region: str | None) -> RegionRules:
        if region is None:
            return self.default
        region = region.upper()
        return self.regions.get(region) or self.regions.get(region.split("-", 1)[0]) or self.default

    def check_view(self, principal: Principal) -> RegionRules:
        """The caller's region rules; raises when the region is blocked or wants age verification."""
        rules = self.rules(principal.region)
        if rules.blocked:
            raise RegionBlocked(f"the gateway's odds are not available in region {principal.region}")
        if rules.view_requires_age_verification and not principal.age_verified:
            raise AgeVerificationRequired(
                f"in region {principal.region} odds are shown only to age-verified users "
                f"(minimum age {rules.minimum_age})"
            )
        return rules

    def check_betting(self, principal: Principal) -> RegionRules:
        rules = self.check_view(principal)
        if not principal.age_verified:
            raise AgeVerificationRequired(f"placing bets needs age verification (minimum age {rules.minimum_age})")
        return rules


def _rules(region: str, body: Any, base: RegionRules, path: Path) -> RegionRules:
    if not isinstance(body, dict):
        raise ValueError(f"jurisdictions file {path}: [{region}] must be a table")
    unknown = set(body) - _KEYS
    if unknown:
        raise ValueError(f"jurisdictions file {path}: [{region}] has unknown keys {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {"region": region}
    for flag in ("blocked", "view_requires_age_verification"):
        if flag in body:
            if not isinstance(body[flag], bool):
                raise ValueError(f"jurisdictions file {path}: [{region}] {flag} must be true or false")
            values[flag] = body[flag]
    if "minimum_age" in body:
        age = body["minimum_age"]
        if isinstance(age, bool) or not isinstance(age, int) or not 0 < age < 100:
            raise ValueError(f"jurisdictions file {path}: [{region}] minimum_age must be a whole number of years")
        values["minimum_age"] = body["minimum_age"]
    for listed in ("sports", "markets", "sources"):
        if listed in body:
            names = body[listed]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ValueError(f"jurisdictions file {path}: [{region}] {listed} must be a list of names")
            # "*" is every sport or market: the same as not listing any.
            values[listed] = None if "*" in names else frozenset(names)
    sources = values.get("sources")
    if sources is not None and (not sources or len(view_name(sources)) > VIEW_NAME):
        raise ValueError(
            f"jurisdictions file {path}: [{region}] sources must name at least one source, "
            f"and at most {VIEW_NAME} characters in all"
        )
    return replace(base, **values)
