"""`make run`: the whole service on one machine, with no AWS account.

moto in server mode stands in for DynamoDB, S3 and SQS (resources made from infra/resources.json),
an admin key is created, and the Chalice app is served as `chalice local` serves it.

Environment: CRONHOOK_PORT (API, default 8000), CRONHOOK_AWS_PORT (embedded AWS, default 4566),
CRONHOOK_ADMIN_KEY (an admin key in cronhook's format to create at start; otherwise one is made,
printed and saved to .cronhook/admin-key, and reused on later starts).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = ROOT / ".cronhook"
ACCOUNT = "local"


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        sys.exit(f"{name} must be a TCP port number, not {raw!r}")
    return int(raw)


def _aws_environment(aws_port: int) -> None:
    """Point every boto3 client at the embedded moto server with dummy credentials."""
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{aws_port}"
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.pop("AWS_PROFILE", None)


def _admin_key(stores: Any) -> tuple[str, bool]:
    """The admin key to use and whether it was generated now (and so must be shown)."""
    import time

    from chalicelib import auth

    saved = STATE_DIR / "admin-key"
    wanted = os.environ.get("CRONHOOK_ADMIN_KEY", "").strip()
    if not wanted and saved.exists():
        wanted = saved.read_text().strip()
    if wanted:
        try:
            auth.import_key(stores, wanted, ACCOUNT, ["admin"], time.time(), "admin (make run)")
        except Exception as exc:
            sys.exit(f"CRONHOOK_ADMIN_KEY: {exc}")
        return wanted, False
    full, _ = auth.create_key(stores, ACCOUNT, ["admin"], time.time(), name="admin (make run)")
    STATE_DIR.mkdir(exist_ok=True)
    saved.write_text(full + "\n")
    saved.chmod(0o600)
    return full, True


def main() -> None:
    api_port = _port("CRONHOOK_PORT", 8000)
    aws_port = _port("CRONHOOK_AWS_PORT", 4566)
    _aws_environment(aws_port)

    import boto3
    from chalice.cli.factory import CLIFactory
    from chalice.local import ChaliceRequestHandler
    from moto.server import ThreadedMotoServer

    from scripts.provision import environment, provision

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=aws_port, verbose=False)
    moto.start()
    outputs = provision(boto3.session.Session(), stage="local")

    factory = CLIFactory(project_dir=str(ROOT), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name="local")
    # The template's outputs win over the config's names: resources are defined once.
    os.environ.update(environment(outputs))
    os.environ.setdefault("CRONHOOK_ALLOW_PRIVATE_TARGETS", "true")

    from chalicelib import wiring

    wiring.configure()
    key, generated = _admin_key(wiring.stores())

    # Without this, keep-alive clients wait ~40 ms per response (Nagle + delayed ACK).
    ChaliceRequestHandler.disable_nagle_algorithm = True
    server = factory.create_local_server(config.chalice_app, config, "127.0.0.1", api_port)
    stop = threading.Event()

    def shutdown(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    serving = threading.Thread(target=server.server.serve_forever, name="api", daemon=True)
    serving.start()

    url = f"http://127.0.0.1:{api_port}"
    print(f"cronhook is running: API {url}  (embedded AWS on 127.0.0.1:{aws_port})")
    if generated:
        print(f"admin key (shown once, saved to {STATE_DIR / 'admin-key'}):\n  {key}")
    else:
        print("admin key: the one in CRONHOOK_ADMIN_KEY or .cronhook/admin-key")
    print(f"try:\n  curl -H 'Authorization: Bearer {key}' {url}/jobs")
    print("Ctrl-C stops everything.", flush=True)

    stop.wait()
    print("stopping...", flush=True)
    server.shutdown()
    moto.stop()


if __name__ == "__main__":
    main()
