"""`chalice local` takes every HTTP method, as API Gateway and the app do.

Python's HTTP server answers a verb its handler has no `do_` method for (TRACE, PROPFIND, any
made-up token) with a 501 HTML page of its own. With `answer_every_method()` every verb reaches
the local gateway: on a route the app has, the app answers 405 with `Allow` in the error shape
(app.py); on a path it lacks, the gateway's "no such route" 404 (scripts.local).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def answer_every_method() -> None:
    """Route every method chalice local's request handler meets to its one generic handler."""
    from chalice.local import ChaliceRequestHandler

    if getattr(ChaliceRequestHandler, "every_method", False):
        return

    def any_verb(self: Any, name: str) -> Callable[[], None]:
        # Called only for attributes the handler lacks: do_GET and the others it has stay.
        if name.startswith("do_"):
            handler: Callable[[], None] = self._generic_handle
            return handler
        raise AttributeError(name)

    ChaliceRequestHandler.__getattr__ = any_verb
    ChaliceRequestHandler.every_method = True
