"""A published cron-job.org client (pycronorg 0.0.10, requirements-compat.txt) against `make run`.

pycronorg sends its schedule as `scheldule`, a field cron-job.org does not know and ignores:
cronhook ignores it too and says so (X-Cronhook-Ignored-Fields, and the log). Its JobsApi has no
base-URL argument (`base_path` builds nothing): the host is the class's `_DEFAULT_BASE_HOST`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer

from tests.test_local_stack import Stack, free_port

pycronorg_jobs = pytest.importorskip("pycronorg.sync.jobs")
schemas = pytest.importorskip("pycronorg.schemas")
# pycronorg calls pydantic 1's .dict(), which pydantic 2 still has, deprecated.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycronorg.*")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("pycronorg") / "cronhook-home"
    home.mkdir()
    running = Stack(home=home, api_port=free_port(), aws_port=free_port())
    running.start()
    yield running
    running.kill()


def admin_key(stack: Stack) -> str:
    return (stack.home / "admin-key").read_text().strip()


def client(stack: Stack) -> Any:
    """pycronorg's JobsApi aimed at the stack (its own dict of headers: the class default is
    shared, and pycronorg writes the Authorization header into it)."""
    local = type("LocalJobsApi", (pycronorg_jobs.JobsApi,), {"_DEFAULT_BASE_HOST": stack.url})
    return local(admin_key(stack), headers={"Content-Type": "application/json"})


def new_job(url: str, title: str) -> Any:
    # As pycronorg's README builds one: its schedule model, sent as "scheldule".
    return schemas.JobDetailCreate(
        url=url, title=title, scheldule=schemas.Scheldule(hours=[3], minutes=[0])
    )


def test_it_takes_a_job_with_pycronorgs_misspelt_schedule_and_names_it(stack: Stack) -> None:
    job = new_job("http://127.0.0.1:9/hook", "named")
    sent = {"job": {**job.model_dump(exclude_unset=True), "enabled": True}}
    response = requests.put(
        f"{stack.url}/jobs",
        json=sent,
        headers={"Authorization": f"Bearer {admin_key(stack)}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.headers["X-Cronhook-Ignored-Fields"] == "scheldule"
    job_id = response.json()["jobId"]
    assert f"job {job_id} created by key" in stack.log.read_text()
    strict = requests.put(
        f"{stack.url}/jobs?strict=true",
        json=sent,
        headers={"Authorization": f"Bearer {admin_key(stack)}"},
        timeout=10,
    )
    assert strict.status_code == 400 and strict.json()["error"]["field"] == "scheldule"


def test_it_serves_pycronorg_from_create_to_delete(stack: Stack, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("done")
    api = client(stack)

    created = api.create(new_job(httpserver.url_for("/hook"), "pycronorg"))
    job_id = created.jobId
    assert isinstance(job_id, int)

    listed = api.all()
    assert [(j.jobId, j.title, j.enabled) for j in listed.jobs if j.jobId == job_id] == [
        (job_id, "pycronorg", True)
    ]
    assert listed.someFailed is False

    got = api.get(job_id).jobDetails
    assert (got.jobId, got.url, got.scheldule) == (job_id, httpserver.url_for("/hook"), None)

    api.update(schemas.JobDetailUpdate(jobId=job_id, title="renamed"))
    assert api.get(job_id).jobDetails.title == "renamed"

    # A run to read back: cronhook's run-now (pycronorg has no call for it).
    ran = requests.post(
        f"{stack.url}/jobs/{job_id}/run",
        headers={"Authorization": f"Bearer {admin_key(stack)}"},
        timeout=10,
    )
    assert ran.status_code == 202, ran.text
    deadline = time.monotonic() + 20
    history = api.retrive_history(job_id)
    while not (history.history and history.history[0].httpStatus == 200):
        assert time.monotonic() < deadline, history
        time.sleep(0.2)
        history = api.retrive_history(job_id)
    (item,) = history.history
    assert (item.jobId, item.url, item.status) == (job_id, httpserver.url_for("/hook"), 1)

    one = api.retrive_history_item(job_id, item.identifier).jobHistoryDetails
    assert (one.identifier, one.httpStatus, one.jobLogId) == (item.identifier, 200, item.jobLogId)
    assert len(httpserver.log) == 1

    api.delete(job_id)
    with pytest.raises(Exception, match=r"^\[404\]"):
        api.get(job_id)
