"""`make run`: the whole service on one machine, with no AWS account.

One process runs everything: the Chalice app served as `chalice local` serves it, a ticker that
calls the tick at every minute boundary (EventBridge's job in AWS) and a worker that feeds the
dispatch queue's messages to the SQS worker function (Lambda's SQS integration in AWS).

Backends (CRONHOOK_BACKEND):
- `sqlite` (the default): one SQLite database in CRONHOOK_HOME holds jobs, keys, runs, the
  dispatch queue, saved responses and the e-mail outbox; every answer is on disk before it is
  sent, so a crash (SIGKILL, OOM) loses nothing that was answered. Secrets are sealed with a key
  file made there on the first start. A `data.json` left by the moto stack is imported once.
- `moto`: moto in server mode stands in for DynamoDB, S3, SQS, SES and KMS (resources made from
  infra/resources.json), the AWS code path end to end; its data lives in memory and is saved to
  `data.json` at a clean stop only.

SIGINT or SIGTERM stops it all. One stack per home: a second start on the same home refuses.

Environment: CRONHOOK_PORT (API, default 8000), CRONHOOK_AWS_PORT (moto, default 4566),
CRONHOOK_HOME (where the data, the admin key and the running stack's address are kept, default
.cronhook in the repository), CRONHOOK_ADMIN_KEY (an admin key in cronhook's format to create at
start; otherwise one is made, saved to $CRONHOOK_HOME/admin-key, and reused on later starts),
CRONHOOK_SQLITE_SYNC (`normal`, or `full` to survive a power cut as well).
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from chalicelib.store.sqlite import Received

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "local"
LOCAL_ENV_FILE = "local-env.json"  # the running stack's endpoint and names, for admin.py --local
DATA_FILE = "data.json"
LOCK_FILE = "stack.lock"
BACKUP_DIR = "backups"
HOUSEKEEP_S = 300  # expired runs, watch lists and responses are deleted this often (sqlite)
WORKER_WAIT_S = 1  # SQS long-poll wait: short enough for a prompt shutdown
# Worker batches at once, as Lambda runs many invocations side by side: a batch received ahead
# of its second waits for it, so this bounds the runs that can start together (10 messages each).
WORKER_CONCURRENCY = 100
STOP_GRACE_S = 5  # on shutdown, how long ticks and the worker may take to finish their work

log = logging.getLogger("make-run")
_reported: set[str] = set()
_stopping = threading.Event()  # set on shutdown: failures from then on are expected, not news


def home() -> Path:
    """The directory of the local stack's state: $CRONHOOK_HOME or .cronhook in the repository."""
    raw = os.environ.get("CRONHOOK_HOME", "").strip()
    return Path(raw).expanduser().resolve() if raw else ROOT / ".cronhook"


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default)).strip()
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 65536:
        sys.exit(f"{name} must be a TCP port number, not {raw!r}")
    port = int(raw)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers do: a port whose last connections linger in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            sys.exit(f"port {port} on 127.0.0.1 is in use: stop what holds it or set {name}")
    return port


def _aws_environment(aws_port: int) -> None:
    """Point every boto3 client at the embedded moto server with dummy credentials."""
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{aws_port}"
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.pop("AWS_PROFILE", None)


def _report_once(message: str) -> None:
    if message not in _reported:
        _reported.add(message)
        log.warning(message)


def _admin_key(stores: Any, state_dir: Path) -> tuple[str, str]:
    """The admin key and where it came from: 'new', 'CRONHOOK_ADMIN_KEY' or the saved file."""
    from chalicelib import auth

    saved = state_dir / "admin-key"
    wanted = os.environ.get("CRONHOOK_ADMIN_KEY", "").strip()
    source = "CRONHOOK_ADMIN_KEY"
    if not wanted and saved.exists():
        wanted, source = saved.read_text().strip(), str(saved)
    if wanted:
        try:
            auth.import_key(stores, wanted, ACCOUNT, ["admin"], time.time(), "admin (make run)")
        except Exception as exc:
            sys.exit(f"{source}: {exc}")
        return wanted, source
    full, _ = auth.create_key(stores, ACCOUNT, ["admin"], time.time(), name="admin (make run)")
    state_dir.mkdir(parents=True, exist_ok=True)
    saved.write_text(full + "\n")
    saved.chmod(0o600)
    return full, "new"


