"""Command line (`python -m app COMMAND`): each command parses its arguments, calls one service."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from app import cli_data
from services.config import ConfigError, Settings, load_settings
from services.lifecycle import StartupError

log = logging.getLogger("app")


def _settings_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data folder (env DATA_DIR)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR (env LOG_LEVEL)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="The local-first data service: serve its HTTP API, and manage its main "
        "database and the app databases of its models.",
        epilog="`python -m app COMMAND --help` shows a command's options. Settings come from an "
        "option, else the environment (DATA_DIR, DATABASE_URL, ...), else "
        "{DATA_DIR}/config.json, else the default.",
    )
    sub = parser.add_subparsers(dest="command", required=True, title="commands", metavar="COMMAND")

    serve = sub.add_parser("serve", help="migrate, then serve the HTTP API")
    _settings_options(serve)
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", help="port (default 1430; 0 picks a free one)")
    serve.add_argument(
        "--auth-required",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="require bearer tokens (default: off)",
    )
    serve.add_argument("--parent-pid", type=int, help="exit when this process dies")
    serve.add_argument("--threads", type=int, default=4, help="waitress worker threads")
    serve.add_argument(
        "--stop-on-stdin-eof",
        action="store_true",
        help="also stop when stdin closes or reads a 'stop' line (a graceful stop on Windows)",
    )

    migrate = sub.add_parser("migrate", help="migrate the database to head (or a revision)")
    _settings_options(migrate)
    migrate.add_argument("revision", nargs="?", default="head")

    downgrade = sub.add_parser("downgrade", help="migrate the database down to a revision")
    _settings_options(downgrade)
    downgrade.add_argument("revision", help='a revision id, "-1", or "base"')

    parity = sub.add_parser("parity", help="check models, migrations, database and PyDAL agree")
    _settings_options(parity)

    seed = sub.add_parser("seed", help="fill a model's app database with realistic linked data")
    _settings_options(seed)
    seed.add_argument("model_id")
    seed.add_argument("--count", type=int, default=5, help="rows per entity (any size)")
    seed.add_argument("--seed", type=int, help="same seed and definition, same data")
    seed.add_argument("--locale", default="en_US")
    seed.add_argument("--preserve-existing", action="store_true", help="add to the rows there")

    openapi = sub.add_parser("openapi", help="print the OpenAPI document (JSON) on stdout")
    openapi.add_argument("--output", help="write to this file instead")
    openapi.add_argument("--model", help="the document of this model's app database instead")
    _settings_options(openapi)
    cli_data.add_commands(sub, _settings_options)

    quarantine = sub.add_parser(
        "quarantine", help="list or purge app databases set aside (unowned)"
    )
    _settings_options(quarantine)
    quarantine.add_argument("action", choices=("list", "purge"))
    quarantine.add_argument("names", nargs="*", help="purge: these (default: every one)")

    superuser = sub.add_parser("create-superuser", help="create a superuser (or promote one)")
    _settings_options(superuser)
    superuser.add_argument("--email", required=True)
    superuser.add_argument(
        "--password-env",
        default="SUPERUSER_PASSWORD",
        help="environment variable holding the password (never a command-line argument)",
    )
    return parser


def _load(args: argparse.Namespace) -> Settings:
    options = {
        "data_dir": args.data_dir,
        "log_level": args.log_level,
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "auth_required": getattr(args, "auth_required", None),
    }
    return load_settings(options)


def cmd_migrate(settings: Settings, revision: str) -> int:
    """Upgrade the main database and say where it stands."""
    from services.db import migrations

    target = settings.database
    before = migrations.current_revision(target)
    migrations.upgrade(target, revision)
    after = migrations.current_revision(target)
    state = "already at" if before == after else f"migrated from {before or 'empty'} to"
    print(f"{state} revision {after} ({target.render()})")
    return 0


def cmd_downgrade(settings: Settings, revision: str) -> int:
    """Downgrade the main database."""
    from services.db import migrations

    target = settings.database
    migrations.downgrade(target, revision)
    print(f"now at revision {migrations.current_revision(target) or 'base'} ({target.render()})")
    return 0


def cmd_parity(settings: Settings) -> int:
    """Print the parity report; exit 1 on any difference."""
    from services.db.parity import run_parity

    report = run_parity(settings.database)
    print(report.render())
    return 0 if report.ok else 1


def cmd_openapi(output: str | None) -> int:
    """Print (or write) the OpenAPI document; touches no database."""
    from app import create_app

    app = create_app(load_settings({}, environ={}), serve=False)
    text = json.dumps(app.api_doc, indent=2, sort_keys=False) + "\n"
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_create_superuser(settings: Settings, email: str, password_env: str) -> int:
    """Create a superuser with the password from the environment, or promote the user."""
    from services import users
    from services.db import migrations
    from services.db.dal import open_dal
    from services.schemas import UserCreate

    password = os.environ.get(password_env, "")
    user_create = UserCreate(email=email, password=password, is_superuser=True)
    migrations.upgrade(settings.database)
    db = open_dal(settings.database)
    try:
        existing = users.get_user_by_email(db=db, email=user_create.email)
        if existing is None:
            users.create_user(db=db, user_create=user_create)
            print(f"created superuser {user_create.email}")
        else:
            users.update_user(
                db=db, user_id=existing.id, changes={"is_superuser": True, "password": password}
            )
            print(f"promoted {user_create.email} to superuser and set the password")
        db.commit()
    finally:
        db.close()
    return 0


def cmd_quarantine(settings: Settings, action: str, names: list[str]) -> int:
    """List the quarantined app databases (one per line), or purge them."""
    from services.appdb import quarantine

    if action == "list":
        for found in quarantine.list_quarantined(settings=settings):
            print(f"{found.name}\t{found.where}")
        return 0
    for name in quarantine.purge_quarantined(settings=settings, names=names or None):
        print(f"purged {name}")
    return 0


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    """Seed one model's app database with a progress bar (stderr), in bounded memory."""
    from services.appdb import handles, seed
    from services.db.dal import close_dal, open_dal

    db = open_dal(settings.database)
    owned = handles.Handles(settings, capacity=1)
    try:
        with seed.progress_bar(file=sys.stderr) as progress:
            result = handles.seed_app_database(
                handles=owned,
                db=db,
                model_id=args.model_id,
                owner_id=None,
                max_instances_per_entity=args.count,
                seed=args.seed,
                locale=args.locale,
                preserve_existing=args.preserve_existing,
                progress=progress,
            )
        db.commit()
    finally:
        owned.close()
        close_dal(db)
    print(json.dumps(result))
    return 0


