"""The executor's transport: urllib3 connections that time each phase of a call, pools keyed by the
vetted address, shared TLS contexts, and a watchdog that enforces each call's wall-clock deadline.

The connection classes report into the `Progress` that `attach` made current on their thread.
urllib3, ssl, socket and certifi are loaded when the first `Transport` is built, not at import:
the Lambda's cold start imports this module for every route.
"""

from __future__ import annotations

import datetime
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import socket
    import ssl

    from urllib3.connectionpool import HTTPConnectionPool

_UTC = datetime.UTC
POOL_SIZE = 4  # idle keep-alive connections kept per (scheme, address, port, TLS name, trust)
_MAX_POOLS = 32
MAX_TIMEOUT_S = 300  # the longest a call's timeout may be, also when changed in flight


class Stop:
    """Lets another thread act on one call in flight: `abort` ends it now (its socket is cut as
    at the deadline, and the call reports `text`), `set_timeout` moves its deadline (counted
    from the call's start). Either may come before the call starts; the call then begins with
    it. Guarded by WATCHDOG.lock."""

    def __init__(self) -> None:
        self.text: str | None = None
        self.timeout: float | None = None
        self._call: Progress | None = None

    @property
    def aborted(self) -> bool:
        return self.text is not None

    def abort(self, text: str) -> None:
        with WATCHDOG.lock:
            self.text = text
            if self._call is not None:
                WATCHDOG.cut_now(self._call)

    def set_timeout(self, seconds: float) -> None:
        with WATCHDOG.lock:
            self.timeout = min(float(seconds), MAX_TIMEOUT_S)
            if self._call is not None:
                WATCHDOG.move(self._call, self._call.t0 + self.timeout)

    def bind(self, call: Progress) -> None:
        with WATCHDOG.lock:
            self._call = call
            if self.text is not None:
                call.expired = True


class Progress:
    """One call's clock and what its connections report: phase stamps, reuse and TLS facts.

    `begin` starts the clock; phases and `stats` count from then, and the watchdog cuts the call's
    socket at `deadline`.
    """

    t0: float  # perf_counter when the call began
    deadline: float  # perf_counter by which the call must be over

    def __init__(self, stop: Stop | None = None) -> None:
        self.stop = stop
        self.end: float | None = None
        self.stamps: dict[str, float] = {}  # phase -> perf_counter, for the current hop
        self.reused = False
        self.tls_verified = False
        self.cert_expiry: int | None = None
        # Guarded by WATCHDOG.lock: our duplicate of the socket in use, and whether it was cut.
        self.watched: socket.socket | None = None
        self.expired = False

    def begin(self, timeout: float) -> None:
        self.t0 = time.perf_counter()
        if self.stop is not None:
            with WATCHDOG.lock:
                if self.stop.timeout is not None:
                    timeout = self.stop.timeout  # changed before the call began
                self.deadline = self.t0 + max(timeout, 0.0)
                self.stop.bind(self)
            return
        self.deadline = self.t0 + max(timeout, 0.0)

    def mark(self, phase: str) -> None:
        self.stamps[phase] = time.perf_counter()

    def remaining(self) -> float:
        if self.expired:
            return 0.0  # cut (deadline or abort): no step may start
        return self.deadline - time.perf_counter()

    def timed_out(self) -> bool:
        return self.expired or time.perf_counter() >= self.deadline

    def total_us(self) -> int:
        """Microseconds from the start of the call to its end (0 before it ended)."""
        return 0 if self.end is None else int((self.end - self.t0) * 1_000_000)

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


_local = threading.local()


def attach(progress: Progress) -> None:
    """Make `progress` the one this thread's connections report to."""
    _local.progress = progress


def detach(progress: Progress) -> None:
    """End the call: its connections stop reporting and the watchdog forgets it."""
    _local.progress = None
    WATCHDOG.release(progress)


def _current() -> Progress | None:
    progress: Progress | None = getattr(_local, "progress", None)
    return progress


