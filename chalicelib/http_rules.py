"""What a job's HTTP call means, as cron-job.org defines it: pure rules, no I/O.

How a job becomes its first request (URL checks, variables, headers, Basic auth), how a redirect
changes it, whether a response is a success (status codes, body patterns, maxDuration) and how
long Retry-After asks to wait. A rule that refuses raises `Failure` with a JobStatus and a reason;
`chalicelib.executor` runs the call and re-exports the public names.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

if TYPE_CHECKING:
    from chalicelib.executor import Request

# cron-job.org's JobStatus values.
STATUS_OK = 1
STATUS_DNS_ERROR = 2
STATUS_CONNECT_ERROR = 3
STATUS_HTTP_ERROR = 4
STATUS_TIMEOUT = 5
STATUS_TOO_MUCH_DATA = 6
STATUS_INVALID_URL = 7
STATUS_INTERNAL_ERROR = 8
STATUS_UNKNOWN = 9

METHODS = frozenset(
    {"GET", "POST", "OPTIONS", "HEAD", "PUT", "DELETE", "TRACE", "CONNECT", "PATCH"}
)

# Time budget of one successMatch / errorMatch search (see _search).
MATCH_SECONDS = 0.25

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOST_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_.])?\Z")
# Framing and routing are ours: a job's Host, Content-Length or Transfer-Encoding is not sent.
_DROPPED_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})
_SIGNATURE_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature"})


class Failure(Exception):
    """The call's outcome when it cannot succeed: JobStatus, finer reason, message."""

    def __init__(self, status: int, reason: str, text: str) -> None:
        super().__init__(text)
        self.status, self.reason, self.text = status, reason, text


# ----------------------------------------------------------------------------- the request


@dataclass
class Hop:
    """One request of a call: the job's request, or where a redirect sent it."""

    method: str
    url: str  # without user info or fragment: safe to report
    scheme: str
    host: str  # ASCII, lower case, IPv6 without brackets
    port: int
    target: str  # path and query
    headers: dict[str, str]
    body: bytes | None
    authorization: str | None  # sent to the first origin only

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def first_hop(request: Request, user_agent: str, now: float) -> Hop:
    """The job's request with variables replaced (`now` is the run's start), or fail (7 or 8)."""
    method = request.method.upper()
    if method not in METHODS:
        raise Failure(STATUS_INTERNAL_ERROR, "invalid_method", f"Unsupported method {method!r}")
    substitute = _Variables(request, now).substitute
    url = substitute(request.url.strip())
    scheme, host, port, target, clean_url, userinfo = _parse_url(url)
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        value = substitute(value)
        if not _TOKEN.match(name) or _has_line_break(value):
            # The value is not quoted: it may hold a token.
            raise Failure(
                STATUS_INTERNAL_ERROR,
                "invalid_header",
                f"Header {name!r} has a line break or an invalid name; it was not sent",
            )
        lower = name.lower()
        if lower not in _DROPPED_HEADERS and lower not in _SIGNATURE_HEADERS:
            headers[name] = value
    if _header(headers, "user-agent") is None:
        headers["User-Agent"] = user_agent
    authorization = _header(headers, "authorization")
    credentials = request.auth or userinfo
    if credentials is not None:
        user, password = credentials
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        authorization = f"Basic {token}"
    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    body = request.body
    if isinstance(body, str):
        body = substitute(body).encode("utf-8")
    elif body is not None and (b"{{" in body or b"%cjo:" in body):
        body = substitute(body.decode("latin-1")).encode("latin-1")
    if body and _header(headers, "content-type") is None:
        # What curl sends with a body, and so cron-job.org: a form endpoint (PHP's $_POST,
        # express.urlencoded) reads a migrated job's body only with it.
        headers["Content-Type"] = FORM_CONTENT_TYPE
    return Hop(method, clean_url, scheme, host, port, target, headers, body, authorization)


