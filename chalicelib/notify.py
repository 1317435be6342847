"""Notifications about a job: a signed JSON POST to the account's URL and/or an e-mail via SES.

Events: `job.failed` (after `onFailureCount` failures in a row), `job.recovered` (first success
after failures), `job.disabled`, `job.ssl_cert_expiring`. Sending never raises: a notification
that cannot be delivered is logged (without secrets) and the run's record goes on.

The account's settings (`url`, `email`, `secret`) are one value in the state table; the signing
secret in it is sealed like the jobs' secrets (KMS envelope encryption when a key is configured),
with the settings key as the associated data, so it opens for this account's settings only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib import executor
from chalicelib.config import Settings
from chalicelib.crypto import PlainSealer, Sealer, is_sealed
from chalicelib.errors import StoreError
from chalicelib.store.base import JobRecord, MonitorRecord, Stores

log = logging.getLogger(__name__)

SUBJECTS = {
    "job.failed": "Job {title} is failing",
    "job.recovered": "Job {title} is working again",
    "job.disabled": "Job {title} was disabled",
    "job.ssl_cert_expiring": "The TLS certificate of job {title} expires soon",
    "monitor.down": "Monitor {title} is down",
    "monitor.up": "Monitor {title} is up again",
}


def settings_key(account_id: str) -> str:
    """The state value holding the account's settings; also the sealed secret's context."""
    return f"notifications#{account_id}"


def sealer_of(stores: Stores) -> Sealer:
    """The sealer of the job store's secrets; PlainSealer for stores that seal nothing (memory)."""
    sealer: Sealer | None = getattr(stores.jobs, "sealer", None)
    return sealer if sealer is not None else PlainSealer()


def seal_settings(config: dict[str, Any], sealer: Sealer, account_id: str) -> dict[str, Any]:
    """The settings as stored: the signing secret sealed (a sealed one stays as it is). Without
    encryption (PlainSealer) the secret stays in clear, as the jobs' secrets do."""
    secret = config.get("secret")
    if not secret or is_sealed(secret):
        return dict(config)
    sealed = sealer.seal({"secret": secret}, settings_key(account_id))
    return {**config, "secret": sealed if is_sealed(sealed) else secret}


def open_settings(config: dict[str, Any], sealer: Sealer, account_id: str) -> dict[str, Any]:
    """The settings with the signing secret opened; a secret stored in clear (before it was
    sealed, or without a KMS key) as it is. StoreError when it cannot be opened."""
    secret = config.get("secret")
    if not secret or not is_sealed(secret):
        return dict(config)
    return {**config, "secret": sealer.open(secret, settings_key(account_id))["secret"]}


@dataclass
class Notifier:
    stores: Stores
    settings: Settings
    ses: Callable[[], Any] | None = None  # lazy SES client factory
    execute: Callable[[executor.Request, executor.Policy], executor.Result] = executor.execute
    clock: Callable[[], float] = time.time
    sent: list[dict[str, Any]] = field(default_factory=list)  # what went out, for the run's record
    sealer: Sealer | None = None  # opens the signing secret; None: the job store's (sealer_of)

    def notify(self, event: str, job: JobRecord, details: dict[str, Any]) -> None:
        try:
            config = self.stores.state.get_value(settings_key(job.account_id)) or {}
        except StoreError as exc:
            log.warning("notification %s for job %s not sent: %s", event, job.job_id, exc.message)
            return
        if not config.get("url") and not config.get("email"):
            return
        payload = {
            "type": event,
            "jobId": job.job_id,
            "title": job.spec.get("title") or job.spec.get("url"),
            "url": job.spec.get("url"),
            "date": int(self.clock()),
            **details,
        }
        self._send(job.account_id, config, payload)

    def notify_monitor(self, event: str, monitor: MonitorRecord, details: dict[str, Any]) -> None:
        """A monitor's notice (monitor.down, monitor.up) through the account's channels."""
        try:
            config = self.stores.state.get_value(settings_key(monitor.account_id)) or {}
        except StoreError as exc:
            log.warning("notice %s of monitor %s not sent: %s", event, monitor.monitor_id, exc)
            return
        if not config.get("url") and not config.get("email"):
            return
        payload = {
            "type": event,
            "monitorId": monitor.monitor_id,
            "title": monitor.spec.get("title") or f"#{monitor.monitor_id}",
            "date": int(self.clock()),
            **details,
        }
        self._send(monitor.account_id, config, payload)

    def _send(self, account_id: str, config: dict[str, Any], payload: dict[str, Any]) -> None:
        if config.get("url"):
            self._post(account_id, config, payload)
        if config.get("email"):
            self._mail(config["email"], payload)

    def _post(self, account_id: str, config: dict[str, Any], payload: dict[str, Any]) -> None:
        try:
            config = open_settings(config, self.sealer or sealer_of(self.stores), account_id)
        except StoreError as exc:
            # Unsigned would look forged to a receiver that verifies: better not sent at all.
            self.sent.append({"channel": "webhook", "type": payload["type"], "ok": False})
            log.warning(
                "notification %s for job %s not sent: cannot open its signing secret (%s)",
                payload["type"],
                _subject(payload),
                exc.message,
            )
            return
        body = json.dumps(payload).encode()
        request = executor.Request(
            url=config["url"],
            method="POST",
            headers={"Content-Type": "application/json"},
            body=body,
            timeout=10.0,
            webhook_id=f"notify-{_subject(payload)}-{payload['type']}-{payload['date']}",
            signing_secrets=tuple(s for s in [config.get("secret")] if s),
        )
        policy = executor.Policy(allow_private=self.settings.allow_private_targets)
        result = self.execute(request, policy)
        self.sent.append({"channel": "webhook", "type": payload["type"], "ok": result.ok})
        if not result.ok:
            log.warning(
                "notification %s for job %s not delivered: %s",
                payload["type"],
                _subject(payload),
                result.status_text,
            )

    def _mail(self, address: str, payload: dict[str, Any]) -> None:
        if self.ses is None:
            return
        subject = "[cronhook] " + SUBJECTS[payload["type"]].format(title=payload["title"])
        lines = [f"{key}: {value}" for key, value in payload.items()]
        try:
            self.ses().send_email(
                Source=self.settings.notify_from,
                Destination={"ToAddresses": [address]},
                Message={
                    "Subject": {"Data": subject},
                    "Body": {"Text": {"Data": "\n".join(lines)}},
                },
            )
            self.sent.append({"channel": "email", "type": payload["type"], "ok": True})
        except Exception as exc:
            self.sent.append({"channel": "email", "type": payload["type"], "ok": False})
            log.warning("notification e-mail for %s failed: %s", _subject(payload), exc)


def _subject(payload: dict[str, Any]) -> str:
    """What a notice is about, for ids and logs: a job's id, or "m" and a monitor's."""
    return str(payload["jobId"]) if "jobId" in payload else f"m{payload.get('monitorId')}"
