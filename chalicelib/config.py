"""Settings read once from the environment; bad values are rejected with the variable named."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class ConfigError(ValueError):
    """An environment variable holds a value cronhook cannot use."""


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low:g} and {high:g}, not {raw!r}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = (env.get(name) or default).strip().lower()
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not {env.get(name)!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment."""

    stage: str = "local"
    region: str = "us-east-1"
    jobs_table: str = "cronhook-local-jobs"
    runs_table: str = "cronhook-local-runs"
    keys_table: str = "cronhook-local-keys"
    state_table: str = "cronhook-local-state"
    monitors_table: str = "cronhook-local-monitors"
    bucket: str = "cronhook-local-responses"
    queue: str = "cronhook-local-dispatch"
    allow_private_targets: bool = False
    rate_limit_per_s: float = 20.0
    rate_limit_burst: float = 40.0
    max_request_bytes: int = 256 * 1024
    default_request_timeout: int = 30
    due_shards: int = 8
    disable_after_failures: int = 15
    inline_max: int = 50
    # Runs planned further ahead than this go through SQS with a delay rather than keep the
    # tick's Lambda waiting (billed while it waits; past ~2 s of waiting, a run through SQS costs
    # less, see bench/bench_cost.py); 125 makes every small batch wait inline.
    inline_wait_s: float = 2.0
    # A queued run's message comes this long before its planned second (besides the fraction
    # SQS's whole-second delays leave), so its worker has read it and taken it before that
    # second and only calls at it. Deployed, the worker's Lambda is billed while it waits:
    # 0 there; `make run` (SQLite) waits for free.
    delivery_lead_s: float = 0.0
    notify_from: str = "cronhook@localhost"
    kms_key: str = ""
    # The API's public address (e.g. https://cron.example.com/api), for the ping and callback
    # URLs cronhook hands out; empty: taken from each request (callbacks need it set).
    public_url: str = ""
    # "aws": DynamoDB, SQS, S3, SES, KMS (deployed, or moto through AWS_ENDPOINT_URL);
    # "sqlite": one database file in `home` (the embedded default of `make run`).
    backend: str = "aws"
    home: str = ""
    sqlite_sync: str = "NORMAL"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        stage = env.get("CRONHOOK_STAGE", "local")
        # `moto` is the AWS code path against an embedded moto (`make run`'s option).
        backend = _choice(env, "CRONHOOK_BACKEND", "aws", ("aws", "moto", "sqlite"))
        backend = backend.replace("moto", "aws")
        lead = 1.0 if backend == "sqlite" else 0.0
        return cls(
            stage=stage,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            jobs_table=env.get("CRONHOOK_JOBS_TABLE", f"cronhook-{stage}-jobs"),
            runs_table=env.get("CRONHOOK_RUNS_TABLE", f"cronhook-{stage}-runs"),
            keys_table=env.get("CRONHOOK_KEYS_TABLE", f"cronhook-{stage}-keys"),
            state_table=env.get("CRONHOOK_STATE_TABLE", f"cronhook-{stage}-state"),
            monitors_table=env.get("CRONHOOK_MONITORS_TABLE", f"cronhook-{stage}-monitors"),
            bucket=env.get("CRONHOOK_BUCKET", f"cronhook-{stage}-responses"),
            queue=env.get("CRONHOOK_QUEUE", f"cronhook-{stage}-dispatch"),
            allow_private_targets=_bool(env, "CRONHOOK_ALLOW_PRIVATE_TARGETS", stage == "local"),
            rate_limit_per_s=_number(env, "CRONHOOK_RATE_LIMIT_PER_S", 20.0, 0.01, 100_000),
            rate_limit_burst=_number(env, "CRONHOOK_RATE_LIMIT_BURST", 40.0, 1, 100_000),
            max_request_bytes=int(
                _number(env, "CRONHOOK_MAX_REQUEST_BYTES", 256 * 1024, 1024, 6 * 1024 * 1024)
            ),
            default_request_timeout=int(_number(env, "CRONHOOK_DEFAULT_TIMEOUT", 30, 1, 300)),
            due_shards=int(_number(env, "CRONHOOK_DUE_SHARDS", 8, 1, 64)),
            disable_after_failures=int(
                _number(env, "CRONHOOK_DISABLE_AFTER_FAILURES", 15, 1, 10_000)
            ),
            inline_max=int(_number(env, "CRONHOOK_INLINE_MAX", 50, 0, 1000)),
            inline_wait_s=_number(env, "CRONHOOK_INLINE_WAIT_S", 2.0, 0, 125),
            notify_from=env.get("CRONHOOK_NOTIFY_FROM", "cronhook@localhost"),
            kms_key=env.get("CRONHOOK_KMS_KEY", ""),
            public_url=env.get("CRONHOOK_PUBLIC_URL", ""),
            delivery_lead_s=_number(env, "CRONHOOK_DELIVERY_LEAD_S", lead, 0, 10),
            backend=backend,
            home=env.get("CRONHOOK_HOME", ""),
            sqlite_sync=_choice(env, "CRONHOOK_SQLITE_SYNC", "normal", ("normal", "full")).upper(),
        )
