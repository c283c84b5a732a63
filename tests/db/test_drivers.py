"""Server drivers load only in a process that opens a server database (services/db/drivers.py):
psycopg2 alone was 4.7 MB of an idle SQLite sidecar's RSS, on every backend."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.procs import Service

ROOT = Path(__file__).resolve().parents[2]
DRIVER_OF = {"sqlite": [], "postgresql": ["psycopg2"], "mysql": ["pymysql"]}


def _url(target) -> str:
    return target.sa_url.render_as_string(hide_password=False)


def test_a_process_loads_the_driver_of_the_database_it_opens_and_no_other(migrated_target):
    script = (
        "import json, sys\n"
        "from services.db.drivers import import_pydal_without_server_drivers\n"
        "import_pydal_without_server_drivers()\n"
        "drivers = ('psycopg2', 'pymysql')\n"
        "before = sorted(set(drivers) & set(sys.modules))\n"
        "from services.db.dal import close_dal, open_dal\n"
        "from services.db.urls import parse_database_url\n"
        f"db = open_dal(parse_database_url({_url(migrated_target)!r}))\n"
        "count = db(db.user.id != None).count()\n"
        "close_dal(db)\n"
        "print(json.dumps([before, sorted(set(drivers) & set(sys.modules)), count]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == [[], DRIVER_OF[migrated_target.family], 0]


def test_the_served_process_maps_no_psycopg2_unless_it_serves_postgresql(fresh_target, tmp_path):
    url = None if fresh_target.family == "sqlite" else _url(fresh_target)
    service = Service(tmp_path / "data", tmp_path / "serve.err", database_url=url)
    try:
        status, item = service.call("POST", "/api/v1/items/", {"title": "written"})
        assert status == 200, item
        status, read = service.call("GET", f"/api/v1/items/{item['id']}")
        assert (status, read["title"]) == (200, "written")
        maps = Path(f"/proc/{service.proc.pid}/maps").read_text()
    finally:
        service.stop()
    assert ("psycopg2" in maps) == (fresh_target.family == "postgresql")
