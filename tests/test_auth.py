"""API keys: format, hashing, and who gets in through the API (401/403/429 matrix)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from chalicelib import auth
from tests.helpers import Api, Persona, body, make_persona, new_job


def test_it_mints_keys_with_256_bits_of_secret_and_stores_only_a_hash() -> None:
    full, key_id, key_hash = auth.mint()
    prefix, public, secret = full.split("_")
    assert prefix == "chk" and public == key_id and len(secret) == 43
    assert key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in key_hash
    assert auth.parse(full) == (key_id, key_hash)


def test_it_rejects_malformed_keys() -> None:
    for bad in ("", "chk_", "chk_zz_abc", "Bearer x", "chk_0123456789ab_short"):
        assert auth.parse(bad) is None


def test_it_answers_401_without_a_key(api: Api) -> None:
    response = api.get("/jobs")
    assert response.status_code == 401
    assert body(response)["error"]["code"] == "unauthorized"


def test_it_answers_401_to_an_unknown_key(api: Api, alice: Persona) -> None:
    forged = alice.key[:-4] + "AAAA"
    response = api.get("/jobs", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert body(response)["error"]["message"] == "invalid API key"


def test_it_answers_401_to_garbage(api: Api) -> None:
    response = api.get("/jobs", headers={"Authorization": "Bearer not-a-key"})
    assert response.status_code == 401


def test_it_accepts_the_key_as_x_api_key(api: Api, alice: Persona) -> None:
    response = api.get("/jobs", headers={"X-API-Key": alice.key})
    assert response.status_code == 200


def test_it_answers_401_to_a_revoked_key(api: Api, alice: Persona, stores: Any) -> None:
    dave = make_persona(stores, "dave", alice.account, ["read"])
    assert api.delete(f"/keys/{dave.key_id}", alice).status_code == 200
    response = api.get("/jobs", dave)
    assert response.status_code == 401
    assert "revoked" in body(response)["error"]["message"]


def test_it_answers_403_when_the_scope_is_missing(api: Api, carol: Persona) -> None:
    assert api.get("/jobs", carol).status_code == 200
    response = api.put("/jobs", carol, new_job())
    assert response.status_code == 403
    assert "'write'" in body(response)["error"]["message"]
    assert api.get("/keys", carol).status_code == 403


def test_it_answers_403_outside_the_ip_allowlist(api: Api, stores: Any) -> None:
    # chalice's local gateway reports every caller as 127.0.0.1.
    outside = make_persona(stores, "erin", "acct-erin", ["admin"], ip_allowlist=["10.0.0.0/8"])
    inside = make_persona(stores, "fred", "acct-fred", ["admin"], ip_allowlist=["127.0.0.0/8"])
    response = api.get("/jobs", outside)
    assert response.status_code == 403
    assert body(response)["error"]["code"] == "forbidden"
    assert api.get("/jobs", inside).status_code == 200


def test_it_answers_429_with_retry_after_past_the_burst(api: Api, stores: Any) -> None:
    limited = make_persona(
        stores, "gina", "acct-gina", ["admin"], rate_limit_per_s=0.5, rate_limit_burst=3
    )
    codes = [api.get("/jobs", limited).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = api.get("/jobs", limited)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert body(response)["error"]["code"] == "rate_limited"


def test_it_limits_each_key_on_its_own(api: Api, stores: Any, alice: Persona) -> None:
    limited = make_persona(
        stores, "hank", alice.account, ["read"], rate_limit_burst=1, rate_limit_per_s=0.01
    )
    assert api.get("/jobs", limited).status_code == 200
    assert api.get("/jobs", limited).status_code == 429
    assert api.get("/jobs", alice).status_code == 200


def test_it_creates_a_key_and_shows_it_once(api: Api, alice: Persona) -> None:
    response = api.post(
        "/keys",
        alice,
        {"name": "ci", "scopes": ["read", "run"], "ipAllowlist": ["192.0.2.0/24"], "rateLimit": 2},
    )
    assert response.status_code == 201
    created = body(response)
    assert created["key"].startswith(f"chk_{created['keyId']}_")
    assert created["scopes"] == ["read", "run"] and created["ipAllowlist"] == ["192.0.2.0/24"]
    listing = api.get("/keys", alice)
    text = listing.body.decode()
    assert created["key"].split("_")[2] not in text
    (listed,) = [k for k in json.loads(text)["keys"] if k["keyId"] == created["keyId"]]
    assert (listed["rateLimit"], listed["rateLimitBurst"]) == (2, None)  # None: the default


def test_it_rejects_an_unknown_scope(api: Api, alice: Persona) -> None:
    response = api.post("/keys", alice, {"scopes": ["read", "root"]})
    assert response.status_code == 400
    assert body(response)["error"]["field"] == "scopes"


def test_it_rejects_a_bad_allowlist_entry(api: Api, alice: Persona) -> None:
    response = api.post("/keys", alice, {"ipAllowlist": ["not-an-ip"]})
    assert response.status_code == 400
    assert body(response)["error"]["field"] == "ipAllowlist"


def test_it_keeps_keys_inside_their_account(api: Api, alice: Persona, bob: Persona) -> None:
    assert alice.key_id not in api.get("/keys", bob).body.decode()
    assert api.delete(f"/keys/{alice.key_id}", bob).status_code == 404
    assert api.get("/jobs", alice).status_code == 200


def test_it_serves_health_without_a_key(api: Api) -> None:
    response = api.get("/health")
    assert response.status_code == 200 and body(response)["status"] == "ok"
