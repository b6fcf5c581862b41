import os
import time
from contextvars import Token
from pathlib import Path

from celery import Celery, Task
from celery.signals import before_task_publish, task_failure, task_postrun, task_prerun

from ecosystem import metrics
from ecosystem.middleware import bind_request_id, current_request_id, reset_request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecosystem.settings")

app = Celery("ecosystem")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _ensure_embedded_broker_folders(sender: Celery, **kwargs: object) -> None:
    # The filesystem transport needs its folders; the embedded default must start from nothing.
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


# --- Metrics and the request id (ecosystem/metrics.py, ecosystem/logs.py) -------------------
# A task published while a request is handled carries that request's id in a message header;
# the worker binds it for the run, so the task's log lines name the request that started it.
_started: dict[str, tuple[float, Token[str] | None]] = {}


@before_task_publish.connect
def _stamp_request_id(headers: dict | None = None, **kwargs: object) -> None:
    request_id = current_request_id()
    if headers is not None and request_id != "-" and "request_id" not in headers:
        headers["request_id"] = request_id


@task_prerun.connect
def _task_started(task_id: str, task: Task, **kwargs: object) -> None:
    request_id = getattr(task.request, "request_id", None)
    token = bind_request_id(request_id) if isinstance(request_id, str) else None
    _started[task_id] = (time.perf_counter(), token)


@task_postrun.connect
def _task_finished(task_id: str, task: Task, state: str | None = None, **kwargs: object) -> None:
    started, token = _started.pop(task_id, (None, None))
    if started is not None:
        metrics.celery_task_duration.labels(task=task.name, state=state or "UNKNOWN").observe(
            time.perf_counter() - started
        )
    if token is not None:
        reset_request_id(token)


@task_failure.connect
def _task_failed(sender: Task | None = None, **kwargs: object) -> None:
    metrics.celery_task_failures.labels(task=getattr(sender, "name", "unknown")).inc()
