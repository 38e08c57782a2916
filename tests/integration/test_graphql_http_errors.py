"""`/graphql` over HTTP: media types by Accept, the status of request errors, subscriptions refused
with a pointer to the WebSocket, and the `extensions.code` of every kind of error."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import strawberry
import websockets

from resolvers.errors import ErrorCodes
from tests.conftest import RunningGateway

GRAPHQL_RESPONSE = "application/graphql-response+json"
SUBSCRIPTION = "subscription { oddsUpdated { seq } }"


async def post(gateway: RunningGateway, body: dict[str, Any], accept: str | None = None) -> httpx.Response:
    headers = {"Accept": accept} if accept is not None else {}
    return await gateway.client.post("/graphql", json=body, headers=headers)


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        # Apollo Client's and graphql-http's own header.
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0.5, application/json", "application/json"),
        (f"text/html, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
    ],
)
async def test_the_response_media_type_follows_accept(
    gateway: RunningGateway, accept: str | None, media_type: str
) -> None:
    reply = await post(gateway, {"query": "{ __typename }"}, accept)
    assert reply.status_code == 200
    assert reply.headers["content-type"].split(";")[0] == media_type
    assert reply.json() == {"data": {"__typename": "Query"}}


async def test_a_client_accepting_neither_media_type_gets_406(gateway: RunningGateway) -> None:
    reply = await post(gateway, {"query": "{ __typename }"}, "text/html")
    assert reply.status_code == 406
    assert GRAPHQL_RESPONSE in reply.json()["error"]["message"]


REQUEST_ERRORS = [
    ({"query": "{ events { id "}, "GRAPHQL_PARSE_FAILED"),
    ({"query": "{ events { nope } }"}, "GRAPHQL_VALIDATION_FAILED"),
    ({"query": "query($n: Int) { events(limit: $n) { id } }", "variables": {"n": "ten"}}, "BAD_USER_INPUT"),
    ({"query": "query($n: Int!) { events(limit: $n) { id } }", "variables": {}}, "BAD_USER_INPUT"),
]


@pytest.mark.parametrize(("body", "code"), REQUEST_ERRORS)
async def test_request_errors_are_400_without_data_in_the_graphql_response_media_type(
    gateway: RunningGateway, body: dict[str, Any], code: str
) -> None:
    reply = await post(gateway, body, GRAPHQL_RESPONSE)
    assert reply.status_code == 400
    assert reply.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    answer = reply.json()
    assert "data" not in answer
    assert [e["extensions"]["code"] for e in answer["errors"]] == [code]


@pytest.mark.parametrize(("body", "code"), REQUEST_ERRORS)
async def test_request_errors_stay_200_with_null_data_in_plain_json(
    gateway: RunningGateway, body: dict[str, Any], code: str
) -> None:
    reply = await post(gateway, body, "application/json")
    assert reply.status_code == 200
    answer = reply.json()
    assert answer["data"] is None
    assert [e["extensions"]["code"] for e in answer["errors"]] == [code]


async def test_business_errors_keep_their_contract_code_and_a_200(gateway: RunningGateway) -> None:
    for accept in (GRAPHQL_RESPONSE, "application/json"):
        reply = await post(gateway, {"query": '{ events(sport: "curling") { id } }'}, accept)
        # The operation ran: a field error, not a request error.
        assert reply.status_code == 200
        answer = reply.json()
        assert answer["data"] is None
        assert answer["errors"][0]["extensions"]["code"] == "INVALID_REQUEST"
        assert answer["errors"][0]["path"] == ["events"]


@pytest.mark.parametrize("accept", [None, GRAPHQL_RESPONSE])
async def test_a_subscription_over_http_is_refused_with_a_pointer_to_the_websocket(
    gateway: RunningGateway, accept: str | None
) -> None:
    for reply in (
        await post(gateway, {"query": SUBSCRIPTION}, accept),
        await gateway.client.get("/graphql", params={"query": SUBSCRIPTION}, headers={"Accept": accept or "*/*"}),
    ):
        assert reply.status_code == 400
        [error] = reply.json()["errors"]
        assert error["extensions"]["code"] == "WEBSOCKET_REQUIRED"
        assert "graphql-transport-ws" in error["message"]
        assert "data" not in reply.json()


async def test_a_mutation_over_get_is_405(gateway: RunningGateway) -> None:
    reply = await gateway.client.get(
        "/graphql", params={"query": 'mutation { rollbackOverride(id: "1") { id } }'}, headers={"Accept": "*/*"}
    )
    assert reply.status_code == 405
    assert reply.headers["allow"] == "POST"
    assert reply.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


async def test_errors_over_the_websocket_carry_codes_too(gateway: RunningGateway) -> None:
    url = gateway.url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        await socket.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {gateway.token}"}})
        )
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "subscription { oddsUpdated { nope } }"}})
        )
        while (message := json.loads(await socket.recv()))["type"] == "ping":
            continue
        assert message["type"] == "error"
        assert [e["extensions"]["code"] for e in message["payload"]] == ["GRAPHQL_VALIDATION_FAILED"]


@strawberry.type
class Broken:
    @strawberry.field
    def boom(self) -> str:
        raise RuntimeError("a bug, with a detail no client should read")


async def test_a_bug_is_masked_as_internal() -> None:
    # No route of ours fails on purpose: a schema of one failing field shows what a bug looks like.
    schema = strawberry.Schema(query=Broken, extensions=[ErrorCodes])
    result = await schema.execute("{ boom }")
    assert result.errors is not None
    [error] = result.errors
    assert error.formatted["message"] == "internal error; it has been logged"
    assert error.formatted["extensions"] == {"code": "INTERNAL"}
