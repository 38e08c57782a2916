"""Adapter discovery: every wire format is found by name, and stateful adapters start fresh."""

from __future__ import annotations

import orjson

from feeds.adapters import load_adapters
from feeds.adapters.base import Rejection
from feeds.adapters.delta_stream import DeltaStreamAdapter
from schema.model import SourceQuote

FIXTURE = {
    "type": "fixture",
    "match_id": 5501,
    "sport": "Basketball",
    "home": "Lakers",
    "away": "Celtics",
    "start": 1774310400000,
    "ts": 1774276227000,
}
PRICE = {
    "type": "price",
    "match_id": 5501,
    "bookmaker_id": "b7",
    "market": "ML",
    "selection": "home",
    "price": 1.95,
    "ts": 1774276227123,
}


def test_all_adapters_are_found_by_name() -> None:
    adapters = load_adapters()

    assert {name: adapter.media_type for name, adapter in adapters.items()} == {
        "canonical": "application/json",
        "decimal_json": "application/json",
        "american_json": "application/json",
        "legacy_csv": "text/csv",
        "delta_stream": "application/x-ndjson",
    }
    assert all(adapter.name == name for name, adapter in adapters.items())


def test_stateless_adapters_are_shared_module_instances() -> None:
    first, second = load_adapters(), load_adapters()

    assert first["canonical"] is second["canonical"]
    assert first["legacy_csv"] is second["legacy_csv"]


def test_delta_stream_instances_do_not_share_state() -> None:
    first, second = load_adapters()["delta_stream"], load_adapters()["delta_stream"]
    assert first is not second

    list(first.parse(orjson.dumps(FIXTURE)))
    [known] = first.parse(orjson.dumps(PRICE))
    [unknown] = second.parse(orjson.dumps(PRICE))

    assert isinstance(known, SourceQuote)
    assert known.home_team == "Lakers"
    assert unknown == Rejection(0, "unknown match_id 5501: send its fixture first", path="line 1")


def test_the_delta_stream_forgets_its_least_recently_used_matches() -> None:
    adapter = DeltaStreamAdapter(max_fixtures=2)

    def fixture(match_id: int) -> bytes:
        return orjson.dumps(
            {
                "type": "fixture",
                "match_id": match_id,
                "sport": "NBA",
                "home": f"H{match_id}",
                "away": f"A{match_id}",
                "start": 1774310400000,
            }
        )

    def price(match_id: int) -> bytes:
        return orjson.dumps(
            {
                "type": "price",
                "match_id": match_id,
                "bookmaker_id": "b1",
                "market": "ML",
                "selection": "home",
                "price": 1.9,
                "ts": 1774276227000,
            }
        )

    list(adapter.parse(b"\n".join([fixture(1), fixture(2), price(1), fixture(3)])))
    [kept] = list(adapter.parse(price(1)))
    [forgotten] = list(adapter.parse(price(2)))
    assert isinstance(kept, SourceQuote)
    assert isinstance(forgotten, Rejection)
    assert "unknown match_id 2" in forgotten.reason
