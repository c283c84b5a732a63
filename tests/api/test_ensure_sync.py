"""The app's ensure_sync (app/api/__init__.py) treats every callable as Flask's does."""

from __future__ import annotations

import functools
import inspect

import pytest
from flask import Flask

from app.api import ServiceOpenAPI


def plain(x):
    return x


async def coroutine(x):
    return x


class Hooks:
    def method(self, x):
        return x

    async def async_method(self, x):
        return x

    def __call__(self, x):
        return x


CALLABLES = [
    plain,
    lambda x: x,
    Hooks().method,
    Hooks(),
    functools.partial(plain, 1),
    len,
    coroutine,
    Hooks().async_method,
    functools.partial(coroutine, 1),
]


def _outcome(app, func):
    # What running ``func`` as a hook gives (async_to_sync needs Flask's async extra).
    try:
        synced = app.ensure_sync(func)
    except RuntimeError as error:
        return "refused", str(error)
    args = () if isinstance(func, functools.partial) else (2,)
    return synced is func, synced(*args) if func is not len else synced("ab")


@pytest.mark.parametrize("func", CALLABLES, ids=repr)
def test_ensure_sync_answers_as_flasks(func):
    ours = _outcome(ServiceOpenAPI(__name__), func)
    assert ours == _outcome(Flask(__name__), func)
    assert ours[0] is not inspect.iscoroutinefunction(func) or ours[0] == "refused"
