"""The regular expressions the OpenAPI document states: what they match, the API takes."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import jobs, patterns
from chalicelib.errors import ValidationError
from chalicelib.schedule import Schedule

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(
    ("low", "high"), [(0, 0), (0, 9), (0, 59), (1, 31), (1, 12), (0, 255), (100, 599), (1, 65535)]
)
def test_it_matches_exactly_the_numbers_of_a_range(low: int, high: int) -> None:
    matches = re.compile(patterns.int_range(low, high)).fullmatch
    wrong = [
        n for n in range(min(high * 2, 70_000) + 12) if bool(matches(str(n))) != (low <= n <= high)
    ]
    assert wrong == []
    assert matches("07") is None  # no leading zeros


@pytest.mark.parametrize(("low", "high"), [(0, 7), (1, 7), (0, 23), (1, 31), (0, 59), (100, 599)])
def test_it_matches_exactly_the_ascending_ranges(low: int, high: int) -> None:
    matches = re.compile(patterns.ordered_ranges(low, high)).fullmatch
    top = high + 12
    wrong = [
        (a, b)
        for a in range(top)
        for b in range(top)
        if bool(matches(f"{a}-{b}")) != (low <= a <= b <= high)
    ]
    assert wrong == []


def test_it_spells_out_the_white_space_python_splits_on() -> None:
    space = re.compile(f"[{patterns.SPACE}]")
    assert [i for i in range(0x110000) if bool(space.fullmatch(chr(i))) != chr(i).isspace()] == []


@FAST
@given(st.from_regex(patterns.URL_RE, fullmatch=True))
def test_it_accepts_every_url_its_pattern_matches(url: str) -> None:
    if len(url) <= jobs.MAX_URL:
        assert jobs.validate_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com",
        "HTTP://Example.COM:8080/a b?c#d".replace(" ", "%20"),
        "http://[::1]:8080/hook",
        "http://[::ffff:127.0.0.1]/",
        "http://[2001:db8::1]",
        "https://xn--bcher-kva.example/",
        "http://a_b.internal:00080/",
        "https://example.com/ümlaut?q=ü",
    ],
)
def test_it_matches_the_urls_the_api_takes(url: str) -> None:
    assert jobs.validate_url(url) == url
    assert patterns.URL_RE.fullmatch(url)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "https://user@example.com/",
        "https://bücher.example/",
        "http://example.com:0/",
        "http://example.com:65536/",
        "http://[::1/",
        "http://[example.com]/",
        "http://[v1.x]/",
        "http://[fe80::1%25eth0]/",
        "http://-example.com/",
        "http://a\uff0fb/",
    ],
)
def test_it_refuses_the_urls_its_pattern_does_not_match(url: str) -> None:
    assert patterns.URL_RE.fullmatch(url) is None
    with pytest.raises(ValidationError) as refused:
        jobs.validate_url(url)
    assert refused.value.field == "url"


@FAST
@given(st.from_regex(patterns.cron(), fullmatch=True))
def test_it_accepts_every_cron_text_its_pattern_matches(text: str) -> None:
    Schedule.parse({"cron": text})


@pytest.mark.parametrize(
    "text",
    ["0 9 * * MON-FRI", "*/15 9-17 * * 1-5", "@daily", "0 0 12 ? * 2-6", "0 30 10 1,15 * ? 2030"],
)
def test_it_matches_common_cron_texts(text: str) -> None:
    assert re.fullmatch(patterns.cron(), text)


def test_it_leaves_out_of_the_pattern_cron_texts_only_the_api_reads() -> None:
    taken = ["0 0 L * *", "cron(0 12 * * ? *)", "05 * * * *", "0 0 * JAN-MAR *"]
    for text in taken:
        Schedule.parse({"cron": text})
        assert re.fullmatch(patterns.cron(), text) is None
    assert re.fullmatch(patterns.cron(), "0 0 * * 5-1") is None  # refused by both


@pytest.mark.parametrize(
    ("pattern", "portable"),
    [
        ("^OK$", True),
        ("[a-z]{2,}\\d+", True),
        ("(?:a|b)*?c", True),
        ("(?<=x)y(?!z)", True),
        ("[]a]", False),
        ("a}", False),
        ("a]", False),
        ("x{1,2", False),
        ("a*+", False),
        ("(?P<n>x)", False),
        ("(?i)ok", False),
        ("\\Aok\\Z", False),
        ("\\é", False),
        ("\\01", False),
    ],
)
def test_it_knows_which_regular_expressions_ecma_262_reads_too(
    pattern: str, portable: bool
) -> None:
    re.compile(pattern)
    assert patterns.portable(pattern) is portable