class Watchdog:
    """Cuts the socket of a call that passes its deadline, so no server can hold a call longer.

    Socket timeouts restart with every byte, so a server trickling one byte a second would never
    trip them; shutting the socket down wakes the blocked read at the deadline. The watchdog works
    on a duplicate descriptor that the call owns, so it never touches a socket that was closed
    and whose number was reused.
    """

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self._calls: set[Progress] = set()
        self._wake_at = float("inf")
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread that cuts late calls (the first watched call would otherwise)."""
        with self.lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="cronhook-deadline", daemon=True
                )
                self._thread.start()

    def watch(self, call: Progress, sock: socket.socket) -> None:
        import socket as socket_module

        with self.lock:
            self._drop(call)
            call.watched = socket_module.fromfd(sock.fileno(), sock.family, sock.type)
            if call.expired:
                self._cut(call)
            elif call not in self._calls:
                self._calls.add(call)
                if self._thread is None:
                    self.start()  # the lock is reentrant
                if call.deadline < self._wake_at:
                    self._wake_at = call.deadline
                    self.lock.notify()

    def unwatch(self, call: Progress) -> bool:
        """Stop watching the call's socket; True if it was already cut at the deadline. Until
        it connects again, the call has no socket to cut, and `remaining` keeps its deadline."""
        with self.lock:
            self._drop(call)
            self._calls.discard(call)
            return call.expired

    def release(self, call: Progress) -> None:
        # Only this call's own thread watches it: when nothing is watched (the usual end, after
        # `unwatch`), there is nothing to drop, and the lock that every call takes is spared.
        if call.watched is None and call not in self._calls:
            return
        with self.lock:
            self._drop(call)
            self._calls.discard(call)

    def cut_now(self, call: Progress) -> None:
        """End the call at once (an abort); the caller holds `lock`."""
        self._cut(call)
        self._calls.discard(call)

    def move(self, call: Progress, deadline: float) -> None:
        """Move the call's deadline (a timeout changed in flight); the caller holds `lock`."""
        call.deadline = deadline
        if call in self._calls and deadline < self._wake_at:
            self._wake_at = deadline
        self.lock.notify()

    def _drop(self, call: Progress) -> None:
        if call.watched is not None:
            call.watched.close()
            call.watched = None

    def _cut(self, call: Progress) -> None:
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


WATCHDOG = Watchdog()


