"""Envelope encryption of the secrets a run needs (basic-auth passwords, signing secrets) and of
the account's notification signing secret.

A job's secrets are sealed with AES-256-GCM under a data key from KMS (`GenerateDataKey`); the
item stores the KMS-encrypted data key beside the ciphertext, and the job's own key
(`account#job`) is the GCM associated data, so a sealed value moved to another job does not open
(the notification secret's context is its settings key, `notifications#account`).
Plaintext data keys stay in this process's memory only: one is reused for sealing for a few
minutes, and opened ones are cached by their encrypted form, so a warm tick opens each job's
secrets without a KMS call per run. botocore logs KMS response bodies at DEBUG, data keys
included: a log filter blanks them (see `_RedactDataKeys`).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

from chalicelib.errors import StoreError

PREFIX = "kms1:"
LOCAL_PREFIX = "key1:"  # sealed with a local key file (`make run`), not KMS
_REUSE_S = 300  # a sealing data key is used for at most this long
_CACHE = 1024  # opened data keys kept


class Sealer(Protocol):
    def seal(self, data: dict[str, Any], context: str) -> str: ...
    def open(self, sealed: str, context: str) -> dict[str, Any]: ...


def is_sealed(text: str) -> bool:
    """Whether `text` is a sealed value (of any sealer) rather than JSON in clear."""
    return text.startswith((PREFIX, LOCAL_PREFIX))


class PlainSealer:
    """No encryption (no KMS key configured): the JSON as it is. Opens sealed values never."""

    def seal(self, data: dict[str, Any], context: str) -> str:
        return json.dumps(data, separators=(",", ":"))

    def open(self, sealed: str, context: str) -> dict[str, Any]:
        if is_sealed(sealed):
            raise StoreError("secrets are encrypted but no key is configured to open them")
        return _plain(sealed)


class LocalSealer:
    """AES-256-GCM under one key kept in a file (mode 0600) beside the local database: what
    `make run` seals secrets with, where there is no KMS. The job's own key (or the settings
    key) is the associated data, as with KmsSealer, so a sealed value moved elsewhere does not
    open."""

    KEY_BYTES = 32

    def __init__(self, key: bytes) -> None:
        if len(key) != self.KEY_BYTES:
            raise ValueError("a local sealing key is 32 bytes")
        self.key = key

    @classmethod
    def from_file(cls, path: Any) -> LocalSealer:
        """The key in `path` (base64), made there first if there is none."""
        from pathlib import Path

        path = Path(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fresh = base64.b64encode(os.urandom(cls.KEY_BYTES)).decode() + "\n"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # made by another process a moment ago: read that one
            else:
                with os.fdopen(fd, "w") as f:
                    f.write(fresh)
                    f.flush()
                    os.fsync(f.fileno())
        try:
            key = base64.b64decode(path.read_text().strip(), validate=True)
            return cls(key)
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read the sealing key {path}: {exc}") from exc

    def seal(self, data: dict[str, Any], context: str) -> str:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(12)
        body = json.dumps(data, separators=(",", ":")).encode()
        ciphertext = AESGCM(self.key).encrypt(nonce, body, context.encode())
        envelope = {
            "n": base64.b64encode(nonce).decode(),
            "c": base64.b64encode(ciphertext).decode(),
        }
        return LOCAL_PREFIX + json.dumps(envelope, separators=(",", ":"))

    def open(self, sealed: str, context: str) -> dict[str, Any]:
        if not sealed.startswith(LOCAL_PREFIX):
            if sealed.startswith(PREFIX):
                raise StoreError("secrets sealed with KMS cannot be opened with the local key")
            return _plain(sealed)  # written before sealing (an import of clear data)
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            envelope = json.loads(sealed[len(LOCAL_PREFIX) :])
            body = AESGCM(self.key).decrypt(
                base64.b64decode(envelope["n"]), base64.b64decode(envelope["c"]), context.encode()
            )
        except (InvalidTag, ValueError, KeyError) as exc:
            raise StoreError("sealed secrets could not be decrypted with the local key") from exc
        data: dict[str, Any] = json.loads(body)
        return data


def _plain(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text or "{}")
    return data


class _RedactDataKeys(logging.Filter):
    """Blanks `Plaintext` in botocore's DEBUG log of a response body. GenerateDataKey and Decrypt
    answer with the plaintext data key, and the request log holds the sealed item: together they
    would open every secret sealed under that key to anyone who reads the logs."""

    _FIELD = re.compile(rb'("Plaintext"\s*:\s*)"[^"]*"')

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        body = args[0] if args else None
        if isinstance(body, bytes) and b'"Plaintext"' in body:
            record.args = (self._FIELD.sub(rb'\1"<redacted>"', body), *args[1:])
        return True


_REDACT = _RedactDataKeys()


class KmsSealer:
    """AES-GCM under KMS data keys (see the module docstring)."""

    def __init__(self, kms: Any, key_id: str, clock: Any = time.monotonic) -> None:
        # botocore.parsers logs every response body (the only place a data key is logged);
        # a logger's filters see its own records, and addFilter ignores a second add.
        logging.getLogger("botocore.parsers").addFilter(_REDACT)
        self.kms = kms
        self.key_id = key_id
        self.clock = clock
        self._lock = threading.Lock()
        self._sealing: tuple[bytes, bytes, float] | None = None  # plaintext, encrypted, since
        self._opened: OrderedDict[bytes, bytes] = OrderedDict()

    def _data_key(self) -> tuple[bytes, bytes]:
        with self._lock:
            if self._sealing is None or self.clock() - self._sealing[2] > _REUSE_S:
                try:
                    response = self.kms.generate_data_key(KeyId=self.key_id, KeySpec="AES_256")
                except Exception as exc:
                    raise StoreError(f"KMS GenerateDataKey failed: {type(exc).__name__}") from exc
                plaintext, encrypted = response["Plaintext"], response["CiphertextBlob"]
                self._sealing = (plaintext, encrypted, self.clock())
                self._remember(encrypted, plaintext)
            return self._sealing[0], self._sealing[1]

    def _remember(self, encrypted: bytes, plaintext: bytes) -> None:
        self._opened[encrypted] = plaintext
        self._opened.move_to_end(encrypted)
        while len(self._opened) > _CACHE:
            self._opened.popitem(last=False)

    def _open_key(self, encrypted: bytes) -> bytes:
        with self._lock:
            cached = self._opened.get(encrypted)
            if cached is not None:
                self._opened.move_to_end(encrypted)
                return cached
        try:
            plaintext: bytes = self.kms.decrypt(CiphertextBlob=encrypted, KeyId=self.key_id)[
                "Plaintext"
            ]
        except Exception as exc:
            raise StoreError(f"KMS Decrypt failed: {type(exc).__name__}") from exc
        with self._lock:
            self._remember(encrypted, plaintext)
        return plaintext

    def seal(self, data: dict[str, Any], context: str) -> str:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        plaintext_key, encrypted_key = self._data_key()
        nonce = os.urandom(12)
        body = json.dumps(data, separators=(",", ":")).encode()
        ciphertext = AESGCM(plaintext_key).encrypt(nonce, body, context.encode())
        envelope = {
            "k": base64.b64encode(encrypted_key).decode(),
            "n": base64.b64encode(nonce).decode(),
            "c": base64.b64encode(ciphertext).decode(),
        }
        return PREFIX + json.dumps(envelope, separators=(",", ":"))

    def open(self, sealed: str, context: str) -> dict[str, Any]:
        if not sealed.startswith(PREFIX):
            return _plain(sealed)  # written before encryption was configured
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            envelope = json.loads(sealed[len(PREFIX) :])
            key = self._open_key(base64.b64decode(envelope["k"]))
            body = AESGCM(key).decrypt(
                base64.b64decode(envelope["n"]), base64.b64decode(envelope["c"]), context.encode()
            )
        except (InvalidTag, ValueError, KeyError) as exc:
            raise StoreError("sealed secrets could not be decrypted") from exc
        data: dict[str, Any] = json.loads(body)
        return data
