"""PyDAL column types that store values exactly as SQLAlchemy does, per database family.

PyDAL's stock types disagree with SQLAlchemy on booleans ('T'/'F'), UUIDs (dashed strings),
datetimes (microseconds dropped) and JSON scalars (tests/db/test_layers.py pins each). Each
factory here returns a SQLCustomType whose encoder writes SQLAlchemy's representation and whose
decoder reads it back to the same Python value SQLAlchemy returns. ``kind`` and the extra
attributes let the parity check compare a PyDAL field with a model column.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from pydal.objects import SQLCustomType

from services.timeutil import to_naive_utc, wire_time


class KindType(SQLCustomType):
    """A SQLCustomType that also says which kind of column it maps and what it references."""

    def __init__(
        self,
        kind: str,
        *,
        type: str,
        encoder: Callable[[Any], Any],
        decoder: Callable[[Any], Any],
        references: str | None = None,
        values: Sequence[str] | None = None,
    ) -> None:
        super().__init__(type=type, native=kind, encoder=encoder, decoder=decoder)
        self.kind = kind
        self.references = references
        self.values = tuple(values) if values is not None else None

    def __repr__(self) -> str:
        return f"KindType({self.kind!r})"


def _none_passes(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    # PyDAL calls encoders and decoders with None too.
    def wrapped(value: Any) -> Any:
        return None if value is None else fn(value)

    return wrapped


_new_object, _set_attribute = object.__new__, object.__setattr__
_SAFE_UNKNOWN = uuid.SafeUUID.unknown


def uuid_from_hex(text: str) -> uuid.UUID:
    """``uuid.UUID(text)`` for 32 hex digits (how SQLite and MariaDB store ids), at half its cost.

    uuid.UUID's constructor checks and strips its argument in Python: decoding a 50-item page's
    100 ids that way cost about 0.3 of the 1.9 ms the page took in process (issue 17). The value
    is the same int() of the same text, set the way uuid.UUID sets it; anything int() refuses
    still raises ValueError.
    """
    number = int(text, 16)
    if number < 0:  # a leading "-", which uuid.UUID strips and then refuses for its length
        return uuid.UUID(text)
    u = _new_object(uuid.UUID)
    _set_attribute(u, "int", number)
    _set_attribute(u, "is_safe", _SAFE_UNKNOWN)
    return u


_HEX = frozenset("0123456789abcdef")


def uuid_wire(value: Any) -> str:
    """A stored UUID as its dashed text (``str(uuid.UUID)``): the 32 lower-case hex digits
    SQLite and MariaDB store are cut into place without making a UUID; anything else
    (PostgreSQL's native UUIDs, other spellings) goes through uuid.UUID."""
    if type(value) is str and len(value) == 32 and _HEX.issuperset(value):
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


def datetime_wire(value: Any) -> str:
    """A stored datetime as ``wire_time`` writes it: SQLite's text (SQLAlchemy's naive UTC
    "YYYY-MM-DD HH:MM:SS.ffffff") rearranged in place, anything else decoded first."""
    if type(value) is str and len(value) == 26 and value[10] == " " and value[19] == ".":
        # isoformat() leaves out a zero fraction.
        end = 19 if value[20:] == "000000" else 26
        return f"{value[:10]}T{value[11:end]}Z"
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return wire_time(value)


def uuid_type(family: str, references: str | None = None) -> KindType:
    """UUID: 32 hex chars on SQLite/MySQL (SQLAlchemy's CHAR(32)), native on PostgreSQL."""

    def encode(value: Any) -> str:
        u = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        return str(u) if family == "postgresql" else u.hex

    def decode(value: Any) -> uuid.UUID:
        if type(value) is str and len(value) == 32:
            return uuid_from_hex(value)
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))

    return KindType(
        "uuid",
        type="string",
        encoder=_none_passes(encode),
        decoder=_none_passes(decode),
        references=references,
    )


def boolean_type(family: str) -> KindType:
    """Boolean: 1/0 where SQLAlchemy writes integers, TRUE/FALSE on PostgreSQL."""
    true, false = ("TRUE", "FALSE") if family == "postgresql" else ("1", "0")

    def encode(value: Any) -> str:
        if isinstance(value, str):
            # PyDAL-style literals would otherwise be truthy strings.
            value = value[:1].upper() in ("T", "1", "Y")
        return true if value else false

    return KindType(
        "boolean", type="boolean", encoder=_none_passes(encode), decoder=_none_passes(bool)
    )


def datetime_type(family: str) -> KindType:
    """Naive-UTC datetime with microseconds, in SQLAlchemy's SQLite text format elsewhere too."""

    def encode(value: Any) -> str:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        elif not isinstance(value, datetime) and isinstance(value, date):
            value = datetime(value.year, value.month, value.day)
        return to_naive_utc(value).isoformat(" ", timespec="microseconds")

    def decode(value: Any) -> datetime:
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return to_naive_utc(value)

    return KindType(
        "datetime", type="string", encoder=_none_passes(encode), decoder=_none_passes(decode)
    )


def json_type(family: str) -> KindType:
    """JSON text; PostgreSQL's driver hands back parsed values already."""

    def encode(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def decode(value: Any) -> Any:
        if family == "postgresql":
            return value
        if isinstance(value, bytes):
            value = value.decode()
        # SQLite gives a top-level number back as a number (the column has numeric affinity).
        return json.loads(value) if isinstance(value, str) else value

    return KindType("json", type="text", encoder=_none_passes(encode), decoder=_none_passes(decode))


def enum_type(family: str, values: Sequence[str]) -> KindType:
    """A string restricted to the members SQLAlchemy's Enum stores (their names)."""
    allowed = frozenset(values)

    def encode(value: Any) -> str:
        value = getattr(value, "name", value)
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {sorted(allowed)}")
        return str(value)

    return KindType(
        "enum",
        type="string",
        encoder=_none_passes(encode),
        decoder=_none_passes(str),
        values=values,
    )
