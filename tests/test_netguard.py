"""The SSRF guard's decision for every address form, decided without sending a packet."""

from __future__ import annotations

import pytest

from chalicelib.netguard import METADATA_ADDRESSES, blocked_reason, resolve

REFUSED = [
    # IPv4 special-purpose ranges
    ("0.0.0.0", "0.0.0.0 is an unspecified address"),
    ("0.1.2.3", "0.1.2.3 is an unspecified address"),
    ("10.0.0.5", "10.0.0.5 is a private address"),
    ("172.16.0.1", "172.16.0.1 is a private address"),
    ("172.31.255.254", "172.31.255.254 is a private address"),
    ("192.168.1.1", "192.168.1.1 is a private address"),
    ("100.64.0.1", "100.64.0.1 is a shared (CGNAT) address"),
    ("100.127.255.254", "100.127.255.254 is a shared (CGNAT) address"),
    ("127.0.0.1", "127.0.0.1 is a loopback address"),
    ("127.255.255.254", "127.255.255.254 is a loopback address"),
    ("169.254.1.1", "169.254.1.1 is a link-local address"),
    ("192.0.0.8", "192.0.0.8 is a reserved address"),
    ("192.0.2.10", "192.0.2.10 is a documentation address"),
    ("192.88.99.1", "192.88.99.1 is a reserved address"),
    ("198.18.0.1", "198.18.0.1 is a benchmarking address"),
    ("198.51.100.7", "198.51.100.7 is a documentation address"),
    ("203.0.113.9", "203.0.113.9 is a documentation address"),
    ("224.0.0.251", "224.0.0.251 is a multicast address"),
    ("239.255.255.250", "239.255.255.250 is a multicast address"),
    ("240.0.0.1", "240.0.0.1 is a reserved address"),
    ("255.255.255.255", "255.255.255.255 is a broadcast address"),
    # cloud metadata
    ("169.254.169.254", "169.254.169.254 is a cloud metadata address"),
    ("169.254.170.2", "169.254.170.2 is a cloud metadata address"),
    ("fd00:ec2::254", "fd00:ec2::254 is a cloud metadata address"),
    ("100.100.100.200", "100.100.100.200 is a cloud metadata address"),
    ("192.0.0.192", "192.0.0.192 is a cloud metadata address"),
    # IPv6 ranges
    ("::", ":: is an unspecified address"),
    ("::1", "::1 is a loopback address"),
    ("fe80::1", "fe80::1 is a link-local address"),
    ("fe80::1%eth0", "fe80::1%eth0 is a link-local address"),
    ("febf:ffff::1", "febf:ffff::1 is a link-local address"),
    ("fc00::1", "fc00::1 is a unique local address"),
    ("fd12:3456:789a::1", "fd12:3456:789a::1 is a unique local address"),
    ("fec0::1", "fec0::1 is a site-local address"),
    ("ff02::1", "ff02::1 is a multicast address"),
    ("100::1", "100::1 is a reserved address"),
    ("2001:db8::1", "2001:db8::1 is a documentation address"),
    ("3fff::1", "3fff::1 is a documentation address"),
    ("2001:2::1", "2001:2::1 is a benchmarking address"),
    ("2001:10::1", "2001:10::1 is a reserved address"),
    ("64:ff9b:1::a00:1", "64:ff9b:1::a00:1 is a private address"),
    ("4000::1", "4000::1 is a reserved address"),  # outside global unicast 2000::/3
    ("::10.0.0.1", "::10.0.0.1 is a reserved address"),  # deprecated IPv4-compatible form
    ("::8.8.8.8", "::8.8.8.8 is a reserved address"),
    # IPv6 forms that lead to an IPv4 address
    ("::ffff:10.0.0.1", "::ffff:10.0.0.1 embeds 10.0.0.1, a private address"),
    ("::ffff:127.0.0.1", "::ffff:127.0.0.1 embeds 127.0.0.1, a loopback address"),
    ("::ffff:a9fe:a9fe", "::ffff:a9fe:a9fe embeds 169.254.169.254, a cloud metadata address"),
    ("2002:a00:1::", "2002:a00:1:: embeds 10.0.0.1, a private address"),
    ("2002:7f00:1::1", "2002:7f00:1::1 embeds 127.0.0.1, a loopback address"),
    ("64:ff9b::a00:1", "64:ff9b::a00:1 embeds 10.0.0.1, a private address"),
    (
        "64:ff9b::169.254.169.254",
        "64:ff9b::169.254.169.254 embeds 169.254.169.254, a cloud metadata address",
    ),
    # Teredo: server 65.54.227.120, client ~f5ff:fffe = 10.0.0.1
    (
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",
        "2001:0:4136:e378:8000:63bf:f5ff:fffe embeds 10.0.0.1, a private address",
    ),
    # Teredo whose server is private
    ("2001:0:a00:1::1", "2001:0:a00:1::1 embeds 10.0.0.1, a private address"),
    # not addresses at all
    ("example.com", "'example.com' is not an IP address"),
    ("0177.0.0.1", "'0177.0.0.1' is not an IP address"),
    ("", "'' is not an IP address"),
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above CGNAT
    "172.15.255.255",
    "172.32.0.0",
    "169.253.255.255",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo, server and client public
]