# ---- the ticker: EventBridge's once-a-minute rule ------------------------------------------


def fire_tick(now: float) -> dict[str, Any] | None:
    """Run one tick as the scheduled Lambda would; None if it failed (logged, never raised)."""
    try:
        dispatch = importlib.import_module("chalicelib.dispatch")
    except ImportError as exc:
        _report_once(f"ticker: cannot import chalicelib.dispatch ({exc}); jobs will not fire")
        return None
    try:
        result: dict[str, Any] = dispatch.tick(now)
    except Exception:
        if _stopping.is_set():
            log.info("tick %s cut short by the shutdown", _clock_text(now))
        else:
            log.exception("tick %s failed", _clock_text(now))
        return None
    log.info("tick %s %s", _clock_text(now), json.dumps(result, default=str, sort_keys=True))
    return result


def next_boundary(now: float) -> float:
    """The next whole minute strictly after `now` (epoch seconds)."""
    return (math.floor(now / 60) + 1) * 60.0


class Ticker:
    """EventBridge's once-a-minute rule: a tick at start, then one at every minute boundary.

    Each tick runs in a thread of its own, as each would in a Lambda of its own: a tick waits for
    the slots it claimed (up to the end of the next minute) to come due, so ticks overlap.
    """

    def __init__(self, stop: threading.Event, clock: Callable[[], float] = time.time) -> None:
        self.stop = stop
        self.clock = clock
        self.ticks: list[threading.Thread] = []

    def fire(self, now: float) -> threading.Thread:
        self.ticks = [t for t in self.ticks if t.is_alive()]
        tick = threading.Thread(target=fire_tick, args=(now,), name="tick", daemon=True)
        tick.start()
        self.ticks.append(tick)
        return tick

    def run(self) -> None:
        self.fire(self.clock())
        while not self.stop.is_set():
            boundary = next_boundary(self.clock())
            # Event.wait runs on the monotonic clock and may wake a hair early: never tick
            # before the boundary, or the slots due at it would wait a whole minute.
            while (remaining := boundary - self.clock()) > 0:
                if self.stop.wait(remaining):
                    return
            self.fire(self.clock())


def _clock_text(now: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(now)) + "Z"


# ---- the worker: Lambda's SQS integration ---------------------------------------------------


class Source(Protocol):
    """Where the worker takes its messages: the SQLite queue, or SQS (moto)."""

    def receive(self, limit: int = 10) -> list[Received]: ...
    def delete(self, receipts: Sequence[str]) -> None: ...
    def wait(self, timeout: float) -> None: ...


