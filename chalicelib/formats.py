"""List responses as JSON, delimited text or XML, with column choice (as VisualCron's Web API).

Query parameters: `format=json|text|xml`, `columns=a,b,c` (dotted names reach into objects),
`includeheaders=false`, and `fieldSeparator`, `textQualifier`, `lineBreak` as character codes
(defaults 44 `,`, 34 `"`, 10 LF).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from chalicelib.errors import ValidationError

FORMATS = ("json", "text", "xml")


def _flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return " ".join(_scalar(v) for v in value)
    return str(value)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text_cell(value: Any) -> str:
    """A delimited-text cell: text that a spreadsheet would run as a formula (a title such as
    `=HYPERLINK(...)`) gets a leading `'`, as OWASP advises; numbers stay as they are."""
    text = _scalar(value)
    if isinstance(value, str) and text.startswith(_FORMULA_STARTS):
        try:
            float(text)
        except ValueError:
            return "'" + text
    return text


def _char(params: Mapping[str, str], name: str, default: int) -> str:
    """A character given by its decimal code; code 0 gives "" (no qualifier, default line break)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return chr(default)
    digits = raw.lstrip("0") or "0"
    # int() would take " 44", "4_4" and other scripts' digits, and a surrogate cannot be sent.
    if raw.isascii() and raw.isdigit() and len(digits) <= 7:
        code = int(digits)
        if code < 0x110000 and not 0xD800 <= code <= 0xDFFF:
            return chr(code) if code else ""
    raise ValidationError("must be a character code, e.g. 44 for a comma", field=name)


def options(params: Mapping[str, str] | None) -> dict[str, Any]:
    """Validate the output-format query parameters."""
    params = params or {}
    fmt = (params.get("format") or "json").lower()
    if fmt not in FORMATS:
        raise ValidationError("must be json, text or xml", field="format")
    columns = [c.strip() for c in (params.get("columns") or "").split(",") if c.strip()]
    include = (params.get("includeheaders") or "true").lower()
    if include not in ("true", "false"):
        raise ValidationError("must be true or false", field="includeheaders")
    separator = _char(params, "fieldSeparator", 44)
    qualifier = _char(params, "textQualifier", 34)
    line_break = _char(params, "lineBreak", 10)
    if not separator:
        raise ValidationError(
            "must be a character code, e.g. 44 for a comma", field="fieldSeparator"
        )
    if separator in (qualifier, line_break or "\n") or (qualifier and qualifier == line_break):
        raise ValidationError(
            "the field separator, text qualifier and line break must differ",
            field="fieldSeparator",
        )
    return {
        "format": fmt,
        "columns": columns,
        "headers": include == "true",
        "separator": separator,
        "qualifier": qualifier,
        "line_break": line_break or "\n",
    }


def check_columns(
    columns: Sequence[str], known: Collection[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Refuse a column the listing does not have, naming those it has: a misspelt column would
    otherwise be an empty one. `known` is every column the listing can have; a row may add
    more (a dotted name inside an object of its own)."""
    names = set(known)
    unknown = [c for c in columns if c not in names]
    if unknown:
        for row in rows:
            names.update(_flatten(row))
        unknown = [c for c in unknown if c not in names]
    if unknown:
        raise ValidationError(
            f"unknown column {unknown[0]!r}; the columns are {', '.join(sorted(names))}",
            field="columns",
        )


def _select(
    rows: Sequence[Mapping[str, Any]], columns: list[str]
) -> tuple[list[str], list[dict[str, Any]]]:
    flat = [_flatten(r) for r in rows]
    if not columns:
        seen: dict[str, None] = {}
        for row in flat:
            seen.update(dict.fromkeys(row))
        columns = list(seen)
    return columns, flat


def render(
    rows: Sequence[Mapping[str, Any]], name: str, opts: Mapping[str, Any]
) -> tuple[str, str]:
    """(body, content type) of `rows` in the chosen format; JSON callers shape their own body."""
    columns, flat = _select(rows, opts["columns"])
    if opts["format"] == "xml":
        item = name[:-1] if name.endswith("s") else "item"
        parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<{name}>']
        for row in flat:
            fields = "".join(
                f"<{_tag(c)}>{escape(_scalar(row.get(c)))}</{_tag(c)}>" for c in columns
            )
            parts.append(f"<{item}>{fields}</{item}>")
        parts.append(f"</{name}>\n")
        return "".join(parts), "application/xml; charset=utf-8"
    sep: str = opts["separator"]
    qual: str = opts["qualifier"]
    brk: str = opts["line_break"]

    def cell(value: str) -> str:
        if qual:
            return qual + value.replace(qual, qual + qual) + qual
        if sep in value or brk in value or "\n" in value or "\r" in value:
            # Without a qualifier the cell would split the row: no output beats a wrong one.
            raise ValidationError(
                "a value holds the field separator or a line break: choose a text qualifier",
                field="textQualifier",
            )
        return value

    lines = []
    if opts["headers"]:
        lines.append(sep.join(cell(c) for c in columns))
    for row in flat:
        lines.append(sep.join(cell(_text_cell(row.get(c))) for c in columns))
    return brk.join(lines) + (brk if lines else ""), "text/plain; charset=utf-8"


def select_json(rows: Sequence[Mapping[str, Any]], columns: list[str]) -> list[dict[str, Any]]:
    """Rows cut down to the chosen (possibly dotted) columns; all fields when none are chosen."""
    if not columns:
        return [dict(r) for r in rows]
    flat = [_flatten(r) for r in rows]
    return [{c: row.get(c) for c in columns} for row in flat]


# Characters XML 1.0 cannot hold at all, not even as references (C0 controls but tab, LF, CR;
# surrogates; U+FFFE and U+FFFF): each is written as U+FFFD, the replacement character.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def escape(text: str) -> str:
    """XML character data or attribute text, well-formed whatever the text holds (a CR is
    written as a reference, or a parser would read it as LF); xml.sax.saxutils would cost the
    Lambda's cold start ~30 ms."""
    text = _NOT_XML.sub("\ufffd", text)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
        .replace("\r", "&#13;")
    )


def _tag(column: str) -> str:
    """An XML element name for a column: letters, digits, `_ - .` kept, others `_`; a name
    that cannot start one (a digit, `-`, `.`, or `xml` in any case, which XML reserves) gets
    `_` first."""
    name = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in column) or "field"
    name = "".join(ch if ch.isascii() or ch.isalpha() else "_" for ch in name)
    if not (name[0].isalpha() or name[0] == "_") or name[:3].lower() == "xml":
        name = "_" + name
    return name
