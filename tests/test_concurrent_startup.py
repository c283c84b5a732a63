"""Service processes started at the same moment on one fresh server database all come up.

Found by the load harness (tests/harness/test_load.py), which starts its two PostgreSQL
processes side by side: both migrated the empty database at once (one failed creating a table
the other had just created, "pg_type_typname_nsp_index"), or both created the default superuser
and the second failed on its unique email. Migrating now happens under a lock on the database
(services/db/migrations.py migration_lock), and a superuser created meanwhile is taken.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from tests.conftest import BACKENDS
from tests.procs import Service

PROCESSES = 3


@pytest.mark.slow
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "sqlite"], indirect=True)
def test_processes_starting_together_on_one_empty_database_all_serve(fresh_target, tmp_path):
    url = fresh_target.sa_url.render_as_string(hide_password=False)
    started: list[Service] = []
    failures: list[str] = []
    gate = threading.Barrier(PROCESSES)

    def start(n: int) -> None:
        gate.wait()
        try:
            started.append(
                Service(tmp_path / f"data{n}", tmp_path / f"serve{n}.err", database_url=url)
            )
        except AssertionError as exc:
            failures.append(str(exc)[-600:])

    threads = [threading.Thread(target=start, args=(n,)) for n in range(PROCESSES)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not failures, failures
        for service in started:
            status, body = service.call("GET", "/api/v1/items/")
            assert status == 200, body
    finally:
        for service in started:
            service.stop()
    engine = sa.create_engine(fresh_target.sa_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            users = conn.exec_driver_sql(
                'SELECT COUNT(*) FROM "user"'
                if fresh_target.family == "postgresql"
                else "SELECT COUNT(*) FROM `user`"
            )
            assert users.scalar() == 1
    finally:
        engine.dispose()