class SqsSource:
    """SQS (moto) as a Source: long polls of WORKER_WAIT_S, deletes in batches."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def receive(self, limit: int = 10) -> list[Received]:
        from chalicelib.store.sqlite import Received

        got = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=limit, WaitTimeSeconds=WORKER_WAIT_S
        )
        return [Received(m["ReceiptHandle"], m["Body"]) for m in got.get("Messages", [])]

    def delete(self, receipts: Sequence[str]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(receipts)]
        self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)

    def wait(self, timeout: float) -> None:
        return None  # receive() long-polls


def work_messages(source: Source, messages: list[Received], now: float) -> bool:
    """Hand the bodies to the worker function; delete the messages only if it returned.

    As with Lambda's SQS integration, a failed batch stays in the queue and comes back after the
    visibility timeout (and goes to the dead-letter queue after the redrive policy's receives).
    """
    dispatch = importlib.import_module("chalicelib.dispatch")
    try:
        done = dispatch.work_batch([m.body for m in messages], now)
    except Exception:
        if not _stopping.is_set():
            log.exception("worker failed on %d message(s); they come back later", len(messages))
        return False
    # As Lambda's partial batch response: the messages whose tasks failed stay and come back.
    failed = set(done.failed)
    source.delete([m.receipt for n, m in enumerate(messages) if n not in failed])
    log.info("worker %d message(s) %s", len(messages), json.dumps(done.report, default=str))
    return not failed


def run_worker(
    stop: threading.Event,
    source: Source,
    concurrency: int = WORKER_CONCURRENCY,
) -> None:
    """Take the dispatch queue's messages in batches of up to 10 as they become visible, up to
    `concurrency` batches at once: Lambda's SQS integration hands each batch to an invocation of
    its own, so a slow target holds its batch only, not the messages that come due behind it."""
    free = threading.BoundedSemaphore(concurrency)
    batches: list[threading.Thread] = []

    def invoke(messages: list[Received]) -> None:
        try:
            work_messages(source, messages, time.time())
        except Exception as exc:
            if not stop.is_set():
                log.warning("worker: cannot delete worked messages (%s); they come back", exc)
        finally:
            free.release()

    while not stop.is_set():
        try:
            importlib.import_module("chalicelib.dispatch")
        except ImportError as exc:
            _report_once(f"worker: cannot import chalicelib.dispatch ({exc}); queue not read")
            stop.wait(60)
            continue
        # Receive only what an invocation is free to work: a received message is hidden from
        # everyone else until its visibility timeout.
        if not free.acquire(timeout=WORKER_WAIT_S):
            continue
        try:
            messages = source.receive(10)
        except Exception as exc:
            free.release()
            if stop.is_set():
                break
            log.warning("worker: cannot read the dispatch queue (%s); retrying", exc)
            stop.wait(1)
            continue
        if not messages:
            free.release()
            source.wait(WORKER_WAIT_S)
            continue
        batch = threading.Thread(target=invoke, args=(messages,), name="worker-batch", daemon=True)
        batch.start()
        batches = [b for b in batches if b.is_alive()] + [batch]
    deadline = time.monotonic() + STOP_GRACE_S
    for batch in batches:
        batch.join(max(0.0, deadline - time.monotonic()))


def pending_messages(queue_name: str) -> list[dict[str, Any]]:
    """The dispatch queue's messages, each with when it becomes deliverable (epoch seconds),
    read from moto's backend: SQS has no call that shows a delayed message. A message a worker
    had received but not deleted is deliverable when its visibility timeout ends."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    queue = sqs_backends[DEFAULT_ACCOUNT_ID][region].queues.get(queue_name)
    if queue is None:
        return []
    now_ms = time.time() * 1000
    return [
        {"body": m.body, "deliverAt": max(m.delayed_until, m.visible_at, now_ms) / 1000}
        for m in list(queue._messages)
    ]


def send_again(sqs: Any, queue_url: str, messages: list[dict[str, Any]], now: float) -> int:
    """Put saved messages back, each delayed to when it was due (at once if that has passed)."""
    for message in messages:
        delay = min(900, max(0, math.ceil(float(message["deliverAt"]) - now)))
        sqs.send_message(QueueUrl=queue_url, MessageBody=message["body"], DelaySeconds=delay)
    return len(messages)


# ---- start and stop -------------------------------------------------------------------------


def _answer_unknown_routes_with_404() -> None:
    """`chalice local` answers a path or method the app lacks as API Gateway does by default:
    403, quoting the Authorization header (the API key) in the body. The deployed stack answers
    404 with the error shape (scripts.package); so does the local one."""
    from chalice import local as chalice_local

    from chalicelib.errors import NO_SUCH_ROUTE

    gateway = chalice_local.LocalGateway
    if getattr(gateway.handle_request, "no_such_route", False):
        return
    original = gateway.handle_request

    def handle_request(self: Any, method: str, path: str, headers: Any, body: Any) -> Any:
        try:
            return original(self, method, path, headers, body)
        except chalice_local.ForbiddenError:
            # The app has no Chalice authorizers (keys are checked in the routes), so this is
            # the gateway's "no such route".
            return {
                "statusCode": 404,
                "headers": {"Content-Type": "application/json"},
                "multiValueHeaders": {},
                "body": json.dumps(NO_SUCH_ROUTE),
            }

    handle_request.no_such_route = True  # type: ignore[attr-defined]
    gateway.handle_request = handle_request  # type: ignore[method-assign]


def _quiet_logging() -> None:
    """One line per API request and per tick; moto's and werkzeug's request lines stay off."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from chalice.local import ChaliceRequestHandler

    def log_request(self: Any, code: int | str = "-", size: int | str = "-") -> None:
        log.info("api %s %s", " ".join(self.requestline.split(" ")[:2]), code)

    ChaliceRequestHandler.log_request = log_request
    # Without this, keep-alive clients wait ~40 ms per response (Nagle + delayed ACK).
    ChaliceRequestHandler.disable_nagle_algorithm = True


@dataclass
class Backend:
    """A started backend, as `main` uses it."""

    name: str
    lines: list[str]  # for the banner: where the data is, what it restored
    source: Source  # the dispatch queue, for the worker
    env: dict[str, str]  # what `scripts.admin --local` needs to reach the same data
    close: Callable[[], None]  # after the API, ticks and worker have stopped
    housekeep: Callable[[float], Any] | None = None


def lock_home(state_dir: Path, api_port: int) -> Any:
    """Hold the home's lock for the life of this process, or exit naming the stack that holds
    it. The lock is the kernel's (flock): it goes with the process, however that ends."""
    import fcntl

    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle = (state_dir / LOCK_FILE).open("a+")
    except OSError as exc:
        sys.exit(f"cannot use {state_dir} as the stack's home: {exc.strerror}")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        sys.exit(
            f"a cronhook stack already runs on {state_dir} ({holder}): stop it first, "
            "or give this one another CRONHOOK_HOME"
        )
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}, API http://127.0.0.1:{api_port}\n")
    handle.flush()
    return handle


