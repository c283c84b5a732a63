"""Commands for data that leaves and comes back: a model's document, export, import, backups."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from services.config import Settings

COMMANDS = frozenset({"openapi"})


def add_commands(sub, settings_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this module's sub-commands to the command line."""


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
    from services.appdb import models, openapi

    with _main_db(settings) as db:
        row = models.get_model(db=db, model_id=model_id, owner_id=None)
        doc = openapi.document_of(row)
    _write(json.dumps(doc, indent=2) + "\n", output)
    return 0


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run one of this module's commands."""
    if args.command == "openapi":
        return cmd_model_openapi(settings, args.model, args.output)
    raise ValueError(f"unknown command {args.command}")