def _complete_interrupted_updates(app, settings: Settings) -> None:
    # A model change whose app database committed but whose main row did not (a crash between
    # the two commits) is finished before any request sees the model.
    db = app.extensions["dal"]
    try:
        if not db(db.user_deletion).isempty():
            from services.appdb.owners import finish_deletions

            finished = finish_deletions(db=db, settings=settings)
            log.warning("finished %d account deletion(s) a stop had cut short", finished)
        if db(db.app_model).isempty():
            return  # nothing to finish: leave the app-database code (and SQLAlchemy) unloaded
        from services.appdb.catalog import complete_interrupted_updates

        if complete_interrupted_updates(db=db, settings=settings):
            db.commit()
    finally:
        db._adapter.close("rollback")


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Lock the data dir, back up and migrate, check parity, then serve until told to stop."""
    from app import create_app, logs
    from app.db import close_db
    from app.serve import serve
    from services.db.maintenance import checkpoint_sqlite
    from services.lifecycle import DataDirLock, check_data_dir, prepare_database
    from services.privacy import make_private

    check_data_dir(settings.data_dir)
    make_private(settings.data_dir)
    lock = DataDirLock(settings.data_dir)
    lock.acquire()
    try:
        logs.configure(settings.log_level, settings.data_dir)
        revision = prepare_database(settings)
        app = create_app(settings)
        _complete_interrupted_updates(app, settings)
        try:
            serve(
                app,
                settings,
                threads=args.threads,
                parent_pid=args.parent_pid,
                revision=revision,
                stop_on_stdin=args.stop_on_stdin_eof,
            )
        finally:
            close_db(app)
            checkpoint_sqlite(settings.database)
            log.info("stopped cleanly")
    finally:
        lock.release()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a failure exits non-zero with a one-line reason on stderr."""
    # Before anything imports PyDAL: a SQLite process never loads the server drivers.
    from services.db.drivers import import_pydal_without_server_drivers

    import_pydal_without_server_drivers()
    args = build_parser().parse_args(argv)
    try:
        if args.command == "openapi" and not args.model:
            return cmd_openapi(args.output)
        settings = _load(args)
        from app import logs

        logs.configure(settings.log_level, None)
        if args.command == "migrate":
            return cmd_migrate(settings, args.revision)
        if args.command == "downgrade":
            return cmd_downgrade(settings, args.revision)
        if args.command == "parity":
            return cmd_parity(settings)
        if args.command == "seed":
            return cmd_seed(settings, args)
        if args.command in cli_data.COMMANDS:
            return cli_data.run(settings, args)
        if args.command == "quarantine":
            return cmd_quarantine(settings, args.action, args.names)
        if args.command == "create-superuser":
            return cmd_create_superuser(settings, args.email, args.password_env)
        return cmd_serve(settings, args)
    except (ConfigError, StartupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        print(f"error: invalid {where}: {first['msg']}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - one line for the caller, full trace in the log
        log.debug("command failed", exc_info=True)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: {type(exc).__name__}: {first}", file=sys.stderr)
        return 1
