"""Regular expressions the OpenAPI document states, and the URL rule that validation shares.

They use only what ECMA 262 (JSON Schema's `pattern`) and Python's `re` read alike: classes,
groups, alternation and counted repeats, no lookaround, backreferences or `\\s` (whose members
differ between the two). Numbers are written without leading zeros.
"""

from __future__ import annotations

import re

# The characters str.isspace() and str.split() treat as white space, for use in [...].
_WIDE_SPACE = "\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
SPACE = "\\t\\n\\u000b\\f\\r\\u001c-\\u001f " + _WIDE_SPACE
ONE_LINE = "^[^\\r\\n\\u0000]*$"  # no line break or NUL, as jobs' one-line fields require


def group(alternatives: list[str]) -> str:
    return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"


def anycase(word: str) -> str:
    """`word` in any mix of upper and lower case."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


def words(names: list[str] | tuple[str, ...]) -> str:
    return group([anycase(n) for n in names])


def _same_length(lo: int, hi: int) -> list[str]:
    """Alternatives for lo..hi, both of one length: runs of numbers sharing all but a tail."""
    length, out = len(str(lo)), []
    while lo <= hi:
        tail = 0
        while tail + 1 < length and lo % 10 ** (tail + 1) == 0 and lo + 10 ** (tail + 1) - 1 <= hi:
            tail += 1
        step = 10**tail
        head = str(lo // step)
        digit = int(head[-1])
        count = min(10 - digit, (hi - lo + 1) // step)
        digits = str(digit) if count == 1 else f"[{digit}-{digit + count - 1}]"
        out.append(
            head[:-1] + digits + ("" if not tail else "[0-9]" + (f"{{{tail}}}" * (tail > 1)))
        )
        lo += count * step
    return out


def int_range(lo: int, hi: int) -> str:
    """Decimal numbers lo..hi (0 <= lo <= hi), without leading zeros."""
    alternatives: list[str] = []
    for length in range(len(str(lo)), len(str(hi)) + 1):
        low = max(lo, 10 ** (length - 1) if length > 1 else 0)
        high = min(hi, 10**length - 1)
        if low <= high:
            alternatives += _same_length(low, high)
    return group(alternatives)


def ordered_ranges(lo: int, hi: int) -> str:
    """`a-b` with lo <= a <= b <= hi: a regular expression cannot compare, so it lists each
    decade of `a` with what may follow it."""
    alternatives: list[str] = []
    a = lo
    while a <= hi:
        decade_end = min(a - a % 10 + 9, hi)
        if len(str(decade_end)) > len(str(a)):  # 0..9 is its own decade
            decade_end = 9
        if decade_end < hi:
            alternatives.append(f"{int_range(a, decade_end)}-{int_range(decade_end + 1, hi)}")
        alternatives += [f"{n}-{int_range(n, decade_end)}" for n in range(a, decade_end + 1)]
        a = decade_end + 1
    return group(alternatives)


# ---- URLs -----------------------------------------------------------------------------------

_OCTET = int_range(0, 255)
IPV4 = f"{_OCTET}(?:\\.{_OCTET}){{3}}"
_H16 = "[0-9A-Fa-f]{1,4}"
_LS32 = f"(?:{_H16}:{_H16}|{IPV4})"


def _ipv6() -> str:
    """RFC 3986's IPv6address: eight groups, `::` for a run of zeros, an IPv4 tail."""
    forms = [f"(?:{_H16}:){{6}}{_LS32}", f"::(?:{_H16}:){{5}}{_LS32}"]
    for before, after in ((0, 4), (1, 3), (2, 2), (3, 1)):
        head = _H16 if before == 0 else f"(?:{_H16}:){{0,{before}}}{_H16}"
        forms.append(f"(?:{head})?::(?:{_H16}:){{{after}}}{_LS32}")
    forms.append(f"(?:(?:{_H16}:){{0,4}}{_H16})?::{_LS32}")
    forms.append(f"(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}")
    forms.append(f"(?:(?:{_H16}:){{0,6}}{_H16})?::")
    return group(forms)


