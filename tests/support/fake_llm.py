"""A small OpenAI-compatible chat-completions server for tests, under uvicorn on loopback on a free port.

It answers in the `mode` the test sets and records every request body it receives.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.servers import free_port, serve_in_process

Mode = Literal["valid", "invalid_json", "wrong_shape", "refusal", "length", "error", "timeout"]

SAMPLE_ANSWER: dict[str, Any] = {
    "summary": "The 49ers lead 17-10 after a fourth-quarter touchdown; the market has moved their way.",
    "key_events": [
        {
            "type": "touchdown",
            "team": "home",
            "period": "Q4",
            "clock": "09:12",
            "description": "Deebo Samuel 24-yard touchdown reception.",
        },
        {"type": "injury", "team": None, "period": None, "clock": None, "description": "Play stopped for an injury."},
    ],
    "momentum": "home",
    "predictive_notes": ["A seven-point lead with nine minutes left favours the home side."],
    "model_probability": {"home": 0.71, "away": 0.29, "draw": None},
}
# Valid JSON that LLMAnswer refuses: these probabilities sum to 1.4.
WRONG_SHAPE_ANSWER: dict[str, Any] = {**SAMPLE_ANSWER, "model_probability": {"home": 0.7, "away": 0.7, "draw": None}}
REFUSAL = "I'm sorry, but I can't help with that request."
ERROR_BODY: dict[str, Any] = {
    "error": {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error",
        "param": None,
        "code": None,
    }
}


class FakeLLM:
    """The server's state: what it answers (`mode`, `content`, `model`, `delay`) and what it was sent."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/v1"
        self.mode: Mode = "valid"
        self.content = json.dumps(SAMPLE_ANSWER)
        self.model = "fake-gpt-2026-01-01"
        self.delay = 2.0
        self.requests: list[dict[str, Any]] = []
        self._closing = asyncio.Event()
        routes = [
            Route(path, self._completions, methods=["POST"]) for path in ("/v1/chat/completions", "/chat/completions")
        ]
        self.app = Starlette(routes=routes)

    @property
    def calls(self) -> int:
        return len(self.requests)

    def close(self) -> None:
        """End any request still sleeping in `timeout` mode, so that the server can stop at once."""
        self._closing.set()

    async def _completions(self, request: Request) -> JSONResponse:
        body: dict[str, Any] = await request.json()
        self.requests.append(body)
        if self.mode == "error":
            # retry-after-ms keeps the SDK's retry quick instead of its ~0.5 s backoff.
            return JSONResponse(ERROR_BODY, status_code=500, headers={"retry-after-ms": "10"})
        if self.mode == "timeout":
            with suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.delay)
        content: str | None = self.content
        refusal: str | None = None
        finish_reason = "stop"
        if self.mode == "invalid_json":
            content = "Sure! Here is the insight: {summary: 'The 49ers lead', momentum: home"
        elif self.mode == "wrong_shape":
            content = json.dumps(WRONG_SHAPE_ANSWER)
        elif self.mode == "refusal":
            content, refusal = None, REFUSAL
        elif self.mode == "length":
            content, finish_reason = self.content[: len(self.content) // 2], "length"
        return JSONResponse(self._completion(body, content, refusal, finish_reason))

    def _completion(
        self, body: dict[str, Any], content: str | None, refusal: str | None, finish_reason: str
    ) -> dict[str, Any]:
        # Roughly four characters a token, as tokenizers go for English.
        prompt_tokens = 10 + sum(len(str(message.get("content", ""))) for message in body.get("messages", [])) // 4
        completion_tokens = max(1, len(content or refusal or "") // 4)
        return {
            "id": f"chatcmpl-fake{self.calls:06d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": refusal, "annotations": []},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }


@asynccontextmanager
async def fake_llm() -> AsyncIterator[FakeLLM]:
    """A running `FakeLLM`; its `url` is the base URL to give an OpenAI client (".../v1")."""
    port = free_port()
    fake = FakeLLM(port)
    config = uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server, task = await serve_in_process(config, "the fake LLM server")
    try:
        yield fake
    finally:
        fake.close()
        server.should_exit = True
        await task
