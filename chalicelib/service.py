"""Use cases behind the API routes: jobs, folders, keys, the scheduler switch, schedule previews.

Each call is scoped to the caller's account; another account's job or folder is simply "not
found". Time comes from the injected clock so tests can run a day in a second.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from chalicelib import auth, jobs, runs, text
from chalicelib.config import Settings
from chalicelib.crypto import Sealer
from chalicelib.errors import Conflict, NotFound, ValidationError
from chalicelib.schedule import Schedule, ScheduleError
from chalicelib.store.base import (
    ApiKey,
    JobRecord,
    Page,
    RunRecord,
    Stores,
    Unchanged,
    edit_job,
    existing_jobs,
)

log = logging.getLogger(__name__)

SIGNING_OVERLAP_S = 24 * 3600  # after a rotation the old secret signs too, for a day
MAX_FOLDER_TITLE = 128
CURSOR_RANGE = (946684800, 4102444800)  # 2000-01-01 to 2100-01-01, UTC
T = TypeVar("T")
_RETRIES = 5  # optimistic-concurrency attempts on the folders before reporting a conflict
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass
class Service:
    stores: Stores
    settings: Settings
    clock: Callable[[], float] = field(default=time.time)
    sealer: Sealer | None = None  # seals the notification secret; None: the job store's

    # ---- jobs -------------------------------------------------------------------------------

    def list_jobs(self, account_id: str, title: str | None = None) -> list[JobRecord]:
        """The account's jobs by id; with `title`, those titled exactly so (case-sensitive)."""
        found = sorted(self.stores.jobs.list(account_id), key=lambda j: j.job_id)
        if title is None:
            return found
        return [j for j in found if j.spec.get("title") == title]

    def get_job(self, account_id: str, job_id: int) -> JobRecord:
        job = self.stores.jobs.get(account_id, job_id)
        if job is None:
            raise NotFound("job not found")
        return job

    def _folder_ids(self, account_id: str) -> set[int]:
        return set(self.stores.state.folders(account_id)[0])

    def _check_chains(
        self, account_id: str, spec: Mapping[str, Any], before: Mapping[str, Any] | None = None
    ) -> None:
        """A chain must name a job of the account; on an edit, only a chain the edit changes
        (a job chained to one deleted since stays editable: the run skips the chain)."""
        for key in ("chainSuccess", "chainFailure"):
            target = spec[key]
            if before is not None and target == before.get(key):
                continue
            if target and self.stores.jobs.get(account_id, target) is None:
                raise ValidationError("no such job in this account", field=key)

    def _schedule_next(self, job: JobRecord, schedule: Schedule, now: float) -> None:
        job.next_run_at = schedule.next_after(now) if job.enabled else None

    def create_job(
        self, account_id: str, payload: object, actor: str = "", *, strict: bool = True
    ) -> tuple[JobRecord, str]:
        """Validate and store a new job; returns it and its signing secret (shown only now).
        `actor` (a key's name) is kept as the job's createdBy and modifiedBy."""
        added = self.add_job(account_id, payload, actor, strict=strict)
        return added.job, added.secret

    def add_job(
        self, account_id: str, payload: object, actor: str = "", *, strict: bool = True
    ) -> Added:
        """`create_job`, saying which fields it ignored: unless `strict` (an unknown field is
        then a 400), those cron-job.org would ignore (`jobs.drop_unknown`)."""
        from chalicelib import signing

        if not isinstance(payload, dict):
            raise ValidationError("must be an object", field="job")
        ignored: list[str] = []
        if not strict:
            payload, ignored = jobs.drop_unknown(payload)
        valid = jobs.validate(jobs.with_defaults(payload), folder_ids=self._folder_ids(account_id))
        if valid.password == jobs.PASSWORD_MASK:
            # A job copied from what GET returned: the mask is not the password it stands for.
            raise ValidationError(
                "is the mask GET /jobs/{jobId} shows; send the real password", field="auth.password"
            )
        now = self.clock()
        jobs.require_firing(valid, now)
        self._check_chains(account_id, valid.spec)
        secret = signing.new_secret()
        job = JobRecord(
            account_id=account_id,
            job_id=self.stores.state.next_id("job"),
            spec={**valid.spec, "createdBy": actor, "modifiedBy": actor},
            secrets={
                "password": valid.password,
                "headers": valid.header_secrets,
                "origin": jobs.url_origin(valid.spec["url"]),
                "signing": [{"secret": secret, "until": None}],
            },
            created_at=int(now),
            updated_at=int(now),
        )
        self._schedule_next(job, valid.schedule, now)
        if not self.stores.jobs.create(job):
            raise Conflict("job id already taken; try again")
        return Added(job, secret, tuple(ignored))

    def update_job(
        self, account_id: str, job_id: int, delta: object, actor: str = "", *, strict: bool = True
    ) -> JobRecord:
        """Merge a delta into the job, validate it whole, store it unless it changed meanwhile;
        `actor` becomes its modifiedBy. Unless `strict`, fields cron-job.org would ignore are."""
        return self.edit_job(account_id, job_id, delta, actor, strict=strict).job

    def edit_job(
        self, account_id: str, job_id: int, delta: object, actor: str = "", *, strict: bool = True
    ) -> Edited:
        """`update_job`, saying which fields it ignored and which stored credentials the edit
        cleared: a URL moved to another origin drops the password and the secret headers that
        this same delta does not give again. Otherwise a key that may edit jobs, but never reads
        their secrets, could send them anywhere by changing the URL (or switch auth off, move
        the URL, and switch it on again)."""
        if not isinstance(delta, dict):
            raise ValidationError("must be an object", field="job")
        ignored: list[str] = []
        if not strict:
            delta, ignored = jobs.drop_unknown(delta)
        delta = dict(delta)
        if (
            isinstance(delta.get("auth"), dict)
            and delta["auth"].get("password") == jobs.PASSWORD_MASK
        ):
            # A client sending back the masked password it read means "unchanged".
            delta["auth"] = {k: v for k, v in delta["auth"].items() if k != "password"}
        new_password = isinstance(delta.get("auth"), dict) and "password" in delta["auth"]
        folder_ids = self._folder_ids(account_id)

        def change(job: JobRecord) -> tuple[str, ...]:
            given = _unmask_headers(delta, job)
            merged = jobs.merge(jobs.with_defaults(jobs.editable(job)), given.delta)
            valid = jobs.validate(merged, folder_ids=folder_ids)
            cleared = _clear_moved_credentials(job, valid, new_password, given.new_headers)
            self._check_chains(account_id, valid.spec, job.spec)
            now = self.clock()
            schedule_changed = valid.spec["schedule"] != job.spec["schedule"]
            was_enabled = job.enabled
            if schedule_changed or not was_enabled:
                # A one-shot job that has fired stays editable; its schedule is only checked
                # when it is changed or the job is switched on.
                jobs.require_firing(valid, now)
            before = job.spec
            job.spec = {
                **valid.spec,
                "createdBy": before.get("createdBy", ""),
                "modifiedBy": actor or before.get("modifiedBy", ""),
            }
            if valid.spec["url"] != before["url"]:
                # Runs of the versions before keep their URL: their records name only the
                # job's version (runs.with_url).
                self._keep_past_url(job, before["url"])
                job.spec[runs.URL_VERSION] = job.version + 1  # the version this edit writes
            elif runs.URL_VERSION in before:
                job.spec[runs.URL_VERSION] = before[runs.URL_VERSION]
            job.secrets["password"] = valid.password
            job.secrets["headers"] = valid.header_secrets
            job.secrets["origin"] = jobs.url_origin(valid.spec["url"])
            job.secrets.pop("password_host", None)  # the origin says it now
            if job.enabled and not was_enabled:
                job.disabled_reason = None
                job.failure_streak = 0
            if schedule_changed or job.enabled != was_enabled or job.next_run_at is None:
                self._schedule_next(job, valid.schedule, now)
            return cleared

        edited = self._edit_job(
            account_id, job_id, change, "the job changed while it was being updated; try again"
        )
        return Edited(edited[0], edited[1], tuple(ignored))

    def _edit_job(
        self, account_id: str, job_id: int, change: Callable[[JobRecord], T], conflict: str
    ) -> tuple[JobRecord, T]:
        """`store.base.edit_job` of an existing job: a job that is not there is a 404."""
        edited = edit_job(self.stores.jobs, account_id, job_id, change, self.clock(), conflict)
        if edited is None:
            raise NotFound("job not found")
        return edited

    def fire_soon(self, job: JobRecord, dispatcher: Callable[[], Any]) -> int:
        """After a save: claim the job's slots that fall before the next tick (a seconds
        schedule, a one-shot time within this minute), which that tick would only see late.
        The job is saved by now, so nothing here may fail the request (a client would save it
        twice): a slot this cannot claim is the next tick's, and one claimed but not queued
        is marked lost by the sweep."""
        # A cheap test first: the dispatcher (and its imports) only for a slot in the window
        # of this minute's tick (up to the end of the next minute).
        window_end = (int(self.clock()) // 60 + 2) * 60
        if not job.due or job.next_run_at is None or job.next_run_at >= window_end:
            return 0
        try:
            return int(dispatcher().claim_early(job))
        except Exception:  # any failure: storage, SQS, configuration
            log.exception("job %s saved; its slots of this minute are left to the tick", job.job_id)
            return 0

    def delete_job(self, account_id: str, job_id: int, *, only_idle: bool = False) -> None:
        """Delete the job; with `only_idle`, not while a run of it is in flight (Cronicle's
        rule: its runs would be cancelled)."""
        if only_idle:
            self.get_job(account_id, job_id)
            if self.active_runs(account_id, job_id):
                raise Conflict("the job has a run in flight; abort it or wait for it to end")
        if not self.stores.jobs.delete(account_id, job_id):
            raise NotFound("job not found")

    def move_cursor(self, account_id: str, job_id: int, at: object, actor: str = "") -> JobRecord:
        """Cronicle's time machine: count the job's next slot from `at` (epoch seconds or ISO
        8601). With catchUp, the slots from `at` up to now then run, each once (a slot that
        already ran keeps its run: a slot runs at most once); without, a time in the past
        means now. A time ahead skips the slots before it."""
        when = _parse_instant(at, "at")
        if not CURSOR_RANGE[0] <= when <= CURSOR_RANGE[1]:
            raise ValidationError("must be a time from 2000 to 2100", field="at")

        def change(job: JobRecord) -> None:
            now = self.clock()
            start = when if job.spec.get("catchUp") else max(when, now)
            schedule = Schedule.parse(job.spec["schedule"])
            job.next_run_at = schedule.next_after(start - 1) if job.enabled else None
            job.spec = {**job.spec, "modifiedBy": actor or job.spec.get("modifiedBy", "")}

        edited = self._edit_job(
            account_id,
            job_id,
            change,
            "the job changed while its cursor was being moved; try again",
        )
        return edited[0]

    def rotate_signing_secret(self, account_id: str, job_id: int) -> tuple[str, int]:
        """A new signing secret; the previous one keeps signing for SIGNING_OVERLAP_S seconds."""
        from chalicelib import signing

        def change(job: JobRecord) -> tuple[str, int]:
            now = self.clock()
            until = int(now) + SIGNING_OVERLAP_S
            secret = signing.new_secret()
            kept = [
                {"secret": s["secret"], "until": until if s.get("until") is None else s["until"]}
                for s in job.secrets.get("signing", [])
                if s.get("until") is None or s["until"] > now
            ]
            job.secrets["signing"] = [{"secret": secret, "until": None}, *kept]
            return secret, until

        edited = self._edit_job(
            account_id,
            job_id,
            change,
            "the job changed while its secret was being rotated; try again",
        )
        return edited[1]

    # ---- folders ----------------------------------------------------------------------------

    def list_folders(self, account_id: str) -> dict[int, str]:
        return self.stores.state.folders(account_id)[0]

    def get_folder(self, account_id: str, folder_id: int) -> str:
        folders = self.list_folders(account_id)
        if folder_id not in folders:
            raise NotFound("folder not found")
        return folders[folder_id]

    @staticmethod
    def _folder_title(payload: object) -> str:
        if not isinstance(payload, dict):
            raise ValidationError("must be an object", field="folder")
        for key in payload:
            if key not in ("title", "folderId"):
                raise ValidationError("unknown field", field=f"folder.{key}")
        title = payload.get("title")
        if not isinstance(title, str) or not title.strip():
            raise ValidationError("a title is required", field="folder.title")
        if text.too_long(title, MAX_FOLDER_TITLE) or any(c in title for c in "\r\n\x00"):
            raise ValidationError(
                f"must be one line of at most {MAX_FOLDER_TITLE} characters", field="folder.title"
            )
        return title

    def _save_folders(
        self, account_id: str, change: Callable[[dict[int, str]], int | None]
    ) -> int | None:
        for _ in range(_RETRIES):
            folders, version = self.stores.state.folders(account_id)
            result = change(folders)
            if self.stores.state.put_folders(account_id, folders, version):
                return result
        raise Conflict("folders changed meanwhile; try again")

    def create_folder(self, account_id: str, payload: object) -> int:
        title = self._folder_title(payload)

        def change(folders: dict[int, str]) -> int:
            if _same_title(title, folders.values()):
                raise Conflict(f"a folder titled {title!r} already exists")
            folder_id = self.stores.state.next_id("folder")
            folders[folder_id] = title
            return folder_id

        folder_id = self._save_folders(account_id, change)
        assert folder_id is not None
        return folder_id

    def update_folder(self, account_id: str, folder_id: int, payload: object) -> None:
        if isinstance(payload, dict) and "title" not in payload:
            self.get_folder(account_id, folder_id)
            return
        title = self._folder_title(payload)

        def change(folders: dict[int, str]) -> None:
            if folder_id not in folders:
                raise NotFound("folder not found")
            if _same_title(title, (t for f, t in folders.items() if f != folder_id)):
                raise Conflict(f"a folder titled {title!r} already exists")
            folders[folder_id] = title

        self._save_folders(account_id, change)

    def delete_folder(self, account_id: str, folder_id: int) -> None:
        self.get_folder(account_id, folder_id)
        # As cron-job.org does: the folder's jobs move to the root folder, then it goes.
        for job in self.list_jobs(account_id):
            if job.spec.get("folderId") == folder_id:
                self.update_job(account_id, job.job_id, {"folderId": 0})

        def change(folders: dict[int, str]) -> None:
            folders.pop(folder_id, None)

        self._save_folders(account_id, change)

    # ---- keys and the scheduler switch ------------------------------------------------------

    def create_key(self, account_id: str, payload: object) -> tuple[str, ApiKey]:
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            raise ValidationError("must be an object", field="key")
        for key in payload:
            if key not in (
                "name",
                "scopes",
                "ipAllowlist",
                "rateLimit",
                "rateLimitBurst",
                "strict",
            ):
                raise ValidationError("unknown field", field=key)
        name = payload.get("name", "")
        if not isinstance(name, str) or text.too_long(name, 128):
            raise ValidationError("must be a string of at most 128 characters", field="name")
        scopes = auth.validate_scopes(payload.get("scopes", ["read", "write", "run"]))
        allowlist = auth.validate_allowlist(payload.get("ipAllowlist"))
        limits: dict[str, float | None] = {}
        for field_name, low, high in (("rateLimit", 0.01, 10_000), ("rateLimitBurst", 1, 10_000)):
            value = payload.get(field_name)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not low <= value <= high
            ):
                raise ValidationError(
                    f"must be a number from {low:g} to {high:g}", field=field_name
                )
            limits[field_name] = None if value is None else float(value)
        strict = payload.get("strict", False)
        if not isinstance(strict, bool):
            raise ValidationError("must be true or false", field="strict")
        return auth.create_key(
            self.stores,
            account_id,
            scopes,
            self.clock(),
            name=name,
            ip_allowlist=allowlist,
            rate_limit_per_s=limits["rateLimit"],
            rate_limit_burst=limits["rateLimitBurst"],
            strict=strict,
        )

    def revoke_key(self, account_id: str, key_id: str) -> None:
        if not self.stores.keys.revoke(account_id, key_id, int(self.clock())):
            raise NotFound("key not found")

    def run_now(
        self, account_id: str, job_id: int, payload: object, dispatcher: Any, actor: str = ""
    ) -> str:
        """Queue a run of the job at once, with this run's own URL, method, timeout, headers or
        body if given; `actor` is who asked (a Cronicle job's source)."""
        job = self.get_job(account_id, job_id)
        overrides = validate_overrides(payload, job)
        run = dispatcher.start_now(job, overrides=overrides, extra={"by": actor} if actor else None)
        return str(run.run_id)

    def abort_run(self, account_id: str, run_id: str, actor: str) -> RunRecord:
        """Ask for the run to end: a call in flight is cut within a second wherever it runs,
        a run not taken up yet (its worker takes it a moment before its second) ends when its
        turn comes, without calling; it ends `aborted`,
        and neither retries nor chains follow. A run waiting in line ends at once."""
        run = self.run_outcome(account_id, run_id)
        if run.state not in runs.IN_FLIGHT:
            raise Conflict(f"the run is not in flight: it ended {run.state}")
        first = run.data.get("runId", run.run_id)
        key = runs.control_key(account_id, first)
        control = runs.RunControl.from_value(self.stores.state.get_value(key))
        by = actor or "API"
        self.stores.state.put_value(key, {**control.to_value(), "aborted_by": by})
        self._note_controls(run)
        if run.state == "waiting":
            ended = run.copy()
            ended.state, ended.active_deadline = "aborted", None
            ended.expires_at = int(self.clock()) + 30 * 86400
            ended.data = {
                **run.data,
                "status": 9,
                "statusText": f"Aborted by {by}",
                "reason": "aborted",
            }
            if self.stores.runs.update(ended, "waiting"):
                return ended
        return run

    def update_run(self, account_id: str, run_id: str, payload: object) -> runs.RunControl:
        """Change a run in flight, for that run only: `requestTimeout` (also of its call in
        flight), `retries`, `retryDelay`, `chainSuccess`, `chainFailure` and
        `notification.onSuccess`/`.onFailure`, each checked as on a job."""
        given = self.check_run_change(account_id, payload)
        run = self.run_outcome(account_id, run_id)
        if run.state not in runs.IN_FLIGHT:
            raise Conflict(f"the run is not in flight: it ended {run.state}")
        return self._apply_run_change(account_id, run, given)

    def check_run_change(self, account_id: str, payload: object) -> dict[str, Any]:
        """A run change (see `update_run`) checked as on a job; the fields it sets."""
        if not isinstance(payload, dict):
            raise ValidationError("must be an object", field="body")
        allowed = ("requestTimeout", "retries", "retryDelay", "chainSuccess", "chainFailure")
        for key in payload:
            if key not in (*allowed, "notification"):
                raise ValidationError(
                    "unknown field; a run in flight can change "
                    + ", ".join(allowed)
                    + " and notification",
                    field=key,
                )
        notification = payload.get("notification", {})
        if not isinstance(notification, dict):
            raise ValidationError("must be an object", field="notification")
        for key in notification:
            if key not in ("onSuccess", "onFailure"):
                raise ValidationError("unknown field", field=f"notification.{key}")
        base = jobs.with_defaults({"url": "https://example.invalid/"})
        spec = jobs.validate(jobs.merge(base, payload), folder_ids=set()).spec
        if "requestTimeout" in payload and spec["requestTimeout"] < 1:
            raise ValidationError("must be between 1 and 300", field="requestTimeout")
        given = {k: v for k, v in spec.items() if k in payload and k != "notification"}
        self._check_chains(account_id, {"chainSuccess": 0, "chainFailure": 0, **given})
        for key in ("onSuccess", "onFailure"):
            if key in notification:
                given[key] = spec["notification"][key]
        return given

    def _apply_run_change(
        self, account_id: str, run: RunRecord, given: dict[str, Any]
    ) -> runs.RunControl:
        key = runs.control_key(account_id, run.data.get("runId", run.run_id))
        control = runs.RunControl.from_value(self.stores.state.get_value(key))
        changes: dict[str, Any] = {
            "timeout": given.get("requestTimeout"),
            "retries": given.get("retries"),
            "retry_delay": given.get("retryDelay"),
            "chain_success": given.get("chainSuccess"),
            "chain_failure": given.get("chainFailure"),
        }
        if "onSuccess" in given:
            changes["on_success"] = given["onSuccess"]
        if "onFailure" in given:
            changes["on_failure"] = given["onFailure"]
        merged = {**control.to_value(), **{k: v for k, v in changes.items() if v is not None}}
        self.stores.state.put_value(key, merged)
        self._note_controls(run)
        return runs.RunControl.from_value(merged)

    def _note_controls(self, run: RunRecord) -> None:
        """Say on a queued run's record that it has controls: the worker reads a routine run's
        controls only then (a read fewer per run). A run taken up already has read them, or
        its call's watcher does."""
        for _ in range(3):
            current = self.stores.runs.get(run.account_id, run.job_id, run.run_id)
            if current is None or current.state != "queued" or current.data.get("controlled"):
                return
            current.data["controlled"] = True
            if self.stores.runs.update(current, "queued"):
                return

    PAST_URLS_KEPT = 20  # URL changes of a job whose runs can still show the URL they called

    def _keep_past_url(self, job: JobRecord, url: str) -> None:
        """Note that the job's versions up to this edit's called `url` (written before the
        edit: an edit that then loses its race leaves a note that is still true)."""
        key = past_urls_key(job.account_id, job.job_id)
        past = list(self.stores.state.get_value(key) or [])
        past.append([job.version + 1, url])
        self.stores.state.put_value(key, past[-self.PAST_URLS_KEPT :])

    def show_urls(
        self, account_id: str, found: list[RunRecord], job: JobRecord | None = None
    ) -> list[RunRecord]:
        """The runs with the URL each called on their record (a run's record names it only
        when it is not its job's, runs.with_url); `job`, when all are its runs."""
        bare = [r for r in found if "url" not in r.data]
        if not bare:
            return found
        if job is not None:
            specs = {job.job_id: job.spec}
        else:
            wanted = list({(account_id, r.job_id) for r in bare})
            specs = {j.job_id: j.spec for j in existing_jobs(self.stores.jobs, wanted)}
        past: dict[int, list[list[Any]]] = {}
        for run in bare:
            spec = specs.get(run.job_id)
            if spec is None:
                continue
            older = int(run.data.get("jv", 0)) < int(spec.get(runs.URL_VERSION, 0))
            if older and run.job_id not in past:
                key = past_urls_key(account_id, run.job_id)
                past[run.job_id] = self.stores.state.get_value(key, consistent=False) or []
            run.data["url"] = runs.url_of(run, spec, past.get(run.job_id, []))
        return found

    def get_run(self, account_id: str, run_id: str, hidden: bool = False) -> RunRecord:
        """A run of a job that exists; one its job's historyStrategy keeps out of the history
        (OFF, or ERROR and it succeeded) only with `hidden`."""
        run = self.stores.runs.get(account_id, run_job_id(run_id), run_id)
        if run is None or (run.data.get("hidden") and not hidden):
            raise NotFound("run not found")
        found = existing_jobs(self.stores.jobs, [(account_id, run.job_id)])
        if not found:
            raise NotFound("run not found")  # a job's history goes with it
        return self.show_urls(account_id, [run], found[0])[0]

    def run_outcome(self, account_id: str, run_id: str) -> RunRecord:
        """The run as it stands: its latest attempt. A failed attempt that is retried is not
        the run's outcome; the retry, queued, running or done, is. A run kept out of the
        history is shown too (for the hour its record lasts): a client that started it polls
        its id for the outcome."""
        run = self.get_run(account_id, run_id, hidden=True)
        for _ in range(jobs.MAX_RETRIES):
            attempt = run.data.get("nextAttempt")
            if not attempt:
                break
            later = self.stores.runs.get(
                account_id, run.job_id, runs.attempt_id(run.run_id, int(attempt))
            )
            if later is None:
                break
            run = self.show_urls(account_id, [later])[0]
        return run

    def job_history(self, account_id: str, job_id: int, limit: int, cursor: str | None) -> Page:
        job = self.get_job(account_id, job_id)
        # Runs planned up to now: a slot the tick claimed ahead is a prediction until it fires.
        now = self.clock()
        page = self.stores.runs.list_for_job(account_id, job_id, limit, cursor, now)
        shown = [r for r in page.items if not r.data.get("hidden")]
        return Page(self.show_urls(account_id, shown, job), page.cursor)

    def account_history(self, account_id: str, limit: int, cursor: str | None) -> Page:
        """The account's runs planned up to now, newest first, over its jobs (a deleted job's
        history goes with it, as on cron-job.org; its items stay in the table until their
        TTL, and job ids are never reused)."""
        ids = self.stores.jobs.ids(account_id)
        page = self.stores.runs.list_for_account(account_id, ids, limit, cursor, self.clock())
        shown = [r for r in page.items if not r.data.get("hidden")]
        return Page(self.show_urls(account_id, shown), page.cursor)

    def active_runs(self, account_id: str, job_id: int | None = None) -> list[RunRecord]:
        """The runs in flight (of one job, if given): due and queued, running, or waiting for a
        place. They are recent, so the newest 500 runs planned up to now hold them all; a slot
        the tick claimed ahead is not in flight before its second (seconds schedules claim
        hundreds ahead)."""
        ids = self.stores.jobs.ids(account_id) if job_id is None else [job_id]
        page = self.stores.runs.list_for_account(account_id, ids, 500, None, self.clock())
        active = [r for r in page.items if r.state in ("queued", "running", "waiting")]
        return self.show_urls(account_id, active)

    def predictions(self, job: JobRecord, count: int = 3) -> list[int]:
        first = jobs.next_execution(job, self.clock())
        if first is None:
            return []
        schedule = Schedule.parse(job.spec["schedule"])
        return [first, *schedule.upcoming(count - 1, first)]

    def notification_settings(self, account_id: str) -> dict[str, Any]:
        from chalicelib.notify import settings_key

        config = self.stores.state.get_value(settings_key(account_id)) or {}
        return {"url": config.get("url", ""), "email": config.get("email", "")}

    def set_notification_settings(self, account_id: str, payload: object) -> dict[str, Any]:
        """Set where notifications go; a new URL gets a new signing secret, shown once (and is
        stored sealed)."""
        from chalicelib import signing
        from chalicelib.notify import seal_settings, sealer_of, settings_key

        if not isinstance(payload, dict):
            raise ValidationError("must be an object", field="body")
        for key in payload:
            if key not in ("url", "email"):
                raise ValidationError("unknown field", field=key)
        for key in ("url", "email"):
            if key in payload and not isinstance(payload[key], str | None):
                raise ValidationError("must be a string", field=key)
        config = dict(self.stores.state.get_value(settings_key(account_id)) or {})
        out: dict[str, Any] = {}
        if "url" in payload:
            url = payload["url"] or ""
            if url:
                jobs.validate_url(url, "url")
            if url != config.get("url"):
                config["secret"] = signing.new_secret() if url else None
                if url:
                    out["signingSecret"] = config["secret"]
            config["url"] = url
        if "email" in payload:
            email = payload["email"] or ""
            if email and (
                not isinstance(email, str) or len(email) > 254 or not _EMAIL.fullmatch(email)
            ):
                raise ValidationError("is not an e-mail address", field="email")
            config["email"] = email
        sealer = self.sealer or sealer_of(self.stores)
        self.stores.state.put_value(
            settings_key(account_id), seal_settings(config, sealer, account_id)
        )
        return {"url": config.get("url", ""), "email": config.get("email", ""), **out}

    def set_scheduler(self, account_id: str, payload: object) -> list[JobRecord]:
        """Switch the account's scheduler; returns the jobs switching it on moved forward.

        While the switch is off no slot fires, and none is missed either: switching it on moves
        each job whose next slot has passed to its first slot from now, as Cloud Scheduler's
        resume does. (The tick would otherwise take the time off for downtime, and run each
        job once, or every slot of the time off with `catchUp`.)"""
        if not isinstance(payload, dict) or not isinstance(payload.get("enabled"), bool):
            raise ValidationError("must be true or false", field="enabled")
        moved = []
        if payload["enabled"] and not self.stores.state.scheduler_enabled(account_id):
            # Before the switch: no tick claims the old slots meanwhile.
            moved = [j for j in self.list_jobs(account_id) if self._move_past(j, self.clock())]
        self.stores.state.set_scheduler_enabled(account_id, payload["enabled"])
        return moved

    def _move_past(self, job: JobRecord, now: float) -> bool:
        """Move an enabled job whose next slot is before `now` to its first slot from now."""

        def change(current: JobRecord) -> None:
            if not current.enabled or current.next_run_at is None or current.next_run_at >= now:
                raise Unchanged
            self._schedule_next(current, Schedule.parse(current.spec["schedule"]), now)

        if not job.enabled or job.next_run_at is None or job.next_run_at >= now:
            return False  # as listed: nothing to move (a read saved per job)
        conflict = "a job changed while the scheduler was switched on; try again"
        return (
            edit_job(self.stores.jobs, job.account_id, job.job_id, change, now, conflict)
            is not None
        )

    # ---- schedules --------------------------------------------------------------------------

    def preview(self, payload: object) -> dict[str, Any]:
        """Describe a schedule and list its next runs strictly after `after` (default now)."""
        if not isinstance(payload, dict):
            raise ValidationError("must be an object", field="body")
        for key in payload:
            if key not in ("schedule", "after", "count"):
                raise ValidationError("unknown field", field=key)
        count = payload.get("count", 5)
        if not jobs.is_int(count) or not 1 <= count <= 100:
            raise ValidationError("must be an integer from 1 to 100", field="count")
        after = self.clock()
        if payload.get("after") is not None:
            after = _parse_instant(payload["after"], "after")
        try:
            schedule = Schedule.parse(payload.get("schedule"))
        except ScheduleError as exc:
            raise ValidationError(exc.message, field=exc.field) from None
        zone = ZoneInfo(schedule.timezone)
        upcoming = []
        for epoch in schedule.upcoming(count, after):
            upcoming.append(
                {
                    "local": datetime.fromtimestamp(epoch, zone).isoformat(),
                    "utc": datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z"),
                    "epoch": epoch,
                }
            )
        problem = schedule.never_fires(self.clock())
        error = {} if problem is None else {"error": _error_body(problem)}
        return {
            "valid": problem is None,
            **error,
            "description": schedule.describe(),
            "schedule": schedule.to_dict(),
            "next": upcoming,
        }


