"""A request's id follows it into the jobs it enqueues, also when another process runs them."""

import contextvars
import logging

from huey.contrib.djhuey import HUEY

from okwallet.core.logs import job_var, request_id_var
from okwallet.ops.jobs import request_id_of

seen: list[tuple[str, str]] = []


@HUEY.task(name="okw_test_log_job")
def log_job(text):
    logging.getLogger("okwallet.test.job").info("job says %s", text)
    seen.append((request_id_var.get(), job_var.get()))


def test_a_job_enqueued_by_a_request_logs_with_that_request_id(caplog):
    seen.clear()
    token = request_id_var.set("req-abc")
    try:
        with caplog.at_level(logging.INFO, logger="okwallet.test.job"):
            log_job("hello 13800138000")
    finally:
        request_id_var.reset(token)
    assert seen == [("req-abc", "okw_test_log_job")]
    record = next(r for r in caplog.records if r.name == "okwallet.test.job")
    assert record.request_id == "req-abc" and record.job == "okw_test_log_job"
    assert "13800138000" not in record.getMessage()
    assert request_id_var.get() == ""  # restored after the job


def test_the_request_id_travels_inside_the_serialised_task_to_another_worker():
    seen.clear()
    HUEY.immediate = False
    try:
        token = request_id_var.set("req-xyz")
        try:
            log_job("queued")
        finally:
            request_id_var.reset(token)
        data = HUEY.storage.dequeue()
    finally:
        HUEY.immediate = True
    task = HUEY.deserialize_task(data)
    assert request_id_of(task.id) == "req-xyz"
    # a worker thread in another process starts with an empty context
    contextvars.Context().run(HUEY.execute, task)
    assert seen == [("req-xyz", "okw_test_log_job")]


def test_periodic_and_other_unrequested_jobs_get_their_own_id():
    seen.clear()
    log_job("no request")
    assert seen[0][0].startswith("job-")


def test_a_real_request_id_header_reaches_the_logs(client, caplog, db):
    with caplog.at_level(logging.INFO, logger="okwallet.access"):
        response = client.get("/api/v1/contact", HTTP_X_REQUEST_ID="edge-123")
    assert response["X-Request-ID"] == "edge-123"
    record = next(r for r in caplog.records if r.name == "okwallet.access")
    assert record.request_id == "edge-123" and record.route == "/api/v1/contact" and record.status == 200
