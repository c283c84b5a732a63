"""Harness fixtures: the API fixtures of tests/api, and a record of which tests failed."""

from __future__ import annotations

import pytest

from tests.api.conftest import make_client  # noqa: F401 - a fixture, used by name

FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Mark an item whose call failed, so its fixture's teardown can report the failure."""
    outcome = yield
    if outcome.when == "call" and outcome.failed:
        item.stash[FAILED] = True
    return outcome
