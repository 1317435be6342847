"""Operator commands, against the tables named by the environment (local moto or AWS alike).

    python -m scripts.admin [--local] create-key --account NAME [--scopes S] [--name T] [--ip CIDR]
    python -m scripts.admin [--local] list-keys --account NAME
    python -m scripts.admin [--local] revoke-key --account NAME --key-id ID
    python -m scripts.admin [--local] create-user --account NAME --username U [--scopes S]
    python -m scripts.admin [--local] export-jobs --account NAME [--file F]
    python -m scripts.admin [--local] import-jobs --account NAME --file F
    python -m scripts.admin [--local] tick [--now TIME]
    python -m scripts.admin [--local] backup [--file F]

--local talks to the stack `make run` is running (its address and names are in
$CRONHOOK_HOME/local-env.json while it runs). Without it, the AWS credentials and region of the
environment are used, and CRONHOOK_STAGE (or the CRONHOOK_* names) pick the tables. Commands
that also touch the bucket, the queue or the secrets key (export-jobs, import-jobs, tick) read the
names the environment leaves out from the outputs of the stage's stack, `cronhook-<stage>` (or
`cronhook-<stage>-storage`, for a `chalice deploy`): the bucket's name holds the account, and
without the key an import would store passwords unsealed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chalicelib import auth, wiring
from chalicelib.errors import CronhookError, ValidationError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="admin.py",
        description="cronhook operator commands (keys, job export/import, a tick by hand).",
    )
    parser.add_argument(
        "--local", action="store_true", help="use the stack `make run` is running on this machine"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-key", help="create an API key and print it once")
    create.add_argument("--account", required=True)
    create.add_argument("--scopes", default="admin", help="comma-separated: read,write,run,admin")
    create.add_argument("--name", default="")
    create.add_argument("--ip", action="append", default=[], help="allowed IP or CIDR (repeat)")
    user = commands.add_parser(
        "create-user",
        help="create a user who signs in with a password (asked for, or read from stdin)",
    )
    user.add_argument("--account", required=True)
    user.add_argument("--username", required=True)
    user.add_argument("--scopes", default="read,write,run", help="comma-separated, as create-key")
    listing = commands.add_parser("list-keys", help="list an account's keys (no secrets)")
    listing.add_argument("--account", required=True)
    revoke = commands.add_parser("revoke-key", help="revoke a key by its public id")
    revoke.add_argument("--account", required=True)
    revoke.add_argument("--key-id", required=True)
    export = commands.add_parser(
        "export-jobs", help="write an account's jobs and folders as JSON (passwords included)"
    )
    export.add_argument("--account", required=True)
    export.add_argument("--file", help="write here (readable by you only) instead of stdout")
    load = commands.add_parser(
        "import-jobs",
        help="create jobs from cronhook's export, a cron-job.org job list or Cronicle events",
    )
    load.add_argument("--account", required=True)
    load.add_argument("--file", required=True, help="a JSON file, or - for standard input")
    tick = commands.add_parser("tick", help="run one tick now, as the scheduler would")
    tick.add_argument(
        "--now",
        help="the tick's time: ISO 8601 with offset (2026-01-01T09:00:00Z) or epoch seconds; "
        "default: the current time",
    )
    backup = commands.add_parser(
        "backup",
        help="write a consistent copy of the local (SQLite) database, also while the stack runs",
    )
    backup.add_argument(
        "--file", help="where to write it (default: $CRONHOOK_HOME/backups/cronhook-<time>.db)"
    )
    return parser


def use_local_stack() -> None:
    """Point this process at the stack `make run` is running, or exit saying it is not."""
    from scripts.local import LOCAL_ENV_FILE, home

    path = home() / LOCAL_ENV_FILE
    try:
        described = json.loads(path.read_text())
    except (OSError, ValueError):
        raise SystemExit(
            f"no local stack is running (no {path}); start one with `make run`"
        ) from None
    try:
        os.kill(int(described["pid"]), 0)
    except (OSError, KeyError, ValueError, TypeError):
        raise SystemExit(f"the local stack described in {path} is no longer running") from None
    os.environ.update(described["env"])
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.pop("AWS_PROFILE", None)
    wiring.configure()


STACK_COMMANDS = ("export-jobs", "import-jobs", "tick")


def use_aws_stack() -> None:
    """Fill in the CRONHOOK_* names the environment leaves out from the deployed stage's stack
    outputs, or exit saying which names to set."""
    from scripts.provision import OUTPUT_ENV, environment

    stage = os.environ.get("CRONHOOK_STAGE", "")
    missing = [env for env in OUTPUT_ENV.values() if not os.environ.get(env)]
    if stage in ("", "local") or not missing:
        return
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    cloudformation = boto3.client("cloudformation", region_name=wiring.settings().region)
    names = (f"cronhook-{stage}", f"cronhook-{stage}-storage")
    for name in names:
        try:
            (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
        except (BotoCoreError, ClientError):
            continue
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        for env, value in environment(outputs).items():
            if not os.environ.get(env):
                os.environ[env] = value
        wiring.configure()
        return
    raise SystemExit(
        f"error: no stack {' or '.join(names)} to read {', '.join(missing)} from; "
        "set them, or deploy the stage first"
    )


def parse_time(text: str) -> float:
    """Epoch seconds from `1767258000` or an ISO 8601 time with an offset (or Z)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            "must be ISO 8601 (2026-01-01T09:00:00Z) or epoch seconds", field="--now"
        ) from None
    if moment.tzinfo is None:
        raise ValidationError("give a time zone offset, e.g. 2026-01-01T09:00:00Z", field="--now")
    return moment.timestamp()


