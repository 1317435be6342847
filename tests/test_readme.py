"""The README's API walkthrough, run as a newcomer runs it: every command of its `sh` block, in
order, in bash against the local stack started as `make run` starts it (`python -m
scripts.local`), in a directory whose `.cronhook/` is that stack's home. Only the two addresses
change: the API's and the watched target's ports are free ones, not 8000 and 9000.

Each curl command's answer is checked against what the README says of it: JSON without an
error (CSV for the text listing), with the keys its `-> {...}` comment shows and the status it
names. Nothing here knows where the stack keeps its data.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.test_local_stack import Stack, free_port

ROOT = Path(__file__).resolve().parent.parent
SCRIPT_TIMEOUT_S = 120
STATUS_MARK = "\n@@status "


@dataclass
class Command:
    n: int
    text: str  # continuation lines joined
    says: str  # the comment just above it, if any


def walkthrough() -> list[Command]:
    """The commands of the README's first `sh` block after "## API walkthrough"."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## API walkthrough", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands: list[Command] = []
    comment, pending = "", ""
    for line in block.splitlines():
        if not pending and line.startswith("#"):
            comment += " " + line[1:].strip()
            continue
        if not pending and not line.strip():
            continue
        pending += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            commands.append(Command(len(commands), pending, comment.strip()))
            # What a comment says of an answer is said of the next curl command's: "a job ...;
            # run it once right now too -> 202" stands above `JOB=...` and the run.
            if pending.startswith("curl "):
                comment = ""
            pending = ""
    return commands


COMMANDS = walkthrough()
CURLS = [c for c in COMMANDS if c.text.startswith("curl ")]


def _script(commands: list[Command], api: str, target_port: int, out: Path) -> str:
    lines = ["set -u", "trap 'kill $(jobs -p) 2>/dev/null' EXIT"]
    for command in commands:
        text = command.text.replace("http://127.0.0.1:8000", api)
        text = text.replace("9000", str(target_port))
        if text.startswith("curl "):
            # Its answer and status, for the checks; the command is the README's.
            text += f" -w '\\n@@status %{{http_code}}' > {out / str(command.n)}"
        lines.append(text)
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, tuple[int, str]]]:
    """Run the whole walkthrough once against one stack; each curl command's (status, body)."""
    where = tmp_path_factory.mktemp("readme")
    home = where / ".cronhook"
    home.mkdir()
    stack = Stack(home=home, api_port=free_port(), aws_port=free_port())
    stack.start()
    try:
        out = where / "answers"
        out.mkdir()
        script = _script(COMMANDS, stack.url, free_port(), out)
        (where / "walkthrough.sh").write_text(script)
        result = subprocess.run(
            ["bash", str(where / "walkthrough.sh")],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT_S,
        )
        assert result.returncode == 0, result.stderr + stack.log.read_text()
        found: dict[int, tuple[int, str]] = {}
        for path in out.iterdir():
            text, _, status = path.read_text().rpartition(STATUS_MARK)
            found[int(path.name)] = (int(status), text)
        yield found
    finally:
        stack.kill()


def _said(command: Command) -> tuple[int | None, dict[str, Any] | None]:
    """The status and JSON a command's comment says it answers (`-> 202 {"runId": "..."}`)."""
    match = re.search(r"-> (?:(\d{3}) )?(\{.*\})\s*$", command.says)
    if match is None:
        return None, None
    return (int(match[1]) if match[1] else None), json.loads(match[2])


def test_the_walkthrough_has_commands_to_check() -> None:
    assert len(CURLS) >= 10 and any(_said(c)[1] for c in CURLS)


@pytest.mark.slow
@pytest.mark.parametrize("command", CURLS, ids=[f"{c.n}:{c.text[:60]}" for c in CURLS])
def test_it_answers_each_walkthrough_command_as_the_readme_says(
    answers: dict[int, tuple[int, str]], command: Command
) -> None:
    assert command.n in answers, f"not run: {command.text}"
    status, text = answers[command.n]
    expected_status, expected = _said(command)
    assert status == (expected_status or status) and 200 <= status < 300, (status, text)
    if "format=text" in command.text:
        header = text.splitlines()[0]
        columns = re.search(r"columns=([\w.,]+)", command.text)
        assert columns is not None
        assert header == ",".join(f'"{c}"' for c in columns[1].split(","))
        return
    answer = json.loads(text)
    assert "error" not in answer, answer
    if expected is not None:
        assert set(answer) == set(expected), (answer, expected)
