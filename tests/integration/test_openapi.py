"""The OpenAPI document: valid 3.1, complete, every error in the contract's shape, and true of a
real server: a scripted tour of every operation's success answers, then a bounded schemathesis run."""

from __future__ import annotations

import asyncio
import copy
import os
import re
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from jose import jwt
from openapi_spec_validator import validate
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response as CheckedResponse
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema
from starlette.routing import Route

from auth.principal import SCOPES
from gateway.app import create_app
from gateway.errors import STATUS
from gateway.openapi import document, openapi_path
from gateway.settings import Settings
from tests.conftest import RunningGateway, gateway_settings, mint, serving
from tests.integration.payloads import batch, update
from tests.support.waiting import until

JSON = dict[str, Any]
# A status report rather than a refusal: /ready's 503 says which check failed.
NOT_ERRORS = {("/ready", "get", "503")}
# Generated cases per operation: the whole run stays well under a minute on two cores. Fixed
# examples unless ODDSGATE_FUZZ_RANDOM is set (as `make fuzz` does for its own test).
FUZZ_EXAMPLES = int(os.environ.get("ODDSGATE_CONTRACT_EXAMPLES", "25"))
FUZZ_RANDOM = os.environ.get("ODDSGATE_FUZZ_RANDOM") is not None


def the_document() -> JSON:
    return document(create_app(Settings()).routes)


