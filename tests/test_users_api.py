"""Users who sign in: managed by an admin key, sessions that act with the user's scopes."""

from __future__ import annotations

import time
from typing import Any

from chalicelib import users
from chalicelib.store.base import SessionRecord
from tests.helpers import Api, Persona, body, new_job, stored_items

PASSWORD = "correct horse battery"


def add_user(api: Api, admin: Persona, name: str = "ada", scopes: Any = None) -> Any:
    payload: dict[str, Any] = {"username": name, "password": PASSWORD}
    if scopes is not None:
        payload["scopes"] = scopes
    return api.post("/users", admin, payload)


def sign_in(api: Api, name: str = "ada", password: str = PASSWORD) -> Any:
    return api.post("/sessions", None, {"username": name, "password": password})


def session_of(api: Api, name: str = "ada", account: str = "acct-alice") -> Persona:
    response = sign_in(api, name)
    assert response.status_code == 201, response.body
    return Persona(name, account, body(response)["token"], "")


def test_it_creates_and_lists_users_without_their_passwords(api: Api, alice: Persona) -> None:
    created = add_user(api, alice, "Ada", ["read", "run"])
    assert created.status_code == 201
    assert body(created)["user"]["username"] == "ada"
    listed = api.get("/users", alice)
    assert [u["username"] for u in body(listed)["users"]] == ["ada"]
    assert body(listed)["users"][0]["scopes"] == ["read", "run"]
    assert PASSWORD.encode() not in listed.body and b"argon2" not in listed.body


def test_it_stores_only_an_argon2id_hash(api: Api, alice: Persona, settings: Any) -> None:
    add_user(api, alice)
    stored = stored_items(settings, ["keys"])
    assert not any(PASSWORD in text for text in stored.values())
    assert any("$argon2id$" in text for text in stored.values())


def test_it_lets_only_an_admin_manage_users(api: Api, alice: Persona, carol: Persona) -> None:
    assert add_user(api, carol).status_code == 403
    assert api.get("/users", carol).status_code == 403


def test_it_names_the_field_of_a_bad_user(api: Api, alice: Persona) -> None:
    cases = [
        ({"username": "a b", "password": PASSWORD}, "username"),
        ({"username": "ada", "password": "short"}, "password"),
        ({"username": "ada", "password": PASSWORD, "scopes": ["root"]}, "scopes"),
        ({"username": "ada", "password": PASSWORD, "admin": True}, "admin"),
    ]
    for payload, field in cases:
        response = api.post("/users", alice, payload)
        assert response.status_code == 400
        assert body(response)["error"]["field"] == field
    assert body(api.get("/users", alice))["users"] == []


def test_it_refuses_a_user_name_taken_in_any_account(
    api: Api, alice: Persona, bob: Persona
) -> None:
    add_user(api, alice)
    response = add_user(api, bob)
    assert response.status_code == 409
    assert body(response)["error"]["field"] == "username"


def test_it_signs_in_a_user_who_acts_with_its_scopes(api: Api, alice: Persona) -> None:
    add_user(api, alice, "ada", ["read"])
    api.post("/jobs", alice, new_job(title="shared"))
    ada = session_of(api)
    listed = api.get("/jobs", ada)
    assert [j["title"] for j in body(listed)["jobs"]] == ["shared"]
    refused = api.post("/jobs", ada, new_job())
    assert refused.status_code == 403


