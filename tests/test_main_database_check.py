"""The main database is checked at start-up (issue 14): a damaged SQLite file stops the service
with a message naming it, before anything writes to it."""

from __future__ import annotations

import pytest

from tests.procs import Service


def test_a_damaged_main_database_stops_start_up_with_a_message_naming_it(tmp_path):
    data = tmp_path / "data"
    first = Service(data, tmp_path / "first.err")
    first.stop()
    database = data / "app.db"
    for suffix in ("-wal", "-shm"):
        (data / f"app.db{suffix}").unlink(missing_ok=True)
    content = database.read_bytes()
    database.write_bytes(content[: len(content) // 2])
    with pytest.raises(AssertionError, match="app.db is damaged"):
        Service(data, tmp_path / "second.err")
