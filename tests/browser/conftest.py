"""Real browsers for the web pages: Debian's Chromium driven by Playwright (never a downloaded
browser), a publisher's site on its own origin, and screenshots kept as test artefacts."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, async_playwright
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from tests.conftest import RunningGateway, gateway_settings, mint, serving
from tests.support.servers import free_port, serve_in_process

ARTIFACTS = (
    Path(os.environ.get("ODDSGATE_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")) / "browser"
)
# Chromium's own background traffic is refused on a closed network, many connections at a time.
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    found = os.environ.get("ODDSGATE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail(
            "Chromium is not installed: `make test` installs Debian's chromium package (scripts/test-prereqs.sh)"
        )
    return found


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
async def odds_gateway(sqlite_url: str) -> AsyncIterator[RunningGateway]:
    async with serving(gateway_settings(sqlite_url)) as running:
        yield running


@dataclass
class Publisher:
    """A news site on another origin: its article embeds an oddsgate fragment, fetched on the
    server with the site's embed token, and the widget script."""

    url: str
    embed_token: str


ARTICLE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>49ers host Ravens: the preview</title>
<style>body{{font:16px/1.6 Georgia,serif;max-width:760px;margin:24px auto;color:#1f2328}}
h1{{font-size:30px;line-height:1.2}} .byline{{color:#57606a;font-size:14px}}</style></head>
<body><article>
<h1>49ers host Ravens in a Monday night heavyweight bout</h1>
<p class="byline">By the Sports Desk</p>
<p>San Francisco come into the game on a four-game winning streak, while Baltimore's defence has
allowed the fewest points in the league. Here are the latest prices, live:</p>
{fragment}
<p>Kick-off is at 20:20 UTC. The prices above update as the market moves.</p>
</article>
<script src="{gateway}/widget.js" data-oddsgate-token="{token}" async></script>
</body></html>"""


@pytest.fixture
async def publisher(odds_gateway: RunningGateway) -> AsyncIterator[Publisher]:
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    embed = mint(odds_gateway.app.state.settings, "odds:read", sub="news-site", origins=[origin])

    async def article(request: Request) -> HTMLResponse:
        code = request.query_params.get("code", "")
        async with httpx.AsyncClient(base_url=odds_gateway.url) as client:
            reply = await client.get(
                "/cms/shortcode", params={"code": code}, headers={"Authorization": f"Bearer {embed}"}
            )
        reply.raise_for_status()
        return HTMLResponse(ARTICLE.format(fragment=reply.text, gateway=odds_gateway.url, token=embed))

    app = Starlette(routes=[Route("/article", article)])
    server, task = await serve_in_process(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"), "the publisher's site"
    )
    try:
        yield Publisher(origin, embed)
    finally:
        server.should_exit = True
        await task
