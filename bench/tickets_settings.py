"""Settings for bench/tickets.py's server: the app's settings with database connections closed at
the end of each request. Under ASGI every request runs in its own thread, so kept-alive
connections (CONN_MAX_AGE > 0) pile up one per thread and exhaust PostgreSQL's
max_connections on a shared server (seen: 99 connections from 2 workers)."""

from okwallet.settings import *  # noqa: F403
from okwallet.settings import DATABASES

DATABASES["default"]["CONN_MAX_AGE"] = 0
