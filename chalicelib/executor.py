"""One HTTP call of a job run: SSRF-guarded, timed phase by phase, capped and signed; never raises.

`execute(request, policy)` resolves the host itself, vets every address with `netguard`, connects
to a vetted address while Host and TLS SNI stay on the name, follows redirects by hand and maps
every outcome onto cron-job.org's JobStatus (1 OK ... 9 unknown) plus a finer `reason`.

The rules of a call (request building, redirects, success, Retry-After) are in `http_rules`; the
timed connections, pools and deadline watchdog in `transport`. urllib3, ssl and the CA bundle are
loaded on the first call, not at import: the Lambda's cold start imports this module for every
route.
"""

from __future__ import annotations

import functools
import ipaddress
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import chalicelib
from chalicelib import http_rules, netguard, transport
from chalicelib.http_rules import (
    MATCH_SECONDS,
    METHODS,
    STATUS_CONNECT_ERROR,
    STATUS_DNS_ERROR,
    STATUS_HTTP_ERROR,
    STATUS_INTERNAL_ERROR,
    STATUS_INVALID_URL,
    STATUS_OK,
    STATUS_TIMEOUT,
    STATUS_TOO_MUCH_DATA,
    STATUS_UNKNOWN,
    Failure,
    Hop,
)

if TYPE_CHECKING:
    from urllib3.connectionpool import HTTPConnectionPool
    from urllib3.response import BaseHTTPResponse

__all__ = [
    "LOOKUPS",
    "MATCH_SECONDS",
    "METHODS",
    "STATUS_CONNECT_ERROR",
    "STATUS_DNS_ERROR",
    "STATUS_HTTP_ERROR",
    "STATUS_INTERNAL_ERROR",
    "STATUS_INVALID_URL",
    "STATUS_OK",
    "STATUS_TIMEOUT",
    "STATUS_TOO_MUCH_DATA",
    "STATUS_UNKNOWN",
    "Lookups",
    "Policy",
    "Request",
    "Result",
    "Stop",
    "aborted",
    "execute",
    "prepare",
    "wait_until",
]

Stop = transport.Stop

_CHUNK = 64 * 1024


# Added last to response headers cut at `Policy.header_cap`, so that the history says so.
TRUNCATED_HEADER = "X-Cronhook-Truncated"


@dataclass(frozen=True)
class Policy:
    """How the service runs calls: the SSRF guard, body limits, redirects, identity, resolver,
    and trust.

    `ca_file` names a PEM bundle of extra CAs trusted for TLS verification besides certifi's (a
    private CA, or a test's); connections verified with it are never reused by calls without it.
    """

    allow_private: bool = False
    body_cap: int = 64 * 1024
    header_cap: int = 32 * 1024  # response headers kept (as `Name: value` lines), in bytes
    hard_limit: int = 4 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = f"cronhook/{chalicelib.__version__}"
    resolver: Callable[[str, int], list[str]] | None = None
    ca_file: str | None = None


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
    # Another thread's hold on the call in flight: abort it, or change its timeout.
    stop: transport.Stop | None = None


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
    transport.attach(call)
    try:
        status, reason, text = _run(call)
    except Failure as failure:
        status, reason, text = failure.status, failure.reason, failure.text
    except Exception as exc:
        # The type only: a message could quote a header or URL that carries a secret.
        status, reason, text = STATUS_INTERNAL_ERROR, "internal_error", type(exc).__name__
    finally:
        transport.detach(call)
    stop = request.stop
    if stop is not None and stop.text is not None and status != STATUS_OK:
        # Whatever the cut looked like from inside (a timeout, a closed connection), it was
        # the abort.
        status, reason, text = STATUS_UNKNOWN, "aborted", stop.text
    return call.result(status, reason, text)


def aborted(request: Request, text: str) -> Result:
    """The Result of a call aborted before it began: nothing was sent."""
    call = _Call(Request(request.url, now=request.now), Policy())
    return call.result(STATUS_UNKNOWN, "aborted", text)


# How long before its time `wait_until` wakes to look at the clock once more.
_LAST_LOOK_S = 0.002


