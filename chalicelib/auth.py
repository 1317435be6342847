"""API keys: minting, hashing, verifying a presented key, scopes, IP allowlists and rate limits.

A key reads `chk_<public id>_<secret>`. Only the SHA-256 of the secret is stored (as the `keys`
table's partition key); the public id names the key in listings and revocations.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from chalicelib.errors import Forbidden, RateLimited, Unauthorized, ValidationError
from chalicelib.store.base import ApiKey, Stores

SCOPES = ("read", "write", "run", "admin")
_KEY_RE = re.compile(r"^chk_([0-9a-f]{12})_([0-9A-Za-z]{43})$")
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_TOUCH_EVERY = 60  # seconds: `last used` is approximate, so most requests skip that write


def _base62(data: bytes, width: int) -> str:
    n = int.from_bytes(data, "big")
    out = []
    for _ in range(width):
        n, rem = divmod(n, 62)
        out.append(_ALPHABET[rem])
    return "".join(reversed(out))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def mint() -> tuple[str, str, str]:
    """A new key: (full key to show once, public id, SHA-256 of the secret). 256 bits of secret."""
    key_id = secrets.token_hex(6)
    secret = _base62(secrets.token_bytes(32), 43)
    return f"chk_{key_id}_{secret}", key_id, hash_secret(secret)


def parse(key: str) -> tuple[str, str] | None:
    """(public id, secret hash) of a well-formed key, None otherwise."""
    match = _KEY_RE.match(key.strip())
    if not match:
        return None
    return match.group(1), hash_secret(match.group(2))


def validate_scopes(scopes: object, field: str = "scopes") -> list[str]:
    if not isinstance(scopes, list) or not scopes:
        raise ValidationError(f"give a list of scopes from {', '.join(SCOPES)}", field=field)
    out: list[str] = []
    for scope in scopes:
        if scope not in SCOPES:
            raise ValidationError(f"unknown scope {scope!r}; use {', '.join(SCOPES)}", field=field)
        if scope not in out:
            out.append(scope)
    return out


def validate_allowlist(entries: object, field: str = "ipAllowlist") -> list[str]:
    if entries is None:
        return []
    if not isinstance(entries, list) or len(entries) > 50:
        raise ValidationError("give a list of at most 50 IP addresses or CIDR ranges", field=field)
    out = []
    for entry in entries:
        try:
            out.append(str(ipaddress.ip_network(str(entry), strict=False)))
        except ValueError:
            raise ValidationError(
                f"{entry!r} is not an IP address or CIDR range", field=field
            ) from None
    return out


ANY = "any"  # a route any key or signed-in user may call, whatever its scopes


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account a key (or a user's session) belongs to and what it may do."""

    account_id: str
    key_id: str
    scopes: frozenset[str]
    name: str = ""
    strict: bool = False  # the key's setting: unknown job fields are a 400, not ignored

    @property
    def label(self) -> str:
        """Who this is in a job's createdBy/modifiedBy and a run's source: the key's name, or
        its public id when it has none."""
        return self.name or self.key_id

    username: str | None = None  # set when a user's session authenticated the call

    def require(self, scope: str) -> None:
        """Forbidden unless this key or user holds `scope` (or admin); ANY asks for none."""
        if scope == ANY or "admin" in self.scopes or scope in self.scopes:
            return
        who = "this user" if self.username is not None else "this API key"
        raise Forbidden(f"{who} lacks the {scope!r} scope")


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key from `Authorization: Bearer ...` or `X-API-Key`, if either is there."""
    authorization = headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    api_key = headers.get("x-api-key")
    return api_key.strip() if api_key else None


def _ip_allowed(source_ip: str | None, allowlist: Sequence[str]) -> bool:
    if not allowlist:
        return True
    if not source_ip:
        return False
    try:
        ip = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net) for net in allowlist)


def authenticate(
    stores: Stores,
    headers: Mapping[str, str],
    source_ip: str | None,
    now: float,
    *,
    rate: float,
    burst: float,
) -> Principal:
    """Verify the presented key and charge one request to its rate limit, or raise 401/403/429."""
    presented = presented_key(headers)
    if not presented:
        raise Unauthorized("missing API key: send Authorization: Bearer <key>")
    if presented.startswith("chs_"):
        return _session_principal(stores, presented, now, rate=rate, burst=burst)
    parsed = parse(presented)
    stored = stores.keys.get_by_hash(parsed[1]) if parsed else None
    # The hash lookup finds the key; the id comparison is constant-time so that timing does not
    # tell an attacker which part of a guessed key was right.
    if (
        parsed is None
        or stored is None
        or not hmac.compare_digest(stored.key_id.encode(), parsed[0].encode())
    ):
        raise Unauthorized("invalid API key")
    if stored.revoked:
        raise Unauthorized("this API key has been revoked")
    if not _ip_allowed(source_ip, stored.ip_allowlist):
        raise Forbidden("this API key cannot be used from this IP address")
    key_rate = stored.rate_limit_per_s or rate
    key_burst = stored.rate_limit_burst or burst
    allowed, retry_after = stores.state.take_token(f"key#{stored.key_id}", key_rate, key_burst, now)
    if not allowed:
        raise RateLimited(
            f"rate limit of {key_rate:g} requests per second exceeded",
            retry_after=max(1, math.ceil(retry_after)),
        )
    if stored.last_used_at is None or now - stored.last_used_at >= _TOUCH_EVERY:
        stores.keys.touch(stored.key_hash, int(now))
    return Principal(
        stored.account_id,
        stored.key_id,
        frozenset(stored.scopes),
        stored.name,
        strict=stored.strict,
    )


def _session_principal(
    stores: Stores, token: str, now: float, *, rate: float, burst: float
) -> Principal:
    """A user's session (chalicelib.users) acts as a key with the user's scopes and the
    deployment's rate limit, counted per user."""
    from chalicelib.users import Users

    _, user = Users(stores, clock=lambda: now).session_of(token)
    allowed, retry_after = stores.state.take_token(f"user#{user.username}", rate, burst, now)
    if not allowed:
        raise RateLimited(
            f"rate limit of {rate:g} requests per second exceeded",
            retry_after=max(1, math.ceil(retry_after)),
        )
    scopes = frozenset(user.scopes)
    return Principal(
        user.account_id, f"user:{user.username}", scopes, name=user.username, username=user.username
    )