class Contract:
    """The document as schemathesis reads it, and a record of what the server answered."""

    def __init__(self, doc: JSON):
        self.doc = doc
        self.schema: OpenApiSchema = schemathesis.openapi.from_dict(copy.deepcopy(doc))
        # Literal paths before templated ones: /api/v2/insights/log is not an event id.
        ordered = sorted(doc["paths"], key=lambda p: (p.count("{"), p))
        self.templates = [(re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", p) + "$"), p) for p in ordered]
        self.answered: set[tuple[str, str]] = set()
        self.succeeded: list[tuple[httpx.Request, str, str]] = []
        self.checks: list[Callable[..., Any]] = [
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
            self.error_code_listed,
        ]

    def template(self, path: str) -> tuple[str, dict[str, str]]:
        """The documented path `path` is an instance of, and its parameters."""
        for pattern, template in self.templates:
            found = pattern.match(path)
            if found is not None:
                return template, found.groupdict()
        raise AssertionError(f"{path} is in no documented path")

    def error_code_listed(self, ctx: CheckContext, response: CheckedResponse, case: Case[Any]) -> bool | None:
        """An error's code is one the document lists for that operation and status."""
        if response.status_code < 400:
            return None
        declared = self.doc["paths"][case.operation.path][case.method.lower()]["responses"].get(
            str(response.status_code), {}
        )
        code = orjson.loads(response.content)["error"]["code"]
        listed = declared.get("x-error-codes", [])
        assert code in listed, f"{case.method} {case.operation.path} answered {code}; the document lists {listed}"
        return True

    def check(self, response: httpx.Response) -> httpx.Response:
        """`response` as the document says it may be; records a success against its operation."""
        method, path = response.request.method, response.request.url.path
        template, parameters = self.template(path)
        case = self.schema[template][method].Case(path_parameters=parameters)
        case.validate_response(response, checks=self.checks)
        if response.status_code < 400:
            self.answered.add((method.lower(), template))
            self.succeeded.append((response.request, method.lower(), template))
        return response

    def scopes(self, method: str, template: str) -> list[str]:
        scopes: list[str] = self.doc["paths"][template][method].get("x-scopes", [])
        return scopes


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = the_document()
    assert doc["openapi"] == "3.1.0"
    validate(doc)


def test_every_api_route_has_an_operation() -> None:
    doc = the_document()
    missing = [
        f"{method} {route.path}"
        for route in create_app(Settings()).routes
        if isinstance(route, Route) and route.path.startswith("/api/v2")
        for method in sorted((route.methods or set()) - {"HEAD"})
        if method.lower() not in doc["paths"].get(openapi_path(route), {})
    ]
    assert not missing, f"routes without an OpenAPI operation (add @documented to the handler): {missing}"
    # Outside the API: GraphQL (its schema is schema.graphql), the widget's script and the pages.
    undocumented = {
        route.path
        for route in create_app(Settings()).routes
        if isinstance(route, Route) and openapi_path(route) not in doc["paths"]
    }
    assert undocumented == {"/graphql", "/widget.js", "/dashboard", "/docs"}


def test_every_error_answer_has_the_error_shape_and_its_codes() -> None:
    doc = the_document()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if path.startswith("/api/v2"):
                assert operation["x-scopes"], f"{method} {path} names no scope"
                assert operation["security"], f"{method} {path} has no security requirement"
            for status, answer in operation["responses"].items():
                if int(status) < 400 or (path, method, status) in NOT_ERRORS:
                    continue
                where = f"{method.upper()} {path} {status}"
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, where
                codes = answer["x-error-codes"]
                assert codes, where
                assert all(STATUS[code] == int(status) for code in codes), (where, codes)
    error = doc["components"]["schemas"]["ErrorResponse"]
    assert error["required"] == ["error"]
    assert doc["components"]["schemas"]["ErrorDetail"]["required"] == ["code", "message"]


def test_schema_names_suit_code_generators() -> None:
    names = the_document()["components"]["schemas"]
    assert all(re.fullmatch(r"[A-Z][A-Za-z0-9]*", name) for name in names), sorted(names)


async def test_the_document_is_served_and_the_docs_page_only_outside_production(gateway: RunningGateway) -> None:
    served = await gateway.client.get("/openapi.json")
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/json"
    assert served.json() == orjson.loads(orjson.dumps(document(gateway.app.routes)))
    page = await gateway.client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '"/openapi.json"' in page.text
    # No viewer from elsewhere: the page loads nothing but the document.
    assert "<script src" not in page.text
    assert "https://" not in page.text


async def test_production_serves_the_document_but_not_the_docs_page(sqlite_url: str) -> None:
    production = gateway_settings(sqlite_url, environment="production", jwt_secret="s" * 40)
    async with serving(production) as gateway:
        assert (await gateway.client.get("/openapi.json")).status_code == 200
        page = await gateway.client.get("/docs")
        assert page.status_code == 404
        assert page.json()["error"]["code"] == "NOT_FOUND"


async def test_every_operation_answers_as_documented(sqlite_url: str) -> None:
    """A tour that reaches every operation's success answer, each checked against the document."""
    settings = gateway_settings(sqlite_url, webhook_allowed_networks=["127.0.0.0/8"])
    async with serving(settings) as gateway:
        contract = Contract(document(gateway.app.routes))
        await _tour(gateway, contract.check)
        every = {(method, path) for path, item in contract.doc["paths"].items() for method in item}
        assert every - contract.answered == set(), "operations the tour never reached"
        await _scopes_are_as_documented(gateway, contract)


async def _scopes_are_as_documented(gateway: RunningGateway, contract: Contract) -> None:
    """Each request of the tour again: refused FORBIDDEN with every scope but the documented ones,
    and not for its scope with any one of them alone."""
    settings = gateway.app.state.settings
    others = sorted(SCOPES - {"admin"})

    async def again(request: httpx.Request, *scopes: str) -> httpx.Response:
        sub = jwt.get_unverified_claims(request.headers["authorization"].removeprefix("Bearer "))["sub"]
        token = mint(settings, *scopes, sub=sub, age_verified=True)
        kept = {k: v for k, v in request.headers.items() if k not in ("authorization", "content-length", "host")}
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.request(
                request.method,
                request.url,
                content=request.content,
                headers={**kept, "authorization": f"Bearer {token}"},
            )

    def forbidden(reply: httpx.Response) -> bool:
        return reply.status_code == 403 and reply.json()["error"]["code"] == "FORBIDDEN"

    documented = [(r, m, t, contract.scopes(m, t)) for r, m, t in contract.succeeded if contract.scopes(m, t)]
    for request, method, template, scopes in documented:
        lacking = await again(request, *(s for s in others if s not in scopes))
        assert forbidden(lacking), f"{method} {template} without {scopes}: {lacking.status_code} {lacking.text}"
    for request, method, template, scopes in documented:
        for scope in scopes:
            alone = await again(request, scope)
            assert not forbidden(alone), f"{method} {template} with {scope} alone: {alone.text}"


async def _tour(gateway: RunningGateway, check: Callable[[httpx.Response], httpx.Response]) -> None:
    client = gateway.client
    settings = gateway.app.state.settings
    bettor_token = mint(settings, "bets:place", sub="ann", age_verified=True)
    bettor = httpx.AsyncClient(base_url=gateway.url, headers={"Authorization": f"Bearer {bettor_token}"}, timeout=10)
    async with bettor:
        check(await client.get("/health"))
        check(await client.get("/ready"))
        check(await client.get("/metrics"))
        check(await client.get("/openapi.json"))
        taken = check(await client.post("/api/v2/ingest", json=batch("a", update(1.85, 2.10))))
        assert taken.json()["accepted"] == 1
        header = "match_date;kick_off;sport;league;home;away;market;line;selection;price;last_update\n"
        vendor = await client.post(
            "/api/v2/feeds/legacy_csv", params={"source": "b"}, content=header, headers={"content-type": "text/csv"}
        )
        assert check(vendor).status_code == 200, vendor.text
        listed = check(await client.get("/api/v2/odds", params={"format": "american"})).json()["data"]
        event_id = listed[0]["id"]
        check(await client.get(f"/api/v2/events/{event_id}"))
        check(await client.get("/api/v2/sources"))

        async def audited() -> bool:
            return (await client.get(f"/api/v2/events/{event_id}/history")).status_code == 200

        await until(audited)
        check(await client.get(f"/api/v2/events/{event_id}/history", params={"market": "moneyline"}))
        shortcode = f'[odds event="{event_id}"]'
        fragment = check(await client.get("/cms/shortcode", params={"code": shortcode}))
        unchanged = {"if-none-match": fragment.headers["etag"]}
        cached = await client.get("/cms/shortcode", params={"code": shortcode}, headers=unchanged)
        assert check(cached).status_code == 304

        deposit = {"amount": "100.00", "reference": "pay-1"}
        assert check(await client.post("/api/v2/wallets/ann/deposit", json=deposit)).status_code == 201
        assert check(await client.post("/api/v2/wallets/ann/deposit", json=deposit)).status_code == 200
        check(await bettor.get("/api/v2/wallet"))
        bet = {"event_id": event_id, "market_id": "moneyline", "outcome_id": "home", "stake": "10.00", "odds": 1.85}
        placed = check(await bettor.post("/api/v2/bets", json=bet, headers={"idempotency-key": "k1"}))
        assert placed.status_code == 201, placed.text
        again = check(await bettor.post("/api/v2/bets", json=bet, headers={"idempotency-key": "k1"}))
        assert again.status_code == 200
        bet_id = placed.json()["bet_id"]
        check(await bettor.get("/api/v2/bets"))
        check(await bettor.get(f"/api/v2/bets/{bet_id}"))
        check(await client.get(f"/api/v2/bets/{bet_id}/context"))
        check(await client.get("/api/v2/exposure"))

        scope = {"event_id": event_id, "market_id": "moneyline"}
        made = check(await client.post("/api/v2/overrides", json={"scope": scope, "action": "suspend", "reason": "x"}))
        assert made.status_code == 201, made.text
        check(await client.get("/api/v2/overrides", params={"active": "true"}))
        check(await client.post(f"/api/v2/overrides/{made.json()['id']}/rollback", json={"reason": "done"}))
        check(await client.get("/api/v2/alerts"))

        result = {"event_id": event_id, "market_id": "moneyline", "winning_outcome_ids": ["home"]}
        settled = check(await client.post("/api/v2/results", json=result))
        assert settled.status_code == 201, settled.text
        assert check(await client.post("/api/v2/results", json=result)).status_code == 200
        check(await bettor.get("/api/v2/reports/me"))
        check(await client.get("/api/v2/reports"))
        check(await client.post(f"/api/v2/results/{settled.json()['id']}/rollback"))

        hook = {"url": "http://127.0.0.1:9/hook", "events": ["suspension"], "secret": "s" * 20}
        registered = check(await client.post("/api/v2/webhooks", json=hook))
        assert registered.status_code == 201, registered.text
        hook_id = registered.json()["id"]
        check(await client.get("/api/v2/webhooks"))
        check(await client.get(f"/api/v2/webhooks/{hook_id}/deliveries"))
        check(await client.delete(f"/api/v2/webhooks/{hook_id}"))

        check(await client.get(f"/api/v2/events/{event_id}/insight"))
        check(await client.get("/api/v2/insights/log", params={"event_id": event_id}))
        check(await client.get("/api/v2/insights/accuracy"))

        # Refusals are held to the document too: their status and code must be listed.
        check(await client.get("/api/v2/events/no-such-event"))
        check(await client.get("/api/v2/odds", params={"limit": "0"}))
        async with httpx.AsyncClient(base_url=gateway.url) as anonymous:
            check(await anonymous.get("/api/v2/odds"))


async def test_generated_requests_get_documented_answers(sqlite_url: str) -> None:
    """schemathesis, bounded: requests generated from the document, with a token of every scope,
    never meet a 5xx, and every answer's status, media type, headers, body and error code are
    as documented."""
    async with serving(gateway_settings(sqlite_url)) as gateway:
        assert (await gateway.client.post("/api/v2/ingest", json=batch("a", update()))).status_code == 200
        token = mint(gateway.app.state.settings, sub="fuzz", age_verified=True)
        contract = Contract(document(gateway.app.routes))
        failures = await asyncio.to_thread(_fuzz, contract, gateway.url, token)
        assert not failures, "\n\n".join(failures)


def _fuzz(contract: Contract, url: str, token: str) -> list[str]:
    failures: list[str] = []
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        for result in contract.schema.get_all_operations():
            assert isinstance(result, Ok), result
            operation = result.ok()

            @settings(
                max_examples=FUZZ_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=not FUZZ_RANDOM,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def one(case: Case[Any]) -> None:
                case.call_and_validate(base_url=url, session=session, checks=contract.checks)

            try:
                one()
            # schemathesis reports its findings as a BaseExceptionGroup.
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label}: {exc}")
    return failures
