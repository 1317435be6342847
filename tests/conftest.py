"""Shared fixtures: dummy AWS credentials, moto with the template's resources, the API, personas.

Personas: alice and bob hold admin keys of two different accounts; carol holds a read-only key
in alice's account.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Api, Persona, make_persona

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def shared_botocore_models() -> Iterator[None]:
    """Every boto3 session of the run shares one botocore loader: a fresh session otherwise
    parses each service's model files again (~75 ms a client, several clients a test). A Lambda
    keeps its session and its clients, so this changes nothing that the tests look at."""
    import functools

    import botocore.loaders
    import botocore.session

    cached = functools.lru_cache(maxsize=None)(botocore.loaders.create_loader)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", cached)
        yield


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and no endpoint override: nothing here may reach real AWS."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def aws(aws_credentials: None) -> Iterator[dict[str, str]]:
    """moto, with every resource of infra/resources.json created; yields the template's outputs."""
    import boto3
    from moto import mock_aws

    from scripts.provision import provision

    with mock_aws():
        yield provision(boto3.session.Session(), stage="test")


def backend_of(request: pytest.FixtureRequest) -> str:
    """The backend a test runs on: `@pytest.mark.backend("moto")` on the test or its module,
    else $CRONHOOK_TEST_BACKEND (`moto` runs the whole suite on the AWS code path), else sqlite."""
    marker = request.node.get_closest_marker("backend")
    if marker is not None:
        return str(marker.args[0])
    return os.environ.get("CRONHOOK_TEST_BACKEND", "sqlite")


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """The app's settings on the test's backend: SQLite in a fresh home, or moto with every
    resource of the template."""
    from chalicelib.config import Settings
    from scripts.provision import environment

    common = {
        "CRONHOOK_STAGE": "test",
        "CRONHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "CRONHOOK_RATE_LIMIT_PER_S": "1000",
        "CRONHOOK_RATE_LIMIT_BURST": "1000",
    }
    if backend_of(request) == "moto":
        aws: dict[str, str] = request.getfixturevalue("aws")
        return Settings.from_env({**environment(aws), **common})
    home = tmp_path / "home"
    return Settings.from_env({**common, "CRONHOOK_BACKEND": "sqlite", "CRONHOOK_HOME": str(home)})


@pytest.fixture
def stores(settings: Any) -> Iterator[Any]:
    """The stores of the test's backend (SQLite, or DynamoDB on moto), installed as the app's."""
    from chalicelib import wiring

    wiring.configure(settings=settings)
    yield wiring.stores()
    wiring.configure()


@pytest.fixture
def api(stores: Any) -> Iterator[Api]:
    from chalice.test import Client

    from app import app

    with Client(app, project_dir=str(ROOT), stage_name="dev") as client:
        yield Api(client)


@pytest.fixture
def alice(stores: Any) -> Persona:
    return make_persona(stores, "alice", "acct-alice", ["admin"])


@pytest.fixture
def bob(stores: Any) -> Persona:
    return make_persona(stores, "bob", "acct-bob", ["admin"])


@pytest.fixture
def carol(stores: Any) -> Persona:
    return make_persona(stores, "carol", "acct-alice", ["read"])


# Modules that run for a long while in one piece (a module-scoped stack, a subprocess), longest
# first. `make test` runs two pytest workers, each taking whole modules in collection order: the
# long modules start at once, side by side with the many short ones, instead of last.
LONG_FIRST = ("test_fuzz.py", "test_bench.py", "test_dashboard_browser.py", "test_local_stack.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONG_FIRST.index(name) if name in LONG_FIRST else len(LONG_FIRST)

    items.sort(key=rank)  # stable: every module keeps its own order
