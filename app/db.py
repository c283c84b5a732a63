"""The request-scoped PyDAL lifecycle: commit on success, roll back otherwise, release after."""

from __future__ import annotations

from flask import Flask, Response, current_app, g
from pydal import DAL

from services.config import Settings
from services.db.dal import close_dal, open_dal


def init_app(app: Flask, settings: Settings, *, pool_size: int = 8) -> None:
    """Open the DAL once (tables defined at start-up) and hook the per-request lifecycle."""
    app.extensions["dal"] = open_dal(settings.database, pool_size=pool_size)
    app.after_request(_commit_on_success)
    app.teardown_request(_release)


def get_db() -> DAL:
    """The app's DAL; the first use in a request marks the request as touching the database."""
    g.db_used = True
    return current_app.extensions["dal"]


def close_db(app: Flask) -> None:
    """Close this thread's connection and every pooled one (at shutdown)."""
    close_dal(app.extensions["dal"])


def _commit_on_success(response: Response) -> Response:
    # An error response (including one an error handler made from an exception) must not
    # commit half a request; the teardown rolls it back instead.
    if g.get("db_used") and response.status_code < 400:
        current_app.extensions["dal"].commit()
    return response


def _release(exc: BaseException | None) -> None:
    # Roll back whatever was not committed and give the connection back (PyDAL's close
    # returns it to the pool), so no transaction or checked-out connection outlives the request.
    if g.pop("db_used", False):
        current_app.extensions["dal"]._adapter.close("rollback")
