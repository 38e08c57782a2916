"""Execute once, serialize once: subscriptions that share a document, variables and visible data
form a cohort; each delta is executed and encoded once per cohort and every member only wraps the
bytes with its own operation id."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson
import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    execute_subscription_event,
    get_argument_values,
    parse,
    specified_rules,
    validate,
)
from graphql.execution import Executor
from graphql.validation import ASTValidationRule

from feeds.audience import Audience
from feeds.book import OddsBook
from feeds.fanout import Hub, Published
from feeds.filters import DeltaFilter
from feeds.normalize import Normalizer
from feeds.outbox import Outbox
from gateway.graphql_projection import Projection, compile_subscription
from schema.errors import OddsgateError
from schema.graphql import delta_gql
from schema.model import Delta
from schema.visibility import Visibility

ROOT_FIELD = "oddsUpdated"
CohortKey = tuple[str, str, str | None, object]


@dataclass(slots=True)
class CohortPlan:
    key: CohortKey
    executor: Executor[Any]
    selection: DeltaFilter
    projection: Projection | None
    visibility: Visibility


@dataclass(eq=False)
class Cohort:
    """One hub listener for all its members."""

    plan: CohortPlan
    book: OddsBook
    # The document compiled to a projection when it allows; graphql-core executes it otherwise.
    projection: Projection | None
    # What the members' audience is shown of each delta.
    audience: Audience | None = None
    members: set[Outbox[bytes]] = field(default_factory=set)
    resets: set[str] = field(default_factory=set)
    executions: int = 0

    def deliver(self, item: Published) -> None:
        if not self.plan.selection.matches(item.delta, self.book):
            return
        delta = item.delta if self.audience is None else self.audience.delta(item.delta)
        payload = self.render(delta, delta.event_id in self.resets)
        self.resets.discard(delta.event_id)
        for outbox in self.members:
            outbox.push(delta, payload)

    def reset(self, event_id: str) -> None:
        # Deltas were lost for good: the next one is marked conflated, as it does not follow on.
        self.resets.add(event_id)

    def render(self, delta: Delta, conflated: bool = False) -> bytes:
        self.executions += 1
        root = delta_gql(delta, conflated)
        if self.projection is not None:
            return orjson.dumps({"data": self.projection(root)})
        result: Any = execute_subscription_event(self.plan.executor.build_per_event_executor(root))
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [error.formatted for error in result.errors]
        return orjson.dumps(body)


class Cohorts:
    def __init__(
        self,
        schema: strawberry.Schema,
        hub: Hub,
        book: OddsBook,
        normalizer: Normalizer,
        *,
        rules: list[type[ASTValidationRule]],
        max_tokens: int,
        client_queue: int,
        slow_after: float,
    ):
        self.schema = schema._schema
        self.hub = hub
        self.book = book
        self.normalizer = normalizer
        self.client_queue = client_queue
        self.slow_after = slow_after
        self.active: dict[CohortKey, Cohort] = {}
        rules_all = (*specified_rules, *rules)

        @lru_cache(maxsize=512)
        def checked(query: str) -> DocumentNode | None:
            try:
                document = parse(query, max_tokens=max_tokens)
            except GraphQLError:
                return None
            return None if validate(self.schema, document, rules_all) else document

        self._checked = checked

    def plan(
        self, query: str, variables: dict[str, Any] | None, operation_name: str | None, visibility: Visibility
    ) -> CohortPlan | None:
        """A plan when the operation is a valid `oddsUpdated` subscription and nothing else; None
        sends it down the plain path, which also reports any error in it."""
        document = self._checked(query)
        if document is None:
            return None
        found = _root_field(document, operation_name)
        if found is None:
            return None
        operation, field_node = found
        executor = Executor.build(self.schema, document, raw_variable_values=variables, operation_name=operation_name)
        if isinstance(executor, list):
            return None
        subscription_type = self.schema.subscription_type
        assert subscription_type is not None
        args = get_argument_values(subscription_type.fields[ROOT_FIELD], field_node, executor.variable_values)
        try:
            selection = DeltaFilter.of(
                self.normalizer, args.get("eventIds"), args.get("sport"), args.get("markets"), visibility
            )
        except OddsgateError:
            return None
        # The coerced values: two spellings of the same variables share a cohort. json, not orjson:
        # GraphQL IDs and custom scalars may hold integers wider than 64 bits.
        coerced = json.dumps(executor.variable_values.coerced, sort_keys=True, default=str)
        key = (query, coerced, operation_name, visibility.key())
        active = self.active.get(key)
        if active is not None:
            # One plan per cohort: a member that joins holds the cohort's, not a copy of its own.
            return active.plan
        projection = compile_subscription(self.schema, document, operation, executor.variable_values)
        return CohortPlan(key, executor, selection, projection, visibility)

    @contextlib.asynccontextmanager
    async def member(self, plan: CohortPlan) -> AsyncIterator[Outbox[bytes]]:
        cohort = self.active.get(plan.key)
        if cohort is None:
            cohort = self.active[plan.key] = Cohort(
                plan, self.book, plan.projection, Audience(self.book, plan.visibility)
            )
            self.hub.listen(cohort, *plan.selection.index())
        render = cohort.render
        outbox: Outbox[bytes] = Outbox(self.client_queue, self.slow_after, lambda d: render(d, conflated=True))
        cohort.members.add(outbox)
        try:
            yield outbox
        finally:
            cohort.members.discard(outbox)
            if not cohort.members:
                self.hub.unlisten(cohort)
                del self.active[plan.key]


def _root_field(document: DocumentNode, operation_name: str | None) -> tuple[OperationDefinitionNode, FieldNode] | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation is not OperationType.SUBSCRIPTION:
        return None
    selections = operations[0].selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode):
        return None
    node = selections[0]
    if node.name.value != ROOT_FIELD or node.directives:
        return None
    return operations[0], node
