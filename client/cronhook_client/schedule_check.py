"""The schedules of a jobs file as the API stores them, asked of `POST /schedules/preview`, which
also checks them: a schedule the API would refuse is a ManifestError naming the file's line and
field, raised before anything is sent."""

from __future__ import annotations

from typing import Any

from cronhook_client.client import Client
from cronhook_client.errors import ApiError
from cronhook_client.manifest_model import DesiredJob, DesiredMonitor, Manifest
from cronhook_client.models import Preview, Schedule

_LISTS = ("hours", "mdays", "minutes", "months", "wdays")


class ScheduleCheck:
    """One apply's schedule checks (one preview per job or monitor, remembered)."""

    def __init__(self, client: Client, manifest: Manifest) -> None:
        self.client = client
        self.manifest = manifest
        self._jobs: dict[str, dict[str, Any]] = {}

    def _preview(self, schedule: Schedule | dict[str, Any], path: str, zone: bool) -> Preview:
        try:
            return self.client.preview_schedule(schedule, count=1)
        except ApiError as exc:
            if exc.status != 400:
                raise
            field = exc.field or "schedule"
            if zone and field.endswith("timezone"):
                field = "timezone"  # a monitor's time zone is its own field, not the schedule's
            raise self.manifest.error(f"{path}.{field}", exc.message) from None

    def job(self, want: DesiredJob) -> dict[str, Any]:
        """The job's schedule in the API's canonical form (zone and expiry spelled out)."""
        if want.name not in self._jobs:
            preview = self._preview(want.spec["schedule"], want.path, zone=False)
            self._jobs[want.name] = dict(preview["schedule"])
        return self._jobs[want.name]

    def monitor(self, want: DesiredMonitor) -> dict[str, Any]:
        """The monitor's schedule as the API stores it: a period as written, else the canonical
        form without zone and expiry (the zone is the monitor's own field); it must repeat."""
        schedule = want.spec["schedule"]
        zone = want.spec["timezone"]
        if "every" in schedule:
            self._preview({"timezone": zone}, want.path, zone=True)  # checks the zone alone
            return dict(schedule)
        preview = self._preview({**schedule, "timezone": zone}, want.path, zone=True)
        if preview.get("valid") is False:
            error = preview.get("error") or {}
            where = f"{want.path}.{error.get('field') or 'schedule'}"
            raise self.manifest.error(where, str(error.get("message", "never fires")))
        stored = {
            k: v for k, v in preview["schedule"].items() if k not in ("timezone", "expiresAt")
        }
        if set(stored) <= set(_LISTS) and all(not stored.get(k) for k in _LISTS):
            raise self.manifest.error(f"{want.path}.schedule", "must repeat: it never fires")
        return stored