def wait_until(
    when: float,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return at `when` (a time of `clock`) or just after it, never before.

    One long sleep wakes late by the timer's slack and drifts with the wall clock; this one
    sleeps until _LAST_LOOK_S before `when`, reads the clock again, and sleeps the rest.
    """
    while True:
        left = when - clock()
        if left <= 0:
            return
        sleep(left - _LAST_LOOK_S if left > 2 * _LAST_LOOK_S else left)


def prepare(policy: Policy | None = None, lookup_threads: int = 0) -> None:
    """Do now what a process's first calls would: load urllib3 and build the TLS contexts (the
    verifying one costs ~20 ms of CPU), start the deadline watchdog and `lookup_threads` idle
    name-lookup threads. For a caller about to wait for a planned second."""
    net = transport.get()
    net.tls_context(True, policy.ca_file if policy is not None else None)
    net.tls_context(False)
    transport.WATCHDOG.start()
    LOOKUPS.spare(lookup_threads)


class _Call(transport.Progress):
    """The state of one execute() call; its connections report phases and TLS facts into it."""

    def __init__(self, request: Request, policy: Policy) -> None:
        super().__init__(request.stop)
        self.request = request
        self.policy = policy
        self.clock = request.now or time.time
        self.start()
        self.remote_ip: str | None = None
        self.redirects: list[str] = []
        self.http_status = 0
        self.http_reason = ""
        self.headers: list[tuple[str, str]] = []
        self.body = b""
        self.body_size: int | None = None
        self.msg_id: str | None = None

    def start(self) -> None:
        self.started_at = self.clock()
        self.begin(self.request.timeout)

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
            retry_after=http_rules.retry_after(self.http_status, self.headers, self.clock),
        )


def _run(call: _Call) -> tuple[int, str, str]:
    policy, request = call.policy, call.request
    if request.stop is not None and request.stop.aborted:
        raise Failure(STATUS_UNKNOWN, "aborted", request.stop.text or "Aborted")
    if not transport.built():
        transport.get()
        call.start()  # loading urllib3 on a process's first call is not the call's time
    net = transport.get()
    hop = http_rules.first_hop(request, policy.user_agent, call.started_at)
    first_origin = hop.origin
    visited = {(hop.method, hop.url)}
    while True:
        response = _exchange(call, net, hop, _send_headers(call, hop, first_origin))
        location = _response_header(response, "location")
        _read_body(call, response)
        if location is None or request.redirect_success or not 300 <= call.http_status < 400:
            break
        hop = http_rules.redirect(hop, call.http_status, location)
        if (hop.method, hop.url) in visited:
            raise Failure(STATUS_HTTP_ERROR, "redirect_loop", f"Redirect loop at {hop.url}")
        if len(call.redirects) >= policy.max_redirects:
            raise Failure(
                STATUS_HTTP_ERROR,
                "too_many_redirects",
                f"More than {policy.max_redirects} redirects",
            )
        visited.add((hop.method, hop.url))
        call.redirects.append(hop.url)
    duration_ms = call.total_us() // 1000  # as reported in Result.duration_ms
    return http_rules.verdict(request, call.http_status, call.http_reason, call.body, duration_ms)


def _send_headers(call: _Call, hop: Hop, first_origin: tuple[str, str, int]) -> dict[str, str]:
    """The hop's headers: Host for the name, credentials for the first origin, signatures."""
    headers = {"Host": http_rules.authority(hop.host, hop.port, hop.scheme), **hop.headers}
    if hop.origin != first_origin:
        headers = {k: v for k, v in headers.items() if k.lower() not in http_rules.CREDENTIALS}
    elif hop.authorization is not None:
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
            raise Failure(STATUS_INTERNAL_ERROR, "signing_error", str(exc)) from None
    # Non-ASCII values go out as UTF-8 bytes, as curl sends them (http.client would use Latin-1).
    encoded = {k: v if v.isascii() else v.encode("utf-8") for k, v in headers.items()}
    return cast("dict[str, str]", encoded)


class Lookups:
    """The threads that run name lookups: an idle one is reused, a new one starts when none is
    idle (a resolver that hangs holds only its own thread, never another call's lookup), and
    one idle for IDLE_S ends."""

    IDLE_S = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._work: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._idle = 0
        self.started = 0  # threads started so far

    @property
    def idle(self) -> int:
        """Threads waiting for a lookup now."""
        return self._idle

    def run(self, work: Callable[[], None]) -> None:
        """Run `work` on one of the threads, soon; it must not raise."""
        with self._lock:
            if self._idle:
                self._idle -= 1
                self._work.put(work)  # under the lock: a thread ending now sees it first
                return
            self.started += 1
        threading.Thread(target=self._serve, args=(work,), name="cronhook-dns", daemon=True).start()

    def spare(self, count: int) -> None:
        """Have at least `count` idle threads (started now, not at the first lookups)."""
        with self._lock:
            missing = max(0, count - self._idle)
            self.started += missing
        for _ in range(missing):
            threading.Thread(target=self._serve, name="cronhook-dns", daemon=True).start()

    def _serve(self, work: Callable[[], None] | None = None) -> None:
        while True:
            if work is not None:
                work()
            with self._lock:
                self._idle += 1
            try:
                work = self._work.get(timeout=self.IDLE_S)
            except queue.Empty:
                with self._lock:
                    try:
                        work = self._work.get_nowait()  # handed over as the wait ran out
                    except queue.Empty:
                        self._idle -= 1
                        return