def _same_title(title: str, others: Iterable[str]) -> bool:
    """Folder titles are unique as people read them: "Café" typed with a precomposed é and
    with e + U+0301 is one title (compared in NFC; each is stored as sent)."""
    wanted = text.nfc(title)
    return any(text.nfc(other) == wanted for other in others)


def _error_body(problem: ScheduleError) -> dict[str, Any]:
    error = ValidationError(problem.message, field=problem.field)
    return dict(error.to_body()["error"])


def _parse_instant(value: object, field_name: str) -> float:
    if jobs.is_int(value) or isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                raise ValidationError("give a time zone offset, e.g. +00:00", field=field_name)
            return moment.timestamp()
    raise ValidationError("must be an ISO 8601 time with offset or epoch seconds", field=field_name)


# ---- runs and history ------------------------------------------------------------------------

HISTORY_PAGE = 25
HISTORY_PAGE_MAX = 100


def page_limit(params: Mapping[str, str] | None) -> tuple[int, str | None]:
    """`limit` (1-100, default 25) and `cursor` query parameters of a history listing."""
    params = params or {}
    raw = params.get("limit") or str(HISTORY_PAGE)
    # Leading zeros are taken (the document allows them), then the length is checked before
    # int(), which refuses strings of more than 4,300 digits with an error of its own.
    digits = raw.lstrip("0")
    if (
        not (raw.isascii() and raw.isdigit() and len(digits) <= 3)
        or not 1 <= int(digits or "0") <= HISTORY_PAGE_MAX
    ):
        raise ValidationError(f"must be an integer from 1 to {HISTORY_PAGE_MAX}", field="limit")
    return int(digits), params.get("cursor") or None


