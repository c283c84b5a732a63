"""What the service reports about itself."""

from __future__ import annotations

import time

from pydal import DAL

from services import __version__
from services.config import Settings
from services.health import database_answers
from services.schemas import Status


def describe(*, db: DAL, settings: Settings, started_at: float, superuser: bool) -> Status:
    """Version, schema revision, health, auth mode and uptime; for a superuser also the
    database, the data dir and schema parity."""
    from services.lifecycle import structural_parity

    revision = db.executesql("SELECT version_num FROM alembic_version")
    report = Status(
        version=__version__,
        schema_revision=revision[0][0] if revision else None,
        healthy=database_answers(db=db),
        auth_required=settings.auth_required,
        uptime_seconds=round(time.monotonic() - started_at, 3),
    )
    if superuser:
        findings = structural_parity(settings)
        report.database = settings.database.family
        report.data_dir = str(settings.data_dir)
        report.schema_in_parity = not findings
        report.parity_findings = [str(f) for f in findings]
    return report