def test_it_answers_a_wrong_password_as_an_unknown_user(api: Api, alice: Persona) -> None:
    add_user(api, alice)
    wrong = sign_in(api, "ada", "not the password")
    unknown = sign_in(api, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.body == unknown.body
    assert b"unknown user name or wrong password" in wrong.body


def test_it_checks_a_dummy_hash_for_an_unknown_user(api: Api) -> None:
    users._dummy.clear()
    assert sign_in(api, "nobody").status_code == 401
    assert users._dummy and users._dummy[0].startswith("$argon2id$")


def test_it_limits_sign_ins_per_user_name(api: Api, alice: Persona) -> None:
    add_user(api, alice)
    codes = [sign_in(api, "ada", "wrong password!").status_code for _ in range(10)]
    assert codes == [401] * 10
    limited = sign_in(api, "ada")  # the right password, too late
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert sign_in(api, "nobody-else").status_code == 401  # another name still gets an answer


def test_it_limits_sign_ins_per_address(api: Api) -> None:
    codes = [sign_in(api, f"user{n}").status_code for n in range(35)]
    assert codes[:30] == [401] * 30 and 429 in codes[30:]


def test_it_revokes_the_sessions_of_a_deleted_user(api: Api, alice: Persona) -> None:
    add_user(api, alice)
    ada = session_of(api)
    assert api.delete("/users/ada", alice).status_code == 200
    assert api.get("/jobs", ada).status_code == 401
    assert sign_in(api).status_code == 401
    assert api.delete("/users/ada", alice).status_code == 404


def test_it_does_not_delete_another_accounts_user(api: Api, alice: Persona, bob: Persona) -> None:
    add_user(api, alice)
    assert api.delete("/users/ada", bob).status_code == 404
    assert sign_in(api).status_code == 201


def test_it_lets_a_user_change_its_own_password_with_the_current_one(
    api: Api, alice: Persona
) -> None:
    add_user(api, alice, "ada", ["read"])
    ada = session_of(api)
    new = {"password": "a new long password"}
    refused = api.put("/users/ada/password", ada, new)
    assert refused.status_code == 400 and body(refused)["error"]["field"] == "currentPassword"
    changed = api.put("/users/ada/password", ada, {**new, "currentPassword": PASSWORD})
    assert changed.status_code == 200
    assert api.get("/jobs", ada).status_code == 401  # the change ends every session
    assert sign_in(api).status_code == 401
    assert sign_in(api, "ada", "a new long password").status_code == 201


def test_it_keeps_a_user_from_changing_anothers_password(api: Api, alice: Persona) -> None:
    add_user(api, alice, "ada", ["read"])
    add_user(api, alice, "bea", ["read"])
    ada = session_of(api)
    response = api.put("/users/bea/password", ada, {"password": "a new long password"})
    assert response.status_code == 403


def test_it_lets_an_admin_set_a_users_password(api: Api, alice: Persona) -> None:
    add_user(api, alice)
    response = api.put("/users/ada/password", alice, {"password": "set by the admin"})
    assert response.status_code == 200
    assert sign_in(api, "ada", "set by the admin").status_code == 201


def test_it_signs_out(api: Api, alice: Persona) -> None:
    add_user(api, alice)
    ada = session_of(api)
    assert api.delete("/sessions/current", ada).status_code == 200
    assert api.get("/jobs", ada).status_code == 401
    assert api.delete("/sessions/current", alice).status_code == 400  # a key is no session


def test_it_refuses_an_expired_session(api: Api, alice: Persona, stores: Any) -> None:
    add_user(api, alice)
    token = "chs_" + "x" * 43
    now = int(time.time())
    stores.users.create_session(
        SessionRecord(users.token_hash(token), "ada", "acct-alice", now - 100, now - 1)
    )
    response = api.get("/jobs", Persona("ada", "acct-alice", token, ""))
    assert response.status_code == 401


def test_it_renews_a_renewing_session_on_use(api: Api, alice: Persona, stores: Any) -> None:
    add_user(api, alice)
    token = "chs_" + "y" * 43
    now = int(time.time())
    stores.users.create_session(
        SessionRecord(users.token_hash(token), "ada", "acct-alice", now, now + 600, 86400)
    )
    assert api.get("/jobs", Persona("ada", "acct-alice", token, "")).status_code == 200
    renewed = stores.users.get_session(users.token_hash(token))
    assert renewed.expires_at >= now + 86400


def test_it_names_the_field_of_a_malformed_sign_in(api: Api) -> None:
    response = api.post("/sessions", None, raw="[1,2]")
    assert response.status_code == 400 and body(response)["error"]["field"] == "body"
    assert api.post("/sessions", None, {"username": 5, "password": None}).status_code == 401


def test_a_dashboard_session_lasts_a_day_after_its_last_use_and_says_who_it_is(
    api: Api, alice: Persona, stores: Any
) -> None:
    add_user(api, alice)
    signed = body(api.post("/sessions", None, {"username": "ada", "password": PASSWORD}))
    record = stores.users.get_session(users.token_hash(signed["token"]))
    assert record.renew_s == 86400  # renewed on use, as a web session is
    me = api.get("/sessions/current", Persona("ada", "acct-alice", signed["token"], ""))
    assert me.status_code == 200
    assert body(me)["user"]["username"] == "ada" and body(me)["expiresAt"] >= signed["expiresAt"]
    assert api.get("/sessions/current", alice).status_code == 400  # a key is not a session


def test_a_user_without_read_may_still_sign_out(api: Api, alice: Persona) -> None:
    created = api.post(
        "/users", alice, {"username": "runner", "password": PASSWORD, "scopes": ["run"]}
    )
    assert created.status_code == 201, created.body
    token = body(api.post("/sessions", None, {"username": "runner", "password": PASSWORD}))["token"]
    runner = Persona("runner", "acct-alice", token, "")
    denied = api.get("/jobs", runner)
    assert denied.status_code == 403
    assert body(denied)["error"]["message"] == "this user lacks the 'read' scope"
    assert api.delete("/sessions/current", runner).status_code == 200
    assert api.get("/jobs", runner).status_code == 401
