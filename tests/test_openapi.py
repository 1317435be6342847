"""/openapi.json describes exactly the routes the app serves."""

from __future__ import annotations

from app import app
from chalicelib.openapi import document
from tests.helpers import Api, body


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
