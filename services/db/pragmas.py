"""Per-connection SQLite settings that both layers must apply (only WAL is stored in the file)."""

# synchronous=NORMAL is durable across application crashes in WAL mode; only an OS crash or
# power loss can roll back the last transactions.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    "PRAGMA synchronous=NORMAL",
)


def apply_sqlite_pragmas(execute) -> None:
    """Run every pragma through ``execute`` (a cursor's or adapter's execute)."""
    for statement in SQLITE_PRAGMAS:
        execute(statement)