# Headers a redirect to another origin (scheme, host or port) does not carry, as curl drops
# them since 7.83.1 (Authorization travels apart, in `Hop.authorization`).
CREDENTIALS = frozenset({"authorization", "cookie", "proxy-authorization"})


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of the header `name` (lower case), whatever the case it was given in."""
    return next((v for k, v in headers.items() if k.lower() == name), None)


def redirect(hop: Hop, code: int, location: str) -> Hop:
    """The next hop: a 303 (and a 301/302 after POST) becomes a GET without body, as browsers do."""
    url = urljoin(hop.url, location.strip())
    scheme, host, port, target, clean_url, _userinfo = _parse_url(url, "Invalid redirect")
    method, body, headers = hop.method, hop.body, hop.headers
    if (code == 303 and method != "HEAD") or (code in (301, 302) and method == "POST"):
        method, body = "GET", None
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    return Hop(method, clean_url, scheme, host, port, target, headers, body, hop.authorization)


def authority(host: str, port: int, scheme: str) -> str:
    """host[:port] as a URL or Host header carries it: IPv6 bracketed, default port left out."""
    name = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return name if port == default else f"{name}:{port}"


def _parse_url(
    url: str, label: str = "Invalid URL"
) -> tuple[str, str, int, str, str, tuple[str, str] | None]:
    """Split a URL into scheme, host, port, target, reportable URL and user info, or fail (7)."""

    def invalid(why: str) -> Failure:
        return Failure(STATUS_INVALID_URL, "invalid_url", f"{label}: {why}")

    if _CONTROL.search(url):
        raise invalid("it contains control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise invalid(str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise invalid(f"scheme {parts.scheme!r} is not http or https")
    host = parts.hostname or ""
    if not host:
        raise invalid("no host")
    if ":" in host:
        host = host.split("%", 1)[0]  # a zone index names an interface of ours: not for jobs
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise invalid(f"{host!r} is not an IPv6 address") from None
    else:
        if not host.isascii():
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                raise invalid(f"{host!r} is not a valid host name") from None
        if not _HOST_NAME.match(host):
            raise invalid(f"{host!r} is not a valid host name")
    port = port or (443 if scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not target.startswith("/"):
        target = "/" + target
    userinfo = None
    if parts.username is not None:
        userinfo = (unquote(parts.username), unquote(parts.password or ""))
    netloc = authority(host, port, scheme)
    clean_url = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    return scheme, host, port, target, clean_url, userinfo


def _has_line_break(value: str) -> bool:
    return "\r" in value or "\n" in value or "\0" in value


class _Variables:
    """{{unixtime}}, {{isotime}}, {{uuid4}}, {{runId}}, {{plannedTime}}, %cjo:unixtime%,
    %cjo:uuid4%: one value each per run, made on first use since most jobs use none."""

    def __init__(self, request: Request, now: float) -> None:
        self._request = request
        self._now = now
        self._values: dict[str, str] | None = None

    def substitute(self, text: str) -> str:
        if "{{" not in text and "%cjo:" not in text:
            return text
        if self._values is None:
            import uuid

            now = self._now
            unixtime = str(int(now))
            planned = self._request.planned_time
            uuid4 = str(uuid.uuid4())
            self._values = {
                "{{unixtime}}": unixtime,
                "{{isotime}}": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                "{{uuid4}}": uuid4,
                "{{runId}}": self._request.run_id or "",
                "{{plannedTime}}": str(int(planned)) if planned is not None else unixtime,
                "%cjo:unixtime%": unixtime,
                "%cjo:uuid4%": uuid4,
            }
        for name, value in self._values.items():
            text = text.replace(name, value)
        return text


# ----------------------------------------------------------------------------- the response


def verdict(
    request: Request, code: int, reason: str, body: bytes, duration_ms: int
) -> tuple[int, str, str]:
    """(JobStatus, reason, message) of the final response under the request's success rules."""
    if request.success_codes is not None:
        success = any(low <= code <= high for low, high in request.success_codes)
    else:
        success = 200 <= code < 300 or (request.redirect_success and 300 <= code < 400)
    if not success:
        return STATUS_HTTP_ERROR, "http_error", f"HTTP {code} {reason}".rstrip()
    if request.error_match is not None or request.success_match is not None:
        text = body.decode("utf-8", "replace")
        if request.error_match is not None and _search(request.error_match, text, "errorMatch"):
            return STATUS_HTTP_ERROR, "error_match", "The response body matched errorMatch"
        if request.success_match is not None and not _search(
            request.success_match, text, "successMatch"
        ):
            return STATUS_HTTP_ERROR, "success_match_failed", "The body did not match successMatch"
    if request.max_duration_ms is not None and duration_ms > request.max_duration_ms:
        return (
            STATUS_TIMEOUT,
            "too_slow",
            f"Took {duration_ms} ms, more than maxDuration {request.max_duration_ms} ms",
        )
    return STATUS_OK, "ok", "OK"


def _search(pattern: str, text: str, name: str) -> bool:
    """Search the kept body (at most policy.body_cap bytes) within MATCH_SECONDS.

    The `regex` package enforces the time budget even against catastrophic backtracking; without
    it, `re` runs on the same bounded input, which bounds linear patterns only.
    """
    engine = _regex_engine()
    try:
        if engine is not None:
            return engine.search(pattern, text, timeout=MATCH_SECONDS) is not None
        return re.search(pattern, text) is not None
    except TimeoutError:
        raise Failure(
            STATUS_INTERNAL_ERROR, "match_timeout", f"{name} took longer than {MATCH_SECONDS} s"
        ) from None
    except Exception as exc:  # re.error / regex.error: a pattern validation let through
        raise Failure(
            STATUS_INTERNAL_ERROR, "invalid_pattern", f"{name} is not a valid pattern: {exc}"
        ) from None


@functools.cache
def _regex_engine() -> Any:
    try:
        import regex
    except ImportError:
        return None
    return regex


def retry_after(
    status: int, headers: list[tuple[str, str]], clock: Callable[[], float]
) -> float | None:
    """Seconds to wait from Retry-After (delta seconds or HTTP date) on a 429 or 503."""
    if status not in (429, 503):
        return None
    value = next((v.strip() for k, v in headers if k.lower() == "retry-after"), None)
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # RFC 9110 dates are GMT; a zone-less one is not an HTTP date
    return max(0.0, when.timestamp() - clock())
