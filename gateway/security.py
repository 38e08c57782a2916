"""Where authentication and authorization plug in for every REST route.

Until bearer tokens land, every caller is the anonymous operator with every scope; routes already
name the scope they need, so tokens will only change this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request


@dataclass(slots=True, frozen=True)
class Principal:
    sub: str
    scopes: frozenset[str]
    sports: frozenset[str]


ANONYMOUS = Principal("anonymous", frozenset({"*"}), frozenset({"*"}))


async def authorize(request: Request, scope: str) -> Principal:
    """The caller, allowed `scope`; raises the contract's 401/403 errors when not."""
    del request, scope
    return ANONYMOUS
