"""Modules imported on first use, for routes whose services need heavy libraries."""

from services.lazy import LazyModule

__all__ = ["LazyModule"]
