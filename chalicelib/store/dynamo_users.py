"""Users and sessions on DynamoDB, in the `keys` table beside the API keys.

They share that table (no table, IAM grant or setting of their own) under partition keys that a
key's hash (64 hex digits) can never take: `user#<name>` and `session#<token hash>`. The
`by_account` index partitions them apart from keys: users under `users#<account>`, sessions
under `sessions#<user name>`, so `KeyStore.list` never sees them. Sessions carry `expires_at`,
the table's TTL attribute (keys have none), so DynamoDB removes ended sessions in time.
"""

from __future__ import annotations

import functools
from typing import Any

from chalicelib.store.base import SessionRecord, UserRecord
from chalicelib.store.dynamo import _call, _query_all

_USER = "user#"
_SESSION = "session#"


def _user_item(user: UserRecord) -> dict[str, Any]:
    return {
        "key_hash": _USER + user.username,
        "account_id": f"users#{user.account_id}",
        "key_id": user.username,
        "owner": user.account_id,
        "password_hash": user.password_hash,
        "scopes": list(user.scopes),
        "created_at": user.created_at,
        "password_changed_at": user.password_changed_at,
    }


def _user(item: dict[str, Any]) -> UserRecord:
    return UserRecord(
        username=item["key_id"],
        account_id=item["owner"],
        password_hash=item["password_hash"],
        scopes=list(item.get("scopes", [])),
        created_at=int(item.get("created_at", 0)),
        password_changed_at=int(item.get("password_changed_at", 0)),
    )


def _session(item: dict[str, Any]) -> SessionRecord:
    return SessionRecord(
        token_hash=item["key_id"],
        username=item["username"],
        account_id=item["owner"],
        created_at=int(item["created_at"]),
        expires_at=int(item["expires_at"]),
        renew_s=int(item.get("renew_s", 0)),
    )


class DynamoUserStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def create(self, user: UserRecord) -> bool:
        done = _call(
            lambda: self.table.put_item(
                Item=_user_item(user), ConditionExpression="attribute_not_exists(key_hash)"
            ),
            conditional=True,
        )
        return done is not None

    def get(self, username: str) -> UserRecord | None:
        response = _call(
            lambda: self.table.get_item(Key={"key_hash": _USER + username}, ConsistentRead=True)
        )
        item = (response or {}).get("Item")
        return _user(item) if item else None

    def list(self, account_id: str) -> list[UserRecord]:
        items = _query_all(
            self.table,
            IndexName="by_account",
            KeyConditionExpression="account_id = :a",
            ExpressionAttributeValues={":a": f"users#{account_id}"},
        )
        return [_user(item) for item in items]

    def set_password(self, account_id: str, username: str, password_hash: str, when: int) -> bool:
        done = _call(
            lambda: self.table.update_item(
                Key={"key_hash": _USER + username},
                UpdateExpression="SET password_hash = :h, password_changed_at = :t",
                ConditionExpression="attribute_exists(key_hash) AND #o = :a",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":h": password_hash, ":t": when, ":a": account_id},
            ),
            conditional=True,
        )
        return done is not None

    def delete(self, account_id: str, username: str) -> bool:
        done = _call(
            lambda: self.table.delete_item(
                Key={"key_hash": _USER + username},
                ConditionExpression="attribute_exists(key_hash) AND #o = :a",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":a": account_id},
            ),
            conditional=True,
        )
        if done is None:
            return False
        # Not one transaction with the user's item: a session left by a failure here finds no
        # user (or a newer one, created after it) and authenticates nothing.
        self.end_sessions(username)
        return True

    def create_session(self, session: SessionRecord) -> bool:
        item = {
            "key_hash": _SESSION + session.token_hash,
            "account_id": f"sessions#{session.username}",
            "key_id": session.token_hash,
            "owner": session.account_id,
            "username": session.username,
            "created_at": session.created_at,
            "expires_at": session.expires_at,
            "renew_s": session.renew_s,
        }
        done = _call(
            lambda: self.table.put_item(
                Item=item, ConditionExpression="attribute_not_exists(key_hash)"
            ),
            conditional=True,
        )
        return done is not None

    def get_session(self, token_hash: str) -> SessionRecord | None:
        response = _call(
            lambda: self.table.get_item(
                Key={"key_hash": _SESSION + token_hash}, ConsistentRead=True
            )
        )
        item = (response or {}).get("Item")
        return _session(item) if item else None

    def renew_session(self, token_hash: str, expires_at: int) -> None:
        _call(
            lambda: self.table.update_item(
                Key={"key_hash": _SESSION + token_hash},
                UpdateExpression="SET expires_at = :t",
                ConditionExpression="attribute_exists(key_hash)",
                ExpressionAttributeValues={":t": expires_at},
            ),
            conditional=True,
        )

    def end_session(self, token_hash: str) -> bool:
        done = _call(
            lambda: self.table.delete_item(
                Key={"key_hash": _SESSION + token_hash},
                ConditionExpression="attribute_exists(key_hash)",
            ),
            conditional=True,
        )
        return done is not None

    def end_sessions(self, username: str) -> int:
        items = list(
            _query_all(
                self.table,
                IndexName="by_account",
                KeyConditionExpression="account_id = :a",
                ExpressionAttributeValues={":a": f"sessions#{username}"},
            )
        )
        for item in items:
            key = {"key_hash": item["key_hash"]}
            _call(functools.partial(self.table.delete_item, Key=key))
        return len(items)
