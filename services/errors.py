"""Domain errors: services raise these; the HTTP layer maps each kind to one status."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError


class ServiceError(Exception):
    """Base: ``detail`` is safe to show to the client."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(ServiceError):
    """The object does not exist, or the caller may not know it does."""


class Conflict(ServiceError):
    """The change clashes with existing data (a taken email, ...)."""


class Forbidden(ServiceError):
    """The caller is known but may not do this."""


class Invalid(ServiceError):
    """The request is well-formed but cannot be carried out as asked."""


class Problems(ServiceError):
    """Located problems with a request, each ``{loc, msg, type}``: the one error type for a list.

    Answered as a 422 listing them, or, when ``conflict`` is set (a value clashes with stored
    data, such as a taken unique value), as a 409 with ``detail``.
    """

    def __init__(
        self, problems: list[dict], detail: str = "invalid request", *, conflict: bool = False
    ) -> None:
        super().__init__(detail)
        self.problems = problems
        self.conflict = conflict


def problem(loc: Sequence, msg: str, kind: str = "value_error") -> dict:
    """One located problem, in the shape of a 422 answer's detail items."""
    return {"loc": list(loc), "msg": msg, "type": kind}


def validation_problems(error: ValidationError, loc: Sequence = ()) -> list[dict]:
    """A pydantic error as located problems, under ``loc``."""
    return [
        problem([*loc, *e["loc"]], e["msg"], e["type"])
        for e in error.errors(include_url=False, include_context=False, include_input=False)
    ]


class Unavailable(ServiceError):
    """The object exists but cannot be used now (a damaged database): retrying will not help
    until an operator repairs or restores it."""
