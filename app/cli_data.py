"""Commands for data that leaves and comes back: a model's document, export, import, backups."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from services.config import Settings

COMMANDS = frozenset({"openapi", "export", "import", "backups", "cleanup"})
SQLITE_MAGIC = b"SQLite format 3\x00"


def add_commands(sub, settings_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this module's sub-commands to the command line."""
    export = sub.add_parser("export", help="export a model and its rows (json, sqlite or csv zip)")
    settings_options(export)
    export.add_argument("model_id")
    export.add_argument("--format", choices=("json", "sqlite", "csv"), default="json")
    export.add_argument("--output", help="write to this file (default: stdout)")

    load = sub.add_parser("import", help="create a model from an export (JSON bundle or SQLite)")
    settings_options(load)
    load.add_argument("file", help="a JSON bundle or an SQLite export")
    load.add_argument("--as", dest="model_id", help="import under this model id instead")
    load.add_argument("--name", help="and this name")

    backups = sub.add_parser("backups", help="list, take or restore snapshots (SQLite)")
    settings_options(backups)
    backups.add_argument("action", choices=("list", "create", "restore"))
    backups.add_argument("snapshot", nargs="?", help="restore: the snapshot's file name")
    backups.add_argument("--model", help="a model's app database (default: the main database)")

    cleanup = sub.add_parser("cleanup", help="delete app databases unused for DAYS days")
    settings_options(cleanup)
    cleanup.add_argument("--unused-for", type=float, required=True, metavar="DAYS")
    cleanup.add_argument("--dry-run", action="store_true", help="only list them")


@contextmanager
def _main_db(settings: Settings) -> Iterator:
    from services.db.dal import close_dal, open_dal

    db = open_dal(settings.database)
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        close_dal(db)


def _write(text: str, output: str | None) -> None:
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)


def cmd_model_openapi(settings: Settings, model_id: str, output: str | None) -> int:
    """Print (or write) the OpenAPI document of one model's app database."""
    from services.appdb import catalog, openapi

    with _main_db(settings) as db:
        row = catalog.get_model(db=db, model_id=model_id, owner_id=None)
        doc = openapi.document_of(row)
    _write(json.dumps(doc, indent=2) + "\n", output)
    return 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    """Write a model's export to a file or stdout, streamed in chunks."""
    from services.appdb import catalog, transfer

    with _main_db(settings) as db:
        row = catalog.get_model(db=db, model_id=args.model_id, owner_id=None)
    app_db = catalog.app_database(settings=settings, row=row)
    meta = transfer.model_meta(
        model_id=row.id, name=row.name, version=row.version, definition=app_db.definition
    )
    chunks = transfer.export_stream(
        app_db, meta=meta, fmt=args.format, scratch=settings.data_dir / "tmp"
    )
    if args.output:
        partial = f"{args.output}.partial"
        with open(partial, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        os.replace(partial, args.output)  # never a half-written export under the real name
    else:
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    """Create a model from an export file, owned by the first superuser."""
    from services import users
    from services.appdb import catalog, transfer

    path = Path(args.file)
    with open(path, "rb") as handle:
        is_sqlite = handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    with _main_db(settings) as db:
        owner = users.get_user_by_email(db=db, email=settings.first_superuser)
        if owner is None:
            raise ValueError(
                f"no user {settings.first_superuser}: start the service once, or create-superuser"
            )
        kwargs = {"model_id": args.model_id, "name": args.name}
        if is_sqlite:
            row = transfer.import_model(
                db=db, settings=settings, owner_id=owner.id, sqlite_path=path, **kwargs
            )
        else:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            row = transfer.import_model(
                db=db, settings=settings, owner_id=owner.id, data=data, **kwargs
            )
        public = catalog.to_public(row)
    print(json.dumps({"imported": public.id, "version": public.version}))
    return 0


def cmd_backups(settings: Settings, args: argparse.Namespace) -> int:
    """List, take or restore snapshots; a restore ends with a parity check (exit 1 if unclean)."""
    from services import backups

    if args.action == "list":
        for snap in backups.list_snapshots(settings, model_id=args.model):
            print(json.dumps(snap.as_dict()))
        return 0
    if args.action == "create":
        print(json.dumps({"snapshot": str(backups.take_snapshot(settings, model_id=args.model))}))
        return 0
    if not args.snapshot:
        raise ValueError("backups restore needs a snapshot name (see backups list)")
    snap = backups.find_snapshot(settings, args.snapshot, model_id=args.model or backups.MAIN)
    if args.model and args.model != backups.MAIN:
        findings = backups.restore_app(settings, snap, model_id=args.model)
    else:
        findings = backups.restore_main(settings, snap)
    print(json.dumps({"restored": snap.path.name, "parity": "ok" if not findings else findings}))
    return 1 if findings else 0


def cmd_cleanup(settings: Settings, args: argparse.Namespace) -> int:
    """Delete (or list, with --dry-run) app databases unused for DAYS days."""
    from services import backups
    from services.appdb import transfer

    found = backups.cleanup(settings, days=args.unused_for, dry_run=args.dry_run)
    for unused in found:
        print(json.dumps({**unused.as_dict(), "deleted": not args.dry_run}))
    if args.dry_run:
        for orphan in backups.orphans(settings):
            print(json.dumps({"orphan": str(orphan), "deleted": False}))
        return 0
    for orphan in backups.remove_orphans(settings):
        print(json.dumps({"orphan": str(orphan), "deleted": True}))
    for leftover in transfer.sweep(settings):
        print(json.dumps({"removed_import_leftover": leftover}))
    return 0


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run one of this module's commands; a list of problems is said by its first one."""
    try:
        return _run(settings, args)
    except Exception as exc:
        problems = getattr(exc, "problems", None)
        if problems:
            first = problems[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"{where}: {first['msg']} ({len(problems)} problem(s))") from None
        raise


def _run(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "openapi":
        return cmd_model_openapi(settings, args.model, args.output)
    if args.command == "export":
        return cmd_export(settings, args)
    if args.command == "import":
        return cmd_import(settings, args)
    if args.command == "backups":
        return cmd_backups(settings, args)
    if args.command == "cleanup":
        return cmd_cleanup(settings, args)
    raise ValueError(f"unknown command {args.command}")
