"""The operator dashboard steering a market that a publisher's article shows live, in Chromium."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Page

from tests.browser.conftest import Publisher
from tests.browser.test_widget import MONEYLINE, ingest, live_article
from tests.conftest import RunningGateway, mint
from tests.integration.payloads import update

EVENT = "49ers-ravens-2026-03-23"
MARKET = f'.market[data-event-id="{EVENT}"][data-market-id="moneyline"]'


async def logged_in(browser: Browser, gateway: RunningGateway) -> Page:
    token = mint(gateway.app.state.settings, "odds:control", "odds:read", sub="trader-1")
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{gateway.url}/dashboard")
    await page.fill("#token", token)
    await page.click("#login")
    await page.wait_for_selector("#app", state="visible")
    await page.wait_for_function("document.querySelector('#ws-status').textContent.trim() === 'live'", timeout=10_000)
    await page.wait_for_selector(MARKET)
    assert errors == []
    return page


async def test_the_dashboard_suspends_a_market_the_article_shows_and_a_rollback_restores_it(
    browser: Browser, publisher: Publisher, odds_gateway: RunningGateway, artifacts: Path
) -> None:
    await ingest(odds_gateway, update(1.85, 2.10), update(1.91, 1.91, market="spread", line=-3.5))
    for source, home in (("vendor_b", 1.87), ("vendor_c", 1.83)):
        body = {"source": source, "updates": [update(home, 2.08)]}
        assert (await odds_gateway.client.post("/api/v2/ingest", json=body)).status_code == 200
    await odds_gateway.client.post("/api/v2/wallets/ann/deposit", json={"amount": "100.00"})
    punter = mint(odds_gateway.app.state.settings, "bets:place", sub="ann", age_verified=True)
    bet = {"event_id": EVENT, "market_id": "moneyline", "outcome_id": "home", "stake": "25.00", "odds": 1.85}
    placed = await odds_gateway.client.post(
        "/api/v2/bets",
        json={**bet, "accept": "any"},
        headers={"Authorization": f"Bearer {punter}", "Idempotency-Key": "screenshot-1"},
    )
    assert placed.status_code == 201, placed.text
    article = await live_article(browser, publisher)
    dashboard = await logged_in(browser, odds_gateway)
    assert await dashboard.is_visible(f'{MARKET} tr[data-outcome-id="home"] .price')

    await dashboard.fill(f'{MARKET} input[data-role="reason"]', "injury news, checking")
    await dashboard.click(f'{MARKET} button[data-action="suspend"]')
    await dashboard.wait_for_selector(f"{MARKET}.suspended", timeout=5_000)
    await article.wait_for_selector(f"{MONEYLINE}.og-suspended", timeout=5_000)
    assert await article.is_visible(f"{MONEYLINE} .og-suspended-label")
    rollback = await dashboard.wait_for_selector("#overrides button[data-rollback]", timeout=5_000)
    assert rollback is not None
    await dashboard.screenshot(path=str(artifacts / "dashboard.png"))
    await article.screenshot(path=str(artifacts / "article-suspended.png"), full_page=True)

    await rollback.click()
    await dashboard.wait_for_selector(f"{MARKET}:not(.suspended)", timeout=5_000)
    await article.wait_for_selector(f"{MONEYLINE}:not(.og-suspended)", timeout=5_000)
    await article.close()
    await dashboard.close()


async def test_a_read_only_token_sees_no_controls(browser: Browser, odds_gateway: RunningGateway) -> None:
    await ingest(odds_gateway, update(1.85, 2.10))
    token = mint(odds_gateway.app.state.settings, "odds:read", sub="viewer")
    page = await browser.new_page()
    await page.goto(f"{odds_gateway.url}/dashboard")
    await page.fill("#token", token)
    await page.click("#login")
    await page.wait_for_selector(MARKET)
    assert not await page.locator(f'{MARKET} button[data-action="suspend"]').is_visible()
    bad = await browser.new_page()
    await bad.goto(f"{odds_gateway.url}/dashboard")
    await bad.fill("#token", "not-a-token")
    await bad.click("#login")
    await bad.wait_for_selector("#login-error:has-text('not a JWT')")
