"""A caller's `Visibility` as SQL conditions, so that a list is filtered in its query (its pages and
its total count only what the caller may see). The rules are `schema.visibility.Visibility`'s,
written for columns; `tests/unit/test_operator_visibility.py` holds the two to the same answers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, true

from schema.visibility import Visibility


def sees_event(visibility: Visibility, sport: Any, league: Any) -> ColumnElement[bool]:
    """`Visibility.sees_event` over an event's sport and league columns. A NULL sport (an event the
    database has no record of) is seen only by a caller who sees every sport."""
    if visibility.sports is None:
        return true()
    return or_(
        false(), *((sport == s) if not lg else and_(sport == s, league == lg) for s, lg in sorted(visibility.sports))
    )


def overlaps(visibility: Visibility, sport: Any, league: Any) -> ColumnElement[bool]:
    """`Visibility.overlaps` over a scope's sport and league columns (a NULL or empty league is the
    whole sport): whether anything of it is visible."""
    if visibility.sports is None:
        return true()
    return or_(
        false(),
        *(
            (sport == s) if not lg else and_(sport == s, or_(league.is_(None), league == "", league == lg))
            for s, lg in sorted(visibility.sports)
        ),
    )
