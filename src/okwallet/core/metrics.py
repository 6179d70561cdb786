"""Prometheus metrics: request latency histograms by route, counters, and app-contributed gauges.

Counters and histograms live in Redis when ``REDIS_URL`` is set, so every app process and worker
adds to the same figures and any process can answer a scrape (each process buffers its adds and
sends them as one pipeline at most once a second); without Redis they live in the process (the
embedded shape has one web process).
Gauges are computed at scrape time by every app's ``hooks.metrics()``, which returns
``[(name, help, type, labels_dict, value), ...]`` (type ``gauge`` or ``counter``); see
docs/interfaces.md. A failing store or hook never fails a request or the scrape.

Route labels are URL patterns (``api/v1/tickets/<int:pk>``), never raw paths, so the number of
series stays bounded; unmatched paths are counted as ``<unmatched>``.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings

from okwallet.core.logs import request_id_var

logger = logging.getLogger("okwallet.metrics")
access_logger = logging.getLogger("okwallet.access")

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REQUEST_HISTOGRAM = "okw_http_request_duration_seconds"
_HELP = {
    REQUEST_HISTOGRAM: ("histogram", "Time to answer an HTTP request, by route pattern, method and status."),
    "okw_jobs_total": (
        "counter",
        "Background jobs finished, by task and result (complete, error, retry, expired).",
    ),
    "okw_metrics_store_errors_total": ("counter", "Metric updates lost because the shared store failed."),
}


def _key() -> str:
    return getattr(settings, "OKWALLET_METRICS_KEY", "okw:metrics")


def _field(name: str, labels: dict[str, str]) -> str:
    return json.dumps([name, sorted((str(k), str(v)) for k, v in labels.items())], ensure_ascii=False)


class _LocalStore:
    def __init__(self):
        self._lock = threading.Lock()
        self._values: dict[str, float] = defaultdict(float)

    def add(self, items: Iterable[tuple[str, float]]) -> None:
        with self._lock:
            for field, amount in items:
                self._values[field] += amount

    def read(self) -> dict[str, float]:
        with self._lock:
            return dict(self._values)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


class _RedisStore:
    """Adds are buffered in the process and sent as one pipeline at most every ``FLUSH_SECONDS``
    (and before every read), so a request normally costs no Redis round trip at all. A process
    killed with SIGKILL loses at most that last second of counts."""

    FLUSH_SECONDS = 1.0

    def __init__(self):
        self._lock = threading.Lock()
        self._pending: dict[str, int | float] = defaultdict(int)
        self._last_flush = time.monotonic()

    def add(self, items: Iterable[tuple[str, float]]) -> None:
        with self._lock:
            for field, amount in items:
                self._pending[field] += amount
            due = time.monotonic() - self._last_flush >= self.FLUSH_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        from okwallet.core import redis_client

        with self._lock:
            pending, self._pending = self._pending, defaultdict(int)
            self._last_flush = time.monotonic()
        if not pending:
            return
        try:
            pipe = redis_client.get().pipeline(transaction=False)
            key = _key()
            for field, amount in pending.items():
                if isinstance(amount, int):  # counts stay integers; sums and float amounts use the float form
                    pipe.hincrby(key, field, amount)
                else:
                    pipe.hincrbyfloat(key, field, amount)
            pipe.execute()
        except Exception:
            with self._lock:  # keep them for the next flush rather than lose them
                for field, amount in pending.items():
                    self._pending[field] += amount
            raise

    def read(self) -> dict[str, float]:
        from okwallet.core import redis_client

        self.flush()
        raw = redis_client.get().hgetall(_key())
        return {k.decode(): float(v) for k, v in raw.items()}

    def clear(self) -> None:
        from okwallet.core import redis_client

        with self._lock:
            self._pending.clear()
        redis_client.get().delete(_key())


_local = _LocalStore()
_last_store_warning = -1e9
_redis = _RedisStore()


@atexit.register
def _flush_at_exit() -> None:
    try:
        if _redis._pending:
            _redis.flush()
    except Exception:  # nothing to report to at exit
        return


def _store():
    return _redis if settings.REDIS_URL else _local


def _add(items: list[tuple[str, float]]) -> None:
    try:
        _store().add(items)
    except Exception:  # metrics must never break the request
        global _last_store_warning
        _local.add([(_field("okw_metrics_store_errors_total", {}), 1)])
        if time.monotonic() - _last_store_warning > 60:  # one warning a minute, not one per request
            _last_store_warning = time.monotonic()
            logger.warning("metrics store unavailable", exc_info=True)


def counter_inc(
    name: str, labels: dict[str, str] | None = None, amount: float = 1, *, help: str = ""
) -> None:
    """Adds to a counter shared by every process (``name`` should end in ``_total``)."""
    if help and name not in _HELP:
        _HELP[name] = ("counter", help)
    _add([(_field(name, labels or {}), amount)])


def observe(name: str, labels: dict[str, str], seconds: float) -> None:
    """Records one observation in a histogram with the standard buckets."""
    index = next((i for i, bound in enumerate(BUCKETS) if seconds <= bound), len(BUCKETS))
    _add(
        [
            (_field(name + "_bucket", {**labels, "le": str(index)}), 1),
            (_field(name + "_count", labels), 1),
            (_field(name + "_sum", labels), float(round(seconds, 6))),
        ]
    )


def reset_for_tests() -> None:
    _local.clear()
    try:
        _store().clear()
    except Exception:
        logger.debug("metrics store unavailable", exc_info=True)


# --- exposition -------------------------------------------------------------------------------


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _stored_families() -> dict[str, list[str]]:
    try:
        values = _store().read()
    except Exception:
        logger.warning("metrics store unavailable for the scrape", exc_info=True)
        values = {}
    for field, amount in _local.read().items():  # errors counted locally when the store failed
        if field not in values:
            values[field] = amount
    families: dict[str, list[str]] = defaultdict(list)
    histograms: dict[tuple[str, tuple], dict] = {}
    for field, amount in values.items():
        name, pairs = json.loads(field)
        pairs = tuple(tuple(p) for p in pairs)
        for suffix in ("_bucket", "_count", "_sum"):
            if (
                name.endswith(suffix)
                and name[: -len(suffix)] in _HELP
                and _HELP[name[: -len(suffix)]][0] == "histogram"
            ):
                base = name[: -len(suffix)]
                if suffix == "_bucket":
                    le = dict(pairs)["le"]
                    rest = tuple(p for p in pairs if p[0] != "le")
                    histograms.setdefault((base, rest), {"buckets": {}, "count": 0, "sum": 0.0})["buckets"][
                        int(le)
                    ] = amount
                else:
                    histograms.setdefault((base, pairs), {"buckets": {}, "count": 0, "sum": 0.0})[
                        suffix[1:]
                    ] = amount
                break
        else:
            families[name].append(f"{name}{_labels(pairs)} {_number(amount)}")
    for (base, pairs), h in sorted(histograms.items()):
        running = 0.0
        for i, bound in enumerate(BUCKETS):
            running += h["buckets"].get(i, 0)
            families[base].append(f"{base}_bucket{_labels((*pairs, ('le', repr(bound))))} {_number(running)}")
        running += h["buckets"].get(len(BUCKETS), 0)
        families[base].append(f"{base}_bucket{_labels((*pairs, ('le', '+Inf')))} {_number(running)}")
        families[base].append(f"{base}_count{_labels(pairs)} {_number(h['count'])}")
        families[base].append(f"{base}_sum{_labels(pairs)} {_number(h['sum'])}")
    return families


_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:")


def _hook_families() -> tuple[dict[str, list[str]], dict[str, tuple[str, str]]]:
    from okwallet.core.hooks import _implementations

    families: dict[str, list[str]] = defaultdict(list)
    meta: dict[str, tuple[str, str]] = {}
    for func in _implementations("metrics"):
        try:
            rows = list(func() or [])
        except Exception:
            logger.exception("metrics hook %s.%s failed", func.__module__, func.__name__)
            families["okw_metrics_hook_errors"].append(
                f'okw_metrics_hook_errors{{hook="{_escape(func.__module__)}"}} 1'
            )
            meta["okw_metrics_hook_errors"] = ("gauge", "Metrics hooks that failed during this scrape.")
            continue
        for name, help_text, kind, labels, value in rows:
            if not name or not set(name) <= _NAME_OK or kind not in ("gauge", "counter"):
                logger.warning("metrics hook %s returned an invalid metric %r", func.__module__, name)
                continue
            meta.setdefault(name, (kind, help_text))
            pairs = tuple(sorted((str(k), str(v)) for k, v in (labels or {}).items()))
            families[name].append(f"{name}{_labels(pairs)} {_number(float(value))}")
    return families, meta


def render() -> str:
    """The whole exposition, in Prometheus text format 0.0.4."""
    lines: list[str] = []
    stored = _stored_families()
    for name in sorted(stored):
        kind, help_text = _HELP.get(name, ("counter", ""))
        lines.append(f"# HELP {name} {_escape(help_text)}" if help_text else f"# HELP {name} ")
        lines.append(f"# TYPE {name} {kind}")
        # histogram series are already grouped with their buckets in increasing order
        lines.extend(stored[name] if kind == "histogram" else sorted(stored[name]))
    hooked, meta = _hook_families()
    for name in sorted(hooked):
        if name in stored:
            continue
        kind, help_text = meta[name]
        lines.append(f"# HELP {name} {_escape(help_text)}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(sorted(hooked[name]))
    return "\n".join(lines) + "\n"


# --- middleware --------------------------------------------------------------------------------


def _route(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "<unmatched>"
    return "/" + (match.route or match.view_name or "<unnamed>")


class ObservabilityMiddleware:
    """Times every request into the latency histogram, puts the request id into the logging
    context (so every log line and every job it enqueues carries it) and writes one access-log
    line. Place it right after ``RequestIdMiddleware``."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.access_log = getattr(settings, "OKWALLET_ACCESS_LOG", True)

    def __call__(self, request):
        token = request_id_var.set(getattr(request, "request_id", "") or "")
        started = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            return response
        finally:
            elapsed = time.perf_counter() - started
            route = _route(request)
            observe(
                REQUEST_HISTOGRAM, {"route": route, "method": request.method, "status": str(status)}, elapsed
            )
            if self.access_log:
                user = getattr(request, "user", None)
                access_logger.info(
                    "%s %s %s %.1fms",
                    request.method,
                    request.path,
                    status,
                    elapsed * 1000,
                    extra={
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "user_id": getattr(user, "pk", None)
                        if getattr(user, "is_authenticated", False)
                        else None,
                    },
                )
            request_id_var.reset(token)
