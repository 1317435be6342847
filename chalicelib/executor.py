"""One HTTP call of a job run: SSRF-guarded, timed phase by phase, capped and signed; never raises.

`execute(request, policy)` resolves the host itself, vets every address with `netguard`, connects
to a vetted address while Host and TLS SNI stay on the name, follows redirects by hand and maps
every outcome onto cron-job.org's JobStatus (1 OK ... 9 unknown) plus a finer `reason`.

urllib3, ssl and the CA bundle are loaded on the first call, not at import: the Lambda's cold
start imports this module for every route.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import chalicelib
from chalicelib import netguard

if TYPE_CHECKING:
    import socket
    import ssl

    from urllib3.connectionpool import HTTPConnectionPool
    from urllib3.response import BaseHTTPResponse

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

_CHUNK = 64 * 1024
_POOL_SIZE = 4  # idle keep-alive connections kept per (scheme, address, port, TLS name, verify)
_MAX_POOLS = 32
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOST_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_.])?\Z")
# Framing and routing are ours: a job's Host, Content-Length or Transfer-Encoding is not sent.
_DROPPED_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})
_SIGNATURE_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature"})


@dataclass(frozen=True)
class Policy:
    """How the service runs calls: the SSRF guard, body limits, redirects, identity, resolver."""

    allow_private: bool = False
    body_cap: int = 64 * 1024
    hard_limit: int = 4 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = f"cronhook/{chalicelib.__version__}"
    resolver: Callable[[str, int], list[str]] | None = None


@dataclass(frozen=True)
class Request:
    """One job run's HTTP request and the rules that decide whether it succeeded."""

    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | bytes | None = None
    auth: tuple[str, str] | None = None
    timeout: float = 30.0
    connect_timeout: float | None = None
    tls_verify: bool = True
    redirect_success: bool = False
    success_codes: tuple[tuple[int, int], ...] | None = None
    success_match: str | None = None
    error_match: str | None = None
    max_duration_ms: int | None = None
    webhook_id: str | None = None
    signing_secrets: tuple[str, ...] = ()
    run_id: str | None = None
    planned_time: float | None = None
    now: Callable[[], float] | None = None


@dataclass
class Result:
    """What happened: JobStatus, finer reason, the final response and its timings."""

    status: int
    reason: str
    status_text: str
    http_status: int
    http_reason: str
    headers: list[tuple[str, str]]
    body: bytes
    body_size: int | None
    remote_ip: str | None
    redirects: list[str]
    ssl_cert_expiry: int | None
    tls_verified: bool
    stats: dict[str, int]
    duration_ms: int
    started_at: float
    retry_after: float | None

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK


def execute(request: Request, policy: Policy) -> Result:
    """Make the request under the policy and describe the outcome; every failure is a Result."""
    try:
        call = _Call(request, policy)
    except Exception as exc:  # an injected clock that fails, a timeout that is not a number
        call = _Call(Request(request.url), policy)
        return call.result(STATUS_INTERNAL_ERROR, "internal_error", type(exc).__name__)
    _local.call = call
    try:
        status, reason, text = _run(call)
    except _Failure as failure:
        status, reason, text = failure.status, failure.reason, failure.text
    except Exception as exc:
        # The type only: a message could quote a header or URL that carries a secret.
        status, reason, text = STATUS_INTERNAL_ERROR, "internal_error", type(exc).__name__
    finally:
        _local.call = None
        _WATCHDOG.release(call)
    return call.result(status, reason, text)


class _Failure(Exception):
    def __init__(self, status: int, reason: str, text: str) -> None:
        super().__init__(text)
        self.status, self.reason, self.text = status, reason, text


_local = threading.local()


def _current() -> _Call | None:
    call: _Call | None = getattr(_local, "call", None)
    return call


