"""YAML read as plain Python together with the line of every dotted path in it, so that an error
names the file, line and field (`jobs.yaml:12: jobs[1].schedule.cron: ...`)."""

from __future__ import annotations

from typing import Any

import yaml


class ManifestError(Exception):
    """A jobs file that cannot be applied: where (file, line, field) and why."""

    def __init__(self, file: str, line: int | None, where: str | None, message: str) -> None:
        self.file, self.line, self.where, self.message = file, line, where, message
        super().__init__(str(self))

    def __str__(self) -> str:
        place = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{place}: {self.where}: {self.message}" if self.where else f"{place}: {self.message}"
        )


def _to_python(node: yaml.Node, path: str, lines: dict[str, int], file: str) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader.construct_scalar(_LOADER, key_node)
            if not isinstance(key_node, yaml.ScalarNode) or not isinstance(key, str):
                raise ManifestError(file, key_node.start_mark.line + 1, path, "keys must be text")
            inner = f"{path}.{key}" if path else key
            if key in out:
                raise ManifestError(file, key_node.start_mark.line + 1, inner, "is given twice")
            lines[inner] = key_node.start_mark.line + 1
            out[key] = _to_python(value_node, inner, lines, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, f"{path}[{n}]", lines, file) for n, item in enumerate(node.value)]
    return _LOADER.construct_object(node, deep=True)


_LOADER = yaml.SafeLoader("")


def parse_yaml(text: str, file: str) -> tuple[Any, dict[str, int]]:
    """The document as plain Python and the line of every path in it."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ManifestError(file, line, None, f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ManifestError(file, None, None, f"not valid YAML: {exc}") from None
    lines: dict[str, int] = {}
    if node is None:
        return None, lines
    return _to_python(node, "", lines, file), lines
