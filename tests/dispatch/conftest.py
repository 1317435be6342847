"""Fixtures of the dispatcher's tests: `world` (tests/dispatch/support.py) and `target`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from chalicelib.config import Settings
from chalicelib.dispatch import Dispatcher
from chalicelib.notify import Notifier
from chalicelib.service import Service
from chalicelib.store.blobs import MemoryBlobs
from chalicelib.store.memory import memory_stores
from chalicelib.store.queue import MemoryQueue
from tests.dispatch.support import T0, Clock, World


@pytest.fixture
def world() -> World:
    settings = Settings(
        allow_private_targets=True,
        disable_after_failures=4,
        inline_max=50,
        inline_wait_s=125,  # small batches wait in the tick, however far ahead (see below)
        default_request_timeout=5,
    )
    stores = memory_stores()
    clock = Clock(T0 + 30)
    queue, blobs = MemoryQueue(), MemoryBlobs()
    notifier = Notifier(stores, settings, clock=clock)
    dispatcher = Dispatcher(
        stores, settings, queue, blobs, notifier, clock=clock, sleep=clock.sleep
    )
    service = Service(stores, settings, clock=clock)
    return World(stores, settings, queue, blobs, clock, dispatcher, service)


@pytest.fixture
def target(httpserver: HTTPServer) -> Iterator[HTTPServer]:
    yield httpserver
    httpserver.clear()
