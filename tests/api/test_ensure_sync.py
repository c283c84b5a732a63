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


# Named ids: a callable's repr holds its address, which differs between xdist workers.
CALLABLES = {
    "function": plain,
    "lambda": lambda x: x,
    "method": Hooks().method,
    "callable object": Hooks(),
    "partial": functools.partial(plain, 1),
    "builtin": len,
    "coroutine function": coroutine,
    "async method": Hooks().async_method,
    "partial of a coroutine function": functools.partial(coroutine, 1),
}


def _outcome(app, func):
    # What running ``func`` as a hook gives (async_to_sync needs Flask's async extra).
    try:
        synced = app.ensure_sync(func)
    except RuntimeError as error:
        return "refused", str(error)
    args = () if isinstance(func, functools.partial) else (2,)
    return synced is func, synced(*args) if func is not len else synced("ab")


@pytest.mark.parametrize("func", CALLABLES.values(), ids=CALLABLES.keys())
def test_ensure_sync_answers_as_flasks(func):
    ours = _outcome(ServiceOpenAPI(__name__), func)
    assert ours == _outcome(Flask(__name__), func)
    assert ours[0] is not inspect.iscoroutinefunction(func) or ours[0] == "refused"
