"""What a jobs file holds once read and checked (the desired jobs and monitors, with the line of
every field), and the checks that job and monitor entries share: `${VARIABLES}`, value types,
names and folders."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cronhook_client.yaml_lines import ManifestError

_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class DesiredJob:
    """One job of the file: its name, fields in the API's shape (defaults filled in), the folder
    and chained jobs by name, and which fields came from environment variables."""

    name: str
    path: str  # where in the file: "jobs[2]"
    spec: dict[str, Any]
    folder: str | None = None
    chains: dict[str, str] = field(default_factory=dict)  # chainSuccess -> job name
    secrets: set[str] = field(default_factory=set)  # "auth.password", "extendedData.headers.X"
    schedule_given: Any = None


@dataclass
class DesiredMonitor:
    """One heartbeat monitor of the file: its name, fields in the API's shape (defaults filled
    in; the schedule as written, not yet normalised) and its folder by title."""

    name: str
    path: str  # where in the file: "monitors[0]"
    spec: dict[str, Any]
    folder: str | None = None


@dataclass
class Manifest:
    file: str
    folders: list[str]
    jobs: list[DesiredJob]
    lines: dict[str, int]  # "jobs[0].schedule.cron" -> line (1-based)
    monitors: list[DesiredMonitor] = field(default_factory=list)
    # A file without a `monitors` key leaves the account's monitors alone (`--prune` too), so a
    # jobs file written before apply managed monitors does not delete them.
    manages_monitors: bool = False

    def line_of(self, path: str) -> int | None:
        """The line of `path`, else of its nearest parent that the file spells out."""
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return None

    def error(self, path: str, message: str) -> ManifestError:
        return ManifestError(self.file, self.line_of(path), path, message)


def substitute(value: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """`${NAME}` replaced from env; returns the text and the names used. KeyError: missing."""
    used: list[str] = []

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name = match.group(1)
        if name not in env:
            raise KeyError(name)
        used.append(name)
        return env[name]

    return _VAR.sub(one, value), used


def expand(value: Any, path: str, env: Mapping[str, str], m: Manifest, secrets: set[str]) -> Any:
    """`value` with every `${NAME}` in its strings replaced; the paths that used one go into
    `secrets` (their values are never printed)."""
    if isinstance(value, str):
        try:
            text, used = substitute(value, env)
        except KeyError as exc:
            raise m.error(path, f"environment variable {exc.args[0]} is not set") from None
        if used:
            secrets.add(path)
        return text
    if isinstance(value, dict):
        return {k: expand(v, f"{path}.{k}", env, m, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, f"{path}[{n}]", env, m, secrets) for n, v in enumerate(value)]
    return value


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    return "a list"


def check_type(value: Any, default: Any, path: str, m: Manifest) -> None:
    """Refuse a value of another type than the field's default (true/false is no integer)."""
    ok = (
        isinstance(value, bool)
        if isinstance(default, bool)
        else (isinstance(value, int) and not isinstance(value, bool))
        if isinstance(default, int)
        else isinstance(value, type(default))
    )
    if not ok:
        raise m.error(path, f"must be {_type_name(default)}")


def entry_name(raw: dict[str, Any], path: str, m: Manifest, what: str, longest: int) -> str:
    """An entry's `name`: its title in the API, one line of at most `longest` characters."""
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise m.error(f"{path}.name", f"every {what} needs a name (it becomes the {what}'s title)")
    if len(name) > longest or any(c in name for c in "\r\n\x00"):
        raise m.error(f"{path}.name", f"must be one line of at most {longest} characters")
    return name


def entry_folder(expanded: dict[str, Any], path: str, m: Manifest) -> str | None:
    """An entry's `folder`: a title the file's `folders` lists, or None (the root)."""
    folder = expanded.get("folder")
    if folder is not None and (not isinstance(folder, str) or not folder):
        raise m.error(f"{path}.folder", "must be a folder title of this file")
    if folder is not None and folder not in m.folders:
        raise m.error(f"{path}.folder", f"folder {folder!r} is not in this file's `folders`")
    return folder
