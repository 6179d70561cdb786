"""Start-up work a process must finish before the load balancer sends it customers.

A freshly started app process loads jieba's dictionary, OpenCC, pypinyin and the help-centre index
on first use (seconds on a busy machine). Apps register that work here (``warming("kb")`` around
it, usually in a background thread started from ``AppConfig.ready``); ``/readyz`` answers 503
``warming`` until it is done, and ``scripts/lb.py`` only routes to backends whose ``/readyz`` is 200.
A warm-up that fails is logged and counted as done: a process that cannot warm still serves
(slowly), it is not kept out of rotation for ever.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from contextlib import contextmanager

log = logging.getLogger(__name__)

_lock = threading.Lock()
_pending: dict[str, float] = {}
_freeze_when_warm = False


def begin(name: str) -> None:
    with _lock:
        _pending[name] = time.monotonic()


def done(name: str) -> None:
    with _lock:
        started = _pending.pop(name, None)
        warm = not _pending
    if started is not None:
        log.info("warm-up %s done in %.1f s", name, time.monotonic() - started)
    if warm and _freeze_when_warm:
        _freeze_heap()


def freeze_heap_when_warm() -> None:
    """Once start-up work is done, move everything alive into the garbage collector's permanent
    generation (``gc.freeze``): an app process holds ~350,000 tracked objects after start-up (Django,
    the URL and template machinery, jieba), and every full collection walked them all — 110 ms
    pauses that were the tail of the hotline webhooks' latency. Frozen objects are never scanned;
    what requests allocate afterwards is collected as usual."""
    global _freeze_when_warm
    with _lock:
        _freeze_when_warm = True
        warm = not _pending
    if warm:
        _freeze_heap()


def _freeze_heap() -> None:
    gc.collect()
    gc.freeze()
    log.info("heap frozen after start-up: %d objects in the permanent generation", gc.get_freeze_count())
    _tune_collector()


# Collector thresholds once warm (CPython's default is 700, 10, 10). A process holding thousands
# of sockets has ~200 tracked objects per socket that live as long as the socket, so a full
# collection walks ~1M objects: 0.2-0.5 s with the whole process stopped (the tail of chat
# delivery at 5,000 sockets, docs/chat.md "Connections"). CPython runs a full collection whenever
# the objects promoted since the last one pass 25 % of the old generation, and in steady state
# what gets promoted is whatever happens to be in flight when a collection runs: collecting the
# young generation every 10,000 net allocations instead of every 700 promotes far less, so full
# collections come minutes apart instead of seconds. The middle generation is collected every 2nd
# young collection (not every 10th), so it never holds more than ~20,000 objects: after a connect
# burst a threshold of 10 left 200,000 there and one middle collection took 261 ms.
# Model (1M long-lived objects, cyclic garbage in flight, 3M allocations): 7 full collections at
# the default, 1 with these; worst young/middle pause 1.4 / 3.3 ms.
GC_THRESHOLD_DEFAULT = (10_000, 2, 10)


def _tune_collector() -> None:
    raw = os.environ.get("OKWALLET_GC_THRESHOLD", "")
    try:
        threshold = tuple(int(x) for x in raw.split(",")) if raw.strip() else GC_THRESHOLD_DEFAULT
    except ValueError:
        log.warning("OKWALLET_GC_THRESHOLD=%r is not three integers; keeping %s", raw, gc.get_threshold())
        return
    if len(threshold) != 3 or threshold[0] <= 0:
        log.warning("OKWALLET_GC_THRESHOLD=%r is not three positive integers; ignored", raw)
        return
    gc.set_threshold(*threshold)


def pending() -> list[str]:
    with _lock:
        return sorted(_pending)


@contextmanager
def warming(name: str):
    begin(name)
    try:
        yield
    except Exception:
        log.exception("warm-up %s failed; serving without it", name)
    finally:
        done(name)


def in_background(name: str, work) -> threading.Thread:
    """Mark ``name`` pending now and run ``work`` in a daemon thread."""
    begin(name)

    def run():
        with warming(name):
            work()

    thread = threading.Thread(target=run, name=f"warm-up-{name}", daemon=True)
    thread.start()
    return thread