def last_backup(state_dir: Path) -> Path | None:
    found = sorted((state_dir / BACKUP_DIR).glob("*.db"))
    return found[-1] if found else None


def backup_name(state_dir: Path, now: float) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    return state_dir / BACKUP_DIR / f"cronhook-{stamp}.db"


def _start_sqlite(state_dir: Path) -> Backend:
    from chalicelib import wiring
    from chalicelib.errors import StoreError
    from chalicelib.store.sqlite import SqliteQueue
    from scripts import persist

    os.environ["CRONHOOK_BACKEND"] = "sqlite"
    os.environ["CRONHOOK_HOME"] = str(state_dir)
    wiring.configure()
    path = state_dir / wiring.SQLITE_FILE
    try:
        db = wiring.database()
        problem = db.check()
    except StoreError as exc:
        problem = exc.message
    if problem != "ok":
        backup = last_backup(state_dir)
        restore = (
            f"the last backup is {backup}: to go back to it, copy it over {path} "
            f"(and delete {path.name}-wal and {path.name}-shm)"
            if backup
            else "there is no backup in " + str(state_dir / BACKUP_DIR)
        )
        sys.exit(f"cannot use the database {path}: {problem}\n{restore}")
    try:
        stores = wiring.stores()
        sealing = state_dir / wiring.SEALING_KEY_FILE
        lines = [f"  data          {path} (SQLite; secrets sealed with {sealing})"]
        imported = persist.import_once(
            state_dir / DATA_FILE, stores, wiring.queue(), wiring.blobs(), time.time()
        )
    except persist.PersistError as exc:
        sys.exit(f"{exc}\nMove the file away to start without importing it.")
    except StoreError as exc:
        sys.exit(f"cannot use the database {path}: {exc.message}")
    if imported:
        lines.append(f"                imported {imported} from {state_dir / DATA_FILE} (kept)")
    queue = wiring.queue()
    assert isinstance(queue, SqliteQueue)
    return Backend(
        name="sqlite",
        lines=lines,
        source=queue,
        env={"CRONHOOK_BACKEND": "sqlite", "CRONHOOK_HOME": str(state_dir)},
        close=db.close,
        housekeep=db.housekeep,
    )


