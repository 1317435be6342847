"""Helpers the benchmarks share: run length, percentiles, the machine, subprocess environments,
free loopback ports and a loopback sink that records when each request arrived.

Standard library only, so that `python bench/common.py --sink` runs without the project's packages.
"""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
SMOKE_ENV = "CRONHOOK_BENCH_SMOKE"


def smoke() -> bool:
    """True when the runner asked for a smoke run (`python -m bench --smoke`): figures are noise."""
    return os.environ.get(SMOKE_ENV) == "1"


def budget(full: float, smoke_value: float) -> float:
    """`full` normally, `smoke_value` in a smoke run: how long or how many times to measure."""
    return smoke_value if smoke() else full


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between ranks, as numpy's default."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Iterable[float]) -> dict[str, float]:
    """p50, p95, p99 and max of some samples (the same unit in as out)."""
    samples = list(values)
    return {
        "p50": percentile(samples, 50),
        "p95": percentile(samples, 95),
        "p99": percentile(samples, 99),
        "max": max(samples),
    }


def median(values: Iterable[float]) -> float:
    return percentile(values, 50)


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPU, usable cores, memory, OS, Python, load at start."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count() or 0,
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }
    if hasattr(os, "sched_getaffinity"):
        info["usable_cores"] = len(os.sched_getaffinity(0))
    quota = _cpu_quota()
    if quota is not None:
        info["cpu_quota_cores"] = quota
    memory = _meminfo_gb()
    if memory is not None:
        info["memory_gb"] = memory
    if hasattr(os, "getloadavg"):
        info["load_1m_at_start"] = round(os.getloadavg()[0], 2)
    return info


def describe(info: Mapping[str, Any]) -> str:
    """One line for a report: `AMD EPYC, 2 cores, 7.8 GB RAM, Linux-..., CPython 3.11.7`."""
    cores = info.get("usable_cores", info.get("cores"))
    parts = [str(info.get("cpu", "unknown CPU")), f"{cores} cores"]
    if "cpu_quota_cores" in info:
        parts.append(f"CPU quota {info['cpu_quota_cores']:g} cores")
    if "memory_gb" in info:
        parts.append(f"{info['memory_gb']:g} GB RAM")
    parts += [str(info.get("os", "")), str(info.get("python", ""))]
    return ", ".join(p for p in parts if p)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_quota() -> float | None:
    """Cores allowed by a cgroup v2 CPU limit (containers), None when unlimited or unknown."""
    try:
        limit, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
    except (OSError, ValueError):
        return None
    return None if limit == "max" else round(int(limit) / int(period), 2)


def _meminfo_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def child_env(**extra: str) -> dict[str, str]:
    """This environment for a child process, with dummy AWS credentials, no AWS endpoint or
    profile, and no proxy for loopback: a benchmark never reaches real AWS or leaves 127.0.0.1."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.pop(SMOKE_ENV, None)
    env.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    env.update(extra)
    return env


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (a child process binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Arrival(NamedTuple):
    at: float  # epoch seconds (time.time()) when the request's head had arrived
    method: str
    path: str


class Sink:
    """A loopback HTTP/1.1 server in a child process: it answers every request `200 ok` (after
    `delay_s`) on kept-alive connections and records when each one arrived.

        with Sink() as sink:
            ...  # send requests to sink.url + "/job/1"
            arrivals = sink.arrivals()  # stops the server

    The child keeps the server off this process's GIL, so the client measured here runs alone.
    With `addresses` = N it answers on the same port of 127.0.0.1 to 127.0.0.N, and
    `url_for(n)` spreads calls over them: calls to distinct targets, that share no connection.
    """

    def __init__(self, delay_s: float = 0.0, addresses: int = 1) -> None:
        if not 1 <= addresses <= 254:
            raise ValueError("addresses: 1 to 254 (127.0.0.1 to 127.0.0.254)")
        self.delay_s = delay_s
        self.addresses = addresses
        self.port = 0
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def url_for(self, n: int) -> str:
        """The base URL of call `n`: 127.0.0.1 to 127.0.0.N in turn."""
        return f"http://127.0.0.{1 + n % self.addresses}:{self.port}"

    def __enter__(self) -> Sink:
        self._proc = subprocess.Popen(
            [sys.executable, __file__, "--sink", str(self.delay_s), str(self.addresses)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.strip().isdigit():
            self._stop()
            raise RuntimeError(f"the sink did not start (it printed {line!r})")
        self.port = int(line)
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def arrivals(self) -> list[Arrival]:
        """Stop the server and return every request it received, in arrival order."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise RuntimeError("the sink is not running")
        proc.stdin.close()
        data = proc.stdout.read()
        proc.wait(timeout=10)
        self._proc = None
        return sorted(Arrival(*row) for row in json.loads(data))

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        self._proc = None


