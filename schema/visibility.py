"""What one caller may see: sports (optionally one league of a sport) and market types."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class Visibility:
    # (sport, league) pairs; a league of "" means every league of that sport. None: every sport.
    sports: frozenset[tuple[str, str]] | None = None
    market_types: frozenset[str] | None = None
    # The only sources whose prices may be shown (and so make the consensus); None: every source.
    sources: frozenset[str] | None = None

    @property
    def everything(self) -> bool:
        return self.sports is None and self.market_types is None and self.sources is None

    def sees_event(self, sport: str, league: str) -> bool:
        if self.sports is None:
            return True
        return (sport, "") in self.sports or (sport, league) in self.sports

    def overlaps(self, sport: str, league: str) -> bool:
        """Whether anything of this sport (and league, when one is named) is visible."""
        if self.sports is None:
            return True
        return any(s == sport and (not lg or not league or lg == league) for s, lg in self.sports)

    @property
    def view(self) -> str | None:
        """The book's view this caller is priced from; None for everyone's price."""
        return None if self.sources is None else view_name(self.sources)

    def sees_market(self, market_type: str | None) -> bool:
        return self.market_types is None or market_type is None or market_type in self.market_types

    def key(self) -> tuple[object, ...]:
        """A hashable, order-free identity: callers with equal keys see the same data."""
        return (
            None if self.sports is None else tuple(sorted(self.sports)),
            None if self.market_types is None else tuple(sorted(self.market_types)),
            None if self.sources is None else tuple(sorted(self.sources)),
        )


EVERYTHING = Visibility()


def view_name(sources: frozenset[str]) -> str:
    """The name of the prices made from these sources alone (see `OddsBook.views`)."""
    return ",".join(sorted(sources))
