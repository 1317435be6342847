"""Standard Webhooks signatures (https://www.standardwebhooks.com): secrets, signing, headers.

A receiver verifies with any Standard Webhooks library, e.g. `standardwebhooks.Webhook(secret)
.verify(body, headers)`. Secrets are never logged or put into messages by this module.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _random
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the specification asks for 24 to 64 random bytes


class SigningError(ValueError):
    """A secret that is not a Standard Webhooks secret, or no secret at all."""


def new_secret() -> str:
    """Return a new secret: "whsec_" followed by the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(SECRET_BYTES)).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return "v1,<base64 HMAC-SHA256 of 'msg_id.timestamp.body'>" keyed with the secret's bytes."""
    key = _key(secret)
    signed = b"%s.%d.%s" % (msg_id.encode("utf-8"), int(timestamp), body)
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_headers(
    secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Return the webhook-id, webhook-timestamp and webhook-signature headers for one message.

    One signature per secret, space-separated, so receivers keep verifying while a secret rotates.
    """
    if not secrets:
        raise SigningError("no signing secret given")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets),
    }


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        # The message names the problem, never the secret.
        raise SigningError("signing secret is not base64 after 'whsec_'") from None
    if len(key) < 24:
        raise SigningError("signing secret is shorter than 24 bytes")
    return key
