"""Alias data: canonical names for sports, leagues, markets, outcomes, statuses and teams.

Kept as TOML files users can extend; every `*.toml` in `feeds/data` is read, then the user's file.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from schema.model import EventStatus, MarketType

DATA_DIR = Path(__file__).parent / "data"
_SEPARATORS = re.compile(r"[\s_\-]+")
_SLUG_DROP = re.compile(r"[^a-z0-9]+")
_E = TypeVar("_E", MarketType, EventStatus)


def alias_key(name: str) -> str:
    return _SEPARATORS.sub("", name.casefold())


def slugify(name: str) -> str:
    # Accents fold to their base letter so "Atlético" slugs as "atletico", not "atl-tico".
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return _SLUG_DROP.sub("-", ascii_name.casefold()).strip("-")


class AliasDataError(ValueError):
    """An alias file is malformed; the message names the file and the entry."""


@dataclass(slots=True, frozen=True)
class Team:
    sport: str
    name: str
    slug: str


@dataclass(slots=True)
class AliasBook:
    sports: dict[str, str] = field(default_factory=dict)
    leagues: dict[str, tuple[str, str]] = field(default_factory=dict)
    markets: dict[str, MarketType] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, EventStatus] = field(default_factory=dict)
    teams: dict[tuple[str, str], Team] = field(default_factory=dict)

    @classmethod
    def load(cls, extra: Iterable[Path] = ()) -> AliasBook:
        book = cls()
        for path in [*sorted(DATA_DIR.glob("*.toml")), *extra]:
            book.merge(path)
        return book

    def merge(self, path: Path) -> None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise AliasDataError(f"{path}: {exc}") from None
        for name, entry in _table(data, "sports", path).items():
            self._add(self.sports, name, entry, name, path)
        for name, entry in _table(data, "leagues", path).items():
            sport = entry.get("sport")
            if sport not in self.sports.values():
                raise AliasDataError(f"{path}: league {name!r} names unknown sport {sport!r}")
            self._add(self.leagues, name, entry, (name, sport), path)
        for name, entry in _table(data, "markets", path).items():
            self._add(self.markets, name, entry, _enum(MarketType, name, path), path)
        for name, entry in _table(data, "outcomes", path).items():
            self._add(self.outcomes, name, entry, name, path)
        for name, entry in _table(data, "statuses", path).items():
            self._add(self.statuses, name, entry, _enum(EventStatus, name, path), path)
        for entry in data.get("teams", []):
            self._add_team(entry, path)

    @staticmethod
    def _add(target: dict[str, Any], name: str, entry: dict[str, Any], value: object, path: Path) -> None:
        aliases = entry.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise AliasDataError(f"{path}: aliases of {name!r} must be a list of strings")
        for alias in [name, *aliases]:
            target[alias_key(alias)] = value

    def _add_team(self, entry: dict[str, Any], path: Path) -> None:
        sport, name = entry.get("sport"), entry.get("name")
        if not isinstance(sport, str) or not isinstance(name, str):
            raise AliasDataError(f"{path}: every team needs 'sport' and 'name'")
        if sport not in self.sports.values():
            raise AliasDataError(f"{path}: team {name!r} names unknown sport {sport!r}")
        slug = entry.get("slug") or slugify(name)
        if not isinstance(slug, str) or slugify(slug) != slug:
            raise AliasDataError(f"{path}: slug {slug!r} of {name!r} must be lowercase letters, digits, hyphens")
        team = Team(sport, name, slug)
        aliases = entry.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise AliasDataError(f"{path}: aliases of team {name!r} must be a list of strings")
        for alias in [name, slug, *aliases]:
            self.teams[(sport, alias_key(alias))] = team


def _table(data: dict[str, Any], key: str, path: Path) -> dict[str, dict[str, Any]]:
    table = data.get(key, {})
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise AliasDataError(f"{path}: [{key}.NAME] entries must be tables")
    return table


def _enum(kind: type[_E], name: str, path: Path) -> _E:
    try:
        return kind(name)
    except ValueError:
        raise AliasDataError(f"{path}: {name!r} is not a canonical {kind.__name__}") from None
