"""What the service reports about itself."""

from __future__ import annotations

import time

from pydal import DAL

from services import __version__
from services.config import Settings
from services.schemas import Status


def describe(*, db: DAL, settings: Settings, started_at: float) -> Status:
    """Version, schema revision, database, data dir, auth mode, uptime and parity."""
    from services.lifecycle import structural_parity

    revision = db.executesql("SELECT version_num FROM alembic_version")
    findings = structural_parity(settings)
    return Status(
        version=__version__,
        schema_revision=revision[0][0] if revision else None,
        database=settings.database.family,
        data_dir=str(settings.data_dir),
        auth_required=settings.auth_required,
        uptime_seconds=round(time.monotonic() - started_at, 3),
        schema_in_parity=not findings,
        parity_findings=[str(f) for f in findings],
    )
