"""cron-job.org's documented REST examples, replayed with only the host and the key changed.

Request bodies are copied from the reference (shared/reference/cron-job-org-rest-api.rst); the
response examples are compared by shape: every documented key is present with the same JSON type.
"""

from __future__ import annotations

import json
from typing import Any

from tests.helpers import Api, Persona, body

CREATE = (
    '{"job":{"url":"https://example.com","enabled":true,"saveResponses":true,"schedule":'
    '{"timezone":"Europe/Berlin","expiresAt":0,"hours":[-1],"mdays":[-1],"minutes":[-1],'
    '"months":[-1],"wdays":[-1]}}}'
)
UPDATE = '{"job":{"enabled":true}}'

LIST_EXAMPLE = {
    "jobs": [
        {
            "jobId": 12345,
            "enabled": True,
            "title": "Example Job",
            "saveResponses": False,
            "url": "https://example.com/",
            "lastStatus": 0,
            "lastDuration": 0,
            "lastExecution": 0,
            "nextExecution": 1640187240,
            "type": 0,
            "requestTimeout": 300,
            "redirectSuccess": False,
            "folderId": 0,
            "schedule": {
                "timezone": "Europe/Berlin",
                "expiresAt": 0,
                "hours": [-1],
                "mdays": [-1],
                "minutes": [0, 15, 30, 45],
                "months": [-1],
                "wdays": [-1],
            },
            "requestMethod": 0,
        }
    ],
    "someFailed": False,
}

DETAILS_EXAMPLE = {
    "jobDetails": {
        **LIST_EXAMPLE["jobs"][0],  # type: ignore[index]
        "auth": {"enable": False, "user": "", "password": ""},
        "notification": {
            "onFailure": False,
            "onFailureCount": 1,
            "onSuccess": False,
            "onDisable": False,
            "onSslCertExpiry": True,
            "onSslCertExpirySeconds": 604800,
        },
        # headers is a free-form dictionary: its shape is an object, whatever its keys
        "extendedData": {"headers": {}, "body": "Hello World!"},
    }
}


def same_shape(example: Any, actual: Any, path: str = "$") -> None:
    """Every key of the example exists in `actual` with the same JSON type (recursively)."""
    if isinstance(example, dict):
        assert isinstance(actual, dict), path
        for key, value in example.items():
            assert key in actual, f"{path}.{key} missing"
            same_shape(value, actual[key], f"{path}.{key}")
    elif isinstance(example, list):
        assert isinstance(actual, list), path
        for item in actual:
            same_shape(example[0], item, f"{path}[]")
    elif isinstance(example, bool):
        assert isinstance(actual, bool), path
    elif isinstance(example, int):
        assert isinstance(actual, int) and not isinstance(actual, bool), path
    else:
        assert isinstance(actual, type(example)), path


def test_it_replays_create_list_get_update_delete(api: Api, alice: Persona) -> None:
    created = api.put("/jobs", alice, raw=CREATE)
    assert created.status_code == 200
    job_id = body(created)["jobId"]
    assert isinstance(job_id, int)

    listing = api.get("/jobs", alice)
    assert listing.status_code == 200
    same_shape(LIST_EXAMPLE, body(listing))

    got = api.get(f"/jobs/{job_id}", alice)
    assert got.status_code == 200
    same_shape(DETAILS_EXAMPLE, body(got))
    job = body(got)["jobDetails"]
    assert job["url"] == "https://example.com" and job["saveResponses"] is True
    assert job["schedule"]["minutes"] == [-1] and job["schedule"]["timezone"] == "Europe/Berlin"

    patched = api.patch(f"/jobs/{job_id}", alice, raw=UPDATE)
    assert patched.status_code == 200 and body(patched) == {}

    deleted = api.delete(f"/jobs/{job_id}", alice)
    assert deleted.status_code == 200 and body(deleted) == {}
    assert body(api.get("/jobs", alice))["jobs"] == []


def test_it_accepts_a_job_read_back_from_details(api: Api, alice: Persona) -> None:
    """Clients often GET a job, change a field and PUT the whole object: read-only keys pass."""
    job_id = body(api.put("/jobs", alice, raw=CREATE))["jobId"]
    job = body(api.get(f"/jobs/{job_id}", alice))["jobDetails"]
    job["title"] = "copy"
    response = api.put("/jobs", alice, raw=json.dumps({"job": job}))
    assert response.status_code == 200, response.body
    assert body(response)["jobId"] != job_id
