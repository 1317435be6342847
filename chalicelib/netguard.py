"""The SSRF guard: which IP addresses an outbound call may reach, and the default resolver.

The decision is a pure function of the address so that every address form can be tested without
sending a packet; the executor resolves a name once, vets every address, and connects only to a
vetted one.
"""

from __future__ import annotations

import functools
import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata and credential endpoints: AWS IMDS (also GCP and Azure), ECS task metadata, EKS
# Pod Identity, AWS IMDS over IPv6, Alibaba Cloud, Oracle Cloud. Refused even when private
# targets are allowed, because reaching them from a job would hand out the runtime's credentials.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.170.23",
        "fd00:ec2::254",
        "fd00:ec2::23",
        "100.100.100.200",
        "192.0.0.192",
    )
)

# Kinds that a local development setup may reach when it allows private targets.
_PRIVATE_KINDS = frozenset(
    {
        "a loopback address",
        "a private address",
        "a shared (CGNAT) address",
        "a link-local address",
        "a unique local address",
        "a site-local address",
    }
)


def _table(
    rows: tuple[tuple[str, str], ...],
) -> tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...]:
    return tuple((ipaddress.ip_network(net), kind) for net, kind in rows)


# Special-purpose IPv4 ranges (IANA registry, RFC 6890 and successors); first match wins, so the
# broadcast address comes before the reserved block that contains it.
_V4_RULES = _table(
    (
        ("0.0.0.0/8", "an unspecified address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a shared (CGNAT) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "a reserved address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a reserved address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("255.255.255.255/32", "a broadcast address"),
        ("240.0.0.0/4", "a reserved address"),
    )
)

# IPv6 ranges that are refused outright; forms that embed an IPv4 address are handled before
# this table, and anything outside global unicast 2000::/3 is refused after it.
_V6_RULES = _table(
    (
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("64:ff9b:1::/48", "a private address"),
        ("100::/64", "a reserved address"),
        ("2001:2::/48", "a benchmarking address"),
        ("2001:db8::/32", "a documentation address"),
        ("2001::/23", "a reserved address"),
        ("3fff::/20", "a documentation address"),
        ("fc00::/7", "a unique local address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
    )
)

_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Local-use NAT64 (RFC 8215): a private prefix, whose translator may embed the IPv4 address in
# the last 32 bits as the well-known prefix does (or elsewhere): refused as private, and even
# where private targets are allowed when those 32 bits are a metadata address.
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
_TEREDO = ipaddress.ip_network("2001::/32")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")


@functools.lru_cache(maxsize=4096)  # a pure function of its arguments, on every call's path
def blocked_reason(ip: str, allow_private: bool) -> str | None:
    """Return why a call must not connect to `ip` (e.g. "10.0.0.5 is a private address"), or None.

    `allow_private` admits loopback, private, CGNAT, link-local and unique-local targets (local
    development); metadata, multicast, reserved and documentation addresses stay refused.
    """
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return f"{ip!r} is not an IP address"
    kind, embedded = _classify(address, allow_private)
    if kind is None:
        return None
    if embedded is None:
        return f"{ip} is {kind}"
    return f"{ip} embeds {embedded}, {kind}"


def _classify(address: IPAddress, allow_private: bool) -> tuple[str | None, IPAddress | None]:
    """(kind, the embedded IPv4 address it came from) for a refused address, else (None, None)."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address", None
    if isinstance(address, ipaddress.IPv4Address):
        kind = _kind(address, _V4_RULES)
        if kind is None or (allow_private and kind in _PRIVATE_KINDS):
            return None, None
        return kind, None
    if address in _LOCAL_NAT64:
        low = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if low in METADATA_ADDRESSES:
            return "a cloud metadata address", low
    for embedded in _embedded_ipv4(address):
        kind, _ = _classify(embedded, allow_private)
        if kind is not None:
            return kind, embedded
    if address in _MAPPED or address in _NAT64 or address in _SIX_TO_FOUR:
        # These reach exactly the IPv4 address they embed, which passed above.
        return None, None
    kind = _kind(address, _V6_RULES) if address not in _TEREDO else None
    if kind is None and address not in _GLOBAL_UNICAST:
        kind = "a reserved address"
    if kind is None or (allow_private and kind in _PRIVATE_KINDS):
        return None, None
    return kind, None


def _kind(
    address: IPAddress,
    rules: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...],
) -> str | None:
    for network, kind in rules:
        if address in network:
            return kind
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address leads to: mapped, NAT64, 6to4, Teredo server and client."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address in _NAT64:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    return []


def resolve(host: str, port: int) -> list[str]:
    """Resolve `host` for a TCP connection with the system resolver: unique addresses, in order.

    Raises OSError (socket.gaierror) when the name does not resolve.
    """
    import socket  # here, not at module level: the Lambda's cold start imports this module

    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    ):
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses
