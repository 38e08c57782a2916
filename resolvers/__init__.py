"""The GraphQL schema: thin resolvers over the live book and the hub."""

from __future__ import annotations

from datetime import datetime
from functools import partial

import strawberry
from graphql.validation import ASTValidationRule
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.types.scalar import ScalarDefinition

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


def build_schema(max_depth: int, max_aliases: int, max_tokens: int) -> strawberry.Schema:
    # Factories, not instances: strawberry keeps per-operation state on an extension object.
    return strawberry.Schema(
        query=Query,
        subscription=Subscription,
        config=StrawberryConfig(scalar_map={datetime: DATETIME}),
        extensions=[
            partial(QueryDepthLimiter, max_depth=max_depth),
            partial(MaxAliasesLimiter, max_alias_count=max_aliases),
            partial(MaxTokensLimiter, max_token_count=max_tokens),
        ],
    )


def limit_rules(max_depth: int, max_aliases: int) -> list[type[ASTValidationRule]]:
    """The depth and alias rules the schema applies, for code that validates documents itself."""
    return [
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules,
    ]
