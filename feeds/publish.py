"""Deltas onto the broadcast: serialized once, the same bytes for every consumer."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from feeds.broadcast import Broadcast
from feeds.live_store import history_key
from schema.model import Delta
from schema.render import delta_json

DELTAS_CHANNEL = "oddsgate.deltas"
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def encode_delta(delta: Delta) -> bytes:
    return orjson.dumps(delta_json(delta, wire=True), option=_OPTIONS)


class BroadcastSink:
    """Encodes each delta once: for the audit's journal first (`audit`), then the broadcast and this
    process's own clients (`local`). Nothing is sent to any client before the audit has it."""

    def __init__(
        self,
        broadcast: Broadcast,
        channel: str = DELTAS_CHANNEL,
        local: Callable[[Delta, bytes], None] | None = None,
        audit: Callable[[Delta, bytes], None] | None = None,
    ):
        self.broadcast = broadcast
        self.channel = channel
        self.local = local
        self.audit = audit

    def __call__(self, delta: Delta) -> None:
        payload = encode_delta(delta)
        if self.audit is not None:
            self.audit(delta, payload)
        self.broadcast.publish(self.channel, payload, history_key(delta.event_id))
        if self.local is not None:
            self.local(delta, payload)