LOOKUPS = Lookups()


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

    # getaddrinfo has no timeout: another thread lets the deadline win over a slow resolver.
    LOOKUPS.run(lookup)
    if not done.wait(max(call.remaining(), 0.0)):
        raise Failure(STATUS_DNS_ERROR, "dns_timeout", f"DNS lookup of {host} timed out")
    addresses = outcome[0]
    if isinstance(addresses, BaseException):
        detail = getattr(addresses, "strerror", None) or type(addresses).__name__
        raise Failure(STATUS_DNS_ERROR, "dns_error", f"DNS lookup of {host} failed: {detail}")
    if not addresses:
        raise Failure(STATUS_DNS_ERROR, "dns_error", f"{host} has no address")
    return addresses


@functools.lru_cache(maxsize=1024)
def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _exchange(
    call: _Call, net: transport.Transport, hop: Hop, headers: dict[str, str]
) -> BaseHTTPResponse:
    """Send one hop to a vetted address and return the response with its headers read."""
    call.stamps = {}
    call.reused = False
    addresses = _resolve(call, hop.host, hop.port)
    call.mark("nameLookup")
    for address in addresses:
        reason = netguard.blocked_reason(address, call.policy.allow_private)
        if reason is not None:
            raise Failure(STATUS_CONNECT_ERROR, "blocked", f"Blocked: {reason}")
    https = hop.scheme == "https"
    verify, ca_file = call.request.tls_verify, call.policy.ca_file
    failure: Failure | None = None
    for address in addresses:
        call.remote_ip = address
        pool = net.pool(hop.scheme, address, hop.port, hop.host, verify, ca_file)
        try:
            response = _send(call, net, pool, hop, headers)
        except Exception as exc:
            failure = _failure_from(exc, call)
            if failure.reason in ("connect_error", "connect_timeout") and call.remaining() > 0:
                continue  # try the name's next address, as browsers and curl do
            raise failure from None
        if call.expired:
            # Cut at the deadline while the headers trickled in: http.client took the cut for
            # their end.
            response.close()
            raise _timeout(call)
        call.http_status = response.status
        call.http_reason = response.reason or ""
        call.headers = _kept_headers(response.headers.items(), call.policy.header_cap)
        if not https:
            call.tls_verified, call.cert_expiry = False, None
        return response
    assert failure is not None
    raise failure


def _kept_headers(headers: Iterable[tuple[str, str]], cap: int) -> list[tuple[str, str]]:
    """The response's headers up to `cap` bytes: http.client takes up to 100 lines of 64 KB,
    which a saved response would store on every run."""
    kept: list[tuple[str, str]] = []
    room = cap
    for name, value in headers:
        size = len(name) + len(value) + 4  # "Name: value\r\n"
        if size > room:
            kept.append((TRUNCATED_HEADER, f"headers beyond {cap} bytes were not kept"))
            break
        kept.append((name, value))
        room -= size
    return kept


