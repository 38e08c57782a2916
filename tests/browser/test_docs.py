"""The /docs page in Chromium: every operation of the document, and "Try it" against the real server."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser

from tests.conftest import RunningGateway


async def test_the_docs_page_shows_every_operation_and_tries_one(
    browser: Browser, odds_gateway: RunningGateway, artifacts: Path
) -> None:
    document = (await odds_gateway.client.get("/openapi.json")).json()
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Nothing but this server: the page bundles its own viewer.
    elsewhere: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(odds_gateway.url) else elsewhere.append(r.url))
    await page.goto(f"{odds_gateway.url}/docs")
    await page.wait_for_selector("#op-list_sources")
    for item in document["paths"].values():
        for operation in item.values():
            assert await page.is_visible(f"#op-{operation['operationId']}"), operation["operationId"]
    assert await page.is_visible("#schema-ErrorResponse")

    await page.fill("#token", odds_gateway.token)
    section = page.locator("#op-list_sources")
    await section.locator("summary", has_text="Try it").click()
    await section.locator("button", has_text="Send").click()
    answer = section.locator("pre")
    await answer.wait_for(state="visible")
    await page.wait_for_function(
        "document.querySelector('#op-list_sources pre').textContent.startsWith('200')", timeout=5_000
    )
    assert re.search(r'"data": \[', await answer.text_content() or "")
    await page.screenshot(path=str(artifacts / "api-docs.png"))
    assert errors == []
    assert elsewhere == []
