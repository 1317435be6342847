"""Standard Webhooks signatures, checked against the specification's vector and its library."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks import Webhook

from chalicelib.signing import SigningError, new_secret, sign, signature_headers

# The test vector published with the Standard Webhooks reference implementations.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_it_reproduces_the_specification_test_vector() -> None:
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_it_accepts_a_secret_without_the_prefix_like_the_reference_library() -> None:
    bare = VECTOR_SECRET.removeprefix("whsec_")
    assert sign(bare, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_it_makes_whsec_secrets_of_32_random_bytes() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32


def test_it_makes_headers_the_standardwebhooks_package_verifies() -> None:
    secret = new_secret()
    body = b'{"jobId": 7, "status": 1}'
    headers = signature_headers([secret], "job-7#1700000000", int(time.time()), body)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "job-7#1700000000"
    assert Webhook(secret).verify(body, headers) == {"jobId": 7, "status": 1}


def test_it_signs_with_each_secret_during_a_rotation() -> None:
    old, new = new_secret(), new_secret()
    body = b"{}"
    timestamp = int(time.time())
    headers = signature_headers([old, new], "msg_1", timestamp, body)
    assert headers["webhook-signature"].split(" ") == [
        sign(old, "msg_1", timestamp, body),
        sign(new, "msg_1", timestamp, body),
    ]
    for secret in (old, new):
        Webhook(secret).verify(body, headers)


def test_it_fails_verification_for_another_secret_or_body() -> None:
    secret = new_secret()
    headers = signature_headers([secret], "msg_1", int(time.time()), b'{"a": 1}')
    with pytest.raises(Exception, match="No matching signature found"):
        Webhook(new_secret()).verify(b'{"a": 1}', headers)
    with pytest.raises(Exception, match="No matching signature found"):
        Webhook(secret).verify(b'{"a": 2}', headers)


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("whsec_not base64!", "signing secret is not base64 after 'whsec_'"),
        ("whsec_" + base64.b64encode(b"short").decode(), "signing secret is shorter than 24 bytes"),
        ("whsec_", "signing secret is shorter than 24 bytes"),
    ],
)
def test_it_refuses_a_bad_secret_without_quoting_it(secret: str, message: str) -> None:
    with pytest.raises(SigningError) as caught:
        sign(secret, "msg_1", 1, b"")
    assert str(caught.value) == message


def test_it_refuses_to_make_headers_without_a_secret() -> None:
    with pytest.raises(SigningError, match="no signing secret"):
        signature_headers([], "msg_1", 1, b"")