class _Call:
    """The state of one execute() call; the connection classes reach it through `_local`."""

    def __init__(self, request: Request, policy: Policy) -> None:
        self.request = request
        self.policy = policy
        self.clock = request.now or time.time
        self.start()
        self.end: float | None = None
        self.stamps: dict[str, float] = {}  # phase -> perf_counter, for the current hop
        self.reused = False
        self.remote_ip: str | None = None
        self.tls_verified = False
        self.cert_expiry: int | None = None
        self.redirects: list[str] = []
        self.http_status = 0
        self.http_reason = ""
        self.headers: list[tuple[str, str]] = []
        self.body = b""
        self.body_size: int | None = None
        self.variables: dict[str, str] | None = None
        self.msg_id: str | None = None
        # Guarded by _WATCHDOG.lock: our duplicate of the socket in use, and whether it was cut.
        self.watched: socket.socket | None = None
        self.expired = False

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.started_at = self.clock()
        self.deadline = self.t0 + max(self.request.timeout, 0.0)

    def mark(self, phase: str) -> None:
        self.stamps[phase] = time.perf_counter()

    def remaining(self) -> float:
        return self.deadline - time.perf_counter()

    def timed_out(self) -> bool:
        return self.expired or time.perf_counter() >= self.deadline

    def stats(self) -> dict[str, int]:
        """Microseconds from the start of the call, as libcurl reports them; 0 = not reached."""

        def us(at: float | None) -> int:
            return 0 if at is None else int((at - self.t0) * 1_000_000)

        return {
            "nameLookup": us(self.stamps.get("nameLookup")),
            "connect": us(self.stamps.get("connect")),
            "appConnect": us(self.stamps.get("appConnect")),
            "preTransfer": us(self.stamps.get("preTransfer")),
            "startTransfer": us(self.stamps.get("startTransfer")),
            "total": us(self.end),
        }

    def result(self, status: int, reason: str, text: str) -> Result:
        if self.end is None:
            self.end = time.perf_counter()
        stats = self.stats()
        return Result(
            status=status,
            reason=reason,
            status_text=text,
            http_status=self.http_status,
            http_reason=self.http_reason,
            headers=self.headers,
            body=self.body,
            body_size=self.body_size,
            remote_ip=self.remote_ip,
            redirects=self.redirects,
            ssl_cert_expiry=self.cert_expiry,
            tls_verified=self.tls_verified,
            stats=stats,
            duration_ms=stats["total"] // 1000,
            started_at=self.started_at,
            retry_after=_retry_after(self.http_status, self.headers, self.clock),
        )


class _Watchdog:
    """Cuts the socket of a call that passes its deadline, so no server can hold a call longer.

    Socket timeouts restart with every byte, so a server trickling one byte a second would never
    trip them; shutting the socket down wakes the blocked read at the deadline. The watchdog works
    on a duplicate descriptor that the call owns, so it never touches a socket that was closed
    and whose number was reused.
    """

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self._calls: set[_Call] = set()
        self._wake_at = float("inf")
        self._thread: threading.Thread | None = None

    def watch(self, call: _Call, sock: socket.socket) -> None:
        import socket as socket_module

        with self.lock:
            self._drop(call)
            call.watched = socket_module.fromfd(sock.fileno(), sock.family, sock.type)
            if call.expired:
                self._cut(call)
            elif call not in self._calls:
                self._calls.add(call)
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="cronhook-deadline", daemon=True
                    )
                    self._thread.start()
                if call.deadline < self._wake_at:
                    self._wake_at = call.deadline
                    self.lock.notify()

    def unwatch(self, call: _Call) -> bool:
        """Stop watching the call's socket; True if it was already cut at the deadline."""
        with self.lock:
            self._drop(call)
            return call.expired

    def release(self, call: _Call) -> None:
        with self.lock:
            self._drop(call)
            self._calls.discard(call)

    def _drop(self, call: _Call) -> None:
        if call.watched is not None:
            call.watched.close()
            call.watched = None

    def _cut(self, call: _Call) -> None:
        import socket as socket_module

        call.expired = True
        if call.watched is not None:
            try:
                call.watched.shutdown(socket_module.SHUT_RDWR)
            except OSError:
                pass  # already closed by the peer

    def _run(self) -> None:
        with self.lock:
            while True:
                now = time.perf_counter()
                nearest = float("inf")
                for call in list(self._calls):
                    if call.deadline <= now:
                        self._cut(call)
                        self._calls.discard(call)
                    else:
                        nearest = min(nearest, call.deadline)
                self._wake_at = nearest
                self.lock.wait(None if nearest == float("inf") else nearest - now)


