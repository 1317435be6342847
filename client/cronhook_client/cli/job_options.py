"""The options of `jobs create` and `jobs edit` and the job fields they stand for."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cronhook_client.cli.base import folder_id
from cronhook_client.models import METHODS


def method_number(method: str, hint: str = "--method") -> int:
    """requestMethod's number for a method's name."""
    if method.upper() not in METHODS:
        raise typer.BadParameter("one of " + ", ".join(METHODS), param_hint=hint)
    return METHODS.index(method.upper())


def headers(items: list[str]) -> dict[str, str]:
    """`--header 'Name: value'` options as a dict (the last of one name wins)."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise typer.BadParameter("give Name: value", param_hint="--header")
        out[name.strip()] = value.strip()
    return out


def notification(
    failure: bool | None,
    after: int | None,
    success: bool | None,
    disable: bool | None,
    cert: bool | None,
    cert_days: int | None,
) -> dict[str, Any]:
    """The job's `notification` fields the options give (the API merges them into the job's)."""
    fields = {
        "onFailure": failure,
        "onFailureCount": after,
        "onSuccess": success,
        "onDisable": disable,
        "onSslCertExpiry": cert,
        "onSslCertExpirySeconds": None if cert_days is None else cert_days * 86400,
    }
    return {key: value for key, value in fields.items() if value is not None}


def job_fields(
    url: str | None,
    title: str | None,
    cron: str | None,
    tz: str | None,
    method: str | None,
    header: list[str] | None,
    body: str | None,
    enabled: bool | None,
    folder: str | None,
    data: str | None,
    notification: dict[str, Any],
) -> dict[str, Any]:
    """The job fields the options give (a delta for edit, a whole job for create)."""
    job: dict[str, Any] = {}
    if data:
        try:
            extra = json.loads(data)
        except ValueError as exc:
            raise typer.BadParameter(f"not JSON: {exc}", param_hint="--data") from None
        if not isinstance(extra, dict):
            raise typer.BadParameter("must be a JSON object of job fields", param_hint="--data")
        job.update(extra)
    if url is not None:
        job["url"] = url
    if title is not None:
        job["title"] = title
    if cron is not None or tz is not None:
        schedule = dict(job.get("schedule") or {})
        if cron is not None:
            schedule["cron"] = cron
        if tz is not None:
            schedule["timezone"] = tz
        job["schedule"] = schedule
    if method is not None:
        job["requestMethod"] = method_number(method)
    if header:
        job.setdefault("extendedData", {})["headers"] = headers(header)
    if body is not None:
        job.setdefault("extendedData", {})["body"] = body
    if enabled is not None:
        job["enabled"] = enabled
    if folder is not None:
        job["folderId"] = folder_id(folder)
    if notification:
        job["notification"] = {**(job.get("notification") or {}), **notification}
    return job


UrlOpt = Annotated[str | None, typer.Option(help="the URL to call")]
TitleOpt = Annotated[str | None, typer.Option(help="the job's title")]
CronOpt = Annotated[str | None, typer.Option(help='a cron schedule, e.g. "*/5 * * * *"')]
MethodOpt = Annotated[str | None, typer.Option(help="HTTP method (GET, POST, ...)")]
HeaderOpt = Annotated[
    list[str] | None, typer.Option("--header", "-H", help="a request header, Name: value")
]
BodyOpt = Annotated[str | None, typer.Option(help="the request body")]
EnabledOpt = Annotated[bool | None, typer.Option("--enabled/--disabled", help="fire on schedule")]
FolderOpt = Annotated[str | None, typer.Option(help="folder title ('' for the root)")]
DataOpt = Annotated[str | None, typer.Option(help="other job fields as a JSON object")]
NOTICES = "Notifications"
FailureOpt = Annotated[
    bool | None,
    typer.Option(
        "--notify-failure/--no-notify-failure",
        help="notify when runs fail",
        rich_help_panel=NOTICES,
    ),
]
AfterOpt = Annotated[
    int | None,
    typer.Option(
        "--notify-after",
        min=1,
        help="... after this many failures in a row (1-1000)",
        rich_help_panel=NOTICES,
    ),
]
SuccessOpt = Annotated[
    bool | None,
    typer.Option(
        "--notify-success/--no-notify-success",
        help="notify when it succeeds again after failures",
        rich_help_panel=NOTICES,
    ),
]
DisableOpt = Annotated[
    bool | None,
    typer.Option(
        "--notify-disable/--no-notify-disable",
        help="notify when cronhook disables it (too many failures)",
        rich_help_panel=NOTICES,
    ),
]
CertOpt = Annotated[
    bool | None,
    typer.Option(
        "--notify-cert/--no-notify-cert",
        help="notify when the URL's TLS certificate is about to expire",
        rich_help_panel=NOTICES,
    ),
]
CertDaysOpt = Annotated[
    int | None,
    typer.Option(
        "--cert-days",
        min=0,
        help="... this many days before it expires (0-90)",
        rich_help_panel=NOTICES,
    ),
]
