"""Cold start: how long a fresh Python process takes to `import app`, and its memory after.

    python bench/bench_coldstart.py

Every figure is the median of RUNS fresh subprocesses (after one untimed run that warms the
bytecode cache; the probes take turns), run from the project root with dummy AWS credentials and
no AWS endpoint, as Lambda would import the handler:

- `import_ms`: the self times `python -X importtime` reports for every module `import app` loads,
  summed (Python's own startup imports excluded);
- `import_wall_ms`: a `perf_counter()` around a plain `import app`, without importtime's overhead;
- `process_ms`: the whole child process importing `app`, from spawn to exit;
- `rss_mb` and `modules`: resident memory and `len(sys.modules)` after the import.

Baselines in the same run: the Chalice framework alone (`import chalice.app`) for the import
times, an empty interpreter (`python -c pass`) for the process, memory and module count.
The last line printed is JSON.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

RUNS = 7
TARGET_MS = 300.0  # issue 8
MARK = "--- cronhook bench: startup done ---"
# Runs in the child: mark the end of interpreter startup on stderr (where importtime writes),
# import the module, then report wall time, RSS and module count on stdout. Only built-in modules
# are loaded before the import, so none of the import's own work is done ahead of the clock.
PROBE = """
import sys, time
print({mark!r}, file=sys.stderr, flush=True)
began = time.perf_counter()
{statement}
elapsed = time.perf_counter() - began
import json
rss_kb = 0
try:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
except OSError:
    import resource
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"ms": elapsed * 1000, "rss_kb": rss_kb, "modules": len(sys.modules)}}))
"""
_LINE = re.compile(r"^import time:\s+(\d+)\s*\|\s*(\d+)\s*\|")


def _probe(module: str | None, importtime: bool) -> dict[str, float]:
    """One fresh interpreter importing `module` (None: nothing): its measurements in ms and MB."""
    from bench.common import ROOT, child_env

    code = PROBE.format(mark=MARK, statement=f"import {module}" if module else "pass")
    flags = ["-X", "importtime"] if importtime else []
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *flags, "-c", code],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    process_ms = (time.perf_counter() - began) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"importing {module} failed:\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    figures = {
        "wall_ms": float(report["ms"]),
        "process_ms": process_ms,
        "rss_mb": report["rss_kb"] / 1024,
        "modules": float(report["modules"]),
    }
    if importtime:
        figures["importtime_ms"] = _imported_after_mark(done.stderr) / 1000
    return figures


def _imported_after_mark(stderr: str) -> int:
    """Microseconds: the sum of the `self` column of every import logged after the mark."""
    total, counting = 0, False
    for line in stderr.splitlines():
        if line == MARK:
            counting = True
        elif counting and (match := _LINE.match(line)):
            total += int(match.group(1))
    if not counting:
        raise RuntimeError("the importtime probe printed no start mark")
    return total


# (name, module imported, under -X importtime)
PROBES: list[tuple[str, str | None, bool]] = [
    ("app_traced", "app", True),
    ("framework_traced", "chalice.app", True),
    ("app", "app", False),
    ("framework", "chalice.app", False),
    ("bare", None, False),
]


def run() -> dict[str, float]:
    """Median figures of `import app` next to the framework alone and an empty interpreter."""
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from bench.common import budget, median

    runs = int(budget(RUNS, 1))
    for _, module, traced in PROBES:
        _probe(module, traced)  # untimed: compiles and caches bytecode, warms the page cache
    samples: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in PROBES}
    # Rounds take every probe in turn, so a change of machine load weighs on all of them alike.
    for _ in range(runs):
        for name, module, traced in PROBES:
            samples[name].append(_probe(module, traced))
    m = {
        name: {figure: median(s[figure] for s in rows) for figure in rows[0]}
        for name, rows in samples.items()
    }
    figures = {
        "cold_start.import_ms": m["app_traced"]["importtime_ms"],
        "cold_start.framework_import_ms": m["framework_traced"]["importtime_ms"],
        "cold_start.import_wall_ms": m["app"]["wall_ms"],
        "cold_start.framework_import_wall_ms": m["framework"]["wall_ms"],
        "cold_start.process_ms": m["app"]["process_ms"],
        "cold_start.bare_process_ms": m["bare"]["process_ms"],
        "cold_start.rss_mb": m["app"]["rss_mb"],
        "cold_start.bare_rss_mb": m["bare"]["rss_mb"],
        "cold_start.modules": m["app"]["modules"],
        "cold_start.bare_modules": m["bare"]["modules"],
        "cold_start.runs": float(runs),
    }
    return {key: round(value, 2) for key, value in figures.items()}


def heaviest(count: int = 8) -> list[tuple[str, float]]:
    """The modules `import app` spends most time on (cumulative ms), for a person reading a log."""
    from bench.common import ROOT, child_env

    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import app"],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    rows = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((parts[2].rstrip(), int(parts[1]) / 1000))
    return sorted(rows, key=lambda row: -row[1])[:count]


def main() -> None:
    figures = run()
    print(
        f"import app: {figures['cold_start.import_ms']:.0f} ms by importtime, "
        f"{figures['cold_start.import_wall_ms']:.0f} ms wall (target < {TARGET_MS:.0f} ms); "
        f"chalice alone {figures['cold_start.framework_import_wall_ms']:.0f} ms wall"
    )
    print(
        f"process: {figures['cold_start.process_ms']:.0f} ms "
        f"(empty interpreter {figures['cold_start.bare_process_ms']:.0f} ms); "
        f"RSS {figures['cold_start.rss_mb']:.1f} MB (empty {figures['cold_start.bare_rss_mb']:.1f})"
    )
    print("heaviest imports (cumulative):")
    for name, ms in heaviest():
        print(f"  {ms:8.1f} ms {name}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