_WATCHDOG = _Watchdog()


# ----------------------------------------------------------------------------- request building


@dataclass
class _Hop:
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


def _first_hop(call: _Call) -> _Hop:
    request = call.request
    method = request.method.upper()
    if method not in METHODS:
        raise _Failure(STATUS_INTERNAL_ERROR, "invalid_method", f"Unsupported method {method!r}")
    url = _substitute(call, request.url.strip())
    scheme, host, port, target, clean_url, userinfo = _parse_url(url)
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        value = _substitute(call, value)
        if not _TOKEN.match(name) or _has_line_break(value):
            # The value is not quoted: it may hold a token.
            raise _Failure(
                STATUS_INTERNAL_ERROR,
                "invalid_header",
                f"Header {name!r} has a line break or an invalid name; it was not sent",
            )
        lower = name.lower()
        if lower not in _DROPPED_HEADERS and lower not in _SIGNATURE_HEADERS:
            headers[name] = value
    if not any(name.lower() == "user-agent" for name in headers):
        headers["User-Agent"] = call.policy.user_agent
    authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    credentials = request.auth or userinfo
    if credentials is not None:
        user, password = credentials
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        authorization = f"Basic {token}"
    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    body = request.body
    if isinstance(body, str):
        body = _substitute(call, body).encode("utf-8")
    elif body is not None and (b"{{" in body or b"%cjo:" in body):
        body = _substitute(call, body.decode("latin-1")).encode("latin-1")
    return _Hop(method, clean_url, scheme, host, port, target, headers, body, authorization)


def _parse_url(
    url: str, label: str = "Invalid URL"
) -> tuple[str, str, int, str, str, tuple[str, str] | None]:
    """Split a URL into scheme, host, port, target, reportable URL and user info, or fail (7)."""

    def invalid(why: str) -> _Failure:
        return _Failure(STATUS_INVALID_URL, "invalid_url", f"{label}: {why}")

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
    netloc = _authority(host, port, scheme)
    clean_url = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    return scheme, host, port, target, clean_url, userinfo


def _authority(host: str, port: int, scheme: str) -> str:
    name = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return name if port == default else f"{name}:{port}"


def _has_line_break(value: str) -> bool:
    return "\r" in value or "\n" in value or "\0" in value


def _substitute(call: _Call, text: str) -> str:
    """Replace {{unixtime}}, {{isotime}}, {{uuid4}}, {{runId}}, {{plannedTime}}, %cjo:...%."""
    if "{{" not in text and "%cjo:" not in text:
        return text
    if call.variables is None:
        import uuid

        now = call.started_at
        unixtime = str(int(now))
        planned = call.request.planned_time
        uuid4 = str(uuid.uuid4())
        call.variables = {
            "{{unixtime}}": unixtime,
            "{{isotime}}": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "{{uuid4}}": uuid4,
            "{{runId}}": call.request.run_id or "",
            "{{plannedTime}}": str(int(planned)) if planned is not None else unixtime,
            "%cjo:unixtime%": unixtime,
            "%cjo:uuid4%": uuid4,
        }
    for name, value in call.variables.items():
        text = text.replace(name, value)
    return text