@pytest.mark.parametrize(("ip", "reason"), REFUSED)
def test_it_refuses_every_non_public_address_form(ip: str, reason: str) -> None:
    assert blocked_reason(ip, allow_private=False) == reason


@pytest.mark.parametrize("ip", ALLOWED)
def test_it_allows_public_addresses(ip: str) -> None:
    assert blocked_reason(ip, allow_private=False) is None
    assert blocked_reason(ip, allow_private=True) is None


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "10.0.0.5",
        "192.168.1.1",
        "172.16.0.1",
        "100.64.0.1",
        "169.254.1.1",
        "::1",
        "fe80::1",
        "fd12::1",
        "fec0::1",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
        "2002:a00:1::",
        "64:ff9b::a00:1",
        "64:ff9b:1::1",
    ],
)
def test_it_allows_private_targets_when_the_policy_says_so(ip: str) -> None:
    assert blocked_reason(ip, allow_private=False) is not None
    assert blocked_reason(ip, allow_private=True) is None


@pytest.mark.parametrize("ip", sorted(str(a) for a in METADATA_ADDRESSES))
def test_it_refuses_metadata_addresses_even_when_private_targets_are_allowed(ip: str) -> None:
    assert blocked_reason(ip, allow_private=True) == f"{ip} is a cloud metadata address"


@pytest.mark.parametrize(
    ("ip", "reason"),
    [
        ("::ffff:169.254.169.254", "embeds 169.254.169.254, a cloud metadata address"),
        ("64:ff9b::a9fe:a9fe", "embeds 169.254.169.254, a cloud metadata address"),
        ("64:ff9b:1::a9fe:a9fe", "embeds 169.254.169.254, a cloud metadata address"),
        ("2002:a9fe:a9fe::1", "embeds 169.254.169.254, a cloud metadata address"),
        ("0.0.0.0", "is an unspecified address"),
        ("::", "is an unspecified address"),
        ("224.0.0.1", "is a multicast address"),
        ("ff02::1", "is a multicast address"),
        ("240.0.0.1", "is a reserved address"),
        ("255.255.255.255", "is a broadcast address"),
        ("192.0.2.1", "is a documentation address"),
        ("2001:db8::1", "is a documentation address"),
        ("::10.0.0.1", "is a reserved address"),
    ],
)
def test_it_refuses_special_addresses_even_when_private_targets_are_allowed(
    ip: str, reason: str
) -> None:
    assert blocked_reason(ip, allow_private=True) == f"{ip} {reason}"


def test_it_resolves_localhost_to_loopback() -> None:
    assert "127.0.0.1" in resolve("localhost", 80)


def test_it_resolves_numeric_host_forms_to_the_address_the_guard_then_sees() -> None:
    # Forms a URL parser passes on as names; the C library reads them as numbers, no lookup.
    assert resolve("2130706433", 80) == ["127.0.0.1"]
    assert resolve("127.1", 80) == ["127.0.0.1"]
    assert blocked_reason(resolve("0x7f.0.0.1", 80)[0], allow_private=False) == (
        "127.0.0.1 is a loopback address"
    )
