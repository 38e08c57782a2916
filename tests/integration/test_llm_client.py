"""The insights LLM client with the real `openai` SDK against an OpenAI-compatible fake on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from insights.llm import LLMClient, answer_schema
from schema.insight import LLMAnswer
from tests.support.fake_llm import REFUSAL, SAMPLE_ANSWER, FakeLLM, Mode, fake_llm
from tests.support.servers import free_port

MODEL = "insights-test"
SYSTEM = "You write short, factual insights about live matches. Answer in the given JSON schema."
PROMPT = "San Francisco 49ers v Baltimore Ravens, Q4 09:12, 17-10. Consensus: home 0.68, away 0.32."


@pytest.fixture
async def server() -> AsyncIterator[FakeLLM]:
    async with fake_llm() as running:
        yield running


@pytest.fixture
async def client(server: FakeLLM) -> AsyncIterator[LLMClient]:
    # An empty key, as for a local server: the client must still be able to call.
    llm = LLMClient(server.url, "", MODEL, timeout=2.0, retries=1)
    yield llm
    await llm.close()


async def test_a_valid_answer_comes_back_validated(server: FakeLLM, client: LLMClient) -> None:
    sent = {**SAMPLE_ANSWER, "momentum": "neutral", "predictive_notes": ["Level game.", "Rain expected."]}
    server.content = json.dumps(sent)

    result = await client.answer(SYSTEM, PROMPT)

    assert result.failure is None
    assert result.answer == LLMAnswer.model_validate(sent)
    assert result.answer.model_dump() == sent
    assert result.model == server.model
    assert (result.prompt_tokens or 0) > 0
    assert (result.completion_tokens or 0) > 0
    assert result.latency_ms > 0
    assert server.calls == 1


async def test_the_request_carries_the_strict_schema_model_and_messages(server: FakeLLM, client: LLMClient) -> None:
    await client.answer(SYSTEM, PROMPT)

    [body] = server.requests
    assert body["model"] == MODEL
    assert body["messages"] == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}]
    assert body["temperature"] == 0.2
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    assert response_format["json_schema"]["name"] == "llm_answer"
    assert response_format["json_schema"]["schema"] == answer_schema()


@pytest.mark.parametrize(
    ("mode", "prefix"),
    [
        ("invalid_json", "invalid_json: "),
        ("wrong_shape", "invalid_answer: "),
        ("refusal", "refusal: "),
        ("length", "length: "),
    ],
)
async def test_a_bad_answer_is_a_failure_with_its_reason(
    server: FakeLLM, client: LLMClient, mode: Mode, prefix: str
) -> None:
    server.mode = mode

    result = await client.answer(SYSTEM, PROMPT)

    assert result.answer is None
    assert (result.failure or "").startswith(prefix), result.failure
    # The server answered, so what it reported is kept even though the answer is unusable.
    assert result.model == server.model
    assert (result.prompt_tokens or 0) > 0
    assert (result.completion_tokens or 0) > 0
    assert server.calls == 1


async def test_failure_details(server: FakeLLM, client: LLMClient) -> None:
    server.mode = "wrong_shape"
    assert (await client.answer(SYSTEM, PROMPT)).failure == (
        "invalid_answer: model_probability: Value error, probabilities sum to 1.400, not 1"
    )
    server.mode = "refusal"
    assert (await client.answer(SYSTEM, PROMPT)).failure == f"refusal: {REFUSAL}"
    server.mode = "length"
    assert (await client.answer(SYSTEM, PROMPT)).failure == "length: the answer was cut off"


async def test_empty_content_is_a_failure(server: FakeLLM, client: LLMClient) -> None:
    server.content = ""

    result = await client.answer(SYSTEM, PROMPT)

    assert result.answer is None
    assert (result.failure or "").startswith("empty: "), result.failure


async def test_a_server_error_is_retried_once_then_a_failure(server: FakeLLM, client: LLMClient) -> None:
    server.mode = "error"

    result = await client.answer(SYSTEM, PROMPT)

    assert result.answer is None
    assert result.failure == "error: HTTP 500"
    assert result.model == MODEL
    assert (result.prompt_tokens, result.completion_tokens) == (None, None)
    assert server.calls == 2


async def test_a_slow_server_is_a_timeout_failure(server: FakeLLM) -> None:
    server.mode = "timeout"
    llm = LLMClient(server.url, "", MODEL, timeout=0.3, retries=1)
    try:
        result = await llm.answer(SYSTEM, PROMPT)
    finally:
        await llm.close()

    assert result.answer is None
    assert (result.failure or "").startswith("timeout: "), result.failure
    assert server.calls == 2
    # Two attempts of 0.3 s and one backoff, well short of the server's 2 s.
    assert result.latency_ms < server.delay * 1000


async def test_no_server_is_an_error_failure() -> None:
    llm = LLMClient(f"http://127.0.0.1:{free_port()}/v1", "", MODEL, timeout=1.0, retries=0)
    try:
        result = await llm.answer(SYSTEM, PROMPT)
    finally:
        await llm.close()

    assert result.answer is None
    assert result.failure == "error: APIConnectionError"


def test_the_answer_schema_is_strict_compatible() -> None:
    schema = answer_schema()
    objects = list(_objects(schema))

    assert len(objects) == 3  # the answer, a key event, the probabilities
    for node in objects:
        assert node["additionalProperties"] is False
        assert node["required"] == list(node["properties"])
    text = json.dumps(schema)
    for keyword in ("$ref", "$defs", "minLength", "maxLength", "default"):
        assert keyword not in text
    key_event = schema["properties"]["key_events"]["items"]
    for nullable in ("team", "period", "clock"):
        assert {"type": "null"} in key_event["properties"][nullable]["anyOf"]
    assert {"type": "null"} in schema["properties"]["model_probability"]["properties"]["draw"]["anyOf"]
    assert answer_schema() == schema


def _objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every object schema under `node`, found by walking all of it."""
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value)