def _send(
    call: _Call,
    net: transport.Transport,
    pool: HTTPConnectionPool,
    hop: Hop,
    headers: dict[str, str],
) -> BaseHTTPResponse:
    request = call.request
    connect_limit = request.connect_timeout
    if connect_limit is None:
        connect_limit = min(10.0, request.timeout)
    # A call whose timeout may change in flight (`stop`) ends at its deadline by the watchdog's
    # cut; the socket's own read timeout only backs that up, beyond any timeout it may get.
    spare = 0.0 if request.stop is None else float(transport.MAX_TIMEOUT_S)
    for attempt in range(transport.POOL_SIZE + 1):
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
                timeout=net.timeout(connect=min(connect_limit, remaining), read=remaining + spare),
                preload_content=False,
                decode_content=True,
                release_conn=False,
            )
        except Exception:
            # A keep-alive connection that the server closed while idle fails before any byte
            # arrives; browsers resend on a fresh connection then, and so do we.
            stale = call.reused and "startTransfer" not in call.stamps and not call.timed_out()
            if stale and attempt < transport.POOL_SIZE:
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
            # With a declared length, ask for what is left: urllib3 then reads the socket once,
            # where a bigger request reads again to learn that the body is over.
            left = _CHUNK if declared is None else declared - size
            chunk = response.read(left if 0 < left < _CHUNK else _CHUNK)
            if not chunk:
                break
            size += len(chunk)
            room = policy.body_cap - len(kept)
            if room > 0:
                kept += chunk[:room]
            known_too_big = declared is not None and declared > policy.hard_limit
            if size > policy.hard_limit or (known_too_big and len(kept) >= policy.body_cap):
                call.body, call.body_size, call.end = bytes(kept), declared, time.perf_counter()
                raise Failure(
                    STATUS_TOO_MUCH_DATA,
                    "too_much_data",
                    f"The response body is larger than {policy.hard_limit} bytes",
                )
            if size == declared:
                break  # all of it: no further read to learn that it is over
    except Failure:
        response.close()  # unread data: the connection cannot be reused
        raise
    except Exception as exc:
        call.body = bytes(kept)
        raise _failure_from(exc, call) from None
    finally:
        response.release_conn()
    call.end = time.perf_counter()
    call.body, call.body_size = bytes(kept), size
    if call.expired:
        # Cut at the deadline: a body without a length reads the cut as its end.
        raise _timeout(call)


def _response_header(response: BaseHTTPResponse, name: str) -> str | None:
    """The value of the response header `name` (lower case), or None: as headers.get(name), minus
    the KeyError that Mapping.get raises and catches inside for every header that is absent."""
    headers = response.headers
    return headers[name] if name in headers else None  # noqa: SIM401 (the point)


def _declared_length(response: BaseHTTPResponse) -> int | None:
    encoding = _response_header(response, "content-encoding")
    if encoding is not None and encoding.lower() != "identity":
        return None  # Content-Length counts encoded bytes; we count decoded ones
    try:
        length = int(_response_header(response, "content-length") or "")
    except ValueError:
        return None
    return length if length >= 0 else None


# ----------------------------------------------------------------------------- outcomes


def _failure_from(exc: BaseException, call: _Call) -> Failure:
    """Translate a transport error into JobStatus, reason and message, once."""
    from urllib3 import exceptions as errors

    if isinstance(exc, Failure):
        return exc
    ip = call.remote_ip
    if call.timed_out() or isinstance(exc, errors.ReadTimeoutError):
        return _timeout(call)
    if isinstance(exc, errors.NewConnectionError):  # before ConnectTimeoutError, its base
        detail = getattr(exc.__cause__, "strerror", None) or "connection failed"
        text = f"Could not connect to {ip}: {detail}"
        return Failure(STATUS_CONNECT_ERROR, "connect_error", text)
    if isinstance(exc, errors.ConnectTimeoutError):
        return Failure(STATUS_TIMEOUT, "connect_timeout", f"Connecting to {ip} timed out")
    if isinstance(exc, errors.SSLError):
        return Failure(STATUS_CONNECT_ERROR, "tls_error", f"TLS error: {_tls_detail(exc)}")
    if isinstance(exc, errors.DecodeError):
        return Failure(STATUS_HTTP_ERROR, "protocol_error", "Could not decode the response body")
    if isinstance(exc, errors.ProtocolError):
        return Failure(STATUS_HTTP_ERROR, "protocol_error", _protocol_detail(exc))
    if isinstance(exc, (errors.LocationValueError, errors.LocationParseError)):
        return Failure(STATUS_INVALID_URL, "invalid_url", "Invalid URL")
    if isinstance(exc, OSError):
        detail = exc.strerror or type(exc).__name__
        return Failure(STATUS_CONNECT_ERROR, "connect_error", f"Network error: {detail}")
    return Failure(STATUS_INTERNAL_ERROR, "internal_error", type(exc).__name__)


def _timeout(call: _Call) -> Failure:
    phase = "reading the response" if "startTransfer" in call.stamps else "for a response"
    stop = call.request.stop
    limit = stop.timeout if stop is not None and stop.timeout else call.request.timeout
    return Failure(STATUS_TIMEOUT, "timeout", f"Timed out after {limit:g} s {phase}")


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
