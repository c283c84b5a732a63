"""PyDAL's server drivers, imported only by a process that opens a server database.

Importing PyDAL imports every driver it finds installed. psycopg2 brings its own libpq,
libcrypto, libssl, Kerberos and LDAP libraries: 4.7 MB of the idle sidecar's RSS on SQLite
(pymysql 0.7 MB more), for a database it never opens. A process entry point calls
``import_pydal_without_server_drivers`` first; ``open_dal`` registers a server driver with
PyDAL when the first DAL on that kind of server is made.
"""

from __future__ import annotations

import importlib
import sys
import threading

# PyDAL's driver name for each server family (the one open_dal's URIs select).
SERVER_DRIVERS = {"postgresql": "psycopg2", "mysql": "pymysql"}
_LOCK = threading.Lock()


def import_pydal_without_server_drivers() -> None:
    """Import PyDAL with its server drivers left out (no-op once PyDAL is imported)."""
    if "pydal" in sys.modules:
        return
    left_out = [name for name in SERVER_DRIVERS.values() if name not in sys.modules]
    # A None entry makes ``import name`` raise ImportError, which PyDAL takes as "not installed".
    for name in left_out:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        importlib.import_module("pydal")
    finally:
        for name in left_out:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]


def ensure_driver(family: str) -> None:
    """Register the server driver of ``family`` with PyDAL if it was left out at import."""
    name = SERVER_DRIVERS.get(family)
    if name is None:
        return
    from pydal import drivers

    if name in drivers.DRIVERS:
        return
    with _LOCK:
        if name in drivers.DRIVERS:
            return
        module = importlib.import_module(name)
        if name == "psycopg2":
            # The PostgreSQL adapter quotes values with psycopg2's adapt, bound at its import.
            from psycopg2.extensions import adapt
            from pydal.adapters import postgres

            drivers.psycopg2_adapt = adapt
            postgres.psycopg2_adapt = adapt
        drivers.DRIVERS[name] = module
