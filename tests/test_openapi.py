"""/openapi.json describes exactly the routes the app serves, and takes what the API takes."""

from __future__ import annotations

from typing import Any

import pytest

from app import app
from chalicelib import jobs
from chalicelib.openapi import document
from tests.helpers import Api, Persona, body


def test_it_documents_every_route_and_no_other() -> None:
    served = {(path, method.lower()) for path, methods in app.routes.items() for method in methods}
    documented = {(path, method) for path, ops in document()["paths"].items() for method in ops}
    assert documented == served


def test_it_serves_a_valid_openapi_31_document(api: Api) -> None:
    from openapi_spec_validator import validate

    response = api.get("/openapi.json")
    assert response.status_code == 200
    spec = body(response)
    assert spec["openapi"] == "3.1.0"
    validate(spec)


def test_it_documents_every_job_field_the_api_takes() -> None:
    job = document()["components"]["schemas"]["JobInput"]
    assert set(job["properties"]) == set(jobs.DEFAULTS) | jobs.READ_ONLY
    # cron-job.org ignores a field it does not know, and so do these routes (strict: a 400).
    assert "additionalProperties" not in job and job["required"] == ["url"]


def _allows(schema: str, value: Any) -> bool:
    """What the document says of `value`, read as schemathesis reads it (ECMA 262 patterns)."""
    import jsonschema_rs

    root = {"$ref": f"#/components/schemas/{schema}", "components": document()["components"]}
    return bool(jsonschema_rs.validator_for(root, validate_formats=True).is_valid(value))


@pytest.mark.parametrize(
    ("fields", "taken"),
    [
        ({"requestTimeout": -1}, True),
        ({"requestTimeout": 0}, False),
        ({"url": "http://[2001:db8::1]:8080/x"}, True),
        ({"url": "https://bücher.example/"}, False),
        ({"url": "https://example.com:0/"}, False),
        ({"auth": {"enable": True}}, False),
        ({"auth": {"enable": True, "user": "u"}}, True),
        ({"requestMethod": "patch"}, True),
        ({"historyStrategy": "full"}, True),
        ({"successCodes": [204, "200-204"]}, True),
        ({"successCodes": ["300-200"]}, False),
        ({"errorMatch": "^fail(ed|ure)$"}, True),
        ({"errorMatch": "{error}"}, False),
        ({"extendedData": {"headers": {"X-Token": "t"}}}, True),
        ({"extendedData": {"headers": {"connection": "close"}}}, False),
        ({"schedule": {"cron": "*/15 9-17 * * MON-FRI", "timezone": "Europe/Berlin"}}, True),
        ({"schedule": {"cron": "0 0 12 ? * 2-6 2030"}}, True),
        ({"schedule": {"cron": "0 9 * * 5-1"}}, False),
        ({"schedule": {"cron": "0 3 * * *", "hours": [-1]}}, False),
        ({"schedule": {"timing": {"hours": [3]}, "timezone": "Mars/Base"}}, False),
        ({"schedule": {"at": "2031-01-01T00:00:00Z"}}, True),
        ({"schedule": {"at": "2031-01-01T00:00:00"}}, False),
        (
            {"schedule": {k: [-1] for k in ("hours", "mdays", "minutes", "months", "wdays")}},
            True,
        ),
        ({"schedule": {"hours": [3], "minutes": [0]}}, False),
        ({"schedule": None}, True),
        ({"jobId": "ignored"}, True),
        ({"scheldule": {"minutes": [0]}}, True),  # unknown: ignored, as cron-job.org does
        ({"auth": {"enable": False, "token": "t"}}, True),
        ({"schedule": {"cron": "0 3 * * *", "every": "day"}}, True),
        ({"schedule": {"timing": {"hours": [3], "seconds": [0]}}}, False),  # cronhook's own
    ],
)
def test_it_allows_in_its_document_what_the_api_takes(
    api: Api, alice: Persona, fields: dict[str, Any], taken: bool
) -> None:
    job = {"url": "https://example.com/", **fields}
    response = api.put("/jobs", alice, {"job": job})
    assert (response.status_code == 200) is taken, response.body
    assert _allows("JobInput", job) is taken


_LISTS = {"hours": [3], "mdays": [-1], "minutes": [0, 30], "months": [-1], "wdays": [-1]}


@pytest.mark.parametrize(
    ("delta", "taken", "documented"),
    [
        ({"title": "renamed"}, True, True),
        ({"url": "ftp://example.com/"}, False, False),
        ({"schedule": {"hours": [4]}}, True, True),
        ({"schedule": {"hours": [24]}}, False, False),
        ({"schedule": {"hours": []}}, False, True),  # five empty lists or none: the job decides
        ({"schedule": {"timezone": "Asia/Tokyo"}}, True, True),
        ({"schedule": {"timezone": "Mars/Base"}}, False, False),
        ({"schedule": {"expiresAt": 0}}, True, True),
        ({"schedule": {"cron": "0 3 * * *"}}, True, True),
        ({"schedule": {"cron": "0 3 * * *", "hours": [4]}}, False, False),
        ({"schedule": {"at": "2031-01-01T00:00:00Z"}}, True, True),
        ({"schedule": {"surprise": 1}}, True, True),  # ignored, as cron-job.org does
        ({"schedule": {"cron": "0 3 * * *", "every": "day"}}, True, True),
        ({"scheldule": {"hours": [4]}, "title": "x"}, True, True),
        ({"schedule": None}, True, True),
    ],
)
def test_it_documents_what_a_patch_may_send(
    api: Api,
    alice: Persona,
    delta: dict[str, Any],
    taken: bool,
    documented: bool,
) -> None:
    job = {"url": "https://example.com/", "schedule": {**_LISTS, "timezone": "UTC"}}
    job_id = body(api.put("/jobs", alice, {"job": job}))["jobId"]
    response = api.patch(f"/jobs/{job_id}", alice, {"job": delta})
    assert (response.status_code == 200) is taken, response.body
    assert _allows("JobDelta", delta) is documented
    assert documented or not taken  # what the document forbids, the API refuses


@pytest.mark.parametrize(
    ("schema", "value", "taken"),
    [
        ("FolderInput", {"title": "ops"}, True),
        ("FolderInput", {"title": " \u3000"}, False),
        ("FolderInput", {"title": ""}, False),
        ("KeyInput", {"scopes": []}, False),
        ("KeyInput", {"scopes": ["read", "read"], "ipAllowlist": ["10.0.0.0/8", "::1"]}, True),
        ("KeyInput", {"rateLimit": 0}, False),
        ("KeyInput", {"rateLimit": 0.5, "rateLimitBurst": None}, True),
    ],
)
def test_it_allows_folders_and_keys_the_api_takes(
    api: Api, alice: Persona, schema: str, value: dict[str, Any], taken: bool
) -> None:
    if schema == "FolderInput":
        response = api.put("/folders", alice, {"folder": value})
    else:
        response = api.post("/keys", alice, value)
    assert (response.status_code < 300) is taken, response.body
    assert _allows(schema, value) is taken