def _serve_sink(delay_s: float, out: IO[str], addresses: int = 1) -> None:
    """The child side of `Sink`: serve until stdin closes, then print the arrivals as JSON.

    One asyncio loop, no thread per connection: a thread-per-connection server (http.server)
    tops out near 1,000 new connections a second on this machine, which would make the sink,
    not the client measured, the ceiling of a burst of calls to distinct targets.
    """
    import asyncio
    import threading
    import time

    arrivals: list[tuple[float, str, str]] = []
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n"

    class Connection(asyncio.Protocol):
        def __init__(self) -> None:
            self.transport: asyncio.Transport | None = None
            self.pending = b""
            self.skip = 0  # bytes of the current request's body still to come

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            # asyncio sets TCP_NODELAY on TCP sockets: no delayed-ACK stall on kept-alive ones.
            self.transport = transport  # type: ignore[assignment]

        def data_received(self, data: bytes) -> None:
            self.pending += data
            while True:
                if self.skip:
                    taken = min(self.skip, len(self.pending))
                    self.pending, self.skip = self.pending[taken:], self.skip - taken
                    if self.skip:
                        return
                end = self.pending.find(b"\r\n\r\n")
                if end < 0:
                    return
                at = time.time()
                head, self.pending = self.pending[:end], self.pending[end + 4 :]
                lines = head.split(b"\r\n")
                method, path = [*lines[0].split(b" "), b"", b""][:2]
                fields = {}
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    fields[name.strip().lower()] = value.strip().lower()
                arrivals.append((at, method.decode("latin-1"), path.decode("latin-1")))
                self.skip = int(fields.get(b"content-length") or 0)
                # A chunked request body has no length up front: answer, then close.
                close = b"transfer-encoding" in fields or fields.get(b"connection") == b"close"
                reply = answer if method == b"HEAD" else answer + b"ok"
                if delay_s:
                    loop.call_later(delay_s, self._send, reply, close)
                else:
                    self._send(reply, close)
                if close:
                    return

        def _send(self, reply: bytes, close: bool) -> None:
            if self.transport is None or self.transport.is_closing():
                return
            self.transport.write(reply)
            if close:
                self.transport.close()

    loop = asyncio.new_event_loop()
    # The default backlog of 100 drops SYNs under a burst of new connections, and each drop
    # costs the client a 1 s retransmission: that would be the sink's jitter, not ours.
    servers = [
        loop.run_until_complete(loop.create_server(Connection, "127.0.0.1", 0, backlog=4096))
    ]
    port = servers[0].sockets[0].getsockname()[1]
    for n in range(2, addresses + 1):  # the whole of 127.0.0.0/8 is loopback on Linux
        served = loop.create_server(Connection, f"127.0.0.{n}", port, backlog=4096)
        servers.append(loop.run_until_complete(served))
    print(port, flush=True)

    def wait_for_stdin() -> None:
        sys.stdin.read()  # the parent closes our stdin when it wants the arrivals
        loop.call_soon_threadsafe(loop.stop)

    threading.Thread(target=wait_for_stdin, daemon=True).start()
    loop.run_forever()
    for server in servers:
        server.close()
    out.write(json.dumps(arrivals))
    out.flush()


if __name__ == "__main__" and sys.argv[1:2] == ["--sink"]:
    _serve_sink(
        float(sys.argv[2]) if len(sys.argv) > 2 else 0.0,
        sys.stdout,
        int(sys.argv[3]) if len(sys.argv) > 3 else 1,
    )
