import pytest


@pytest.fixture
def calendar(db):
    """The default schedules and the package calendar (2004–2026), also in a flushed database."""
    from okwallet.hours.defaults import ensure_default_hours
    from okwallet.hours.snapshot import invalidate

    ensure_default_hours()
    invalidate()
