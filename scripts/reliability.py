"""`python scripts/reliability.py`: run the hardening suite and write docs/RELIABILITY.md.

The fuzzing, fault, race and security tests call `record(...)` with what they tried and what
went wrong; with CRONHOOK_RELIABILITY_OUT set, each call appends one JSON line to that file
(without it, `record` does nothing, so `make test` writes no file). This script runs those tests
with the variable pointing at a temporary file, sums the lines and renders the table.

    python scripts/reliability.py               # run the tests, write docs/RELIABILITY.md
    python scripts/reliability.py --from F.jsonl --junit F.xml   # render a previous run only

The page ends with what it was rendered from (an HTML comment: the summed figures, the run's
date, duration and outcome, and a digest of the suite's test ids), so a test can render it
again and compare (tests/test_package_reliability_doc.py): the page is stale when the renderer
or the suite's tests changed since the run that wrote it.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = "CRONHOOK_RELIABILITY_OUT"
DOC = ROOT / "docs" / "RELIABILITY.md"
TESTS = (
    "tests/test_fuzz.py",
    "tests/test_faults.py",
    "tests/test_concurrency.py",
    "tests/test_security.py",
    "tests/test_runs_api.py::test_a_poisoned_message_fails_alone_and_the_rest_of_its_batch_is_done",
)
BAD = ("lost", "doubled", "leaked", "let_in", "wrong")  # what must stay 0
_lock = threading.Lock()


def record(area: str, kind: str = "", **counts: int) -> None:
    """Append one observation (counts of tries and of bad outcomes) when a run collects them."""
    path = os.environ.get(ENV)
    if not path:
        return
    line = json.dumps({"area": area, "kind": kind, **counts}, sort_keys=True)
    with _lock, open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")


def load(path: Path) -> dict[tuple[str, str], dict[str, int]]:
    """Sum the observations per (area, kind)."""
    totals: dict[tuple[str, str], dict[str, int]] = {}
    if not path.exists():
        return totals
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip():
            continue
        item = json.loads(raw)
        key = (str(item.pop("area")), str(item.pop("kind", "")))
        row = totals.setdefault(key, {})
        for name, value in item.items():
            row[name] = row.get(name, 0) + int(value)
    return totals


def known_gaps(junit: Path) -> list[tuple[str, str]]:
    """(test, reason) of every strict xfail in the run: product gaps the lead has yet to fix."""
    if not junit.exists():
        return []
    gaps = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        skipped = case.find("skipped")
        if skipped is not None and skipped.get("type") == "pytest.xfail":
            reason = (skipped.get("message") or "").removeprefix("xfail").strip(" :")
            gaps.append((f"{case.get('classname', '')}::{case.get('name', '')}", reason))
    return gaps


def outcome(junit: Path) -> str:
    if not junit.exists():
        return "no test report"
    root = ET.parse(junit).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return "no test report"
    total = int(suite.get("tests", 0))
    failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    skipped = int(suite.get("skipped", 0))
    return f"{total - failed - skipped} passed, {failed} failed, {skipped} xfailed or skipped"


# (area, label, what the count means) in table order; kinds within an area are listed below it.
AREAS = (
    ("fuzz", "API requests fuzzed (schemathesis, local stack)", "requests"),
    ("target_fault", "Target faults over the run path", "runs"),
    ("storage_fault", "Storage faults (DynamoDB, S3)", "faults injected"),
    ("race", "Runs raced (3 ticks, 2 workers, every message twice)", "runs"),
    ("ssrf", "Addresses tried against the SSRF guard", "addresses"),
    ("isolation", "Requests with another account's ids", "requests"),
    ("secrets", "Places scanned for secrets in clear", "items and lines"),
    ("abuse", "Abusive requests (burst, foreign IP, bad bodies)", "requests"),
    ("batch", "Worker batches with a poisoned message", "batches"),
)


def _cell(row: Mapping[str, int], name: str) -> str:
    return str(row[name]) if name in row else "-"


def render(
    totals: Mapping[tuple[str, str], Mapping[str, int]],
    gaps: Iterable[tuple[str, str]],
    *,
    when: datetime.datetime,
    seconds: float | None,
    summary: str,
    cores: int | None = None,
) -> str:
    cores = os.cpu_count() if cores is None else cores
    lines = [
        "# Reliability figures",
        "",
        "What the hardening suite (issue 7) tried for real, and how often it went wrong. "
        "Regenerate with `python scripts/reliability.py` (it runs "
        + ", ".join(f"`{t}`" for t in TESTS)
        + "). Every bad-outcome column has a target of 0; `-` means the column does not apply. "
        "The figures include the tests marked as expected failures, so each known gap below "
        "shows as a non-zero count until it is fixed.",
        "",
        f"Last run: {when:%Y-%m-%d %H:%M} UTC"
        + (f", {seconds:.0f} s on {cores} cores" if seconds is not None else "")
        + f"; tests: {summary}.",
        "",
        "| Trial | Tried | Lost | Doubled | Leaked | Let in | Wrong outcome |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for area, label, unit in AREAS:
        rows = {kind: row for (a, kind), row in totals.items() if a == area}
        if not rows:
            continue
        total: dict[str, int] = {}
        for row in rows.values():
            for name, value in row.items():
                total[name] = total.get(name, 0) + value
        cells = [_cell(total, name) for name in BAD]
        lines.append(
            f"| **{label}** | {total.get('tried', 0)} {unit} | " + " | ".join(cells) + " |"
        )
        for kind in sorted(k for k in rows if k):
            row = rows[kind]
            cells = [_cell(row, name) for name in BAD]
            lines.append(
                f"| &nbsp;&nbsp;{kind} | {row.get('tried', 0)} | " + " | ".join(cells) + " |"
            )
    extras = [
        (area, kind, name, value)
        for (area, kind), row in sorted(totals.items())
        for name, value in sorted(row.items())
        if name not in (*BAD, "tried")
    ]
    if extras:
        lines += ["", "Other figures of the same run:", ""]
        lines += [
            f"- {area}{'/' + kind if kind else ''}: {name.replace('_', ' ')} = {value}"
            for area, kind, name, value in extras
        ]
    gaps = list(gaps)
    lines += ["", "## Known gaps", ""]
    if gaps:
        lines.append(
            "Tests marked `xfail(strict=True)`: the product does not do this yet. Each passes "
            "(and then fails as an unexpected pass, to be unmarked) once it is fixed."
        )
        lines.append("")
        lines += [f"- `{test}`: {reason}" for test, reason in gaps]
    else:
        lines.append("None: no test of this suite is marked as an expected failure.")
    return "\n".join(lines) + "\n"


MARK = "<!-- rendered from: "


def test_ids(pytest_args: Iterable[str] = ()) -> list[str]:
    """The node ids of the suite's tests, as pytest collects them now."""
    command = [
        python(),
        "-m",
        "pytest",
        "--collect-only",
        "-o",
        "addopts=",
        "-q",
        "-p",
        "no:cacheprovider",
        *[t for t in TESTS if (ROOT / t.split("::")[0]).exists()],
        *pytest_args,
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    return sorted(line for line in result.stdout.splitlines() if "::" in line)


def digest(ids: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16]


def document(
    totals: Mapping[tuple[str, str], Mapping[str, int]],
    gaps: Iterable[tuple[str, str]],
    *,
    when: datetime.datetime,
    seconds: float | None,
    summary: str,
    tests: str,
    cores: int | None = None,
) -> str:
    """The page (`render`) followed by what it was rendered from, to render it again."""
    gaps = list(gaps)
    cores = os.cpu_count() if cores is None else cores
    inputs = {
        "figures": [[area, kind, dict(row)] for (area, kind), row in sorted(totals.items())],
        "gaps": [list(gap) for gap in gaps],
        "when": when.isoformat(),
        "seconds": seconds,
        "summary": summary,
        "cores": cores,
        "tests": tests,
    }
    text = render(totals, gaps, when=when, seconds=seconds, summary=summary, cores=cores)
    return text + "\n" + MARK + json.dumps(inputs, sort_keys=True) + " -->\n"


def rendered_from(text: str) -> dict[str, object] | None:
    """What a page says it was rendered from; None for a page without it."""
    start = text.rfind(MARK)
    if start < 0:
        return None
    found: dict[str, object] = json.loads(text[start + len(MARK) :].rsplit(" -->", 1)[0])
    return found


def render_again(inputs: Mapping[str, object]) -> str:
    """The page as `document` writes it from these inputs."""
    figures = inputs["figures"]
    gaps = inputs["gaps"]
    assert isinstance(figures, list) and isinstance(gaps, list)
    totals = {(str(area), str(kind)): dict(row) for area, kind, row in figures}
    seconds = inputs["seconds"]
    cores = inputs["cores"]
    return document(
        totals,
        [(str(test), str(reason)) for test, reason in gaps],
        when=datetime.datetime.fromisoformat(str(inputs["when"])),
        seconds=float(seconds) if isinstance(seconds, (int, float)) else None,
        summary=str(inputs["summary"]),
        tests=str(inputs["tests"]),
        cores=int(cores) if isinstance(cores, int) else None,
    )


def python() -> str:
    """The project's virtualenv Python when there is one (the script may run under another)."""
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def run_tests(out: Path, junit: Path, extra: list[str]) -> int:
    env = {**os.environ, ENV: str(out)}
    command = [
        python(),
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        *[t for t in TESTS if (ROOT / t.split("::")[0]).exists()],
        *extra,
    ]
    return subprocess.call(command, cwd=ROOT, env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--from", dest="source", type=Path, help="render this JSONL, run nothing")
    parser.add_argument("--junit", type=Path, help="the JUnit XML of that run (known gaps)")
    parser.add_argument("--out", type=Path, default=DOC, help="where to write the table")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments")
    args = parser.parse_args(argv)
    now = datetime.datetime.now(datetime.UTC)
    if args.source is not None:
        junit = args.junit or Path("/nonexistent")
        text = document(
            load(args.source),
            known_gaps(junit),
            when=now,
            seconds=None,
            summary=outcome(junit),
            tests=digest(test_ids(args.pytest_args)),
        )
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
        return 0
    with tempfile.TemporaryDirectory(prefix="cronhook-reliability-") as tmp:
        out, junit = Path(tmp) / "figures.jsonl", Path(tmp) / "junit.xml"
        started = time.monotonic()
        code = run_tests(out, junit, args.pytest_args)
        elapsed = time.monotonic() - started
        totals = load(out)
        text = document(
            totals,
            known_gaps(junit),
            when=now,
            seconds=elapsed,
            summary=outcome(junit),
            tests=digest(test_ids(args.pytest_args)),
        )
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({'tests passed' if code == 0 else f'pytest exited {code}'})")
    return code


if __name__ == "__main__":
    sys.exit(main())
