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


def test_a_flipped_data_page_stops_start_up_even_when_the_schema_is_unchanged(tmp_path):
    # The schema pages stay intact, so the fast start path (fingerprint) would find nothing.
    data = tmp_path / "data"
    first = Service(data, tmp_path / "first.err")
    first.stop()
    database = data / "app.db"
    for suffix in ("-wal", "-shm"):
        (data / f"app.db{suffix}").unlink(missing_ok=True)
    content = bytearray(database.read_bytes())
    page = int.from_bytes(content[16:18], "big") or 65536
    last = len(content) - page
    for i in range(last, last + 12):
        content[i] ^= 0xFF
    database.write_bytes(bytes(content))
    with pytest.raises(AssertionError, match="app.db is damaged"):
        Service(data, tmp_path / "second.err")
