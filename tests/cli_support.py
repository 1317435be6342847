"""What tests/test_client.py and tests/test_cli.py share: one local stack (`python -m
scripts.local`, a real process on free loopback ports with its own CRONHOOK_HOME), keys of
accounts of their own, and a loopback target for runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.test_local_stack import ROOT, Stack, free_port


def start_stack(home: Path) -> Stack:
    stack = Stack(home=home, api_port=free_port(), aws_port=free_port())
    stack.start()
    return stack


def admin_key(stack: Stack) -> str:
    return (stack.home / "admin-key").read_text().strip()


def account_key(stack: Stack, account: str) -> str:
    """An admin key of an account of its own (what one test does, no other test sees)."""
    made = subprocess.run(
        [sys.executable, "-m", "scripts.admin", "--local", "create-key", "--account", account],
        cwd=ROOT,
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return str(json.loads(made.stdout)["key"])