def _start_moto(state_dir: Path, aws_port: int) -> Backend:
    _aws_environment(aws_port)
    import boto3
    from moto.server import ThreadedMotoServer

    from scripts import persist
    from scripts.provision import environment, provision

    try:
        saved = persist.load(state_dir / DATA_FILE)
    except persist.PersistError as exc:
        sys.exit(f"{exc}\nMove the file away to start with no data.")

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=aws_port, verbose=False)
    moto.start()
    session = boto3.session.Session()
    outputs = provision(session, stage="local")
    # SES (like moto's) sends only from a verified identity: the notification sender.
    session.client("ses").verify_email_identity(
        EmailAddress=os.environ.get("CRONHOOK_NOTIFY_FROM", "cronhook@localhost")
    )
    # The template's outputs win over the config's names: resources are defined once.
    names_env = environment(outputs)
    os.environ.update(names_env)
    os.environ["CRONHOOK_BACKEND"] = "aws"
    names = persist.Names.from_env(os.environ)
    restored = "nothing saved yet"
    if saved is not None:
        try:
            restored = "restored " + persist.restore(session, names, saved).describe()
        except Exception as exc:
            moto.stop()
            sys.exit(f"could not load {state_dir / DATA_FILE}: {exc}")

    from chalicelib import wiring

    wiring.configure()
    sqs = session.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=wiring.settings().queue)["QueueUrl"]
    # The runs claimed before the last stop were waiting in the queue: without their messages
    # they would sit `queued`, holding their jobs' places, until marked lost minutes later.
    if saved is not None and saved.get("queue"):
        restored += f", queue messages: {send_again(sqs, queue_url, saved['queue'], time.time())}"

    def close() -> None:
        print("saving the data...", flush=True)
        try:
            queue = pending_messages(wiring.settings().queue)
            counts = persist.save(session, names, state_dir / DATA_FILE, {"queue": queue})
            print(
                f"saved {counts.describe()}, queue messages: {len(queue)} "
                f"to {state_dir / DATA_FILE}",
                flush=True,
            )
        except Exception as exc:
            sys.exit(f"could not save the data (the previous {DATA_FILE} is unchanged): {exc}")
        finally:
            moto.stop()

    return Backend(
        name="moto",
        lines=[
            f"  data          {state_dir / DATA_FILE} ({restored}; saved at a clean stop only)",
            f"  embedded AWS  http://127.0.0.1:{aws_port} (moto: DynamoDB, S3, SQS, SES, KMS)",
        ],
        source=SqsSource(sqs, queue_url),
        env={
            "CRONHOOK_BACKEND": "aws",
            "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
            **names_env,
        },
        close=close,
    )


def _housekeeper(stop: threading.Event, housekeep: Callable[[float], Any]) -> None:
    """Delete what DynamoDB's TTL and S3's lifecycle rules would: at start, then every few
    minutes."""
    while True:
        try:
            housekeep(time.time())
        except Exception as exc:
            if not stop.is_set():
                log.warning("housekeeping failed: %s", exc)
        if stop.wait(HOUSEKEEP_S):
            return


