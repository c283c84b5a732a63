"""Settings: command-line options > environment > {DATA_DIR}/config.json > defaults."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.db.urls import DatabaseTarget, DatabaseURLError, parse_database_url, sqlite_target

APP_ID = "local-data-service"

# Setting name -> environment variable. config.json uses the lower-case setting names.
_ENV = {
    "data_dir": "DATA_DIR",
    "host": "HOST",
    "port": "PORT",
    "auth_required": "AUTH_REQUIRED",
    "database_name": "DATABASE_NAME",
    "database_url": "DATABASE_URL",
    "secret_key": "SECRET_KEY",
    "log_level": "LOG_LEVEL",
    "first_superuser": "FIRST_SUPERUSER",
    "first_superuser_password": "FIRST_SUPERUSER_PASSWORD",
    "allowed_origins": "ALLOWED_ORIGINS",
    "launch_token": "LAUNCH_TOKEN",
    "app_db_handles": "APP_DB_HANDLES",
    "app_page_bytes": "APP_PAGE_BYTES",
    "app_row_links": "APP_ROW_LINKS",
    "max_models_per_user": "MAX_MODELS_PER_USER",
}
_DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 1430,
    "auth_required": False,
    "database_name": "app.db",
    "database_url": None,
    "secret_key": None,
    "log_level": "INFO",
    "first_superuser": "admin@example.com",
    "first_superuser_password": None,
    # Tauri's webview origins and local dev servers; "*" in a port matches any port.
    "allowed_origins": (
        "tauri://localhost",
        "http://tauri.localhost",
        "https://tauri.localhost",
        "http://localhost:*",
        "http://127.0.0.1:*",
    ),
    "launch_token": None,
    # Open app databases kept per process (each with its tables and a few idle connections).
    "app_db_handles": 16,
    # A page of app rows stops before this many bytes of JSON (it always holds one row), and
    # each ManyToMany list in a row answer holds at most this many ids; issue 14 measured an
    # 8 MB page of 200 rows with 1,000 links each (6.5 s, 500 MB RSS).
    "app_page_bytes": 1_000_000,
    "app_row_links": 100,
    # Models one user may own (superusers too: with auth off every request is the superuser).
    "max_models_per_user": 100,
}
# Only the parent process may set these, through the environment.
_ENV_ONLY = {"launch_token"}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A setting that stops start-up; the message is one line for stderr."""


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one service process."""

    data_dir: Path
    host: str
    port: int
    auth_required: bool
    database_name: str
    database_url: str | None
    secret_key: str | None
    log_level: str
    first_superuser: str
    first_superuser_password: str | None
    allowed_origins: tuple[str, ...]
    launch_token: str | None
    app_db_handles: int = 16
    app_page_bytes: int = 1_000_000
    app_row_links: int = 100
    max_models_per_user: int = 100

    @property
    def database(self) -> DatabaseTarget:
        """The main database, for both layers."""
        if self.database_url:
            return parse_database_url(self.database_url)
        return sqlite_target(self.data_dir / self.database_name)


DEVELOPMENT_DATA_DIR = ".data"


def development_data_dir(cwd: Path | None = None) -> Path | None:
    """``./.data`` when run from the root of a checkout of this repository, else None.

    The one rule for where development data lives: ``make run``, ``python -m app`` and plain
    ``alembic`` run from the repository root all find the same database there. A packaged
    sidecar (frozen) never uses it: the desktop app may start it from any folder.
    """
    if getattr(sys, "frozen", False):
        return None
    cwd = Path.cwd() if cwd is None else cwd
    markers = (cwd / "alembic.ini", cwd / "services" / "config.py", cwd / "app" / "cli.py")
    return cwd / DEVELOPMENT_DATA_DIR if all(m.is_file() for m in markers) else None


def default_data_dir(cwd: Path | None = None) -> Path:
    """Where data lives without DATA_DIR: a checkout's ./.data, else the platform's folder."""
    from platformdirs import user_data_dir

    development = development_data_dir(cwd)
    if development is not None:
        return development
    return Path(user_data_dir(APP_ID, appauthor=False, roaming=True))


def data_dir_source(options: Mapping[str, Any] | None = None, environ=None) -> str:
    """Which rule chose the data dir, for messages (``alembic current`` prints it)."""
    environ = os.environ if environ is None else environ
    if (options or {}).get("data_dir"):
        return "--data-dir"
    if environ.get("DATA_DIR"):
        return "DATA_DIR"
    if development_data_dir() is not None:
        return "the checkout's development data (./.data, as make run uses)"
    return "the platform's user data folder"


def _parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}")


def _parse_origins(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in (part.strip() for part in value.split(",")) if v]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError("allowed_origins must be a list of origins")
    for origin in value:
        if origin == "*" or "://" not in origin:
            raise ConfigError(
                f"allowed origin {origin!r} must be scheme://host[:port], not a wildcard"
            )
    return tuple(value)


def _parse_port(value: Any) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"port must be an integer, not {value!r}") from None
    if isinstance(value, bool) or not 0 <= port <= 65535:
        raise ConfigError(f"port must be between 0 and 65535, not {value!r}")
    return port


def _parse_positive(name: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a positive integer, not {value!r}") from None
    if isinstance(value, bool) or number < 1:
        raise ConfigError(f"{name} must be a positive integer, not {value!r}")
    return number


def _read_config_file(data_dir: Path) -> dict[str, Any]:
    path = data_dir / "config.json"
    if not path.exists():
        return {}
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if not isinstance(content, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    unknown = sorted(set(content) - (set(_ENV) - {"data_dir"} - _ENV_ONLY))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    return content


def load_settings(
    options: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Resolve settings; options whose value is None count as not given."""
    options = {k: v for k, v in (options or {}).items() if v is not None}
    environ = os.environ if environ is None else environ
    env = {key: environ[var] for key, var in _ENV.items() if environ.get(var, "") != ""}

    data_dir_raw = options.get("data_dir", env.get("data_dir"))
    data_dir = Path(data_dir_raw).expanduser() if data_dir_raw else default_data_dir()
    file_values = _read_config_file(data_dir)

    merged: dict[str, Any] = {}
    for key, default in _DEFAULTS.items():
        for source in (options, env, file_values):
            if key in source:
                merged[key] = source[key]
                break
        else:
            merged[key] = default

    log_level = str(merged["log_level"]).upper()
    if log_level not in _LOG_LEVELS:
        raise ConfigError(f"log level must be one of {', '.join(_LOG_LEVELS)}, not {log_level!r}")
    settings = Settings(
        data_dir=data_dir.resolve(),
        host=str(merged["host"]),
        port=_parse_port(merged["port"]),
        auth_required=_parse_bool("auth_required", merged["auth_required"]),
        database_name=str(merged["database_name"]),
        database_url=merged["database_url"] or None,
        secret_key=merged["secret_key"] or None,
        log_level=log_level,
        first_superuser=str(merged["first_superuser"]),
        first_superuser_password=merged["first_superuser_password"] or None,
        allowed_origins=_parse_origins(merged["allowed_origins"]),
        launch_token=merged["launch_token"] or None,
        app_db_handles=_parse_positive("app_db_handles", merged["app_db_handles"]),
        app_page_bytes=_parse_positive("app_page_bytes", merged["app_page_bytes"]),
        app_row_links=_parse_positive("app_row_links", merged["app_row_links"]),
        max_models_per_user=_parse_positive("max_models_per_user", merged["max_models_per_user"]),
    )
    if "/" in settings.database_name or "\\" in settings.database_name:
        raise ConfigError("database name must be a file name, not a path")
    try:
        settings.database  # noqa: B018 - validate the URL before anything is written
    except DatabaseURLError as exc:
        raise ConfigError(str(exc)) from None
    return settings
