"""A cohort's subscription document compiled once into a plain projection of each delta.

graphql-core spends about 100 us walking a dozen small selections for every delta; a cohort's
document and variables never change, so its selection is resolved once (aliases, fragments,
`@skip`/`@include`, field merging) into nested getters over the result objects. Only plain
attribute fields are compiled; a document reaching a field with its own resolver, arguments or an
abstract type is left to graphql-core, which gives the same answer more slowly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLIncludeDirective,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.execution.values import get_directive_values

Projection = Callable[[Any], Any]
_BACKREF = "strawberry-definition"


class _Unsupported(Exception):
    pass


def compile_subscription(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, variables: Any
) -> Callable[[Any], dict[str, Any]] | None:
    """`root value -> data` for a single-field subscription whose field returns the root value."""
    root_type = schema.subscription_type
    if root_type is None:
        return None
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    compiler = _Compiler(fragments, variables)
    try:
        grouped = compiler.collect(root_type, [operation.selection_set])
        if len(grouped) != 1:
            return None
        [(key, nodes)] = grouped.items()
        field_def = root_type.fields[nodes[0].name.value]
        value = compiler.value(field_def.type, _subsets(nodes))
    except _Unsupported:
        return None
    return lambda root: {key: value(root)}


class _Compiler:
    def __init__(self, fragments: dict[str, FragmentDefinitionNode], variables: Any):
        self.fragments = fragments
        self.variables = variables

    def collect(
        self, parent: GraphQLObjectType, selection_sets: Iterable[SelectionSetNode]
    ) -> dict[str, list[FieldNode]]:
        grouped: dict[str, list[FieldNode]] = {}
        for selection_set in selection_sets:
            self._collect_into(parent, selection_set, grouped)
        return grouped

    def _collect_into(
        self, parent: GraphQLObjectType, selection_set: SelectionSetNode, grouped: dict[str, list[FieldNode]]
    ) -> None:
        for selection in selection_set.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                grouped.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if selection.type_condition is None or self._applies(parent, selection.type_condition.name.value):
                    self._collect_into(parent, selection.selection_set, grouped)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments[selection.name.value]
                if self._applies(parent, fragment.type_condition.name.value):
                    self._collect_into(parent, fragment.selection_set, grouped)
            else:
                raise _Unsupported

    @staticmethod
    def _applies(parent: GraphQLObjectType, condition: str) -> bool:
        # Object types only in what we compile: a fragment applies exactly when it names the type.
        return condition == parent.name

    def _included(self, node: Any) -> bool:
        if not node.directives:
            return True
        if any(d.name.value not in ("skip", "include") for d in node.directives):
            raise _Unsupported
        skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
        if skip is not None and skip["if"]:
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
        return include is None or bool(include["if"])

    def object(self, parent: GraphQLObjectType, selection_sets: list[SelectionSetNode]) -> Projection:
        fields: list[tuple[str, str, Projection | None]] = []
        for key, nodes in self.collect(parent, selection_sets).items():
            name = nodes[0].name.value
            if name == "__typename":
                fields.append((key, "", None))
                continue
            field_def = parent.fields[name]
            definition = (field_def.extensions or {}).get(_BACKREF)
            if field_def.args or definition is None or getattr(definition, "base_resolver", None) is not None:
                raise _Unsupported
            fields.append((key, definition.python_name, self.value(field_def.type, _subsets(nodes))))
        type_name = parent.name

        def project(obj: Any) -> dict[str, Any]:
            return {
                key: type_name if value is None else value(getattr(obj, attribute)) for key, attribute, value in fields
            }

        return project

    def value(self, of_type: GraphQLOutputType, selection_sets: list[SelectionSetNode]) -> Projection:
        if isinstance(of_type, GraphQLNonNull):
            return self.value(of_type.of_type, selection_sets)
        if isinstance(of_type, GraphQLList):
            item = self.value(of_type.of_type, selection_sets)
            return lambda items: None if items is None else [item(i) for i in items]
        if isinstance(of_type, GraphQLLeafType):
            serialize = of_type.serialize
            return lambda leaf: None if leaf is None else serialize(leaf)
        if isinstance(of_type, GraphQLObjectType):
            project = self.object(of_type, selection_sets)
            return lambda obj: None if obj is None else project(obj)
        raise _Unsupported


def _subsets(nodes: list[FieldNode]) -> list[SelectionSetNode]:
    return [n.selection_set for n in nodes if n.selection_set is not None]