class Transport:
    """urllib3 pools whose connections time each phase and report to the current call.

    Built once per process (see `get`); pools are keyed by the vetted address, the TLS name and the
    trust (whether certificates are verified, and against which extra CA bundle), so a keep-alive
    connection is only reused for the same target under the same verification.
    """

    def __init__(self) -> None:
        import http.client
        import queue

        from urllib3.connection import HTTPConnection, HTTPSConnection
        from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
        from urllib3.util.timeout import Timeout

        self.timeout = Timeout
        self._lock = threading.Lock()
        self._pools: OrderedDict[tuple[Any, ...], HTTPConnectionPool] = OrderedDict()
        self._contexts: dict[tuple[bool, str | None], ssl.SSLContext] = {}
        # Pools pushed out by newer targets while calls may still hold them (weakly held: gone
        # with the last call).
        self._retired: weakref.WeakSet[HTTPConnectionPool] = weakref.WeakSet()
        self._context_lock = threading.Lock()

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
                    WATCHDOG.watch(call, sock)
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
                    WATCHDOG.watch(call, self.sock)
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
            if call is not None and WATCHDOG.unwatch(call):
                # Its socket was cut at the deadline: never hand it to another call.
                if conn is not None:
                    conn.close()
                return False
            if pool in self._retired or (pool.pool is not None and pool.pool.full()):
                # A pool no longer kept keeps no connection; and when more calls ran at once
                # than idle connections are kept, the extra one is closed quietly instead of
                # urllib3's "pool is full" warning in every run's log.
                if conn is not None:
                    conn.close()
                return False
            return True

        class IdleConnections(queue.LifoQueue[Any]):
            """A pool's idle connections, last in first out, under one plain lock: a LifoQueue
            without its three Conditions, which a pool that never blocks (block=False, as every
            pool here is) never waits on. A burst to new targets builds one per target.

            `get` on an empty queue and `put` on a full one raise at once, whatever `block`.
            """

            def __init__(self, maxsize: int = 0) -> None:  # no super().__init__: no Conditions
                self.maxsize = maxsize
                self.mutex = threading.Lock()
                self.queue: list[Any] = []

            def qsize(self) -> int:
                return len(self.queue)

            def empty(self) -> bool:
                return not self.queue

            def full(self) -> bool:
                return 0 < self.maxsize <= len(self.queue)

            def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
                with self.mutex:
                    if 0 < self.maxsize <= len(self.queue):
                        raise queue.Full
                    self.queue.append(item)

            def get(self, block: bool = True, timeout: float | None = None) -> Any:
                with self.mutex:
                    if not self.queue:
                        raise queue.Empty
                    return self.queue.pop()

        class Pool(HTTPConnectionPool):
            ConnectionCls = TimedConnection
            QueueCls = IdleConnections

            def _put_conn(self, conn: Any) -> None:
                if keep(self, conn):
                    super()._put_conn(conn)

        class TLSPool(HTTPSConnectionPool):
            ConnectionCls = TimedTLSConnection
            QueueCls = IdleConnections

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
        self,
        scheme: str,
        address: str,
        port: int,
        server_name: str,
        verify: bool,
        ca_file: str | None = None,
    ) -> HTTPConnectionPool:
        """The pool for one vetted address; `ca_file` is trusted besides certifi's bundle."""
        https = scheme == "https"
        trust = (verify, ca_file if verify else None) if https else None
        key = (scheme, address, port, server_name if https else None, trust)
        # A lookup without the lock (a dict read is atomic): a call to a new target, as most
        # are when a burst goes to many, takes the lock once, to add its pool.
        if key in self._pools:
            with self._lock:
                pool = self._pools.get(key)
                if pool is not None:
                    self._pools.move_to_end(key)
                    return pool
        # Built and the oldest closed outside the lock, which every call takes: a burst of calls
        # to new targets would otherwise queue behind each other's pool set-up and socket close.
        common: dict[str, Any] = {"maxsize": POOL_SIZE, "block": False, "retries": False}
        if https:
            pool = self._tls_pool_class(
                address,
                port,
                ssl_context=self.tls_context(verify, ca_file),
                server_hostname=server_name,
                **common,
            )
        else:
            pool = self._pool_class(address, port, **common)
        oldest = None
        with self._lock:
            built = self._pools.setdefault(key, pool)  # another call may have built one meanwhile
            self._pools.move_to_end(key)
            if len(self._pools) > _MAX_POOLS:
                _, oldest = self._pools.popitem(last=False)
                self._retired.add(oldest)
        if oldest is not None:
            _close_idle(oldest)
        return built

    def tls_context(self, verify: bool, ca_file: str | None = None) -> ssl.SSLContext:
        """The process's one TLS context per trust: certifi's CA bundle plus `ca_file` if given,
        or none at all without `verify` (`ca_file` is then ignored).

        An unreadable or invalid `ca_file` raises OSError or ssl.SSLError, and nothing is kept.
        """
        key = (verify, ca_file if verify else None)
        context = self._contexts.get(key)
        if context is not None:
            return context
        # One thread builds it (loading certifi's bundle costs ~20 ms of CPU): a burst of
        # HTTPS calls at one second would otherwise build one each, all at once.
        with self._context_lock:
            context = self._contexts.get(key)
            if context is not None:
                return context
            import ssl

            if verify:
                import certifi

                context = ssl.create_default_context(cafile=certifi.where())
                if ca_file is not None:
                    context.load_verify_locations(cafile=ca_file)
            else:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            self._contexts[key] = context
        return context


def _close_idle(pool: HTTPConnectionPool) -> None:
    """Close a retired pool's idle connections, but not the pool: a call that took it from the
    table just before may still open a connection in it (urllib3 would refuse on a closed pool),
    which `keep` then closes after its call."""
    idle = pool.pool
    if idle is None:
        return
    # Emptied at once under the queue's lock, as get(block=False) until Empty would, one lock
    # and one exception per slot. Nobody waits on it: urllib3's pools here never block.
    with idle.mutex:
        taken = list(idle.queue)
        idle.queue.clear()
    for conn in taken:
        if conn is not None:
            conn.close()


_transports: list[Transport] = []
_transport_lock = threading.Lock()


def built() -> bool:
    """Whether the process's Transport exists (urllib3 is loaded)."""
    return bool(_transports)


def get() -> Transport:
    """The process's one Transport, built (and urllib3 loaded) on the first call."""
    if not _transports:
        with _transport_lock:
            if not _transports:
                _transports.append(Transport())
    return _transports[0]


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
        if not (text[:14].isascii() and text[:14].isdigit()):
            return None
        # By hand, not time.strptime: that one takes a module-wide lock, and a burst of new TLS
        # connections at one second would queue on it.
        year, month, day, hour, minute, second = (
            int(text[a:b]) for a, b in ((0, 4), (4, 6), (6, 8), (8, 10), (10, 12), (12, 14))
        )
        # datetime checks the ranges; a leap second (60) counts as the one before it.
        at = datetime.datetime(year, month, day, hour, minute, min(second, 59), tzinfo=_UTC)
        return int(at.timestamp()) + (second == 60)
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
