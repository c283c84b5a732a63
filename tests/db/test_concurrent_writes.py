"""Concurrent writers on one database, bugs the load harness (tests/harness/test_load.py) found.

A sync batch and a REST write of different rows must never deadlock. On MariaDB, POST /items/
answered 500, "Deadlock found when trying to get lock". A sync batch locks the feed entries of
the rows it will write (SELECT ... FOR UPDATE) and takes sequence numbers last; a REST write
takes its number first, then inserts its entry. Under MariaDB's default REPEATABLE READ the
batch's locking read of rows that have no entry yet also locks the gaps around them, so the REST
write's insert waited on the batch while holding the counter the batch waited for. PostgreSQL
has no gap locks; the service now runs MySQL/MariaDB sessions at READ COMMITTED, as PostgreSQL
does.

A unique violation is an integrity error on every driver. psycopg2 raises subclasses
(UniqueViolation), which is_integrity_error did not recognise: two service processes starting
together on PostgreSQL both created the default superuser and the second one failed to start
instead of taking the first one's.
"""

from __future__ import annotations

import threading
import uuid

import pytest

from services.db import feed
from services.db.dal import close_dal, open_dal
from services.db.statements import is_integrity_error
from services.users import ensure_default_superuser
from tests.conftest import BACKENDS


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "sqlite"], indirect=True)
def test_a_batch_holding_its_entries_does_not_deadlock_a_rest_write(migrated_target):
    batch = open_dal(migrated_target)
    errors: list[BaseException] = []

    def rest_write() -> None:
        rest = open_dal(migrated_target)  # its own connection, closed in this thread
        try:
            feed.touch(rest, "items", uuid.uuid4(), new=True)
            rest.commit()
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
        finally:
            close_dal(rest)

    try:
        feed.ensure_counter(batch)
        batch.commit()
        # The batch: lock the entries of the rows it is about to insert (none exist yet).
        feed.entries(batch, "items", [uuid.uuid4()], lock=True)
        writer = threading.Thread(target=rest_write)
        writer.start()
        # Fixed, the REST write finishes at once; before, it waited on the batch's gap lock
        # while holding the counter.
        writer.join(timeout=2)
        try:
            change = feed.Change("items", uuid.uuid4(), False, feed.local_version(), None, False)
            feed.record(batch, [change])
            batch.commit()
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
            batch.rollback()
        writer.join(timeout=30)
        assert not writer.is_alive()
        assert not errors, errors
        assert batch(batch.sync_row).count() == 2
    finally:
        close_dal(batch)


def test_a_unique_violation_is_an_integrity_error_on_every_backend(dal):
    values = {
        "email": "twice@example.com",
        "hashed_password": "x",
        "is_active": True,
        "is_superuser": False,
    }
    dal.user.insert(**values)
    dal.commit()
    with pytest.raises(Exception) as caught:
        dal.user.insert(**values)
    dal.rollback()
    assert is_integrity_error(caught.value), type(caught.value).__mro__


def test_the_default_superuser_made_by_another_process_meanwhile_is_taken(
    migrated_target, monkeypatch
):
    import services.users as users

    email = "local@example.com"
    theirs = open_dal(migrated_target)
    ours = open_dal(migrated_target)
    try:
        real = users.get_user_by_email
        state: dict = {"first": True}

        def not_there_yet(*, db, email):
            # Our first look finds nobody; the other process creates it just after.
            if db is ours and state.pop("first", False):
                state["theirs"] = ensure_default_superuser(db=theirs, email=email, password=None)
                return None
            return real(db=db, email=email)

        monkeypatch.setattr(users, "get_user_by_email", not_there_yet)
        assert ensure_default_superuser(db=ours, email=email, password=None) == state["theirs"]
        assert ours(ours.user.email == email).count() == 1
    finally:
        close_dal(ours)
        close_dal(theirs)