def _send_headers(call: _Call, hop: _Hop, first_origin: tuple[str, str, int]) -> dict[str, str]:
    """The hop's headers: Host for the name, Authorization for the first origin, signatures."""
    headers = {"Host": _authority(hop.host, hop.port, hop.scheme), **hop.headers}
    if hop.authorization is not None and hop.origin == first_origin:
        headers["Authorization"] = hop.authorization
    secrets = call.request.signing_secrets
    if secrets:
        from chalicelib import signing

        if call.msg_id is None:
            import uuid

            request = call.request
            call.msg_id = request.webhook_id or request.run_id or f"msg_{uuid.uuid4().hex}"
        try:
            headers.update(
                signing.signature_headers(secrets, call.msg_id, int(call.clock()), hop.body or b"")
            )
        except signing.SigningError as exc:
            raise _Failure(STATUS_INTERNAL_ERROR, "signing_error", str(exc)) from None
    # Non-ASCII values go out as UTF-8 bytes, as curl sends them (http.client would use Latin-1).
    encoded = {k: v if v.isascii() else v.encode("utf-8") for k, v in headers.items()}
    return cast("dict[str, str]", encoded)


def _redirect(hop: _Hop, code: int, location: str) -> _Hop:
    """The next hop: a 303 (and a 301/302 after POST) becomes a GET without body, as browsers do."""
    url = urljoin(hop.url, location.strip())
    scheme, host, port, target, clean_url, _userinfo = _parse_url(url, "Invalid redirect")
    method, body, headers = hop.method, hop.body, hop.headers
    if (code == 303 and method != "HEAD") or (code in (301, 302) and method == "POST"):
        method, body = "GET", None
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    return _Hop(method, clean_url, scheme, host, port, target, headers, body, hop.authorization)


# ----------------------------------------------------------------------------- the call


def _run(call: _Call) -> tuple[int, str, str]:
    policy, request = call.policy, call.request
    transport = _transport()
    call.start()  # loading urllib3 on a process's first call is not the call's time
    hop = _first_hop(call)
    first_origin = hop.origin
    visited = {(hop.method, hop.url)}
    while True:
        response = _exchange(call, transport, hop, _send_headers(call, hop, first_origin))
        location = response.headers.get("location")
        _read_body(call, response)
        if location is None or request.redirect_success or not 300 <= call.http_status < 400:
            break
        hop = _redirect(hop, call.http_status, location)
        if (hop.method, hop.url) in visited:
            raise _Failure(STATUS_HTTP_ERROR, "redirect_loop", f"Redirect loop at {hop.url}")
        if len(call.redirects) >= policy.max_redirects:
            raise _Failure(
                STATUS_HTTP_ERROR,
                "too_many_redirects",
                f"More than {policy.max_redirects} redirects",
            )
        visited.add((hop.method, hop.url))
        call.redirects.append(hop.url)
    return _verdict(call)


def _verdict(call: _Call) -> tuple[int, str, str]:
    request, code = call.request, call.http_status
    if request.success_codes is not None:
        success = any(low <= code <= high for low, high in request.success_codes)
    else:
        success = 200 <= code < 300 or (request.redirect_success and 300 <= code < 400)
    if not success:
        return STATUS_HTTP_ERROR, "http_error", f"HTTP {code} {call.http_reason}".rstrip()
    if request.error_match is not None or request.success_match is not None:
        text = call.body.decode("utf-8", "replace")
        if request.error_match is not None and _search(request.error_match, text, "errorMatch"):
            return STATUS_HTTP_ERROR, "error_match", "The response body matched errorMatch"
        if request.success_match is not None and not _search(
            request.success_match, text, "successMatch"
        ):
            return STATUS_HTTP_ERROR, "success_match_failed", "The body did not match successMatch"
    duration_ms = call.stats()["total"] // 1000  # as reported in Result.duration_ms
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
        raise _Failure(
            STATUS_INTERNAL_ERROR, "match_timeout", f"{name} took longer than {MATCH_SECONDS} s"
        ) from None
    except Exception as exc:  # re.error / regex.error: a pattern validation let through
        raise _Failure(
            STATUS_INTERNAL_ERROR, "invalid_pattern", f"{name} is not a valid pattern: {exc}"
        ) from None


