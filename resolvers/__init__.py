"""The GraphQL schema: thin resolvers over the live book and the hub."""

from __future__ import annotations

from functools import partial

import strawberry
from graphql.validation import ASTValidationRule
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter

from resolvers.query import Query
from resolvers.subscription import Subscription


def build_schema(max_depth: int, max_aliases: int, max_tokens: int) -> strawberry.Schema:
    # Factories, not instances: strawberry keeps per-operation state on an extension object.
    return strawberry.Schema(
        query=Query,
        subscription=Subscription,
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
