"""Two API schemas with the same class name collide in the OpenAPI components (one silently
replaces the other, and clients validate against the wrong shape), so names must be unique."""

from collections import defaultdict


def test_api_schema_class_names_are_unique_across_apps():
    from ninja import Schema

    import okwallet.api.api  # noqa: F401  (imports every app's router and its schemas)

    seen = defaultdict(set)
    stack = list(Schema.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("okwallet."):
            seen[cls.__name__].add(cls.__module__)
    duplicates = {name: sorted(modules) for name, modules in seen.items() if len(modules) > 1}
    assert duplicates == {}
