"""A method a route does not take is a 405 in the error shape with an `Allow` header: in the app,
through `chalice local` (any verb, TRACE included) and in the deployed API's definition."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Api, Persona, body, new_job

ROOT = Path(__file__).resolve().parent.parent


def test_it_answers_a_wrong_method_with_405_in_the_error_shape(api: Api, alice: Persona) -> None:
    response = api.patch("/jobs", alice, new_job())
    assert response.status_code == 405
    assert body(response) == {
        "error": {
            "code": "method_not_allowed",
            "message": "PATCH is not allowed here; use GET, POST, PUT",
        }
    }


def test_it_lists_the_methods_a_route_takes_in_the_allow_header(api: Api, alice: Persona) -> None:
    response = api.call("PUT", "/jobs/1/run", alice)
    assert response.status_code == 405 and response.headers["Allow"] == "POST"


def test_it_writes_nothing_on_a_wrong_method(api: Api, alice: Persona) -> None:
    api.post("/folders/1", alice, {"folder": {"title": "x"}})
    assert body(api.get("/folders", alice))["folders"] == []


@pytest.fixture
def local(stores: Any) -> Iterator[HTTPConnection]:
    """The app behind `chalice local`'s request handling, set up as `make run` sets it up."""
    from chalice.cli.factory import CLIFactory
    from chalice.local import LocalDevServer

    from app import app
    from scripts.local import _answer_unknown_routes_with_404
    from scripts.local_methods import answer_every_method

    _answer_unknown_routes_with_404()
    answer_every_method()
    config = CLIFactory(project_dir=str(ROOT)).create_config_obj(chalice_stage_name="dev")
    server = LocalDevServer(app, config, "127.0.0.1", 0)
    thread = threading.Thread(target=server.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    connection = HTTPConnection("127.0.0.1", server.server.server_address[1], timeout=10)
    try:
        yield connection
    finally:
        connection.close()
        server.server.shutdown()
        server.server.server_close()


def _send(connection: HTTPConnection, method: str, path: str) -> tuple[int, Any, Any]:
    connection.request(method, path)
    response = connection.getresponse()
    return response.status, response.headers, json.loads(response.read() or b"null")


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "BREW"])
def test_it_answers_any_verb_on_a_route_with_405_through_chalice_local(
    local: HTTPConnection, method: str
) -> None:
    status, headers, answer = _send(local, method, "/jobs")
    assert status == 405 and headers["Allow"] == "GET, POST, PUT"
    assert headers["Content-Type"] == "application/json"
    assert answer["error"]["code"] == "method_not_allowed"


def test_it_answers_a_wrong_method_with_405_through_chalice_local(local: HTTPConnection) -> None:
    status, headers, answer = _send(local, "DELETE", "/health")
    assert status == 405 and headers["Allow"] == "GET"
    assert answer == {
        "error": {"code": "method_not_allowed", "message": "DELETE is not allowed here; use GET"}
    }


def test_it_answers_any_verb_on_a_path_it_lacks_with_404_through_chalice_local(
    local: HTTPConnection,
) -> None:
    status, _, answer = _send(local, "TRACE", "/no-such-path")
    assert status == 404 and answer["error"]["code"] == "not_found"


def _deployed_paths() -> dict[str, Any]:
    from chalice.deploy.swagger import CFNSwaggerGenerator

    from app import app
    from scripts.package import method_not_allowed

    paths: dict[str, Any] = CFNSwaggerGenerator().generate_swagger(app)["paths"]
    for path, methods in method_not_allowed(paths).items():
        paths[path] = {**paths[path], **methods}
    return paths


def test_the_deployed_api_answers_every_method_a_route_lacks_with_405() -> None:
    for path, methods in _deployed_paths().items():
        kinds = {m: op["x-amazon-apigateway-integration"] for m, op in methods.items()}
        assert set(kinds) == {"get", "post", "put", "patch", "delete", "head", "options"}, path
        for method, integration in kinds.items():
            if integration["type"] == "mock":
                assert integration["responses"]["default"]["statusCode"] == "405", (path, method)


def test_the_deployed_405_names_the_allowed_methods_in_the_error_shape() -> None:
    integration = _deployed_paths()["/jobs/{jobId}"]["put"]["x-amazon-apigateway-integration"]
    answer = integration["responses"]["default"]
    assert answer["responseParameters"] == {"method.response.header.Allow": "'DELETE, GET, PATCH'"}
    (template,) = answer["responseTemplates"].values()
    assert json.loads(template) == {
        "error": {
            "code": "method_not_allowed",
            "message": "$context.httpMethod is not allowed here; use DELETE, GET, PATCH",
        }
    }
