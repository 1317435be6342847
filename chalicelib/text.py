"""Text as people see it: lengths in user-perceived characters, titles compared after NFC.

A user-perceived character is an extended grapheme cluster (Unicode's UAX #29): "é" typed as
e + U+0301, a flag, or a family emoji of seven code points each count as one, as a person
counting the characters of a title would count them. The `regex` package (already a runtime
dependency, for bounded body matches) segments them with `\\X`; where it is missing, code points
are counted after NFC, which is right for every text without combining sequences or emoji.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Any

# A title of N characters may hold at most this many code points per character: enough for a
# family emoji or a tag-sequence flag (7), not for a field swollen with combining marks.
CODE_POINTS_PER_CHARACTER = 8


def encodable(text: str) -> bool:
    """Whether the text is valid Unicode (no lone surrogate, as JSON's \\ud800 escapes can
    make): only such text can be stored, shown and sent as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def nfc(text: str) -> str:
    """The text in Unicode Normalization Form C: "Cafe\\u0301" and "Caf\\u00e9" become one."""
    return unicodedata.normalize("NFC", text)


def characters(text: str) -> int:
    """How many user-perceived characters (extended grapheme clusters) the text has."""
    if text.isascii():
        return len(text) - text.count("\r\n")  # CR LF is one cluster; no other ASCII pair is
    engine = _regex()
    if engine is None:
        return len(nfc(text))
    return len(engine.findall(r"\X", text))


def too_long(text: str, max_characters: int) -> str | None:
    """Why the text is over `max_characters` user-perceived characters, if it is."""
    if characters(text) > max_characters:
        return f"must be at most {max_characters} characters"
    if len(text) > max_characters * CODE_POINTS_PER_CHARACTER:
        return (
            f"must be at most {max_characters * CODE_POINTS_PER_CHARACTER} code points "
            f"({max_characters} characters)"
        )
    return None


@functools.cache
def _regex() -> Any:
    try:
        import regex
    except ImportError:
        return None
    return regex
