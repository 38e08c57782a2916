"""A publisher's article with a shortcode fragment and the live widget, in Chromium."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from playwright.async_api import Browser, Page

from tests.browser.conftest import Publisher
from tests.conftest import RunningGateway
from tests.integration.payloads import batch, update

EVENT = "49ers-ravens-2026-03-23"
CODE = quote(f'[odds event="{EVENT}" markets="moneyline,spread" format="american"]')
MONEYLINE = f'.oddsgate[data-oddsgate-event="{EVENT}"] table[data-oddsgate-market="moneyline"]'
HOME_PRICE = f'{MONEYLINE} tr[data-oddsgate-outcome="home"] .og-price'


async def ingest(gateway: RunningGateway, *updates: dict[str, Any]) -> None:
    reply = await gateway.client.post("/api/v2/ingest", json=batch("vendor_a", *updates))
    assert reply.status_code == 200, reply.text


# Test instrumentation only: remembers the page's sockets so a test can drop them.
KEEP_SOCKETS = """
window.__sockets = [];
const Native = window.WebSocket;
window.WebSocket = function (url, protocols) {
  const socket = new Native(url, protocols);
  window.__sockets.push(socket);
  return socket;
};
window.WebSocket.prototype = Native.prototype;
"""


async def live_article(browser: Browser, publisher: Publisher, keep_sockets: bool = False) -> Page:
    page = await browser.new_page(viewport={"width": 900, "height": 760})
    if keep_sockets:
        await page.add_init_script(KEEP_SOCKETS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{publisher.url}/article?code={CODE}")
    await page.wait_for_selector('.oddsgate[data-oddsgate-live="true"]', timeout=10_000)
    assert errors == []
    return page


async def test_a_price_change_reaches_the_article_within_a_second(
    browser: Browser, publisher: Publisher, odds_gateway: RunningGateway, artifacts: Path
) -> None:
    await ingest(odds_gateway, update(1.85, 2.10), update(1.91, 1.91, market="spread", line=-3.5))
    page = await live_article(browser, publisher)
    assert await page.text_content(HOME_PRICE) == "-118"
    started = time.monotonic()
    await ingest(odds_gateway, update(1.60, 2.45))
    # 1.60 is -167 in American odds; the price shortened, so it flashes as a move down.
    await page.wait_for_function(
        f"document.querySelector('{HOME_PRICE}').textContent === '-167'", timeout=1_000, polling="raf"
    )
    elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert "og-down" in (await page.get_attribute(HOME_PRICE, "class") or "")
    await page.screenshot(path=str(artifacts / "article-live-widget.png"), full_page=True)
    await page.close()


async def test_the_widget_resumes_after_losing_its_connection(
    browser: Browser, publisher: Publisher, odds_gateway: RunningGateway
) -> None:
    await ingest(odds_gateway, update(1.85, 2.10))
    page = await live_article(browser, publisher, keep_sockets=True)
    # The connection drops (as a proxy or a server restart would drop it) and prices move meanwhile.
    await page.evaluate("window.__sockets.forEach((s) => s.close())")
    await page.wait_for_selector('.oddsgate[data-oddsgate-live="false"]', timeout=5_000, state="attached")
    await ingest(odds_gateway, update(2.20, 1.70))
    # It reconnects, resubscribes from the last seq it showed and gets the missed delta.
    await page.wait_for_function(f"document.querySelector('{HOME_PRICE}').textContent === '+120'", timeout=15_000)
    await page.close()


async def test_without_javascript_the_fragment_still_shows_prices(
    browser: Browser, publisher: Publisher, odds_gateway: RunningGateway
) -> None:
    await ingest(odds_gateway, update(1.85, 2.10))
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(f"{publisher.url}/article?code={CODE}")
    assert await page.text_content(HOME_PRICE) == "-118"
    assert await page.get_attribute(f'.oddsgate[data-oddsgate-event="{EVENT}"]', "data-oddsgate-live") is None
    assert await page.is_visible(MONEYLINE)
    await context.close()


async def test_the_widget_shows_a_result_as_it_is_settled_and_clears_it_on_rollback(
    browser: Browser, publisher: Publisher, odds_gateway: RunningGateway
) -> None:
    await ingest(odds_gateway, update(1.85, 2.10))
    page = await live_article(browser, publisher)
    result = await odds_gateway.client.post(
        "/api/v2/results", json={"event_id": EVENT, "market_id": "moneyline", "winning_outcome_ids": ["away"]}
    )
    assert result.status_code == 201, result.text
    await page.wait_for_selector(f"{MONEYLINE}.og-settled", timeout=5_000)
    assert await page.is_visible(f"{MONEYLINE} .og-settled-label")
    assert await page.get_attribute(f'{MONEYLINE} tr[data-oddsgate-outcome="away"]', "class") == "og-winner"
    rolled_back = await odds_gateway.client.post(f"/api/v2/results/{result.json()['id']}/rollback")
    assert rolled_back.status_code == 200
    await page.wait_for_selector(f"{MONEYLINE}:not(.og-settled)", timeout=5_000)
    await page.close()
