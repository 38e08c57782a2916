"""Execute once, serialize once: subscriptions that share a document, variables and visible data
form a cohort; each delta is executed and encoded once per cohort and every member only wraps the
bytes with its own operation id. Where a member starts (`since`, `snapshot`) is its own: members
that differ only in it share a cohort, and start, resume and resynchronise by `feeds.resume`."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
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
    VariableNode,
    execute_subscription_event,
    get_argument_values,
    parse,
    specified_rules,
    validate,
)
from graphql.execution import Executor
from graphql.language import SKIP, Visitor, visit
from graphql.validation import ASTValidationRule

from feeds.audience import Audience
from feeds.book import OddsBook
from feeds.fanout import Hub, Published
from feeds.filters import DeltaFilter
from feeds.normalize import Normalizer
from feeds.outbox import Outbox
from feeds.resume import Position, Resync, Snapshot, Step, opening, positions, shown
from gateway.graphql_projection import Projection, compile_subscription
from schema.errors import OddsgateError
from schema.graphql import OddsDeltaGQL, delta_gql, snapshot_gql
from schema.model import Delta
from schema.visibility import Visibility

ROOT_FIELD = "oddsUpdated"
# The arguments that say only where a member starts.
OPENING_ARGUMENTS = frozenset({"since", "snapshot"})
CohortKey = tuple[str, str, str | None, object]


@dataclass(slots=True)
class CohortPlan:
    key: CohortKey
    executor: Executor[Any]
    selection: DeltaFilter
    projection: Projection | None
    visibility: Visibility


@dataclass(slots=True, frozen=True)
class Ticket:
    """A member's way into its cohort: the cohort's plan, and where this member starts."""

    plan: CohortPlan
    since: dict[str, Position]
    snapshots: bool


@dataclass(eq=False)
class Cohort:
    """One hub listener for all its members."""

    plan: CohortPlan
    book: OddsBook
    # The document compiled to a projection when it allows; graphql-core executes it otherwise.
    projection: Projection | None
    # What the members' audience is shown of each delta.
    audience: Audience
    members: set[Outbox[bytes]] = field(default_factory=set)
    resync: Resync = field(default_factory=Resync)
    executions: int = 0
    # Each event's latest snapshot, rendered once for every member that starts from it at that seq.
    snapshots: dict[str, tuple[tuple[int, str, bool], bytes]] = field(default_factory=dict)

    def deliver(self, item: Published) -> None:
        if not self.plan.selection.matches(item.delta, self.book):
            return
        step = self.resync.step(item.delta)
        if step is Step.HELD:
            return
        if self.snapshots:
            self.snapshots.pop(item.delta.event_id, None)
        delta = self.audience.delta(item.delta)
        payload = self.render(delta, step is Step.MARKED)
        for outbox in self.members:
            outbox.push(delta, payload)

    def reset(self, event_id: str) -> None:
        snapshot = self.resync.reset(self.book, (self.plan.selection,), event_id)
        if snapshot is not None:
            payload = self.render_snapshot(snapshot)
            for outbox in self.members:
                outbox.push_control(payload)

    def open(self, hub: Hub, outbox: Outbox[bytes], ticket: Ticket) -> None:
        """A new member's first payloads, as `feeds.resume.Subscriber` sends them on the plain
        path; called with no await since it joined."""
        for item in opening(hub, (self.plan.selection,), ticket.since, snapshots=ticket.snapshots):
            if not isinstance(item, Snapshot):
                delta = self.audience.delta(item)
                outbox.push(delta, self.render(delta))
            elif item.event is not None:
                outbox.push_control(self.render_snapshot(item))

    def render(self, delta: Delta, conflated: bool = False) -> bytes:
        return self._render(delta_gql(delta, conflated))

    def render_snapshot(self, snapshot: Snapshot) -> bytes:
        event = snapshot.event
        assert event is not None
        version = (event.seq, event.epoch, snapshot.reset)
        cached = self.snapshots.get(snapshot.event_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        payload = self._render(snapshot_gql(shown(event, (self.plan.selection,), self.audience), snapshot.reset))
        self.snapshots[snapshot.event_id] = (version, payload)
        return payload

    def _render(self, root: OddsDeltaGQL) -> bytes:
        self.executions += 1
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
    ) -> Ticket | None:
        """A ticket when the operation is a valid `oddsUpdated` subscription and nothing else; None
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
            marks = ((m["eventId"], m["seq"], m.get("epoch")) for m in args.get("since") or ())
            since = positions(marks, "")
        except OddsgateError:
            return None
        snapshots = bool(args.get("snapshot", True))
        # The coerced values: two spellings of the same variables share a cohort. json, not orjson:
        # GraphQL IDs and custom scalars may hold integers wider than 64 bits.
        own = _opening_only(document, field_node)
        shared = {name: value for name, value in executor.variable_values.coerced.items() if name not in own}
        key = (query, json.dumps(shared, sort_keys=True, default=str), operation_name, visibility.key())
        active = self.active.get(key)
        if active is not None:
            # One plan per cohort: a member that joins holds the cohort's, not a copy of its own.
            return Ticket(active.plan, since, snapshots)
        projection = compile_subscription(self.schema, document, operation, executor.variable_values)
        return Ticket(CohortPlan(key, executor, selection, projection, visibility), since, snapshots)

    @contextlib.asynccontextmanager
    async def member(self, ticket: Ticket) -> AsyncIterator[Outbox[bytes]]:
        plan = ticket.plan
        cohort = self.active.get(plan.key)
        if cohort is None:
            cohort = self.active[plan.key] = Cohort(
                plan, self.book, plan.projection, Audience(self.book, plan.visibility)
            )
            self.hub.listen(cohort, *plan.selection.index())
        render = cohort.render
        outbox: Outbox[bytes] = Outbox(self.client_queue, self.slow_after, lambda d: render(d, conflated=True))
        cohort.members.add(outbox)
        cohort.open(self.hub, outbox, ticket)
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


def _opening_only(document: DocumentNode, field_node: FieldNode) -> frozenset[str]:
    """The variables used only by the root field's opening arguments (`since`, `snapshot`):
    members whose variables differ only in them render every delta alike."""
    opening_nodes = [a.value for a in field_node.arguments or () if a.name.value in OPENING_ARGUMENTS]
    if not opening_nodes:
        return frozenset()
    inside, everywhere = _VariableUses(), _VariableUses()
    for node in opening_nodes:
        visit(node, inside)
    visit(document, everywhere)
    return frozenset(name for name, count in inside.uses.items() if everywhere.uses[name] == count)


class _VariableUses(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.uses: Counter[str] = Counter()

    def enter_variable_definition(self, *_: Any) -> object:
        # `$since: [EventPosition!]` declares the variable; it does not use it.
        return SKIP

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        self.uses[node.name.value] += 1
