"""What the command prints: rich tables for people, JSON or YAML for scripts."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from cronhook_client.models import METHODS, HistoryItem


def console() -> Console:
    """A console on today's stdout (made per use: a test's runner swaps stdout and COLUMNS);
    when stdout is no terminal, tables are 160 columns wide unless COLUMNS says otherwise."""
    width = None if os.environ.get("COLUMNS") or sys.stdout.isatty() else 160
    return Console(highlight=False, width=width)


def say(*parts: Any, **options: Any) -> None:
    """Print a line as it is: a long one is not broken (scripts and logs read whole lines)."""
    options.setdefault("soft_wrap", True)
    console().print(*parts, **options)


def warn(message: str) -> None:
    """One line on stderr."""
    Console(stderr=True, highlight=False).print(message, markup=False)


class Format(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


def emit(data: Any, fmt: Format, table: Callable[[Any], Any] | None = None) -> None:
    """Print `data` as JSON, YAML, or (for people) the table or text `table` makes of it."""
    if fmt is Format.json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    elif fmt is Format.yaml:
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    elif table is not None:
        say(table(data))
    else:
        say(data)


def when(epoch: int | float | None) -> str:
    """Epoch seconds as `2026-12-07 09:30:00Z`; nothing for 0 or None."""
    if not epoch:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def ms(micros: int | None) -> str:
    """Microseconds as milliseconds with one decimal."""
    return "-" if not micros else f"{micros / 1000:.1f}"


def schedule_text(schedule: dict[str, Any]) -> str:
    zone = schedule.get("timezone", "UTC")
    if "cron" in schedule:
        text = schedule["cron"]
    elif "at" in schedule:
        text = "at " + schedule["at"]
    elif "timing" in schedule:
        text = "timing " + json.dumps(schedule["timing"], separators=(",", ":"))
    elif not any(schedule.get(k) for k in ("minutes", "hours", "mdays", "months", "wdays")):
        return "on demand"
    else:

        def part(key: str) -> str:
            values = schedule.get(key) or []
            return "*" if values in ([-1], []) else ",".join(str(v) for v in values)

        text = " ".join(part(k) for k in ("minutes", "hours", "mdays", "months", "wdays"))
    return text if zone == "UTC" else f"{text} ({zone})"


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> Table:
    out = Table(title=title, header_style="bold", title_justify="left")
    for name in columns:
        out.add_column(name, overflow="fold")
    for row in rows:
        out.add_row(*("" if cell is None else str(cell) for cell in row))
    return out


def fields(data: dict[str, Any], prefix: str = "") -> Table:
    """A record as a two-column table, nested objects flattened to dotted names."""
    out = Table(show_header=False, box=None, pad_edge=False)
    out.add_column(style="bold")
    out.add_column(overflow="fold")
    for key, value in _flatten(data, prefix):
        out.add_row(key, value)
    return out


def _flatten(data: dict[str, Any], prefix: str) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and key != "schedule":
            rows.extend(_flatten(value, name + "."))
        elif isinstance(value, dict | list):
            rows.append((name, json.dumps(value, separators=(", ", ": "))))
        else:
            rows.append((name, "" if value is None else str(value)))
    return rows


def method(value: int) -> str:
    return METHODS[value] if 0 <= value < len(METHODS) else str(value)


HISTORY_COLUMNS = (
    "run",
    "attempt",
    "planned (UTC)",
    "state",
    "status",
    "http",
    "dns ms",
    "connect ms",
    "tls ms",
    "first byte ms",
    "total ms",
    "jitter ms",
)


def history_row(item: HistoryItem) -> list[Any]:
    stats = item.get("stats", {})
    return [
        item.get("runId", item.get("identifier")),
        item.get("attempt", 1),
        when(item.get("datePlanned")),
        item.get("state", ""),
        item.get("statusText", ""),
        item.get("httpStatus") or "-",
        ms(stats.get("nameLookup")),
        ms(stats.get("connect")),
        ms(stats.get("appConnect")),
        ms(stats.get("startTransfer")),
        ms(stats.get("total")),
        item.get("jitter", 0),
    ]
