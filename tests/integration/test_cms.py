"""CMS shortcodes through a real server: fragments, placeholders, refusals, caching, escaping,
and embed tokens bound to publishers' origins."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import orjson
import websockets

from tests.conftest import RunningGateway, mint
from tests.integration.payloads import batch, update

EVENT = "49ers-ravens-2026-03-23"
NBA_LIST = quote('[odds sport="nba"]')


async def ingest(gateway: RunningGateway, *updates: dict[str, Any]) -> None:
    reply = await gateway.client.post("/api/v2/ingest", json=batch("vendor_a", *updates))
    assert reply.status_code == 200, reply.text


async def fragment(gateway: RunningGateway, code: str, **headers: str) -> httpx.Response:
    return await gateway.client.get(f"/cms/shortcode?code={quote(code)}", headers=headers)


async def test_an_event_fragment_in_the_asked_format(gateway: RunningGateway) -> None:
    await ingest(gateway, update(1.85, 2.10), update(1.91, 1.91, market="spread", line=-3.5))
    reply = await fragment(gateway, f'[odds event="{EVENT}" markets="moneyline,spread" format="american"]')
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    html = reply.text
    assert f'data-oddsgate-event="{EVENT}"' in html
    assert 'data-oddsgate-format="american"' in html
    assert 'data-oddsgate-market="moneyline"' in html
    assert 'data-oddsgate-market="spread:-3.5"' in html
    # 1.85 is -118 in American odds, 2.10 is +110, 1.91 is -110.
    assert ">-118</td>" in html
    assert ">+110</td>" in html
    assert "Spread -3.5" in html
    assert "San Francisco 49ers" in html
    assert "<script" not in html


async def test_lists_placeholders_and_refusals(gateway: RunningGateway) -> None:
    await ingest(gateway, update(1.85, 2.10))
    listed = await fragment(gateway, '[odds sport="nfl" live="true" limit="5"]')
    assert listed.status_code == 200
    assert 'class="oddsgate-list"' in listed.text
    assert listed.text.count('class="oddsgate"') == 1
    missing = await fragment(gateway, '[odds event="no-such-match-2026-01-01"]')
    assert missing.status_code == 200
    assert "oddsgate-unavailable" in missing.text
    assert "Odds are not available for this event right now." in missing.text
    assert missing.headers["x-oddsgate-placeholder"] == "event-not-found"
    unknown_market = await fragment(gateway, f'[odds event="{EVENT}" markets="total"]')
    assert "No prices for total right now." in unknown_market.text
    for code, message in [
        ("[odds]", "names one event"),
        ("<odds event='x'>", "a shortcode looks like"),
        (f'[odds event="{EVENT}" colour="red"]', "unknown shortcode attribute 'colour'"),
        (f'[odds event="{EVENT}" format="roman"]', "format is decimal, american or fractional"),
        ('[odds event="Bad Id!"]', "is not an event id"),
        ('[odds sport="nfl" limit="500"]', "limit is a whole number from 1 to 20"),
        ('[odds sport="quidditch"]', "quidditch"),
        (f'[odds event="{EVENT}" markets="moneyline,<b>"]', "a shortcode looks like"),
    ]:
        reply = await fragment(gateway, code)
        assert reply.status_code == 422, (code, reply.text)
        assert message in reply.json()["error"]["message"], (code, reply.json())
    nothing = await gateway.client.get("/cms/shortcode")
    assert nothing.status_code == 422


async def test_fragments_are_cacheable(gateway: RunningGateway) -> None:
    await ingest(gateway, update(1.85, 2.10))
    first = await fragment(gateway, f'[odds event="{EVENT}"]')
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "public, max-age=5, stale-while-revalidate=30"
    again = await fragment(gateway, f'[odds event="{EVENT}"]', **{"If-None-Match": etag})
    assert (again.status_code, again.content) == (304, b"")
    await ingest(gateway, update(1.90, 2.05))
    moved = await fragment(gateway, f'[odds event="{EVENT}"]', **{"If-None-Match": etag})
    assert moved.status_code == 200
    assert moved.headers["etag"] != etag
    assert ">1.90</td>" in moved.text


async def test_feed_text_is_escaped(gateway: RunningGateway) -> None:
    hostile = update(1.85, 2.10, home_team='Evil <img src=x onerror="alert(1)"> FC', away_team="Baltimore Ravens")
    await ingest(gateway, hostile)
    listed = await fragment(gateway, '[odds sport="nfl"]')
    assert "<img" not in listed.text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in listed.text


async def test_embed_tokens_are_read_only_and_bound_to_their_origins(gateway: RunningGateway) -> None:
    await ingest(gateway, update(1.85, 2.10))
    settings = gateway.app.state.settings
    embed = mint(settings, "odds:read", sub="news-site", sports=["nfl"], origins=["https://news.example"])
    code = quote(f'[odds event="{EVENT}"]')
    async with httpx.AsyncClient(base_url=gateway.url) as anonymous:
        by_param = await anonymous.get(f"/cms/shortcode?code={code}&token={embed}")
        from_page = await anonymous.get(
            f"/cms/shortcode?code={code}&token={embed}", headers={"Origin": "https://news.example"}
        )
        elsewhere = await anonymous.get(
            f"/cms/shortcode?code={code}&token={embed}", headers={"Origin": "https://copycat.example"}
        )
        control = await anonymous.post(
            "/api/v2/overrides", headers={"Authorization": f"Bearer {embed}"}, json={"scope": {}, "action": "suspend"}
        )
        nba = await anonymous.get(f"/cms/shortcode?code={NBA_LIST}&token={embed}")
    assert (by_param.status_code, from_page.status_code) == (200, 200)
    assert (elsewhere.status_code, elsewhere.json()["error"]["code"]) == (403, "FORBIDDEN")
    assert "https://news.example" in elsewhere.json()["error"]["message"]
    assert control.status_code == 403
    assert nba.status_code == 403
    ws_url = gateway.url.replace("http", "ws") + "/ws"
    async with websockets.connect(ws_url, origin="https://news.example") as socket:  # type: ignore[arg-type]
        await socket.send(orjson.dumps({"action": "auth", "token": embed}).decode())
        assert orjson.loads(await socket.recv())["event"] == "authenticated"
    async with websockets.connect(ws_url, origin="https://copycat.example") as socket:  # type: ignore[arg-type]
        await socket.send(orjson.dumps({"action": "auth", "token": embed}).decode())
        refusal = orjson.loads(await socket.recv())
        assert refusal["error"]["code"] == "FORBIDDEN"


async def test_the_widget_script_is_served(gateway: RunningGateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as anonymous:
        script = await anonymous.get("/widget.js")
        page = await anonymous.get("/dashboard")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "data-oddsgate-token" in script.text
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
