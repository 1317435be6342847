"""The API's JSON shapes as TypedDicts (cron-job.org's names, cronhook's extensions).

They type what the API returns; they are plain dicts at run time, so a field a newer server adds
is kept and passed on.
"""

from __future__ import annotations

from typing import Any, TypedDict

# requestMethod as the API numbers it (cron-job.org's order)
METHODS = ("GET", "POST", "OPTIONS", "HEAD", "PUT", "DELETE", "TRACE", "CONNECT", "PATCH")


class Schedule(TypedDict, total=False):
    timezone: str
    expiresAt: int
    hours: list[int]
    mdays: list[int]
    minutes: list[int]
    months: list[int]
    wdays: list[int]
    cron: str
    timing: dict[str, list[int]]
    at: str


class Auth(TypedDict, total=False):
    enable: bool
    user: str
    password: str


class ExtendedData(TypedDict, total=False):
    headers: dict[str, str]
    body: str


class JobSummary(TypedDict, total=False):
    """A row of `GET /jobs` (cron-job.org's `Job`)."""

    jobId: int
    enabled: bool
    title: str
    saveResponses: bool
    url: str
    lastStatus: int
    lastDuration: int
    lastExecution: int
    nextExecution: int | None
    type: int
    requestTimeout: int
    redirectSuccess: bool
    folderId: int
    schedule: Schedule
    requestMethod: int


class Job(JobSummary, total=False):
    """`GET /jobs/{jobId}`'s `jobDetails` (cron-job.org's `DetailedJob` and cronhook's fields);
    also the input of create and update, where every field is optional but `url`."""

    auth: Auth
    notification: dict[str, Any]
    extendedData: ExtendedData
    retries: int
    retryDelay: int
    catchUp: bool
    historyStrategy: str
    retentionDays: int
    chainSuccess: int
    chainFailure: int
    successCodes: list[int | str]
    successMatch: str
    errorMatch: str
    maxDuration: int
    tlsVerify: bool
    maxConcurrent: int
    queueMax: int
    failureStreak: int
    successCount: int
    failureCount: int
    disabledReason: str | None


class Created(TypedDict):
    jobId: int
    signingSecret: str


class SigningSecret(TypedDict):
    signingSecret: str
    previousValidUntil: int


class Stats(TypedDict, total=False):
    """A run's timing phases in microseconds, curl's names (as cron-job.org)."""

    nameLookup: int
    connect: int
    appConnect: int
    preTransfer: int
    startTransfer: int
    total: int


class HistoryItem(TypedDict, total=False):
    """One attempt of a run (cron-job.org's `HistoryItem` plus cronhook's state and trigger)."""

    jobLogId: int
    jobId: int
    identifier: str
    date: int
    datePlanned: int
    jitter: int
    url: str
    duration: int
    status: int
    statusText: str
    httpStatus: int
    headers: str | None
    body: str | None
    stats: Stats
    state: str
    runId: str
    attempt: int
    trigger: str
    reason: str


class Totals(TypedDict):
    success: int
    failure: int
    successRate: float | None


class HistoryPage(TypedDict, total=False):
    history: list[HistoryItem]
    predictions: list[int]
    totals: Totals
    cursor: str | None


class Folder(TypedDict):
    folderId: int
    title: str


class ApiKey(TypedDict, total=False):
    keyId: str
    name: str
    scopes: list[str]
    ipAllowlist: list[str]
    rateLimit: float | None
    rateLimitBurst: float | None
    createdAt: int
    lastUsedAt: int | None
    revoked: bool
    revokedAt: int | None
    prefix: str


class NewKey(ApiKey, total=False):
    key: str  # the secret, shown once


class NextRun(TypedDict):
    local: str
    utc: str
    epoch: int


class Preview(TypedDict, total=False):
    valid: bool
    error: dict[str, Any]  # when not valid: the 400's error object (code, field, message)
    description: str
    schedule: Schedule
    next: list[NextRun]


class Notifications(TypedDict, total=False):
    url: str
    email: str
    signingSecret: str


class Health(TypedDict, total=False):
    status: str
    version: str
