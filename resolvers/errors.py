"""Business errors as GraphQL errors, with the REST error code in `extensions.code`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from graphql import GraphQLError

from schema.errors import OddsgateError


@contextmanager
def graphql_errors() -> Iterator[None]:
    try:
        yield
    except OddsgateError as exc:
        raise GraphQLError(exc.message, extensions={"code": exc.code}) from exc
