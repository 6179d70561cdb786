"""Calls from a lower app into the apps above it, without importing them.

The dependency graph points downwards (docs/architecture.md): accounts must not import
payments, helpdesk must not import chat. When a lower app needs facts or actions from the
apps above it (closure blockers, 360 panels, dashboard figures), it calls
``collect("hook_name", ...)``; every app that ships ``okwallet/<app>/hooks.py`` with a function
of that name is called in ``settings.OKWALLET_APPS`` order and the results are returned as a
list. The hook names and their contracts are listed in docs/interfaces.md.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import import_module
from importlib.util import find_spec
from typing import Any

from django.conf import settings


@cache
def _implementations(name: str) -> tuple[Callable[..., Any], ...]:
    found = []
    for app in settings.OKWALLET_APPS:
        module_name = f"okwallet.{app}.hooks"
        if find_spec(module_name) is None:
            continue
        func = getattr(import_module(module_name), name, None)
        if func is not None:
            found.append(func)
    return tuple(found)


def collect(name: str, *args: Any, **kwargs: Any) -> list[Any]:
    """Call every app's ``hooks.<name>(*args, **kwargs)``; results in app order, ``None`` dropped."""
    results = []
    for func in _implementations(name):
        result = func(*args, **kwargs)
        if result is not None:
            results.append(result)
    return results


def collect_flat(name: str, *args: Any, **kwargs: Any) -> list[Any]:
    """Like ``collect`` for hooks that return lists: the lists are joined."""
    return [item for result in collect(name, *args, **kwargs) for item in result]
