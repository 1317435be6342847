"""What tests/test_client.py and tests/test_cli.py share: one local stack (`python -m
scripts.local`, a real process on free loopback ports with its own CRONHOOK_HOME), keys of
accounts of their own, and a loopback target for runs.

The `stack` and `target` fixtures live here rather than in a conftest.py: tests/test_local_stack.py
has a `stack` fixture of its own. A test module imports them (`stack_fixture`, `target_fixture`:
pytest finds a fixture by its `name`, and a test's `stack` argument does not shadow the import)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.test_local_stack import ROOT, Stack, free_port

__all__ = [
    "Stack",
    "account_key",
    "admin_key",
    "free_port",
    "stack_fixture",
    "start_stack",
    "target_fixture",
]


def start_stack(home: Path) -> Stack:
    stack = Stack(home=home, api_port=free_port(), aws_port=free_port())
    stack.start()
    return stack


@pytest.fixture(scope="module", name="stack")
def stack_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The local stack, started once per test module that uses it."""
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    running.kill()


@pytest.fixture(scope="module", name="target")
def target_fixture() -> Iterator[HTTPServer]:
    """A loopback server whose /hook answers 200 "ok" and records what each run sent."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request("/hook").respond_with_data("ok")
    server.start()
    yield server
    server.clear()
    server.stop()


def admin_key(stack: Stack) -> str:
    return (stack.home / "admin-key").read_text().strip()


def account_key(stack: Stack, account: str) -> str:
    """An admin key of an account of its own (what one test does, no other test sees)."""
    made = subprocess.run(
        [sys.executable, "-m", "scripts.admin", "--local", "create-key", "--account", account],
        cwd=ROOT,
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return str(json.loads(made.stdout)["key"])