IPV6 = _ipv6()
# What the executor can connect to: an ASCII host name (punycode for others) or an IPv6 literal.
HOST_NAME = "[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_.])?"
_PORT = int_range(1, 65535)
_URL_TAIL = f"[^\\u0000-\\u0020\\u007f{_WIDE_SPACE}]"  # no control character or space
URL = (
    f"^{anycase('http')}[Ss]?://(?:{HOST_NAME}|\\[{IPV6}\\])(?::(?:0*{_PORT})?)?"
    f"(?:[/?#]{_URL_TAIL}*)?$"
)
URL_RE = re.compile(URL)
EMAIL = f"^[^@{SPACE}]+@[^@{SPACE}]+\\.[^@{SPACE}]+$"


# ---- cron text ------------------------------------------------------------------------------

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def _name_ranges(names: tuple[str, ...]) -> list[str]:
    return [f"{anycase(n)}-{words(names[i:])}" for i, n in enumerate(names)]


def _field(lo: int, hi: int, names: tuple[str, ...] = (), ranges: bool = True) -> str:
    """One cron field: `*`, values, ascending ranges, each with an optional /step; a list."""
    value = group([int_range(lo, hi), *([words(names)] if names else [])])
    spans = [ordered_ranges(lo, hi)] if ranges else []
    if names == DAYS:  # MON-FRI; ranges of month names are rare enough to leave out
        spans += _name_ranges(names)
    item = f"(?:\\*|{group([*spans, value])})(?:/{int_range(1, hi - lo + 1)})?"
    return f"{item}(?:,{item})*"


def cron() -> str:
    """The cron texts the document promises: Unix (5 fields) and Quartz (6-7), one space apart.

    Fewer than the API takes: no L, W or #, no ranges of months by name, of years, or of names
    and numbers mixed, no EventBridge form, no leading zeros and no other white space; the
    schema's description names them.
    """
    minute, hour, dom, month = _field(0, 59), _field(0, 23), _field(1, 31), _field(1, 12, MONTHS)
    unix = f"{minute} {hour} (?:\\?|{dom}) {month} (?:\\?|{_field(0, 7, DAYS)})"
    head = f"{_field(0, 59)} {minute} {hour}"
    days = f"(?:\\? {month} {_field(1, 7, DAYS)}|{dom} {month} \\?)"
    quartz = f"{head} {days}(?: {_field(1970, 2199, ranges=False)})?"
    return f"^(?:{words(MACROS)}|{unix}|{quartz})$"


# ---- clients' regular expressions -----------------------------------------------------------

_QUANTIFIER = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")
# Escapes ECMA 262 knows (Python's \a, \A, \Z, \U and \N it does not), besides escaped symbols.
_ESCAPES = frozenset("bBdDsSwWfnrtv0123456789xuckpP")


def portable(pattern: str) -> bool:
    """Whether a regular expression Python compiles is one JSON Schema's `regex` format (ECMA 262)
    takes too. Python also reads a lone `{`, `}` or `]`, `[]...]`, an escaped letter only it
    knows or an escaped non-ASCII character, `\\0` before a digit, possessive quantifiers (`a*+`),
    and `(?P...)`, `(?#...)` and inline flags."""
    i, in_class = 0, False
    while i < len(pattern):
        c, rest = pattern[i], pattern[i + 1 : i + 3]
        if c == "\\":
            if not rest[:1].isascii() or (rest[:1].isalnum() and rest[:1] not in _ESCAPES):
                return False
            if rest[:1] == "0" and rest[1:].isdigit():
                return False
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 2 if rest[:1] == "^" else 1
            if pattern.startswith("]", i):
                return False
            continue
        elif c == "{":
            quantifier = _QUANTIFIER.match(pattern, i)
            if quantifier is None or i == 0 or pattern.startswith("+", quantifier.end()):
                return False
            i = quantifier.end()
            continue
        else:
            python_group = c == "(" and rest[:1] == "?" and rest[1:] not in (":", "=", "!", "<")
            possessive = c in "*+?" and rest[:1] == "+" and not pattern.startswith("(?", i - 1)
            if c in "}]" or python_group or possessive:
                return False
        i += 1
    return True