def _read_document(name: str) -> Any:
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text()
    except OSError as exc:
        raise ValidationError(f"cannot read it: {exc.strerror}", field="--file") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"not valid JSON ({exc})", field="--file") from None


def _write_private(path: Path, text: str) -> None:
    """Create or replace a file only its owner can read (exports carry job passwords)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def _read_password() -> str:
    """The new user's password: typed twice at a terminal, else the first line of stdin (never
    an argument, which `ps` would show)."""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise ValidationError("the two passwords differ", field="password")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _print(document: Any) -> None:
    print(json.dumps(document, indent=2, default=str))


def _backup(file: str | None) -> int:
    """SQLite's online backup: a consistent copy, page by page, while the stack reads and
    writes (README, "Backups", says how to restore one)."""
    from scripts.local import backup_name

    current = wiring.settings()
    if current.backend != "sqlite":
        print(
            "error: backup copies the local SQLite database (make run); deployed, DynamoDB's "
            "point-in-time recovery keeps the tables",
            file=sys.stderr,
        )
        return 2
    target = Path(file) if file else backup_name(Path(current.home), time.time())
    wiring.database().backup(target)
    _print({"backup": str(target), "bytes": target.stat().st_size})
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.command == "backup":
        return _backup(args.file)
    stores = wiring.stores()
    if args.command == "create-key":
        scopes = auth.validate_scopes([s.strip() for s in args.scopes.split(",") if s.strip()])
        allowlist = auth.validate_allowlist(args.ip)
        full, key = auth.create_key(
            stores, args.account, scopes, time.time(), name=args.name, ip_allowlist=allowlist
        )
        _print({"key": full, **auth.key_to_api(key)})
    elif args.command == "create-user":
        from chalicelib.users import Users, user_to_api, validate_password, validate_username

        username = validate_username(args.username)
        scopes = auth.validate_scopes([s.strip() for s in args.scopes.split(",") if s.strip()])
        password = validate_password(_read_password())
        _print({"user": user_to_api(Users(stores).add(args.account, username, password, scopes))})
    elif args.command == "list-keys":
        _print({"keys": [auth.key_to_api(k) for k in stores.keys.list(args.account)]})
    elif args.command == "revoke-key":
        if not stores.keys.revoke(args.account, args.key_id, int(time.time())):
            print(f"no key {args.key_id!r} in account {args.account!r}", file=sys.stderr)
            return 1
        print(json.dumps({"revoked": args.key_id}))
    elif args.command == "export-jobs":
        from scripts.importers import export_jobs

        document = export_jobs(stores, args.account)
        text = json.dumps(document, indent=2) + "\n"
        if args.file:
            _write_private(Path(args.file), text)
            print(f"exported {len(document['jobs'])} jobs to {args.file}", file=sys.stderr)
        else:
            sys.stdout.write(text)
    elif args.command == "import-jobs":
        from scripts.importers import import_jobs

        document = _read_document(args.file)
        _print(import_jobs(stores, wiring.settings(), args.account, document))
    elif args.command == "tick":
        now = parse_time(args.now) if args.now else time.time()
        try:
            dispatch = importlib.import_module("chalicelib.dispatch")
        except ImportError as exc:
            print(f"error: the tick is not available: {exc}", file=sys.stderr)
            return 1
        _print(dispatch.tick(now))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.local:
        use_local_stack()
    elif args.command in STACK_COMMANDS:
        use_aws_stack()
    try:
        return _run(args)
    except CronhookError as exc:
        where = f"{exc.field}: " if exc.field else ""
        print(f"error: {where}{exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