def past_urls_key(account_id: str, job_id: int) -> str:
    """Where a job's past URLs are kept: [until version, URL] of each change, oldest first."""
    return f"past-urls#{account_id}#{job_id}"


def run_job_id(run_id: str) -> int:
    """The job id inside a run id (`<planned ms>-<job>-<attempt>[-tag]`)."""
    parts = run_id.split("-")
    if len(parts) < 3 or not (parts[1].isascii() and parts[1].isdigit()) or len(parts[1]) > 16:
        raise NotFound("run not found")
    return int(parts[1])


OVERRIDABLE = ("url", "requestMethod", "requestTimeout", "extendedData")


def validate_overrides(payload: object, job: JobRecord | None = None) -> dict[str, Any] | None:
    """Run-now overrides for this run only (Cronicle's run_event merges them the same way):
    `url`, `requestMethod`, `requestTimeout` and `extendedData.body`/`.headers` (headers add
    to the job's). Each is checked by the job validation, as on a job. A job that sends a
    stored password or secret header calls only the origin they were given for."""
    if payload is None:
        return None
    if not isinstance(payload, dict):
        raise ValidationError("must be an object", field="body")
    for key in payload:
        if key not in OVERRIDABLE:
            raise ValidationError(
                "unknown field; a run can override " + ", ".join(OVERRIDABLE), field=key
            )
    if payload.get("extendedData") is not None and not isinstance(payload["extendedData"], dict):
        raise ValidationError("must be an object", field="extendedData")
    given = {k: v for k, v in payload.items() if v is not None}
    base = jobs.with_defaults({"url": job.spec["url"] if job else "https://example.invalid/"})
    valid = jobs.validate(jobs.merge(base, given), folder_ids=set()).spec
    out: dict[str, Any] = {}
    if "url" in given:
        out["url"] = valid["url"]
        holds = job is not None and (
            (job.spec["auth"]["enable"] and job.secrets.get("password"))
            or job.secrets.get("headers")
        )
        if job is not None and holds:
            origin = job.secrets.get("origin") or jobs.url_origin(job.spec["url"])
            if jobs.url_origin(valid["url"]) != origin:
                raise ValidationError(
                    f"the job sends stored credentials, given for {origin}: a run cannot call "
                    "another origin",
                    field="url",
                )
    if "requestMethod" in given:
        out["method"] = valid["requestMethod"]
    if "requestTimeout" in given:
        out["timeout"] = valid["requestTimeout"]
    extended = given.get("extendedData") or {}
    if "headers" in extended:
        out["headers"] = valid["extendedData"]["headers"]
    if "body" in extended:
        out["body"] = valid["extendedData"]["body"]
    return out or None


