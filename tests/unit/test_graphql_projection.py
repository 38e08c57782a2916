"""A compiled projection answers exactly what graphql-core answers, for every document it takes."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import pytest
import strawberry
from graphql import OperationDefinitionNode, execute_subscription_event, parse, validate
from graphql.execution import Executor

from feeds.book import OddsBook
from gateway.graphql_projection import compile_subscription
from resolvers import build_schema
from schema.graphql import delta_gql
from schema.model import Delta, EventStatus, MarketType
from tests.unit.test_book import Clock, q

SCHEMA = build_schema(8, 30, 2000)._schema

DOCUMENTS: list[tuple[str, dict[str, Any]]] = [
    ("subscription { oddsUpdated { eventId seq } }", {}),
    (
        """subscription { oddsUpdated { eventId sport seq timestamp source reason marketId marketType line
             suspended margin status conflated __typename
             outcomes { __typename id name impliedProbability updatedAt sourceCount confidence flags
               odds { decimal american fractional } sources { source decimal } } } }""",
        {},
    ),
    ("subscription { d: oddsUpdated { id: eventId s: seq o: outcomes { x: id p: odds { decimal } } } }", {}),
    (
        """subscription { oddsUpdated { ...A outcomes { odds { american } } } }
           fragment A on OddsDelta { seq outcomes { id odds { decimal } } }""",
        {},
    ),
    (
        """subscription($full: Boolean!, $lean: Boolean!) {
             oddsUpdated { seq marketId @include(if: $full) outcomes @skip(if: $lean) { id } } }""",
        {"full": True, "lean": True},
    ),
    (
        """subscription($full: Boolean!) { oddsUpdated { seq ... on OddsDelta @include(if: $full) { status } } }""",
        {"full": False},
    ),
]


def deltas() -> list[Delta]:
    clock = Clock()
    made: list[Delta] = []
    book = OddsBook(clock=clock, sinks=[made.append])
    book.apply(q(clock, "a", "1.85", "2.10"))
    clock.now += 1
    book.apply(q(clock, "b", "1.90", "2.05", status=EventStatus.LIVE))
    clock.now += 1
    book.apply(q(clock, "a", "1.91", "1.91", market=MarketType.SPREAD, line=None))
    return made


@pytest.mark.parametrize(("document", "variables"), DOCUMENTS)
def test_projection_equals_execution(document: str, variables: dict[str, Any]) -> None:
    ast = parse(document)
    assert validate(SCHEMA, ast) == []
    executor = Executor.build(SCHEMA, ast, raw_variable_values=variables)
    assert not isinstance(executor, list)
    [operation] = [d for d in ast.definitions if isinstance(d, OperationDefinitionNode)]
    project = compile_subscription(SCHEMA, ast, operation, executor.variable_values)
    assert project is not None
    made = deltas()
    assert any(d.market_id is None for d in made)  # an event-level delta, with nulls
    for delta in made:
        for conflated in (False, True):
            root = delta_gql(delta, conflated)
            expected: Any = execute_subscription_event(executor.build_per_event_executor(root))
            assert expected.errors is None
            assert project(root) == expected.data


@strawberry.type
class Tick:
    n: int

    @strawberry.field
    def doubled(self, times: int = 2) -> int:
        return self.n * times


@strawberry.type
class TickQuery:
    n: int = 0


@strawberry.type
class TickSubscription:
    @strawberry.subscription
    async def ticks(self) -> AsyncGenerator[Tick, None]:
        yield Tick(n=1)


def test_documents_reaching_a_resolver_are_left_to_graphql_core() -> None:
    schema = strawberry.Schema(query=TickQuery, subscription=TickSubscription)._schema
    for document, compiled in (("subscription { ticks { n } }", True), ("subscription { ticks { doubled } }", False)):
        ast = parse(document)
        [operation] = [d for d in ast.definitions if isinstance(d, OperationDefinitionNode)]
        assert (compile_subscription(schema, ast, operation, {}) is not None) is compiled