@functools.cache
def _regex_engine() -> Any:
    try:
        import regex
    except ImportError:
        return None
    return regex


def _resolve(call: _Call, host: str, port: int) -> list[str]:
    """The host's addresses from the policy's resolver within the call's deadline, or fail (2)."""
    if _is_ip_address(host):
        return [host]
    resolver = call.policy.resolver or netguard.resolve
    outcome: list[list[str] | BaseException] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            outcome.append(list(resolver(host, port)))
        except BaseException as exc:
            outcome.append(exc)
        finally:
            done.set()

    # getaddrinfo has no timeout: a thread lets the deadline win over a slow resolver.
    threading.Thread(target=lookup, name="cronhook-dns", daemon=True).start()
    if not done.wait(max(call.remaining(), 0.0)):
        raise _Failure(STATUS_DNS_ERROR, "dns_timeout", f"DNS lookup of {host} timed out")
    addresses = outcome[0]
    if isinstance(addresses, BaseException):
        detail = getattr(addresses, "strerror", None) or type(addresses).__name__
        raise _Failure(STATUS_DNS_ERROR, "dns_error", f"DNS lookup of {host} failed: {detail}")
    if not addresses:
        raise _Failure(STATUS_DNS_ERROR, "dns_error", f"{host} has no address")
    return addresses


@functools.lru_cache(maxsize=1024)
def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _exchange(
    call: _Call, transport: _Transport, hop: _Hop, headers: dict[str, str]
) -> BaseHTTPResponse:
    """Send one hop to a vetted address and return the response with its headers read."""
    call.stamps = {}
    call.reused = False
    addresses = _resolve(call, hop.host, hop.port)
    call.mark("nameLookup")
    for address in addresses:
        reason = netguard.blocked_reason(address, call.policy.allow_private)
        if reason is not None:
            raise _Failure(STATUS_CONNECT_ERROR, "blocked", f"Blocked: {reason}")
    https = hop.scheme == "https"
    failure: _Failure | None = None
    for address in addresses:
        call.remote_ip = address
        pool = transport.pool(hop.scheme, address, hop.port, hop.host, call.request.tls_verify)
        try:
            response = _send(call, transport, pool, hop, headers)
        except Exception as exc:
            failure = _failure_from(exc, call)
            if failure.reason in ("connect_error", "connect_timeout") and call.remaining() > 0:
                continue  # try the name's next address, as browsers and curl do
            raise failure from None
        call.http_status = response.status
        call.http_reason = response.reason or ""
        call.headers = list(response.headers.items())
        if not https:
            call.tls_verified, call.cert_expiry = False, None
        return response
    assert failure is not None
    raise failure


def _send(
    call: _Call, transport: _Transport, pool: HTTPConnectionPool, hop: _Hop, headers: dict[str, str]
) -> BaseHTTPResponse:
    request = call.request
    connect_limit = request.connect_timeout
    if connect_limit is None:
        connect_limit = min(10.0, request.timeout)
    for attempt in range(_POOL_SIZE + 1):
        remaining = call.remaining()
        if remaining <= 0:
            raise _timeout(call)
        lookup = call.stamps["nameLookup"]
        call.stamps = {"nameLookup": lookup}
        call.reused = False
        try:
            return pool.urlopen(
                hop.method,
                hop.target,
                body=hop.body,
                headers=headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                timeout=transport.timeout(connect=min(connect_limit, remaining), read=remaining),
                preload_content=False,
                decode_content=True,
                release_conn=False,
            )
        except Exception:
            # A keep-alive connection that the server closed while idle fails before any byte
            # arrives; browsers resend on a fresh connection then, and so do we.
            stale = call.reused and "startTransfer" not in call.stamps and not call.timed_out()
            if stale and attempt < _POOL_SIZE:
                continue
            raise
    raise AssertionError("unreachable")


