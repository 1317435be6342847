"""cronhook's Python client (`Client`) and the `cronhook` command (`cronhook_client.cli`)."""

from __future__ import annotations

__version__ = "0.1.0"

from cronhook_client.client import Client
from cronhook_client.config import Profile
from cronhook_client.errors import (
    ApiError,
    ConfigError,
    ConnectionFailed,
    CronhookClientError,
    NotFound,
    RateLimited,
    Unauthorized,
)

__all__ = [
    "ApiError",
    "Client",
    "ConfigError",
    "ConnectionFailed",
    "CronhookClientError",
    "NotFound",
    "Profile",
    "RateLimited",
    "Unauthorized",
    "__version__",
]
