"""GraphQL errors and their `extensions.code`: business errors keep the REST code, graphql's own
errors get Apollo's conventional names, and errors from a bug are masked as `INTERNAL`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from schema.errors import OddsgateError

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"
INTERNAL = "INTERNAL"
# Errors that stop an operation before anything runs: the GraphQL-over-HTTP spec's request errors.
REQUEST_ERROR_CODES = frozenset({PARSE_FAILED, VALIDATION_FAILED, BAD_USER_INPUT})
MASKED_MESSAGE = "internal error; it has been logged"


@contextmanager
def graphql_errors() -> Iterator[None]:
    """For code that runs outside an operation's resolvers (a subscription's generator, the
    context): business errors as GraphQL errors with their code. Resolvers need nothing: the
    extension below codes what they raise."""
    try:
        yield
    except OddsgateError as exc:
        raise GraphQLError(exc.message, extensions=business_extensions(exc)) from exc


def business_extensions(error: OddsgateError) -> dict[str, object]:
    """A refusal's code, and its details (the current odds of PRICE_CHANGED, say), as REST has them."""
    return {"code": error.code, **error.details}


def is_bug(error: GraphQLError) -> bool:
    """An exception no rule raised; ours (and graphql's own) are GraphQLError or OddsgateError."""
    original = error.original_error
    return original is not None and not isinstance(original, (GraphQLError, OddsgateError))


def code_of(error: GraphQLError) -> str | None:
    code = (error.extensions or {}).get("code")
    return code if isinstance(code, str) else None


def _set_code(errors: list[GraphQLError] | None, code: str) -> None:
    for error in errors or ():
        if code_of(error) is None:
            error.extensions = {**(error.extensions or {}), "code": code}


class ErrorCodes(MaskErrors):
    """The one place where errors get their code: a business error raised by a resolver keeps its
    REST code; graphql's own are named for their phase.

    The phase an error came from is known only while that phase runs, so parse and validation
    errors are coded as they happen. What is left once the operation ends without a code came
    from graphql-core's execution: without a path it is the variables failing to coerce (the
    operation never started), with one a bug; bugs are masked."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_bug, error_message=MASKED_MESSAGE)

    def on_parse(self) -> Iterator[None]:
        yield
        _set_code(self.execution_context.pre_execution_errors, PARSE_FAILED)

    def on_validate(self) -> Iterator[None]:
        yield
        _set_code(self.execution_context.pre_execution_errors, VALIDATION_FAILED)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {"code": INTERNAL}
        return masked

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        # MaskErrors' step over a result's errors (strawberry is pinned), run when the operation,
        # or each streamed result, is done.
        processed = super()._process_errors(errors)
        for error in processed:
            if isinstance(error.original_error, OddsgateError) and code_of(error) is None:
                error.extensions = {**(error.extensions or {}), **business_extensions(error.original_error)}
            if code_of(error) is None:
                _set_code([error], BAD_USER_INPUT if error.path is None else INTERNAL)
        return processed
