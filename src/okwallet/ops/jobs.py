"""Carries the request id into the Huey jobs a request enqueues, and counts job outcomes.

On enqueue the task id is prefixed with the current request id (``<request_id>~<uuid>``), so it
travels inside the serialised task through Redis or SQLite to whichever worker runs it; before
execution the worker puts it back into the logging context (``okwallet.core.logs``), so the
job's log lines carry the request id of the request that caused them. A job that no request
enqueued (periodic ones) gets ``job-<id>``.
"""

from __future__ import annotations

import logging
import re
import time

from huey import signals as S

from okwallet.core import metrics
from okwallet.core.logs import job_var, request_id_var

logger = logging.getLogger("okwallet.jobs")
SEP = "~"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_state: dict[str, tuple] = {}
_connected = False


def request_id_of(task_id: str) -> str:
    head, sep, _rest = task_id.partition(SEP)
    return head if sep else ""


def _on_enqueued(signal, task, *args, **kwargs):
    rid = request_id_var.get()
    if rid and SEP not in task.id:
        task.id = f"{_UNSAFE.sub('', rid)[:64]}{SEP}{task.id}"
        task.revoke_id = f"r:{task.id}"


def _pre_execute(task):
    rid = request_id_of(task.id) or f"job-{task.id[:12]}"
    tokens = (request_id_var.set(rid), job_var.set(task.name), time.perf_counter())
    _state[task.id] = tokens


def _post_execute(task, task_value, exc):
    held = _state.pop(task.id, None)
    result = "complete" if exc is None else ("retry" if task.retries else "error")
    metrics.counter_inc("okw_jobs_total", {"task": task.name, "result": result})
    if held is not None:
        rid_token, job_token, started = held
        logger.info(
            "job %s %s in %.1fms",
            task.name,
            result,
            (time.perf_counter() - started) * 1000,
            extra={"task_id": task.id, "result": result},
        )
        try:
            job_var.reset(job_token)
            request_id_var.reset(rid_token)
        except ValueError:  # finished in another context than it started in
            pass


def _on_expired(signal, task, *args, **kwargs):
    metrics.counter_inc("okw_jobs_total", {"task": task.name, "result": signal})


def connect() -> None:
    global _connected
    if _connected:
        return
    from huey.contrib.djhuey import HUEY

    HUEY.signal(S.SIGNAL_ENQUEUED)(_on_enqueued)
    HUEY.signal(S.SIGNAL_EXPIRED, S.SIGNAL_REVOKED)(_on_expired)
    HUEY.pre_execute(name="okwallet_request_id")(_pre_execute)
    HUEY.post_execute(name="okwallet_request_id")(_post_execute)
    _connected = True