@dataclass(frozen=True)
class Edited:
    """A saved edit, the stored credentials it cleared and the fields of the delta it ignored
    (their dotted paths)."""

    job: JobRecord
    cleared: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True)
class Added:
    """A new job, its signing secret (shown only now) and the fields it ignored."""

    job: JobRecord
    secret: str
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Given:
    delta: dict[str, Any]
    new_headers: frozenset[str]  # lower-case names of headers this delta gives a value for


def _unmask_headers(delta: dict[str, Any], job: JobRecord) -> _Given:
    """The delta with each masked secret header it sends back ("unchanged", as a client that
    read the job sends it) replaced by the stored value, and the headers it gives anew."""
    extended = delta.get("extendedData")
    headers = extended.get("headers") if isinstance(extended, dict) else None
    if not isinstance(headers, dict):
        return _Given(delta, frozenset())
    # The values a run sends: the stored secret ones put back in place of their masks.
    kept = {name.lower(): value for name, value in jobs.sent_headers(job).items()}
    unmasked: dict[str, Any] = {}
    fresh: set[str] = set()
    for name, value in headers.items():
        lower = str(name).lower()
        if value == jobs.PASSWORD_MASK and lower in kept:
            unmasked[name] = kept[lower]
        else:
            unmasked[name] = value
            fresh.add(lower)
    assert isinstance(extended, dict)
    out = {**delta, "extendedData": {**extended, "headers": unmasked}}
    return _Given(out, frozenset(fresh))


def _clear_moved_credentials(
    job: JobRecord, valid: jobs.ValidJob, new_password: bool, new_headers: frozenset[str]
) -> tuple[str, ...]:
    """When the URL moves to another origin, drop from `valid` the stored password and secret
    headers that the edit did not give again; their field paths."""
    given_for = job.secrets.get("origin") or jobs.url_origin(job.spec["url"])
    if jobs.url_origin(valid.spec["url"]) == given_for:
        return ()
    cleared: list[str] = []
    if valid.password and not new_password:
        valid.password = ""
        cleared.append("auth.password")
    headers = valid.spec["extendedData"]["headers"]
    for name in list(headers):
        lower = name.lower()
        if lower in valid.header_secrets and lower not in new_headers:
            del headers[name]
            del valid.header_secrets[lower]
            cleared.append(f"extendedData.headers.{name}")
    return tuple(cleared)
