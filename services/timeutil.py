"""Time helpers: the service stores naive UTC datetimes with microseconds."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time as naive UTC (what both layers store)."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_naive_utc(value: datetime) -> datetime:
    """Convert an aware datetime to naive UTC; a naive one is taken as UTC already."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def wire_time(value: datetime | None) -> str | None:
    """A stored (naive UTC) or aware datetime as RFC 3339 UTC with ``Z``, as every answer has it."""
    if value is None:
        return None
    return to_naive_utc(value).isoformat() + "Z"
