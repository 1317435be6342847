"""The client's errors: one for what the API answered, one for not reaching it at all."""

from __future__ import annotations


class CronhookClientError(Exception):
    """Base of every error the client raises."""


class ConfigError(CronhookClientError):
    """No API URL or key could be found, or the profile file is unreadable."""


class ConnectionFailed(CronhookClientError):
    """The API could not be reached (refused, timed out, bad address)."""


class ApiError(CronhookClientError):
    """The API answered with an error: its HTTP status and the `error` object of its body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{message} ({field})" if field else message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = f" [{self.field}]" if self.field else ""
        return f"{self.status} {self.code}{where}: {self.message}"


class NotFound(ApiError):
    """404: no such job, run, folder or key (or no such route on this server)."""

    @property
    def no_route(self) -> bool:
        """True when the server has no such route at all (an older server), not a missing item."""
        return "no such route" in self.message


class Unauthorized(ApiError):
    """401 (no key, a wrong or revoked key) or 403 (the key lacks the scope, or its IP)."""


class RateLimited(ApiError):
    """429 after the client's retries ran out."""


def from_response(status: int, body: object, retry_after: float | None = None) -> ApiError:
    """The ApiError for an answer: cronhook's `{"error": {...}}` or anything else a proxy sent."""
    code, message, field = f"http_{status}", f"HTTP {status}", None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code") or code)
        message = str(error.get("message") or message)
        field = str(error["field"]) if error.get("field") is not None else None
    elif isinstance(body, dict):
        # chalice local's own 405, API Gateway's "Missing Authentication Token"
        other = body.get("Message") or body.get("message")
        if isinstance(other, str):
            message = other
    kind: type[ApiError] = ApiError
    if status == 404:
        kind = NotFound
    elif status in (401, 403):
        kind = Unauthorized
    elif status == 429:
        kind = RateLimited
    return kind(status, code, message, field=field, retry_after=retry_after)
