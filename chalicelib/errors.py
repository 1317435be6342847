"""Domain errors, each carrying its HTTP status and code; the app formats them in one place."""

from __future__ import annotations

from typing import Any


class CronhookError(Exception):
    """Base of every error the API reports to a caller."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


# What a path or method the API does not have answers, deployed (an API Gateway response) and in
# `make run`. Without it both answer 403 and, when the request has an Authorization header, quote
# that header, API key and all, in the body.
NO_SUCH_ROUTE = {"error": {"code": "not_found", "message": "no such route or method"}}


class ValidationError(CronhookError):
    status = 400
    code = "invalid_field"


class BadRequest(CronhookError):
    status = 400
    code = "bad_request"


class Unauthorized(CronhookError):
    status = 401
    code = "unauthorized"


class Forbidden(CronhookError):
    status = 403
    code = "forbidden"


class NotFound(CronhookError):
    status = 404
    code = "not_found"


class MethodNotAllowed(CronhookError):
    """A route the API has, called with a method it does not take; `allow` lists the ones it
    does (the `Allow` header of the 405)."""

    status = 405
    code = "method_not_allowed"

    def __init__(self, method: str, allow: list[str]) -> None:
        super().__init__(f"{method} is not allowed here; use {', '.join(allow)}")
        self.allow = allow


class Conflict(CronhookError):
    status = 409
    code = "conflict"


class PayloadTooLarge(CronhookError):
    status = 413
    code = "payload_too_large"


class RateLimited(CronhookError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreError(CronhookError):
    """A storage call failed for a reason other than a failed condition or a missing item."""

    status = 500
    code = "storage_error"