def create_key(
    stores: Stores,
    account_id: str,
    scopes: Iterable[str],
    now: float,
    *,
    name: str = "",
    ip_allowlist: Sequence[str] = (),
    rate_limit_per_s: float | None = None,
    rate_limit_burst: float | None = None,
    strict: bool = False,
) -> tuple[str, ApiKey]:
    """Store a new key for the account; returns the full key (shown once) and its record."""
    while True:
        full, key_id, key_hash = mint()
        record = ApiKey(
            key_hash=key_hash,
            key_id=key_id,
            account_id=account_id,
            name=name,
            scopes=list(scopes),
            ip_allowlist=list(ip_allowlist),
            created_at=int(now),
            rate_limit_per_s=rate_limit_per_s,
            rate_limit_burst=rate_limit_burst,
            strict=strict,
        )
        if stores.keys.create(record):
            return full, record


def import_key(
    stores: Stores, full_key: str, account_id: str, scopes: Iterable[str], now: float, name: str
) -> ApiKey:
    """Store a key whose full text the operator chose (e.g. CRONHOOK_ADMIN_KEY); idempotent."""
    parsed = parse(full_key)
    if parsed is None:
        raise ValidationError(
            "a key must look like chk_<12 hex digits>_<43 letters or digits>", field="key"
        )
    key_id, key_hash = parsed
    existing = stores.keys.get_by_hash(key_hash)
    if existing is not None:
        return existing
    record = ApiKey(key_hash, key_id, account_id, name, list(scopes), [], int(now))
    stores.keys.create(record)
    return record


def key_to_api(key: ApiKey) -> dict[str, object]:
    """The public view of a key: never its secret or hash."""
    return {
        "keyId": key.key_id,
        "name": key.name,
        "scopes": list(key.scopes),
        "ipAllowlist": list(key.ip_allowlist),
        "rateLimit": key.rate_limit_per_s,  # None: the deployment's default
        "rateLimitBurst": key.rate_limit_burst,
        "strict": key.strict,
        "createdAt": key.created_at,
        "lastUsedAt": key.last_used_at,
        "revoked": key.revoked,
        "revokedAt": key.revoked_at,
        "prefix": f"chk_{key.key_id}_",
    }
