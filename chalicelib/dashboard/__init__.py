"""The dashboard's static files (index.html, app.js, app.css), read once and kept in memory.

They ship in the Lambda package because they live under chalicelib/. The page holds no secret and
needs no key to load: it signs in client-side, with a key the user pastes or the session token
that `POST /sessions` gives for a user name and password.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_DIR = Path(__file__).resolve().parent

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

_PAGE = "index.html"
_ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}


@dataclass(frozen=True)
class StaticFile:
    """A file's text, its content type and a strong ETag of its bytes."""

    text: str
    content_type: str
    etag: str


@cache
def _load(name: str, content_type: str) -> StaticFile:
    data = (_DIR / name).read_bytes()
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    return StaticFile(data.decode("utf-8"), content_type, etag)


def page() -> StaticFile:
    """The single page, served at `/`."""
    return _load(_PAGE, "text/html; charset=utf-8")


def asset(name: str) -> StaticFile | None:
    """A script or stylesheet by file name; None for any name not shipped (no paths)."""
    content_type = _ASSETS.get(name)
    return None if content_type is None else _load(name, content_type)


def serve(name: str | None, if_none_match: str | None) -> tuple[int, str, dict[str, str]] | None:
    """(status, body, headers) for the page (`name` None) or an asset; None if there is no such
    asset. A client holding the current version (its ETag in If-None-Match) gets 304."""
    found = page() if name is None else asset(name)
    if found is None:
        return None
    headers = {
        "Content-Type": found.content_type,
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # Revalidate every time: a deploy must never pair a new page with an old script.
        "Cache-Control": "no-cache",
        "ETag": found.etag,
    }
    if if_none_match and found.etag in [tag.strip() for tag in if_none_match.split(",")]:
        return 304, "", headers
    return 200, found.text, headers
