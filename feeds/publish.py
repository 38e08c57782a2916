"""Deltas onto the broadcast: serialized once, the same bytes for every consumer."""

from __future__ import annotations

import orjson

from feeds.broadcast import Broadcast
from feeds.live_store import history_key
from schema.model import Delta
from schema.render import delta_json

DELTAS_CHANNEL = "oddsgate.deltas"
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def encode_delta(delta: Delta) -> bytes:
    return orjson.dumps(delta_json(delta), option=_OPTIONS)


class BroadcastSink:
    def __init__(self, broadcast: Broadcast, channel: str = DELTAS_CHANNEL):
        self.broadcast = broadcast
        self.channel = channel

    def __call__(self, delta: Delta) -> None:
        self.broadcast.publish(self.channel, encode_delta(delta), history_key(delta.event_id))
