"""Domain errors: services raise these; the HTTP layer maps each kind to one status."""

from __future__ import annotations


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


class Unavailable(ServiceError):
    """The object exists but cannot be used now (a damaged database): retrying will not help
    until an operator repairs or restores it."""
