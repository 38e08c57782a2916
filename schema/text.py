"""Text that is stored or used as a key: NFC-normalized, without control characters, and no longer
than the column that holds it.

The lengths here are the columns' own (`store.tables` declares its columns with them), so text
that passes these checks can always be written: a NUL byte or an over-long name is refused when it
arrives, with the field it came in, never later by the database.
"""

from __future__ import annotations

import re
import unicodedata

from schema.errors import InvalidRequest

# Column lengths, in characters.
SUB = 200
EVENT_ID = 200
MARKET_ID = 64
OUTCOME_ID = 16
RECORD_ID = 64
SOURCE = 128
SPORT = 64
LEAGUE = 128
# Two team slugs and a date make an event id: 2 x 90 + 12 stays within EVENT_ID.
TEAM = 90
LABEL = 256
KEY = 200
REASON = 500
URL = 2000
# A source-limited audience's name: its sources, sorted, joined by commas.
VIEW_NAME = 255

# C0 and C1 controls (NUL included), lone surrogates, and the line and paragraph separators: none
# belongs in a name, an id or a reason, and PostgreSQL refuses NUL in any text.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def clean(value: str, field: str, max_length: int, *, blank: bool = False) -> str:
    """`value` normalized to NFC and stripped; raises InvalidRequest naming `field` when it holds a
    control character, is blank (unless `blank`) or is longer than `max_length`."""
    text = value if value.isascii() else unicodedata.normalize("NFC", value)
    found = _FORBIDDEN.search(text)
    if found is not None:
        raise InvalidRequest(f"'{field}' contains the control character U+{ord(found.group()):04X}")
    text = text.strip()
    if not text and not blank:
        raise InvalidRequest(f"'{field}' must not be blank")
    if len(text) > max_length:
        raise InvalidRequest(f"'{field}' is {len(text)} characters long; at most {max_length} are allowed")
    return text


def record_id(value: str, field: str = "id") -> str:
    """An id a caller names a record by (a bet, a result, an override, a webhook), as `clean`
    checks it: every door that takes one takes it through here before any lookup."""
    return clean(value, field, RECORD_ID)


def text(value: object, field: str, max_length: int) -> str:
    """A required string field, cleaned as `clean` does."""
    if not isinstance(value, str):
        raise InvalidRequest(f"'{field}' must be a string, got {type(value).__name__}")
    return clean(value, field, max_length)


def escaped(value: str, max_length: int) -> str:
    """`value` with its control characters written as `\\uXXXX`, cut to `max_length`: for logging and
    storing text that was refused, so the record of a refusal cannot itself be refused."""
    shown = _FORBIDDEN.sub(lambda found: f"\\u{ord(found.group()):04x}", value)
    return shown if len(shown) <= max_length else shown[: max_length - 1] + "…"
