"""The GraphQL schema: thin resolvers over the live book and the hub."""

from __future__ import annotations

import re
from datetime import datetime
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation import ASTValidationRule
from strawberry.extensions import DisableIntrospection, MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.types.scalar import ScalarDefinition

from resolvers.errors import ErrorCodes, is_bug
from resolvers.mutation import Mutation
from resolvers.query import Query
from resolvers.subscription import Subscription


def _utc_text(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# Times read the same over GraphQL as over REST and /ws: ISO 8601 with `Z`.
DATETIME = ScalarDefinition(
    name="DateTime",
    description="Date with time, ISO 8601 in UTC (`2026-03-23T20:20:00Z`)",
    specified_by_url=None,
    serialize=_utc_text,
    parse_value=datetime.fromisoformat,
    parse_literal=None,
)


class OddsgateSchema(strawberry.Schema):
    """Errors as this gateway reports them.

    In production no error names what the schema has: strawberry's own option only removes
    suggestions for fields, and graphql-core suggests arguments, types, input fields and enum values
    too ("Did you mean ...?"), which maps the schema for someone with introspection turned off.
    Only errors from a bug are logged (with their traceback); a client's mistake is answered to the
    client, not written to the server's log, where any caller could otherwise flood it."""

    hide_suggestions = False

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        if self.hide_suggestions:
            for error in errors:
                error.message = _SUGGESTION.sub("", error.message)
        bugs = [error for error in errors if is_bug(error)]
        if bugs:
            super().process_errors(bugs, execution_context)


# graphql-core's form: " Did you mean 'x'?", " Did you mean the enum value 'A' or 'B'?".
_SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")


def build_schema(max_depth: int, max_aliases: int, max_tokens: int, production: bool = False) -> strawberry.Schema:
    # Factories, not instances: strawberry keeps per-operation state on an extension object.
    extensions: list[Any] = [
        partial(QueryDepthLimiter, max_depth=max_depth),
        partial(MaxAliasesLimiter, max_alias_count=max_aliases),
        partial(MaxTokensLimiter, max_token_count=max_tokens),
        # Masks bugs and gives every error its extensions.code.
        ErrorCodes,
    ]
    if production:
        extensions.append(DisableIntrospection)
    schema = OddsgateSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # Batching stays off: one HTTP request is one operation, charged once.
        config=StrawberryConfig(scalar_map={datetime: DATETIME}, disable_field_suggestions=production),
        extensions=extensions,
    )
    schema.hide_suggestions = production
    return schema


def limit_rules(max_depth: int, max_aliases: int) -> list[type[ASTValidationRule]]:
    """The depth and alias rules the schema applies, for code that validates documents itself."""
    return [
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules,
    ]
