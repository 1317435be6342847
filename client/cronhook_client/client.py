"""A typed client for every route of the cronhook API.

Errors come back as ApiError (the API's status, code, field and message) or ConnectionFailed;
a 429 is retried after its Retry-After; listings that page by cursor have an `iter_` twin that
follows the cursors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, cast
from urllib.parse import quote

import requests

from cronhook_client import __version__
from cronhook_client.config import Profile, resolve
from cronhook_client.errors import ConnectionFailed, from_response
from cronhook_client.models import (
    ApiKey,
    Created,
    Folder,
    Health,
    HistoryItem,
    HistoryPage,
    Job,
    JobSummary,
    NewKey,
    Notifications,
    Preview,
    Schedule,
    SigningSecret,
)

DEFAULT_TIMEOUT_S = 30.0
MAX_RETRIES = 4  # more attempts after a 429
MAX_WAIT_S = 60.0  # a longer Retry-After is capped, so a script never hangs for an hour


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


class Client:
    """One API (base URL + key). Thread-safe as far as requests.Session is."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_retries: int = MAX_RETRIES,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.timeout = timeout
        self.max_retries = max_retries
        self.session = session or requests.Session()
        self.sleep = sleep

    @classmethod
    def from_env(cls, profile: str | None = None, **kwargs: Any) -> Client:
        """A client from CRONHOOK_URL / CRONHOOK_KEY, else the (named or default) profile."""
        return cls.from_profile(resolve(profile=profile), **kwargs)

    @classmethod
    def from_profile(cls, profile: Profile, **kwargs: Any) -> Client:
        return cls(profile.url, profile.key, **kwargs)

    # ---- transport ------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
    ) -> Any:
        """Send one call and return its JSON body; raise ApiError or ConnectionFailed."""
        headers = {
            "Authorization": f"Bearer {self.key}",
            "User-Agent": f"cronhook-client/{__version__}",
            "Accept": "application/json",
        }
        attempt = 0
        while True:
            try:
                response = self.session.request(
                    method,
                    self.url + path,
                    headers=headers,
                    json=json,
                    params=params,
                    timeout=self.timeout,
                )
            except requests.Timeout:
                raise ConnectionFailed(
                    f"{self.url} did not answer within {self.timeout:g} s"
                ) from None
            except requests.RequestException as exc:
                raise ConnectionFailed(f"cannot reach {self.url}: {_reason(exc)}") from None
            wait = retry_after(response.headers.get("Retry-After"), time.time())
            if response.status_code == 429 and attempt < self.max_retries:
                attempt += 1
                self.sleep(min(MAX_WAIT_S, wait if wait is not None else float(attempt)))
                continue
            try:
                body = response.json() if response.content else None
            except ValueError:
                body = None
            if response.status_code >= 400:
                raise from_response(response.status_code, body, wait)
            if body is None and response.content:
                raise ConnectionFailed(f"{self.url}{path} did not answer JSON: is it cronhook?")
            return body

    # ---- service --------------------------------------------------------------------------

    def health(self) -> Health:
        return cast(Health, self.request("GET", "/health"))

    def openapi(self) -> dict[str, Any]:
        return cast(dict[str, Any], self.request("GET", "/openapi.json"))

    # ---- jobs -----------------------------------------------------------------------------

    def list_jobs(self) -> list[JobSummary]:
        return cast(list[JobSummary], self.request("GET", "/jobs")["jobs"])

    def create_job(self, job: Job | Mapping[str, Any]) -> Created:
        """Create a job (only `url` is required); its signing secret is shown only here."""
        return cast(Created, self.request("PUT", "/jobs", json={"job": dict(job)}))

    def get_job(self, job_id: int) -> Job:
        return cast(Job, self.request("GET", f"/jobs/{int(job_id)}")["jobDetails"])

    def update_job(self, job_id: int, delta: Job | Mapping[str, Any]) -> None:
        """PATCH a delta: nested objects merge key by key; the merged job is validated whole."""
        self.request("PATCH", f"/jobs/{int(job_id)}", json={"job": dict(delta)})

    def delete_job(self, job_id: int) -> None:
        self.request("DELETE", f"/jobs/{int(job_id)}")

    def pause_job(self, job_id: int) -> Job:
        return cast(Job, self.request("POST", f"/jobs/{int(job_id)}/pause")["jobDetails"])

    def resume_job(self, job_id: int) -> Job:
        return cast(Job, self.request("POST", f"/jobs/{int(job_id)}/resume")["jobDetails"])

    def rotate_signing_secret(self, job_id: int) -> SigningSecret:
        path = f"/jobs/{int(job_id)}/signing-secret"
        return cast(SigningSecret, self.request("POST", path))

    def run_job(
        self,
        job_id: int,
        *,
        body: str | None = None,
        headers: Mapping[str, str] | None = None,
        url: str | None = None,
        method: int | None = None,
        timeout: int | None = None,
    ) -> str:
        """Run the job now and return the run's id. Each override is for this run only and is
        checked as the job's field is: `body`, `headers` (added to the job's), `url`, `method`
        (requestMethod's number) and `timeout` (requestTimeout, seconds)."""
        payload: dict[str, Any] = {}
        if url is not None:
            payload["url"] = url
        if method is not None:
            payload["requestMethod"] = method
        if timeout is not None:
            payload["requestTimeout"] = timeout
        extended: dict[str, Any] = {}
        if body is not None:
            extended["body"] = body
        if headers is not None:
            extended["headers"] = dict(headers)
        if extended:
            payload["extendedData"] = extended
        answer = self.request("POST", f"/jobs/{int(job_id)}/run", json=payload or None)
        return str(answer["runId"])

    # ---- history and runs -----------------------------------------------------------------

    def job_history(
        self, job_id: int, *, limit: int = 25, cursor: str | None = None
    ) -> HistoryPage:
        """One page of a job's runs, newest first, with predictions and totals."""
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return cast(HistoryPage, self.request("GET", f"/jobs/{int(job_id)}/history", params=params))

    def iter_job_history(self, job_id: int, *, page_size: int = 100) -> Iterator[HistoryItem]:
        """Every run of the job kept in its history, newest first, page after page."""
        return self._pages(lambda c: self.job_history(job_id, limit=page_size, cursor=c))

    def history_details(self, job_id: int, identifier: str) -> HistoryItem:
        """One history item with the saved response headers and body."""
        path = f"/jobs/{int(job_id)}/history/{quote(identifier, safe='')}"
        return cast(HistoryItem, self.request("GET", path)["jobHistoryDetails"])

    def account_history(self, *, limit: int = 25, cursor: str | None = None) -> HistoryPage:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return cast(HistoryPage, self.request("GET", "/history", params=params))

    def iter_history(self, *, page_size: int = 100) -> Iterator[HistoryItem]:
        """Every job's runs, newest first, page after page."""
        return self._pages(lambda c: self.account_history(limit=page_size, cursor=c))

    def _pages(self, fetch: Callable[[str | None], HistoryPage]) -> Iterator[HistoryItem]:
        cursor: str | None = None
        while True:
            page = fetch(cursor)
            yield from page.get("history", [])
            cursor = page.get("cursor")
            if not cursor:
                return

    def get_run(self, run_id: str) -> HistoryItem:
        """A run's state and outcome, from its latest attempt."""
        return cast(HistoryItem, self.request("GET", f"/runs/{quote(run_id, safe='')}")["run"])

    def active_runs(self) -> list[HistoryItem]:
        """The runs queued or running now."""
        answer = self.request("GET", "/runs", params={"state": "active"})
        return cast(list[HistoryItem], answer["runs"])

    def abort_run(self, run_id: str) -> HistoryItem:
        """Ask a run in flight to end. A server without run aborts answers 404 (NotFound with
        `no_route` true); a run that already ended, 409."""
        path = f"/runs/{quote(run_id, safe='')}/abort"
        return cast(HistoryItem, self.request("POST", path)["run"])

    # ---- monitors -------------------------------------------------------------------------

    def list_monitors(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self.request("GET", "/monitors")["monitors"])

    def create_monitor(self, monitor: Mapping[str, Any]) -> dict[str, Any]:
        """A new heartbeat monitor: `{"monitorId", "pingUrl"}` (the ping URL is shown once)."""
        return cast(dict[str, Any], self.request("PUT", "/monitors", json={"monitor": monitor}))

    def get_monitor(self, monitor_id: int) -> dict[str, Any]:
        return cast(dict[str, Any], self.request("GET", f"/monitors/{int(monitor_id)}")["monitor"])

    def update_monitor(self, monitor_id: int, delta: Mapping[str, Any]) -> dict[str, Any]:
        path = f"/monitors/{int(monitor_id)}"
        return cast(dict[str, Any], self.request("PATCH", path, json={"monitor": delta})["monitor"])

    def delete_monitor(self, monitor_id: int) -> None:
        self.request("DELETE", f"/monitors/{int(monitor_id)}")

    def pause_monitor(self, monitor_id: int) -> dict[str, Any]:
        path = f"/monitors/{int(monitor_id)}/pause"
        return cast(dict[str, Any], self.request("POST", path)["monitor"])

    def resume_monitor(self, monitor_id: int) -> dict[str, Any]:
        path = f"/monitors/{int(monitor_id)}/resume"
        return cast(dict[str, Any], self.request("POST", path)["monitor"])

    def rotate_ping_url(self, monitor_id: int) -> str:
        """A new ping URL; the old one stops working."""
        path = f"/monitors/{int(monitor_id)}/ping-url"
        return str(self.request("POST", path)["pingUrl"])

    def monitor_pings(
        self, monitor_id: int, *, limit: int = 25, cursor: str | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        path = f"/monitors/{int(monitor_id)}/pings"
        return cast(dict[str, Any], self.request("GET", path, params=params))

    # ---- folders --------------------------------------------------------------------------

    def list_folders(self) -> list[Folder]:
        return cast(list[Folder], self.request("GET", "/folders")["folders"])

    def create_folder(self, title: str) -> int:
        return int(self.request("PUT", "/folders", json={"folder": {"title": title}})["folderId"])

    def get_folder(self, folder_id: int) -> Folder:
        return cast(Folder, self.request("GET", f"/folders/{int(folder_id)}")["folderDetails"])

    def update_folder(self, folder_id: int, title: str) -> None:
        self.request("PATCH", f"/folders/{int(folder_id)}", json={"folder": {"title": title}})

    def delete_folder(self, folder_id: int) -> None:
        """Delete the folder; its jobs move to the root."""
        self.request("DELETE", f"/folders/{int(folder_id)}")

    # ---- keys -----------------------------------------------------------------------------

    def create_key(
        self,
        name: str = "",
        scopes: list[str] | None = None,
        *,
        ip_allowlist: list[str] | None = None,
        rate_limit: float | None = None,
        rate_limit_burst: float | None = None,
    ) -> NewKey:
        """A new key; its secret (`key`) is in this answer only."""
        payload: dict[str, Any] = {"name": name}
        if scopes is not None:
            payload["scopes"] = scopes
        if ip_allowlist is not None:
            payload["ipAllowlist"] = ip_allowlist
        if rate_limit is not None:
            payload["rateLimit"] = rate_limit
        if rate_limit_burst is not None:
            payload["rateLimitBurst"] = rate_limit_burst
        return cast(NewKey, self.request("POST", "/keys", json=payload))

    def list_keys(self) -> list[ApiKey]:
        return cast(list[ApiKey], self.request("GET", "/keys")["keys"])

    def revoke_key(self, key_id: str) -> None:
        self.request("DELETE", f"/keys/{quote(key_id, safe='')}")

    # ---- account --------------------------------------------------------------------------

    def get_scheduler(self) -> bool:
        return bool(self.request("GET", "/scheduler")["enabled"])

    def set_scheduler(self, enabled: bool) -> bool:
        return bool(self.request("PUT", "/scheduler", json={"enabled": enabled})["enabled"])

    def get_notifications(self) -> Notifications:
        return cast(Notifications, self.request("GET", "/notifications"))

    def set_notifications(
        self, *, url: str | None = None, email: str | None = None
    ) -> Notifications:
        """Set where notices go; a new URL's signing secret is in this answer only."""
        payload = {k: v for k, v in (("url", url), ("email", email)) if v is not None}
        return cast(Notifications, self.request("PUT", "/notifications", json=payload))

    def preview_schedule(
        self, schedule: Schedule | Mapping[str, Any], *, after: str | None = None, count: int = 5
    ) -> Preview:
        """The schedule normalised, described, and its next `count` runs after `after` (ISO)."""
        payload: dict[str, Any] = {"schedule": dict(schedule), "count": count}
        if after is not None:
            payload["after"] = after
        return cast(Preview, self.request("POST", "/schedules/preview", json=payload))


def _reason(exc: requests.RequestException) -> str:
    """The innermost cause of a connection failure, in a few words."""
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__
