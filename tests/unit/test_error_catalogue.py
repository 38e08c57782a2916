"""One error catalogue: every code raised anywhere in the tree has an HTTP status, reaches GraphQL as
`extensions.code` and a socket as an error frame or a close code, and has a row in the README."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest
import strawberry
from graphql import GraphQLError

from gateway.errors import STATUS, error_body
from gateway.socket_core import close_code
from resolvers.errors import ErrorCodes, graphql_errors
from schema.errors import OddsgateError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schema", "feeds", "auth", "store", "betting", "insights", "usecases", "resolvers", "gateway")
# Codes written out where a door answers without an exception (a refusal before the app runs).
_LITERAL = re.compile(r'(?:error_response|error_body|_error|_refuse|OperationRefused)\((?:\d+, )?"([A-Z][A-Z_]+)"')
_KEYWORD = re.compile(r'code="([A-Z][A-Z_]+)"')
# Codes named once as constants (GraphQL's request errors): upper-case text of five letters or more.
_CONSTANT = re.compile(r'^[A-Z_]+ = "([A-Z][A-Z_]{4,})"$', re.MULTILINE)


def _error_classes() -> set[type[OddsgateError]]:
    for package in PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            importlib.import_module(info.name)
    found: set[type[OddsgateError]] = set()
    pending: list[type[OddsgateError]] = [OddsgateError]
    while pending:
        cls = pending.pop()
        found.add(cls)
        pending.extend(cls.__subclasses__())
    return found


def _codes() -> set[str]:
    codes = {cls.code for cls in _error_classes()}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            source = path.read_text()
            codes.update(_LITERAL.findall(source))
            codes.update(_KEYWORD.findall(source))
            codes.update(_CONSTANT.findall(source))
    return codes


def _readme_rows() -> dict[str, list[str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and re.fullmatch(r"`[A-Z_]+`", cells[0]):
            rows[cells[0].strip("`")] = cells[1:]
    return rows


CODES = sorted(_codes())


def _named(cls: type[OddsgateError]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


CLASSES: list[type[OddsgateError]] = sorted(_error_classes(), key=_named)


def test_the_catalogue_is_found() -> None:
    # The scan must see the codes it is meant to: a broken scan would pass every check below.
    assert {"INVALID_REQUEST", "PRICE_CHANGED", "HEADERS_TOO_LARGE", "GRAPHQL_PARSE_FAILED"} <= set(CODES)


@pytest.mark.parametrize("code", CODES)
def test_every_code_has_an_http_status(code: str) -> None:
    assert code in STATUS, f"{code} has no HTTP status in gateway/errors.py STATUS"
    assert 400 <= STATUS[code] <= 599


@pytest.mark.parametrize("code", CODES)
def test_every_code_has_a_readme_row_with_its_status(code: str) -> None:
    rows = _readme_rows()
    assert code in rows, f"README's error table has no row for {code}"
    http, graphql, socket, why = rows[code]
    assert http == str(STATUS[code]), f"README says {http} for {code}, the code answers {STATUS[code]}"
    assert graphql, code
    assert socket, code
    assert why, code


def _refusing(error: OddsgateError) -> strawberry.Schema:
    @strawberry.type
    class Query:
        @strawberry.field
        def refused(self) -> str:
            raise error

    return strawberry.Schema(query=Query, extensions=[ErrorCodes])


@pytest.mark.parametrize("cls", CLASSES, ids=_named)
def test_every_error_a_resolver_raises_reaches_graphql_with_its_code(cls: type[OddsgateError]) -> None:
    error = cls.__new__(cls)
    OddsgateError.__init__(error, "refused", details={"retry_after": 1})
    result = _refusing(error).execute_sync("{ refused }")
    assert result.errors is not None
    [reported] = result.errors
    assert (reported.message, reported.extensions) == ("refused", {"code": cls.code, "retry_after": 1})


@pytest.mark.parametrize("cls", CLASSES, ids=_named)
def test_every_error_outside_a_resolver_reaches_graphql_with_its_code(cls: type[OddsgateError]) -> None:
    error = cls.__new__(cls)
    OddsgateError.__init__(error, "refused")
    with pytest.raises(GraphQLError) as raised, graphql_errors():
        raise error
    assert raised.value.extensions == {"code": cls.code}


@pytest.mark.parametrize("code", CODES)
def test_every_code_reaches_a_socket_as_a_frame_or_a_close(code: str) -> None:
    error = OddsgateError("refused", code=code)
    assert error_body(code, "refused")["error"]["code"] == code
    closing = close_code(error, admitted=False)
    assert closing is None or 1000 <= closing <= 4999
    assert close_code(error, admitted=True) in (None, 1013, 4400, 4401, 4403, 4408, 4429, 4498)
