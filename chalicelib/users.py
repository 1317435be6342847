"""Users who sign in with a name and a password, and the sessions a sign-in gives.

A user name is unique across the service: a sign-in (Volt MX's `userid`, VisualCron's
`username`) names no account. Passwords are kept as Argon2id hashes (argon2-cffi's defaults,
RFC 9106's second recommended profile: 64 MiB, 3 passes, 4 lanes); a session token (`chs_` and
256 random bits) is kept as its SHA-256, like an API key. A session acts with its user's scopes
as they are at each call, so a scope change or a deleted user takes effect at once.

Sign-in answers a wrong password exactly as an unknown user, after the same work (a dummy hash is
checked when the user is unknown), and is rate-limited per user name and per address before any
of that work is done.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib import auth
from chalicelib.errors import (
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthorized,
    ValidationError,
)
from chalicelib.store.base import SessionRecord, Stores, UserRecord

USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # Argon2 hashes any length; the cap keeps a sign-in's cost bounded
SESSION_PREFIX = "chs_"
SESSION_TTL_S = 24 * 3600  # the dashboard's and VisualCron's 24 hours
SIGN_IN_FAILED = "unknown user name or wrong password"
# Sign-in attempts: per user name 10 at once, then one a minute; per address 30, then one every
# 10 s. Charged before the password is checked, whether the user exists or not.
USER_RATE, USER_BURST = 1 / 60, 10.0
ADDRESS_RATE, ADDRESS_BURST = 1 / 10, 30.0
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # 43 of them: 256 bits
_TOKEN_RE = re.compile(r"chs_[0-9A-Za-z]{43}")
_RENEW_EVERY = 60  # seconds: a session renewed on use is written at most once a minute

_dummy_lock = threading.Lock()
_dummy: list[str] = []


def _hasher() -> Any:
    from argon2 import PasswordHasher  # imported on first use: not on every Lambda cold start

    return PasswordHasher()


def hash_password(password: str) -> str:
    return str(_hasher().hash(password))


def _dummy_hash() -> str:
    """A hash of a random password with the same parameters, checked for an unknown user."""
    with _dummy_lock:
        if not _dummy:
            _dummy.append(hash_password(secrets.token_urlsafe(16)))
        return _dummy[0]


def verify_password(stored_hash: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return bool(_hasher().verify(stored_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_session_token(text: str) -> bool:
    return text.startswith(SESSION_PREFIX)


def validate_username(value: object, field_name: str = "username") -> str:
    """A user name as stored: lower case; letters, digits and . _ @ -, up to 64."""
    if not isinstance(value, str) or not USERNAME.fullmatch(value.strip().lower()):
        raise ValidationError(
            "must be 1-64 letters, digits or . _ @ - (starting with a letter or digit)",
            field=field_name,
        )
    return value.strip().lower()


def validate_password(value: object, field_name: str = "password") -> str:
    if not isinstance(value, str) or not MIN_PASSWORD <= len(value) <= MAX_PASSWORD:
        raise ValidationError(
            f"must be a string of {MIN_PASSWORD} to {MAX_PASSWORD} characters", field=field_name
        )
    if "\x00" in value:
        raise ValidationError("must not contain NUL characters", field=field_name)
    return value


def user_to_api(user: UserRecord) -> dict[str, Any]:
    """The public view of a user: never its password hash."""
    return {
        "username": user.username,
        "scopes": list(user.scopes),
        "createdAt": user.created_at,
        "passwordChangedAt": user.password_changed_at,
    }


@dataclass(frozen=True)
class SignedIn:
    """A new session: the token (shown once) and its record."""

    token: str
    session: SessionRecord
    user: UserRecord


@dataclass
class Users:
    """Use cases of users and sessions; time comes from `clock`."""

    stores: Stores
    clock: Callable[[], float] = field(default=time.time)

    # ---- managing users ---------------------------------------------------------------------

    def create_user(self, account_id: str, payload: object) -> UserRecord:
        if not isinstance(payload, dict):
            raise ValidationError("must be an object", field="body")
        for key in payload:
            if key not in ("username", "password", "scopes"):
                raise ValidationError("unknown field", field=str(key))
        username = validate_username(payload.get("username"))
        password = validate_password(payload.get("password"))
        scopes = auth.validate_scopes(payload.get("scopes", ["read", "write", "run"]))
        return self.add(account_id, username, password, scopes)

    def add(self, account_id: str, username: str, password: str, scopes: list[str]) -> UserRecord:
        """Store a user whose fields are valid (the admin command comes here too)."""
        now = int(self.clock())
        user = UserRecord(username, account_id, hash_password(password), scopes, now, now)
        if not self.stores.users.create(user):
            raise Conflict(f"the user name {username!r} is taken", field="username")
        return user

    def list_users(self, account_id: str) -> list[UserRecord]:
        return self.stores.users.list(account_id)

    def delete_user(self, account_id: str, username: str) -> None:
        """Remove the user and end its sessions."""
        if not self.stores.users.delete(account_id, username.lower()):
            raise NotFound("user not found")

    def change_password(self, principal: auth.Principal, username: str, payload: object) -> None:
        """Set a new password: an admin for any user of the account; a user for itself, giving
        its current password too (a session left open elsewhere cannot lock its owner out).
        Every session of the user ends."""
        username = username.lower()
        if not isinstance(payload, dict):
            raise ValidationError("must be an object", field="body")
        for key in payload:
            if key not in ("password", "currentPassword"):
                raise ValidationError("unknown field", field=str(key))
        password = validate_password(payload.get("password"))
        if "currentPassword" in payload and not isinstance(payload["currentPassword"], str):
            raise ValidationError("must be a string", field="currentPassword")
        admin = "admin" in principal.scopes
        if not admin and principal.username != username:
            raise Forbidden("only an admin changes another user's password")
        user = self.stores.users.get(username)
        if user is None or user.account_id != principal.account_id:
            raise NotFound("user not found")
        if not admin:
            current = payload.get("currentPassword")
            if not isinstance(current, str) or not verify_password(user.password_hash, current):
                raise ValidationError("is not the current password", field="currentPassword")
        now = int(self.clock())
        if not self.stores.users.set_password(
            principal.account_id, username, hash_password(password), now
        ):
            raise NotFound("user not found")
        self.stores.users.end_sessions(username)

    # ---- sessions ---------------------------------------------------------------------------

    def _charge(self, bucket: str, rate: float, burst: float, now: float) -> None:
        allowed, retry_after = self.stores.state.take_token(bucket, rate, burst, now)
        if not allowed:
            raise RateLimited(
                "too many sign-in attempts; try again later",
                retry_after=max(1, math.ceil(retry_after)),
            )

    def check_password(
        self, username: object, password: object, source_ip: str | None
    ) -> UserRecord:
        """The user these credentials name, or Unauthorized (the same for an unknown user and a
        wrong password); RateLimited past either bucket."""
        now = self.clock()
        self._charge(f"signin-ip#{source_ip or 'unknown'}", ADDRESS_RATE, ADDRESS_BURST, now)
        name = username.strip().lower() if isinstance(username, str) else ""
        if not USERNAME.fullmatch(name):
            name = ""
        if name:
            self._charge(f"signin-user#{name}", USER_RATE, USER_BURST, now)
        text = password if isinstance(password, str) and len(password) <= MAX_PASSWORD else ""
        user = self.stores.users.get(name) if name else None
        if user is None:
            verify_password(_dummy_hash(), text)  # the same work as for a user that exists
            raise Unauthorized(SIGN_IN_FAILED)
        if not verify_password(user.password_hash, text):
            raise Unauthorized(SIGN_IN_FAILED)
        self._rehash_if_weaker(user, text)
        return user

    def _rehash_if_weaker(self, user: UserRecord, password: str) -> None:
        """A hash made with older, weaker parameters is replaced at a successful sign-in."""
        try:
            stale = bool(_hasher().check_needs_rehash(user.password_hash))
        except Exception:  # a hash argon2 cannot parse has already failed to verify
            return
        if stale:
            self.stores.users.set_password(
                user.account_id, user.username, hash_password(password), user.password_changed_at
            )

    def sign_in(
        self,
        username: object,
        password: object,
        source_ip: str | None,
        *,
        ttl_s: int = SESSION_TTL_S,
        renew: bool = False,
    ) -> SignedIn:
        """Check the credentials and open a session of `ttl_s` seconds (moved on by each use
        when `renew`)."""
        user = self.check_password(username, password, source_ip)
        return self.open_session(user, ttl_s=ttl_s, renew=renew)

    def open_session(self, user: UserRecord, *, ttl_s: int, renew: bool) -> SignedIn:
        now = int(self.clock())
        while True:
            token = SESSION_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(43))
            record = SessionRecord(
                token_hash(token),
                user.username,
                user.account_id,
                now,
                now + ttl_s,
                ttl_s if renew else 0,
            )
            if self.stores.users.create_session(record):
                return SignedIn(token, record, user)

    def sign_out(self, token: str) -> bool:
        return self.stores.users.end_session(token_hash(token.strip()))

    def session_of(self, token: str) -> tuple[SessionRecord, UserRecord]:
        """The live session of a token and its user (renewed if its kind renews), or
        Unauthorized. A session older than its user (a name deleted and created again) or than
        the user's last password change authenticates nothing."""
        now = int(self.clock())
        token = token.strip()
        well_formed = _TOKEN_RE.fullmatch(token)
        session = self.stores.users.get_session(token_hash(token)) if well_formed else None
        if session is None or session.expires_at <= now:
            raise Unauthorized("invalid or expired session")
        user = self.stores.users.get(session.username)
        if (
            user is None
            or user.account_id != session.account_id
            or session.created_at < user.created_at
            or session.created_at < user.password_changed_at
        ):
            raise Unauthorized("invalid or expired session")
        if session.renew_s and session.expires_at < now + session.renew_s - _RENEW_EVERY:
            session.expires_at = now + session.renew_s
            self.stores.users.renew_session(session.token_hash, session.expires_at)
        return session, user
