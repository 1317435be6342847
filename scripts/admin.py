"""Operator commands, against the tables named by the environment (local moto or AWS alike).

    python scripts/admin.py create-key --account NAME --scopes admin [--name TEXT] [--ip CIDR ...]
    python scripts/admin.py list-keys --account NAME
    python scripts/admin.py revoke-key --account NAME --key-id ID

Set AWS_ENDPOINT_URL (e.g. http://127.0.0.1:4566 while `make run` is up) to reach the local stack,
and CRONHOOK_STAGE or the CRONHOOK_*_TABLE variables to pick the tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chalicelib import auth, wiring
from chalicelib.errors import CronhookError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="admin.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-key", help="create an API key and print it once")
    create.add_argument("--account", required=True)
    create.add_argument("--scopes", default="admin", help="comma-separated: read,write,run,admin")
    create.add_argument("--name", default="")
    create.add_argument("--ip", action="append", default=[], help="allowed IP or CIDR (repeat)")
    listing = commands.add_parser("list-keys", help="list an account's keys (no secrets)")
    listing.add_argument("--account", required=True)
    revoke = commands.add_parser("revoke-key", help="revoke a key by its public id")
    revoke.add_argument("--account", required=True)
    revoke.add_argument("--key-id", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stores = wiring.stores()
    try:
        if args.command == "create-key":
            scopes = auth.validate_scopes([s.strip() for s in args.scopes.split(",") if s.strip()])
            allowlist = auth.validate_allowlist(args.ip)
            full, key = auth.create_key(
                stores, args.account, scopes, time.time(), name=args.name, ip_allowlist=allowlist
            )
            print(json.dumps({"key": full, **auth.key_to_api(key)}, indent=2))
        elif args.command == "list-keys":
            keys = [auth.key_to_api(k) for k in stores.keys.list(args.account)]
            print(json.dumps({"keys": keys}, indent=2))
        elif args.command == "revoke-key":
            if not stores.keys.revoke(args.account, args.key_id, int(time.time())):
                print(f"no key {args.key_id!r} in account {args.account!r}", file=sys.stderr)
                return 1
            print(json.dumps({"revoked": args.key_id}))
    except CronhookError as exc:
        where = f"{exc.field}: " if exc.field else ""
        print(f"error: {where}{exc.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
