"""The request-scoped PyDAL lifecycle: commit on success, roll back otherwise, release after."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from flask import Flask, Response, current_app, g
from pydal import DAL

from services.config import Settings
from services.db.dal import close_dal, open_dal

if TYPE_CHECKING:
    from services.appdb.handles import Handles

_HANDLES_LOCK = threading.Lock()


def init_app(app: Flask, settings: Settings, *, pool_size: int = 8) -> None:
    """Open the DAL once (tables defined at start-up) and hook the per-request lifecycle."""
    app.extensions["dal"] = open_dal(settings.database, pool_size=pool_size)
    # SQLite: each waitress thread keeps its connection between requests (closed at shutdown).
    # Handing it back to PyDAL's pool cost a global lock, a new cursor and a SELECT 1 per
    # request, and under load the lock convoyed (18% of a page request at 16 clients). Server
    # connections go back to the pool, which tests them, so a restarted server is survived.
    app.extensions["kept_connections"] = set() if settings.database.family == "sqlite" else None
    # The open app databases (made on first use: their services import SQLAlchemy, which a
    # desktop app that never opens an app database should not pay for at start-up).
    app.extensions["app_handles"] = None
    app.after_request(_commit_on_success)
    app.teardown_request(_release)


def get_db() -> DAL:
    """The app's DAL; the first use in a request marks the request as touching the database."""
    g.db_used = True
    return current_app.extensions["dal"]


def get_handles() -> Handles:
    """The app's open app databases (the services open, commit and close them)."""
    handles = current_app.extensions["app_handles"]
    if handles is None:
        with _HANDLES_LOCK:
            handles = current_app.extensions["app_handles"]
            if handles is None:
                from services.appdb.handles import Handles

                handles = Handles(current_app.config["SETTINGS"])
                current_app.extensions["app_handles"] = handles
    return handles


def close_db(app: Flask) -> None:
    """Close this thread's connection, every pooled one and every kept one (at shutdown)."""
    handles = app.extensions.get("app_handles")
    if handles is not None:
        handles.close()
    close_dal(app.extensions["dal"])
    for connection in list(app.extensions["kept_connections"] or ()):
        connection.close()


def _commit_on_success(response: Response) -> Response:
    # An error response (including one an error handler made from an exception) must not
    # commit half a request; the teardown rolls it back instead.
    if g.get("db_used") and response.status_code < 400:
        current_app.extensions["dal"].commit()
    return response


def _release(exc: BaseException | None) -> None:
    # Roll back whatever was not committed and give the connection back (PyDAL's close
    # returns it to the pool), so no transaction or checked-out connection outlives the request.
    if not g.pop("db_used", False):
        return
    adapter = current_app.extensions["dal"]._adapter
    kept = current_app.extensions["kept_connections"]
    if kept is not None:
        try:
            adapter.rollback()
        except Exception:  # noqa: BLE001 - a broken connection is dropped below
            pass
        else:
            kept.add(adapter.connection)
            return
    adapter.close("rollback")
