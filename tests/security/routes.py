"""Enumerate every route the product serves: Django pages (from the URL configuration) and API
operations (from the OpenAPI schema), with dummy values for their path parameters."""

from __future__ import annotations

import re
import uuid

from django.urls import URLPattern, URLResolver, get_resolver

SKIP_PREFIXES = ("admin/", "static/", "api/v1/")  # admin is Django's; the API is read from its schema
DUMMY = {
    "int": "999999",
    "uuid": str(uuid.UUID(int=1)),
    "slug": "no-such-slug",
    "str": "NOPE0000",
    "path": "nope",
}


def _fill(pattern: str) -> str:
    def django_param(match):
        kind = match.group(1) or "str"
        return DUMMY.get(kind, "NOPE0000")

    path = re.sub(r"<(?:(\w+):)?\w+>", django_param, pattern)
    path = re.sub(r"\{(\w+)\}", lambda m: "999999" if m.group(1).endswith("id") else "NOPE0000", path)
    return "/" + path.lstrip("/")


def page_routes() -> list[tuple[str, str]]:
    """(url name, concrete path) for every non-API page route."""

    def walk(patterns, prefix="", namespace=""):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                ns = namespace
                if entry.namespace:
                    ns = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
                yield from walk(entry.url_patterns, prefix + str(entry.pattern), ns)
            elif isinstance(entry, URLPattern):
                full = prefix + str(entry.pattern)
                if full.startswith(SKIP_PREFIXES) or full.startswith("^"):
                    continue
                name = f"{namespace}:{entry.name}" if namespace else (entry.name or full)
                yield name, _fill(full)

    return sorted(set(walk(get_resolver().url_patterns)))


def api_routes() -> list[tuple[str, str, str]]:
    """(key "METHOD /api/v1/path", method, concrete path) for every API operation."""
    from okwallet.api.api import api

    schema = api.get_openapi_schema(path_prefix="/api/v1/")
    found = []
    for path, operations in schema["paths"].items():
        for method in operations:
            if method.upper() in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
                found.append((f"{method.upper()} {path}", method.upper(), _fill(path)))
    return sorted(found)
