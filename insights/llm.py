"""The language-model client behind match insights: one chat completion with a strict JSON schema,
validated into an `LLMAnswer`, or a failure with a machine-readable reason."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from openai import APIStatusError, APITimeoutError, AsyncOpenAI, OpenAIError
from openai.types.chat import ChatCompletion
from openai.types.shared_params import ResponseFormatJSONSchema
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from schema.insight import LLMAnswer

SCHEMA_NAME = "llm_answer"
TEMPERATURE = 0.2
# Strict structured outputs do not support string lengths (pydantic still checks them on the answer); titles
# and defaults are noise to the model, and strict mode makes every field required anyway.
_DROPPED_KEYWORDS = frozenset({"$defs", "title", "default", "minLength", "maxLength"})
# The SDK refuses an empty key, which local OpenAI-compatible servers do not need.
_PLACEHOLDER_KEY = "not-needed"
_MAX_ERRORS_SHOWN = 3


def answer_schema() -> dict[str, Any]:
    """`LLMAnswer`'s JSON schema as OpenAI strict structured outputs accept it, with `$ref`s inlined."""
    schema = LLMAnswer.model_json_schema()
    return _strict(schema, schema.get("$defs", {}))


def _strict(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is not None:
        node = {**defs[ref.rsplit("/", 1)[-1]], **{key: value for key, value in node.items() if key != "$ref"}}
    strict: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYWORDS:
            continue
        if key == "properties":
            strict[key] = {name: _strict(sub, defs) for name, sub in value.items()}
        elif key == "items":
            strict[key] = _strict(value, defs)
        elif key == "anyOf":
            strict[key] = [_strict(variant, defs) for variant in value]
        else:
            strict[key] = value
    if strict.get("type") == "object":
        strict["additionalProperties"] = False
        strict["required"] = list(strict.get("properties", {}))
    return strict


@dataclass(slots=True, frozen=True)
class LLMResult:
    """One call's outcome: `answer` on success, otherwise `failure` as "<reason>: <detail>"."""

    answer: LLMAnswer | None
    failure: str | None
    model: str
    latency_ms: float
    prompt_tokens: int | None
    completion_tokens: int | None


class LLMClient:
    """Asks an OpenAI-compatible chat-completions endpoint for an `LLMAnswer`; never raises for the
    model's or the server's faults."""

    def __init__(self, base_url: str, api_key: str, model: str, timeout: float = 10.0, retries: int = 1) -> None:
        self._model = model
        self._timeout = timeout
        self._attempts = retries + 1
        # The SDK retries timeouts, connection errors, 408/409/429 and 5xx with backoff, `retries` times.
        self._client = AsyncOpenAI(
            base_url=base_url, api_key=api_key or _PLACEHOLDER_KEY, timeout=timeout, max_retries=retries
        )
        self._response_format: ResponseFormatJSONSchema = {
            "type": "json_schema",
            "json_schema": {"name": SCHEMA_NAME, "schema": answer_schema(), "strict": True},
        }

    async def answer(self, system: str, prompt: str) -> LLMResult:
        """One validated answer to `prompt` under the `system` instructions, or the reason there is none."""
        started = time.perf_counter()
        try:
            completion = await self._client.chat.completions.create(
                model=self._model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": prompt}],
                response_format=self._response_format,
                temperature=TEMPERATURE,
            )
        except APITimeoutError:
            failure = f"timeout: no answer within {self._timeout:g}s in {self._attempts} attempt(s)"
        except APIStatusError as exc:
            failure = f"error: HTTP {exc.status_code}"
        except OpenAIError as exc:
            failure = f"error: {type(exc).__name__}"
        else:
            return self._result(completion, started)
        return LLMResult(None, failure, self._model, _elapsed_ms(started), None, None)

    def _result(self, completion: ChatCompletion, started: float) -> LLMResult:
        answer, failure = _read(completion)
        usage = completion.usage
        return LLMResult(
            answer=answer,
            failure=failure,
            model=completion.model or self._model,
            latency_ms=_elapsed_ms(started),
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
        )

    async def close(self) -> None:
        """Close the underlying HTTP client."""
        await self._client.close()


def _read(completion: ChatCompletion) -> tuple[LLMAnswer | None, str | None]:
    if not completion.choices:
        return None, "empty: the server returned no choices"
    choice = completion.choices[0]
    message = choice.message
    if message.refusal:
        return None, f"refusal: {message.refusal}"
    if choice.finish_reason == "length":
        return None, "length: the answer was cut off"
    if not message.content or not message.content.strip():
        return None, f"empty: no content (finish_reason {choice.finish_reason})"
    try:
        return LLMAnswer.model_validate_json(message.content), None
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if errors[0]["type"] == "json_invalid":
            return None, f"invalid_json: {errors[0]['msg']}"
        return None, f"invalid_answer: {_summary(errors)}"


def _summary(errors: list[ErrorDetails]) -> str:
    shown = "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'answer'}: {error['msg']}"
        for error in errors[:_MAX_ERRORS_SHOWN]
    )
    more = len(errors) - _MAX_ERRORS_SHOWN
    return f"{shown} (+{more} more)" if more > 0 else shown


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