def _banner(url: str, key: str, source: str, state_dir: Path, backend: Backend) -> str:
    if source == "new":
        where = f"new; saved to {state_dir / 'admin-key'}"
    elif source == "CRONHOOK_ADMIN_KEY":
        where = "from CRONHOOK_ADMIN_KEY"
    else:
        where = f"from {source}"
    stop = (
        "Ctrl-C stops everything; what was answered is already on disk."
        if backend.name == "sqlite"
        else "Ctrl-C stops everything and saves the data."
    )
    lines = [
        "",
        f"cronhook is running (stage: local, backend: {backend.name})",
        f"  API           {url}",
        f"  admin key     {key}",
        f"                ({where})",
        *backend.lines,
        "  scheduler     ticks at every minute boundary; the worker reads the dispatch queue",
        "",
        "Try:",
        f"  curl -s -H 'Authorization: Bearer {key}' {url}/jobs",
        "Operator commands against this stack: .venv/bin/python -m scripts.admin --local --help",
        stop,
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    started = time.monotonic()
    backend_name = os.environ.get("CRONHOOK_BACKEND", "sqlite").strip().lower() or "sqlite"
    if backend_name not in ("sqlite", "moto"):
        sys.exit(f"CRONHOOK_BACKEND must be sqlite (the default) or moto, not {backend_name!r}")
    state_dir = home()
    api_port = _port("CRONHOOK_PORT", 8000)
    held = lock_home(state_dir, api_port)
    os.environ.setdefault("CRONHOOK_ALLOW_PRIVATE_TARGETS", "true")
    os.environ["CRONHOOK_STAGE"] = "local"
    # The address the ping and callback URLs it hands out name (a long job's target calls back).
    os.environ.setdefault("CRONHOOK_PUBLIC_URL", f"http://127.0.0.1:{api_port}")
    _quiet_logging()

    if backend_name == "moto":
        backend = _start_moto(state_dir, _port("CRONHOOK_AWS_PORT", 4566))
    else:
        backend = _start_sqlite(state_dir)

    from chalice.cli.factory import CLIFactory

    from chalicelib import wiring
    from scripts import persist

    factory = CLIFactory(project_dir=str(ROOT), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name="local")
    key, source = _admin_key(wiring.stores(), state_dir)

    _answer_unknown_routes_with_404()
    from scripts.local_methods import answer_every_method

    answer_every_method()  # TRACE and made-up verbs reach the app (its 405), not an HTML 501
    server = factory.create_local_server(config.chalice_app, config, "127.0.0.1", api_port)
    stop = threading.Event()

    def shutdown(signum: int, frame: Any) -> None:
        # A second Ctrl-C quits at once: with SQLite nothing is lost by that; with moto the
        # data file is only ever replaced whole.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        stop.set()

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    ticker = Ticker(stop)
    threads = [
        threading.Thread(target=server.server.serve_forever, name="api", daemon=True),
        threading.Thread(target=ticker.run, name="ticker", daemon=True),
        threading.Thread(
            target=run_worker, args=(stop, backend.source), name="worker", daemon=True
        ),
    ]
    if backend.housekeep is not None:
        threads.append(
            threading.Thread(
                target=_housekeeper,
                args=(stop, backend.housekeep),
                name="housekeeping",
                daemon=True,
            )
        )
    for thread in threads:
        thread.start()

    local_env = state_dir / LOCAL_ENV_FILE
    persist.write_atomically(
        local_env,
        {
            "pid": os.getpid(),
            "env": {
                "CRONHOOK_STAGE": "local",
                "CRONHOOK_ALLOW_PRIVATE_TARGETS": os.environ["CRONHOOK_ALLOW_PRIVATE_TARGETS"],
                **backend.env,
            },
        },
    )
    url = f"http://127.0.0.1:{api_port}"
    print(_banner(url, key, source, state_dir, backend), flush=True)
    log.info("ready in %.1f s", time.monotonic() - started)

    try:
        # Timed: Python runs a signal's handler in the main thread, at its next bytecode. The
        # kernel may hand SIGTERM to another thread, and an untimed wait would then never end.
        while not stop.wait(1.0):
            pass
    finally:
        stop.set()
        print("stopping...", flush=True)
        deadline = time.monotonic() + STOP_GRACE_S
        for thread in [*threads[1:], *ticker.ticks]:
            thread.join(max(0.0, deadline - time.monotonic()))
        waiting = sum(t.is_alive() for t in ticker.ticks)
        if waiting:
            print(
                f"{waiting} tick(s) still waiting for their slots: a later start finds their "
                "runs and marks them lost or retries them",
                flush=True,
            )
        _stopping.set()
        server.shutdown()
        server.server.server_close()
        try:
            backend.close()
        finally:
            local_env.unlink(missing_ok=True)
            held.close()


if __name__ == "__main__":
    main()
