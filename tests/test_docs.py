"""The docs against the code: every command, package, field type and limit is where a reader
looks for it, and no doc or comment sends the reader outside this repository."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from app.cli import build_parser
from services.appdb import definition
from services.appdb.schema import STRING_LENGTH

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
MODEL_DOC = (ROOT / "docs" / "model-definitions.md").read_text()


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _commands() -> dict[str, str | None]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {choice.dest: choice.help for choice in action._choices_actions}


def _packages() -> list[str]:
    found = [
        p.parent.relative_to(ROOT).as_posix()
        for top in ("app", "services", "tests", "bench")
        for p in (ROOT / top).rglob("__init__.py")
    ]
    return sorted({*found, "alembic", "docs"})


@pytest.fixture(scope="module")
def help_text() -> str:
    result = subprocess.run(
        [sys.executable, "-m", "app", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


@pytest.mark.parametrize("command", sorted(_commands()))
def test_help_lists_every_command_with_what_it_does(command, help_text):
    help_line = _commands()[command]
    assert help_line, f"give the {command!r} sub-parser a help= in app/cli.py"
    # \s+ may span a line break: argparse wraps a long command name.
    assert re.search(rf"^\s+{re.escape(command)}\s+{re.escape(help_line)}$", help_text, re.M)


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_command_is_in_the_readme_table(command):
    table = _section(README, "Commands")
    assert f"| `{command}" in table, f"add a row for `{command}` to README.md's Commands table"


@pytest.mark.parametrize("package", _packages())
def test_the_readme_layout_names_every_package(package):
    layout = _section(README, "Layout")
    assert f"`{package}/`" in layout, f"name `{package}/` in README.md's Layout section"


def test_the_readme_links_the_model_definition_page():
    assert "](docs/model-definitions.md)" in README


@pytest.mark.parametrize("field_type", typing.get_args(definition.FieldType))
def test_the_model_definition_page_lists_every_field_type(field_type):
    assert f"\n| `{field_type}` |" in _section(MODEL_DOC, "Field types")


@pytest.mark.parametrize(
    "phrase",
    [
        f"`{definition.NAME_PATTERN}`",
        f"`{definition.MODEL_ID_PATTERN}`",
        f"1 to {definition.MAX_ENTITIES} entities",
        f"at most {definition.MAX_FIELDS} fields",
        f"at most {definition.MAX_RELATIONSHIPS}",
        f"at most {definition.MAX_COLUMNS} columns",
        f"1 to {definition.MAX_ENUM_VALUES} distinct strings",
        f"at most {definition.MAX_DEFINITION_BYTES:,} characters",
        f"VARCHAR({STRING_LENGTH})",
        f"at most {STRING_LENGTH} characters",
        f"starting with `{definition.SYSTEM_TABLE_PREFIX}`",
    ],
)
def test_the_model_definition_page_gives_the_limits_the_code_enforces(phrase):
    assert phrase in MODEL_DOC


@pytest.mark.parametrize("column", sorted(definition.SYSTEM_COLUMNS))
def test_the_model_definition_page_names_every_system_column(column):
    assert f"`{column}`" in _section(MODEL_DOC, "Names")


@pytest.mark.parametrize("word", ["order", "group", "user", "key", "values", "limit", "match"])
def test_the_reserved_words_the_page_gives_as_examples_are_refused(word):
    assert f"`{word}`" in _section(MODEL_DOC, "Names")
    assert word in definition.reserved_words()


@pytest.mark.parametrize("word", ["name", "type", "status", "date", "title", "data"])
def test_the_names_the_page_allows_are_allowed(word):
    assert f"`{word}`" in _section(MODEL_DOC, "Names")
    assert word not in definition.reserved_words()


# Files of the project's own planning, beside the repository but not in it.
_OUTSIDE = re.compile(r"shared/|PRODUCT\.md|DUAL_LAYER|STYLE\.md|seed (?:documents|design)")
_TEXT = {".py", ".md", ".toml", ".ini", ".spec", ".txt", ".cfg", ".mako", ""}


def _project_files() -> list[Path]:
    tops = ["app", "services", "tests", "bench", "alembic", "docs", ".ci"]
    files = [ROOT / n for n in ("README.md", "Makefile", "pyproject.toml", "sidecar.spec")]
    for top in tops:
        files += [
            p
            for p in (ROOT / top).rglob("*")
            if p.is_file()
            and p.suffix in _TEXT
            and "__pycache__" not in p.parts
            and "node_modules" not in p.parts  # npm's installs for the client tests
            and "results" not in p.parts
        ]
    return [p for p in files if p != Path(__file__).resolve()]


def test_no_doc_or_comment_points_outside_the_repository():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _project_files()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if _OUTSIDE.search(line)
    ]
    assert found == [], "say it here, or point inside the repository:\n" + "\n".join(found)
