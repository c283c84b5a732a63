"""App database fixtures: apps on the test's database with a small handle cache."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app import create_app
from app.db import close_db
from tests.api.conftest import make_client, settings_for  # noqa: F401 - make_client: a fixture

CAPACITY = 2


@pytest.fixture
def make_app(migrated_target, tmp_path):
    """Apps on the test's database with a small handle cache; closed afterwards."""
    apps = []

    def _make(capacity: int = CAPACITY):
        settings = settings_for(migrated_target, tmp_path, auth_required=False)
        app = create_app(replace(settings, app_db_handles=capacity))
        apps.append(app)
        return app

    yield _make
    for app in apps:
        close_db(app)
