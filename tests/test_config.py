"""Settings: option > environment > {DATA_DIR}/config.json > default, and every bad setting is
one clear line (ConfigError) before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.config import ConfigError, default_data_dir, load_settings


def _config_file(data_dir: Path, content) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    text = content if isinstance(content, str) else json.dumps(content)
    (data_dir / "config.json").write_text(text, encoding="utf-8")


def test_defaults_serve_sqlite_on_loopback_with_auth_off(tmp_path):
    settings = load_settings({"data_dir": str(tmp_path)}, environ={})
    assert (settings.host, settings.port, settings.auth_required) == ("127.0.0.1", 1430, False)
    assert settings.log_level == "INFO" and settings.launch_token is None
    assert settings.database.family == "sqlite"
    assert settings.database.sqlite_path == tmp_path.resolve() / "app.db"
    assert "http://127.0.0.1:*" in settings.allowed_origins and "*" not in settings.allowed_origins


def test_an_option_beats_the_environment_which_beats_config_json(tmp_path):
    _config_file(tmp_path, {"port": 3000, "host": "127.0.0.2", "log_level": "debug"})
    env = {"DATA_DIR": str(tmp_path), "PORT": "2000", "HOST": "127.0.0.3"}
    settings = load_settings({"port": "1000", "host": None}, environ=env)
    assert settings.port == 1000  # the option
    assert settings.host == "127.0.0.3"  # an option given as None counts as not given
    assert settings.log_level == "DEBUG"  # only config.json sets it, in any case
    assert settings.data_dir == tmp_path.resolve()


def test_an_empty_environment_variable_counts_as_unset(tmp_path):
    _config_file(tmp_path, {"port": 3000})
    settings = load_settings({"data_dir": str(tmp_path)}, environ={"PORT": ""})
    assert settings.port == 3000


def test_without_any_data_dir_the_platform_folder_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))  # platformdirs' Linux base folder
    monkeypatch.chdir(tmp_path)  # not a checkout's root, where ./.data would be used instead
    settings = load_settings(environ={})
    assert settings.data_dir == default_data_dir().resolve()
    assert default_data_dir().name == "local-data-service"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", True), ("TRUE", True), (" yes ", True), ("on", True), ("0", False), ("off", False)],
)
def test_auth_required_reads_the_usual_words_for_true_and_false(tmp_path, text, expected):
    settings = load_settings({"data_dir": str(tmp_path)}, environ={"AUTH_REQUIRED": text})
    assert settings.auth_required is expected


def test_config_json_may_hold_json_booleans_and_origin_lists(tmp_path):
    origins = ["tauri://localhost", "https://app.example.com"]
    _config_file(tmp_path, {"auth_required": True, "allowed_origins": origins})
    settings = load_settings({"data_dir": str(tmp_path)}, environ={})
    assert settings.auth_required is True
    assert settings.allowed_origins == tuple(origins)


def test_allowed_origins_from_the_environment_are_comma_separated(tmp_path):
    env = {"ALLOWED_ORIGINS": " tauri://localhost, ,http://localhost:5173 "}
    settings = load_settings({"data_dir": str(tmp_path)}, environ=env)
    assert settings.allowed_origins == ("tauri://localhost", "http://localhost:5173")


def test_the_launch_token_and_database_url_come_from_the_environment(tmp_path):
    env = {
        "LAUNCH_TOKEN": "t0ken",
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test",
    }
    settings = load_settings({"data_dir": str(tmp_path)}, environ=env)
    assert settings.launch_token == "t0ken"
    assert settings.database.family == "postgresql"
    assert settings.database.render() == "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "http"}, "port must be an integer, not 'http'"),
        ({"PORT": "65536"}, "port must be between 0 and 65535, not '65536'"),
        ({"PORT": "-1"}, "port must be between 0 and 65535"),
        ({"AUTH_REQUIRED": "maybe"}, "auth_required must be true or false, not 'maybe'"),
        ({"LOG_LEVEL": "loud"}, "log level must be one of DEBUG, INFO"),
        ({"ALLOWED_ORIGINS": "*"}, "allowed origin '*' must be scheme://host[:port]"),
        ({"ALLOWED_ORIGINS": "localhost:3000"}, "must be scheme://host[:port], not a wildcard"),
        ({"DATABASE_NAME": "../elsewhere.db"}, "database name must be a file name, not a path"),
        ({"DATABASE_NAME": "a\\b.db"}, "database name must be a file name, not a path"),
        ({"DATABASE_URL": "oracle://scott@db/orcl"}, "unsupported database backend 'oracle'"),
        ({"DATABASE_URL": "not a url"}, "malformed DATABASE_URL"),
        ({"DATABASE_URL": "postgresql:///nohost"}, "needs a host and a database name"),
        ({"DATABASE_URL": "sqlite://"}, "an SQLite DATABASE_URL needs a file path"),
    ],
)
def test_a_bad_setting_is_one_clear_line(tmp_path, env, message):
    with pytest.raises(ConfigError) as caught:
        load_settings({"data_dir": str(tmp_path)}, environ=env)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read"),
        ([1, 2], "must hold a JSON object"),
        ({"port": 1, "colour": "blue"}, "unknown setting(s) colour"),
        # The launch token guards every request: only the parent's environment may set it.
        ({"launch_token": "from-a-file"}, "unknown setting(s) launch_token"),
        ({"data_dir": "/elsewhere"}, "unknown setting(s) data_dir"),
        ({"allowed_origins": [1]}, "allowed_origins must be a list of origins"),
    ],
)
def test_a_bad_config_json_is_one_clear_line(tmp_path, content, message):
    _config_file(tmp_path, content)
    with pytest.raises(ConfigError) as caught:
        load_settings({"data_dir": str(tmp_path)}, environ={})
    assert message in str(caught.value)


def test_a_port_of_true_in_config_json_is_refused(tmp_path):
    # int(True) is 1: a JSON boolean must not become port 1.
    _config_file(tmp_path, {"port": True})
    with pytest.raises(ConfigError, match="port must be between 0 and 65535"):
        load_settings({"data_dir": str(tmp_path)}, environ={})