def _read_body(call: _Call, response: BaseHTTPResponse) -> None:
    """Keep up to body_cap bytes, count up to hard_limit, and fail with 6 beyond it."""
    policy = call.policy
    declared = _declared_length(response)
    kept = bytearray()
    size = 0
    try:
        while True:
            chunk = response.read(_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            room = policy.body_cap - len(kept)
            if room > 0:
                kept += chunk[:room]
            known_too_big = declared is not None and declared > policy.hard_limit
            if size > policy.hard_limit or (known_too_big and len(kept) >= policy.body_cap):
                call.body, call.body_size, call.end = bytes(kept), declared, time.perf_counter()
                raise _Failure(
                    STATUS_TOO_MUCH_DATA,
                    "too_much_data",
                    f"The response body is larger than {policy.hard_limit} bytes",
                )
    except _Failure:
        response.close()  # unread data: the connection cannot be reused
        raise
    except Exception as exc:
        call.body = bytes(kept)
        raise _failure_from(exc, call) from None
    finally:
        response.release_conn()
    call.end = time.perf_counter()
    call.body, call.body_size = bytes(kept), size


def _declared_length(response: BaseHTTPResponse) -> int | None:
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        return None  # Content-Length counts encoded bytes; we count decoded ones
    try:
        length = int(response.headers.get("content-length", ""))
    except ValueError:
        return None
    return length if length >= 0 else None


def _failure_from(exc: BaseException, call: _Call) -> _Failure:
    """Translate a transport error into JobStatus, reason and message, once."""
    from urllib3 import exceptions as errors

    if isinstance(exc, _Failure):
        return exc
    ip = call.remote_ip
    if call.timed_out() or isinstance(exc, errors.ReadTimeoutError):
        return _timeout(call)
    if isinstance(exc, errors.NewConnectionError):  # before ConnectTimeoutError, its base
        detail = getattr(exc.__cause__, "strerror", None) or "connection failed"
        text = f"Could not connect to {ip}: {detail}"
        return _Failure(STATUS_CONNECT_ERROR, "connect_error", text)
    if isinstance(exc, errors.ConnectTimeoutError):
        return _Failure(STATUS_TIMEOUT, "connect_timeout", f"Connecting to {ip} timed out")
    if isinstance(exc, errors.SSLError):
        return _Failure(STATUS_CONNECT_ERROR, "tls_error", f"TLS error: {_tls_detail(exc)}")
    if isinstance(exc, errors.DecodeError):
        return _Failure(STATUS_HTTP_ERROR, "protocol_error", "Could not decode the response body")
    if isinstance(exc, errors.ProtocolError):
        return _Failure(STATUS_HTTP_ERROR, "protocol_error", _protocol_detail(exc))
    if isinstance(exc, (errors.LocationValueError, errors.LocationParseError)):
        return _Failure(STATUS_INVALID_URL, "invalid_url", "Invalid URL")
    if isinstance(exc, OSError):
        detail = exc.strerror or type(exc).__name__
        return _Failure(STATUS_CONNECT_ERROR, "connect_error", f"Network error: {detail}")
    return _Failure(STATUS_INTERNAL_ERROR, "internal_error", type(exc).__name__)


def _timeout(call: _Call) -> _Failure:
    phase = "reading the response" if "startTransfer" in call.stamps else "for a response"
    return _Failure(
        STATUS_TIMEOUT, "timeout", f"Timed out after {call.request.timeout:g} s {phase}"
    )


def _tls_detail(exc: BaseException) -> str:
    import ssl

    seen: BaseException | None = exc
    while seen is not None:
        for inner in (seen, *seen.args):
            if isinstance(inner, ssl.SSLCertVerificationError):
                return f"certificate verify failed: {inner.verify_message}"
            if isinstance(inner, ssl.SSLError) and inner.reason:
                return str(inner.reason)
        seen = seen.__cause__ or seen.__context__
    return str(exc)


def _protocol_detail(exc: BaseException) -> str:
    import http.client

    inner = exc.args[1] if len(exc.args) > 1 else exc
    if isinstance(inner, http.client.RemoteDisconnected):
        return "The server closed the connection without a response"
    if isinstance(inner, http.client.IncompleteRead):
        return "The server closed the connection before the end of the body"
    if isinstance(inner, OSError) and inner.strerror:
        return f"Connection broken: {inner.strerror}"
    return f"Invalid response: {type(inner).__name__}"


def _retry_after(
    status: int, headers: list[tuple[str, str]], clock: Callable[[], float]
) -> float | None:
    """Seconds to wait from Retry-After (delta seconds or HTTP date) on a 429 or 503."""
    if status not in (429, 503):
        return None
    value = next((v.strip() for k, v in headers if k.lower() == "retry-after"), None)
    if not value:
        return None
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # RFC 9110 dates are GMT; a zone-less one is not an HTTP date
    return max(0.0, when.timestamp() - clock())


def _not_after(der: bytes | None) -> int | None:
    """The notAfter of a DER certificate as epoch seconds (read by hand: no parser to import)."""
    if not der:
        return None
    try:
        _, start, _ = _der_item(der, 0)  # Certificate
        _, pos, _ = _der_item(der, start)  # tbsCertificate
        tag, _, end = _der_item(der, pos)
        if tag == 0xA0:  # [0] version
            pos = end
        for _field in ("serialNumber", "signature", "issuer"):
            pos = _der_item(der, pos)[2]
        _, validity, _ = _der_item(der, pos)
        not_before_end = _der_item(der, validity)[2]
        tag, start, end = _der_item(der, not_before_end)
        text = der[start:end].decode("ascii")
        if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ, years 1950-2049 (RFC 5280)
            year = int(text[:2])
            text = str(1900 + year if year >= 50 else 2000 + year) + text[2:]
        elif tag != 0x18:  # GeneralizedTime YYYYMMDDHHMMSSZ
            return None
        import calendar

        return calendar.timegm(time.strptime(text[:14], "%Y%m%d%H%M%S"))
    except (IndexError, ValueError):
        return None


def _der_item(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER item at pos."""
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(der[pos : pos + count], "big")
        pos += count
    if pos + length > len(der):
        raise IndexError("truncated DER")
    return tag, pos, pos + length


# ----------------------------------------------------------------------------- transport


class _Transport:
    """urllib3 pools whose connections time each phase and report to the current call.

    Built once per process; pools are keyed by the vetted address, the TLS name and whether
    certificates are verified, so a keep-alive connection is only reused for the same target
    under the same verification.
    """

    def __init__(self) -> None:
        import http.client

        from urllib3.connection import HTTPConnection, HTTPSConnection
        from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
        from urllib3.util.timeout import Timeout

        self.timeout = Timeout
        self._lock = threading.Lock()
        self._pools: OrderedDict[tuple[Any, ...], HTTPConnectionPool] = OrderedDict()
        self._contexts: dict[bool, ssl.SSLContext] = {}

        class FirstByteResponse(http.client.HTTPResponse):
            def begin(self) -> None:
                # Waiting for one byte before parsing gives startTransfer the first byte's time.
                if self.fp.peek(1):
                    call = _current()
                    if call is not None and "startTransfer" not in call.stamps:
                        call.mark("startTransfer")
                super().begin()

        class TimedConnection(HTTPConnection):
            response_class = FirstByteResponse
            fresh = False
            cert_expiry: int | None = None

            def _new_conn(self) -> socket.socket:
                sock = super()._new_conn()
                self.fresh = True
                call = _current()
                if call is not None:
                    call.mark("connect")
                    _WATCHDOG.watch(call, sock)
                return sock

            def request(  # type: ignore[override]
                self,
                method: str,
                url: str,
                body: Any = None,
                headers: Mapping[str, str] | None = None,
                *,
                chunked: bool = False,
                preload_content: bool = True,
                decode_content: bool = True,
                enforce_content_length: bool = True,
            ) -> None:
                call = _current()
                reused = self.sock is not None and not self.fresh
                self.fresh = False
                if call is not None and reused:
                    # A kept-alive connection: no connect or handshake happens for this call.
                    call.reused = True
                    call.mark("connect")
                    if isinstance(self, HTTPSConnection):
                        call.mark("appConnect")
                        call.tls_verified, call.cert_expiry = self.is_verified, self.cert_expiry
                    _WATCHDOG.watch(call, self.sock)
                super().request(
                    method,
                    url,
                    body=body,
                    headers=headers,
                    chunked=chunked,
                    preload_content=preload_content,
                    decode_content=decode_content,
                    enforce_content_length=enforce_content_length,
                )
                self.fresh = False  # a plain-HTTP connection is opened inside request()
                if call is not None:
                    call.mark("preTransfer")

        class TimedTLSConnection(TimedConnection, HTTPSConnection):
            def connect(self) -> None:
                super().connect()
                sock = cast("ssl.SSLSocket", self.sock)
                self.cert_expiry = _not_after(sock.getpeercert(binary_form=True))
                call = _current()
                if call is not None:
                    call.mark("appConnect")
                    call.tls_verified, call.cert_expiry = self.is_verified, self.cert_expiry

        def keep(pool: HTTPConnectionPool, conn: Any) -> bool:
            """Whether a connection that a call is done with may go back into the pool."""
            call = _current()
            if call is not None and _WATCHDOG.unwatch(call):
                # Its socket was cut at the deadline: never hand it to another call.
                if conn is not None:
                    conn.close()
                return False
            if pool.pool is not None and pool.pool.full():
                # More calls ran at once than idle connections are kept: close the extra one
                # quietly instead of urllib3's "pool is full" warning in every run's log.
                if conn is not None:
                    conn.close()
                return False
            return True

        class Pool(HTTPConnectionPool):
            ConnectionCls = TimedConnection

            def _put_conn(self, conn: Any) -> None:
                if keep(self, conn):
                    super()._put_conn(conn)

        class TLSPool(HTTPSConnectionPool):
            ConnectionCls = TimedTLSConnection

            def _validate_conn(self, conn: Any) -> None:
                # Connect before the request as urllib3 does, minus its InsecureRequestWarning: a
                # job's opt-out is recorded in its results (tls_verified), not in every log line.
                if conn.is_closed:
                    conn.connect()

            def _put_conn(self, conn: Any) -> None:
                if keep(self, conn):
                    super()._put_conn(conn)

        self._pool_class = Pool
        self._tls_pool_class = TLSPool

    def pool(
        self, scheme: str, address: str, port: int, server_name: str, verify: bool
    ) -> HTTPConnectionPool:
        https = scheme == "https"
        key = (scheme, address, port, server_name if https else None, verify if https else None)
        with self._lock:
            pool = self._pools.get(key)
            if pool is not None:
                self._pools.move_to_end(key)
                return pool
            common: dict[str, Any] = {"maxsize": _POOL_SIZE, "block": False, "retries": False}
            if https:
                pool = self._tls_pool_class(
                    address,
                    port,
                    ssl_context=self.tls_context(verify),
                    server_hostname=server_name,
                    **common,
                )
            else:
                pool = self._pool_class(address, port, **common)
            self._pools[key] = pool
            if len(self._pools) > _MAX_POOLS:
                _, oldest = self._pools.popitem(last=False)
                oldest.close()
        return pool

    def tls_context(self, verify: bool) -> ssl.SSLContext:
        """The process's one verifying (certifi CA bundle) or one non-verifying TLS context."""
        context = self._contexts.get(verify)
        if context is None:
            import ssl

            if verify:
                import certifi

                context = ssl.create_default_context(cafile=certifi.where())
            else:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context = self._contexts.setdefault(verify, context)
        return context


_transports: list[_Transport] = []
_transport_lock = threading.Lock()


def _transport() -> _Transport:
    if not _transports:
        with _transport_lock:
            if not _transports:
                _transports.append(_Transport())
    return _transports[0]
