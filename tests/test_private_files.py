"""Private files (issue 14): the data dir 0700, databases, WAL, backups and logs 0600 on POSIX."""

from __future__ import annotations

import os
import stat

import pytest

from tests.procs import Service

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
MODEL = {
    "id": "private",
    "name": "Private",
    "definition": {
        "entities": [{"name": "note", "fields": [{"name": "title", "type": "String"}]}],
        "relationships": [],
    },
}


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_file_the_service_writes_is_readable_by_its_owner_only(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "config.json").write_text("{}")
    (data / "config.json").chmod(0o644)  # left open by an older version
    service = Service(data, tmp_path / "serve.err")
    try:
        assert service.call("POST", "/api/v1/models/", MODEL)[0] == 200
        rows = "/api/v1/models/private/app-database/entities/note"
        assert service.call("POST", rows, {"title": "secret"})[0] == 200
        changed = dict(MODEL, definition={**MODEL["definition"]})
        changed["definition"]["entities"] = [
            {
                "name": "note",
                "fields": [{"name": "title", "type": "String"}, {"name": "n", "type": "Integer"}],
            }
        ]
        assert service.call("PUT", "/api/v1/models/private", changed)[0] == 200
        files = [p for p in data.rglob("*") if p.is_file()]
        folders = [data, *(p for p in data.rglob("*") if p.is_dir())]
    finally:
        service.stop()
    names = {p.relative_to(data).as_posix() for p in files}
    assert {"app.db", "apps/private.db", "logs/service.log"} <= names, names
    assert any(n.startswith("backups/apps/private/") for n in names), names
    assert any(n.endswith("-wal") for n in names), names
    assert {p.relative_to(data).as_posix(): oct(_mode(p)) for p in files if _mode(p) & 0o077} == {}
    assert {str(p): oct(_mode(p)) for p in folders if _mode(p) != 0o700} == {}
