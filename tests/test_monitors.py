"""Heartbeat monitors: the API, pings at /ping/{token}, the status rules, and the tick marking
monitors down, over a simulated day with the clock injected."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from chalicelib import executor, monitors
from chalicelib.config import Settings
from chalicelib.dispatch import Dispatcher
from chalicelib.monitoring import Incoming, Monitors
from chalicelib.notify import Notifier
from chalicelib.service import Service
from chalicelib.store.base import MonitorRecord
from chalicelib.store.memory import memory_stores
from tests.helpers import Api, Persona

T0 = 1_800_000_000 - 1_800_000_000 % 86400  # a midnight, UTC


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Sent:
    """Notices as they would go out: each executor request, its webhook-signing secrets."""

    requests: list[executor.Request] = field(default_factory=list)

    def __call__(self, request: executor.Request, policy: executor.Policy) -> executor.Result:
        self.requests.append(request)
        return executor.Result(
            1, "ok", "OK", 200, "OK", [], b"", 0, "127.0.0.1", [], None, False, {}, 1, 0.0, None
        )

    def types(self) -> list[str]:
        import json

        return [json.loads(r.body or b"{}")["type"] for r in self.requests]


@dataclass
class Heartbeats:
    monitors: Monitors
    clock: Clock
    sent: Sent
    secret: str

    def ping(self, token: str, suffix: str | None = None, body: bytes = b"") -> MonitorRecord:
        return self.monitors.receive(Incoming(token, suffix, "POST", body, "10.0.0.1", "curl/8"))

    def tick(self, minutes: int = 1) -> Counter[str]:
        report: Counter[str] = Counter()
        for _ in range(minutes):
            self.clock.now += 60
            self.monitors.sweep(self.clock.now, report)
        return report


@pytest.fixture
def beats() -> Heartbeats:
    stores = memory_stores()
    clock = Clock(T0)
    sent = Sent()
    settings = Settings(allow_private_targets=True)
    config = Service(stores, settings, clock=clock).set_notification_settings(
        "acct", {"url": "http://127.0.0.1:9/notices"}
    )
    notifier = Notifier(stores, settings, execute=sent, clock=clock)
    return Heartbeats(Monitors(stores, notifier, clock), clock, sent, config["signingSecret"])


def hourly(beats: Heartbeats, **kw: Any) -> tuple[MonitorRecord, str]:
    return beats.monitors.create("acct", {"title": "backup", "schedule": {"every": 3600}, **kw})


# ---- rules, over a simulated day ------------------------------------------------------------


def test_it_stays_up_over_a_day_of_pings_on_time(beats: Heartbeats) -> None:
    monitor, token = hourly(beats)
    beats.ping(token)
    for _ in range(24):
        report = beats.tick(59)
        assert (
            monitors.status(beats.monitors.get("acct", monitor.monitor_id), beats.clock.now) == "up"
        )
        beats.clock.now += 30
        beats.ping(token)
        assert not report["monitors_down"]
    assert beats.sent.requests == []
    assert beats.monitors.get("acct", monitor.monitor_id).pings == 25


def test_it_goes_down_once_within_a_minute_of_period_and_grace(beats: Heartbeats) -> None:
    monitor, token = hourly(beats, grace=300)
    beats.ping(token)
    pinged = beats.clock.now
    went_down = None
    for _ in range(24 * 60):
        if beats.tick()["monitors_down"]:
            assert went_down is None, "one notice per outage"
            went_down = beats.clock.now
    assert went_down is not None
    assert pinged + 3600 + 300 <= went_down < pinged + 3600 + 300 + 60
    assert beats.sent.types() == ["monitor.down"]
    found = beats.monitors.get("acct", monitor.monitor_id)
    assert found.status == "down" and found.down_since == pinged + 3600 + 300


def test_it_is_late_after_its_expected_time_and_down_after_its_grace(beats: Heartbeats) -> None:
    monitor, token = hourly(beats, grace=600)
    beats.ping(token)
    found = beats.monitors.get("acct", monitor.monitor_id)
    assert monitors.status(found, T0 + 3600) == "up"
    assert monitors.status(found, T0 + 3601) == "late"
    assert monitors.status(found, T0 + 4200) == "down"


def test_it_comes_up_on_the_next_ping_and_says_so_once(beats: Heartbeats) -> None:
    monitor, token = hourly(beats)
    beats.ping(token)
    beats.tick(70)
    beats.ping(token)
    beats.ping(token)
    assert beats.sent.types() == ["monitor.down", "monitor.up"]
    assert beats.monitors.get("acct", monitor.monitor_id).status == "up"
    beats.tick(70)
    assert beats.sent.types() == ["monitor.down", "monitor.up", "monitor.down"]


def test_it_signs_its_notices_with_the_accounts_secret(beats: Heartbeats) -> None:
    import json

    monitor, token = hourly(beats)
    beats.ping(token)
    beats.tick(70)
    (request,) = beats.sent.requests
    assert request.signing_secrets == (beats.secret,)
    assert request.method == "POST"
    notice = json.loads(request.body or b"")
    assert notice["monitorId"] == monitor.monitor_id and notice["title"] == "backup"
    assert notice["status"] == "down"


def test_a_new_monitor_never_goes_down_before_its_first_ping(beats: Heartbeats) -> None:
    monitor, _ = hourly(beats)
    beats.tick(24 * 60)
    assert beats.monitors.get("acct", monitor.monitor_id).status == "new"
    assert beats.sent.requests == []


def test_a_paused_monitor_never_goes_down_and_a_ping_resumes_it(beats: Heartbeats) -> None:
    monitor, token = hourly(beats)
    beats.ping(token)
    beats.monitors.pause("acct", monitor.monitor_id)
    beats.tick(24 * 60)
    assert beats.monitors.get("acct", monitor.monitor_id).status == "paused"
    beats.ping(token)
    assert beats.monitors.get("acct", monitor.monitor_id).status == "up"
    assert beats.sent.requests == []


def test_a_start_ping_measures_the_runs_duration(beats: Heartbeats) -> None:
    monitor, token = hourly(beats)
    beats.ping(token, "start")
    beats.clock.now += 42.5
    found = beats.ping(token)
    assert found.last_duration_ms == 42_500 and found.started_at is None
    page = beats.monitors.pings("acct", monitor.monitor_id, 10, None)
    assert [p.data["kind"] for p in page.items] == ["success", "start"]
    assert page.items[0].data["duration"] == 42_500


def test_a_run_that_started_must_finish_within_its_grace(beats: Heartbeats) -> None:
    monitor, token = hourly(beats, grace=120)
    beats.ping(token)
    beats.ping(token, "start")
    beats.tick(3)
    assert beats.monitors.get("acct", monitor.monitor_id).status == "down"
    assert beats.sent.types() == ["monitor.down"]


def test_a_fail_ping_is_down_at_once_and_an_exit_status_counts(beats: Heartbeats) -> None:
    monitor, token = hourly(beats)
    beats.ping(token, "fail")
    assert beats.monitors.get("acct", monitor.monitor_id).status == "down"
    beats.ping(token, "0")
    assert beats.monitors.get("acct", monitor.monitor_id).status == "up"
    beats.ping(token, "3")
    found = beats.monitors.get("acct", monitor.monitor_id)
    assert found.status == "down" and found.last_ping_kind == "fail"
    page = beats.monitors.pings("acct", monitor.monitor_id, 10, None)
    assert [(p.data["kind"], p.data["exitStatus"]) for p in page.items] == [
        ("fail", 3),
        ("success", 0),
        ("fail", None),
    ]
    assert beats.sent.types() == ["monitor.down", "monitor.up", "monitor.down"]


def test_a_cron_monitor_expects_the_next_slot_in_its_time_zone(beats: Heartbeats) -> None:
    monitor, token = beats.monitors.create(
        "acct", {"schedule": {"cron": "0 2 * * *"}, "timezone": "Europe/Berlin", "grace": 600}
    )
    beats.ping(token)  # at midnight UTC: 01:00 or 02:00 in Berlin
    found = beats.monitors.get("acct", monitor.monitor_id)
    assert found.next_expected is not None
    from datetime import datetime
    from zoneinfo import ZoneInfo

    expected = datetime.fromtimestamp(found.next_expected, ZoneInfo("Europe/Berlin"))
    assert (expected.hour, expected.minute) == (2, 0)
    assert found.alert_at == found.next_expected + 600


def test_it_keeps_10_kb_of_a_pings_body(beats: Heartbeats) -> None:
    monitor, token = hourly(beats)
    beats.ping(token, body=b"x" * 20_000)
    (item,) = beats.monitors.pings("acct", monitor.monitor_id, 10, None).items
    assert len(item.data["body"]) == 10 * 1024
    assert item.data["bodySize"] == 20_000 and item.data["bodyTruncated"]
    assert item.data["remoteAddr"] == "10.0.0.1" and item.data["userAgent"] == "curl/8"


def test_the_tick_of_the_dispatcher_marks_monitors_down(beats: Heartbeats) -> None:
    from chalicelib.store.memory import MemoryRunStore

    monitor, token = hourly(beats)
    beats.ping(token)
    stores = beats.monitors.stores
    dispatcher = Dispatcher(
        stores,
        Settings(),
        queue=None,
        blobs=None,
        clock=beats.clock,  # type: ignore[arg-type]
    )
    assert isinstance(stores.runs, MemoryRunStore)
    report = dispatcher.tick(T0 + 3600 + 300 + 30)
    assert report["monitors_down"] == 1
    assert beats.monitors.get("acct", monitor.monitor_id).status == "down"


def test_two_ticks_racing_send_one_notice(beats: Heartbeats) -> None:
    import threading

    for _ in range(20):
        _, token = hourly(beats)
        beats.ping(token)
    beats.clock.now += 4000
    reports = [Counter[str]() for _ in range(4)]
    threads = [
        threading.Thread(target=beats.monitors.sweep, args=(beats.clock.now, r)) for r in reports
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r["monitors_down"] for r in reports) == 20
    assert beats.sent.types() == ["monitor.down"] * 20


# ---- the API --------------------------------------------------------------------------------


def create(api: Api, who: Persona, **monitor: Any) -> Any:
    return api.put("/monitors", who, {"monitor": {"title": "backup", **monitor}})


def token_of(answer: Any) -> str:
    return str(answer.json_body["pingUrl"]).rsplit("/ping/", 1)[1]


def test_it_creates_a_monitor_and_hands_out_its_ping_url_once(api: Api, alice: Persona) -> None:
    answer = create(api, alice, schedule={"every": 600}, grace=120)
    assert answer.status_code == 200
    url = answer.json_body["pingUrl"]
    assert url.startswith("http") and "/ping/" in url and len(token_of(answer)) >= 22
    monitor_id = answer.json_body["monitorId"]
    shown = api.get(f"/monitors/{monitor_id}", alice).json_body["monitor"]
    assert shown["status"] == "new" and shown["schedule"] == {"every": 600}
    cron = create(api, alice, schedule={"cron": "@daily"}).json_body["monitorId"]
    stored = api.get(f"/monitors/{cron}", alice).json_body["monitor"]["schedule"]
    assert stored == {"cron": "@daily"}  # as a monitor takes it: no timezone, no expiry
    assert shown["grace"] == 120 and shown["timezone"] == "UTC"
    assert token_of(answer) not in str(shown)
    listed = api.get("/monitors", alice).json_body["monitors"]
    assert [m["monitorId"] for m in listed] == [monitor_id, cron]


def test_it_stores_only_the_hash_of_the_token(api: Api, alice: Persona, stores: Any) -> None:
    answer = create(api, alice)
    token = token_of(answer)
    (record,) = stores.monitors.list(alice.account)
    assert record.token_hash == monitors.hash_token(token) and token not in str(record)


def test_a_ping_needs_no_key_and_is_listed_newest_first(api: Api, alice: Persona) -> None:
    answer = create(api, alice)
    token, monitor_id = token_of(answer), answer.json_body["monitorId"]
    assert api.client.http.get(f"/ping/{token}").status_code == 200
    assert api.client.http.head(f"/ping/{token}/start").status_code == 200
    posted = api.client.http.post(f"/ping/{token}/1", body=b"disk full")
    assert posted.status_code == 200 and posted.body == b"OK"
    pings = api.get(f"/monitors/{monitor_id}/pings?limit=2", alice).json_body
    assert [(p["kind"], p["method"]) for p in pings["pings"]] == [
        ("fail", "POST"),
        ("start", "HEAD"),
    ]
    assert pings["pings"][0]["body"] == "disk full" and pings["pings"][0]["exitStatus"] == 1
    rest = api.get(f"/monitors/{monitor_id}/pings?cursor={pings['cursor']}", alice).json_body
    assert [p["kind"] for p in rest["pings"]] == ["success"] and rest["cursor"] is None
    shown = api.get(f"/monitors/{monitor_id}", alice).json_body["monitor"]
    assert shown["status"] == "down" and shown["pings"] == 3


@pytest.mark.parametrize(
    "path", ["/ping/nope", "/ping/nope/start", "/ping/{token}/256", "/ping/{token}/log"]
)
def test_an_unknown_token_or_kind_is_a_404_that_says_nothing_more(
    api: Api, alice: Persona, path: str
) -> None:
    token = token_of(create(api, alice))
    answer = api.client.http.get(path.format(token=token))
    assert answer.status_code == 404
    assert answer.json_body == {"error": {"code": "not_found", "message": "not found"}}


def test_pings_are_rate_limited_per_monitor(api: Api, alice: Persona) -> None:
    busy, calm = token_of(create(api, alice)), token_of(create(api, alice))
    codes = [api.client.http.get(f"/ping/{busy}").status_code for _ in range(40)]
    assert codes[:30] == [200] * 30 and 429 in codes[30:]
    limited = api.client.http.get(f"/ping/{busy}")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert api.client.http.get(f"/ping/{calm}").status_code == 200


def test_rotating_the_ping_url_retires_the_old_one(api: Api, alice: Persona) -> None:
    answer = create(api, alice)
    old, monitor_id = token_of(answer), answer.json_body["monitorId"]
    rotated = api.post(f"/monitors/{monitor_id}/ping-url", alice)
    assert rotated.status_code == 200, rotated.body
    new = rotated.json_body["pingUrl"].rsplit("/ping/", 1)[1]
    assert new != old
    assert api.client.http.get(f"/ping/{old}").status_code == 404
    assert api.client.http.get(f"/ping/{new}").status_code == 200


def test_it_edits_pauses_resumes_and_deletes(api: Api, alice: Persona) -> None:
    answer = create(api, alice, schedule={"every": 3600})
    token, monitor_id = token_of(answer), answer.json_body["monitorId"]
    api.client.http.get(f"/ping/{token}")
    edited = api.patch(f"/monitors/{monitor_id}", alice, {"monitor": {"grace": 900}})
    shown = edited.json_body["monitor"]
    assert shown["grace"] == 900 and shown["title"] == "backup"
    assert shown["downAt"] == shown["nextExpected"] + 900
    paused = api.post(f"/monitors/{monitor_id}/pause", alice).json_body["monitor"]
    assert paused["status"] == "paused" and paused["downAt"] is None
    resumed = api.post(f"/monitors/{monitor_id}/resume", alice).json_body["monitor"]
    assert resumed["status"] == "new"
    assert api.delete(f"/monitors/{monitor_id}", alice).status_code == 200
    assert api.get(f"/monitors/{monitor_id}", alice).status_code == 404
    assert api.client.http.get(f"/ping/{token}").status_code == 404


@pytest.mark.parametrize(
    ("monitor", "field", "message"),
    [
        ({"schedule": {"every": 59}}, "schedule.every", "between 60 and 31536000"),
        ({"schedule": {"every": 366 * 86400}}, "schedule.every", "between 60"),
        ({"schedule": {"every": "1h"}}, "schedule.every", "integer"),
        ({"grace": 10}, "grace", "between 60"),
        ({"grace": 400 * 86400}, "grace", "between 60"),
        ({"schedule": {"cron": "0 0 30 2 *"}}, "schedule", "never fires"),
        ({"schedule": {"at": "2030-01-01T00:00:00Z"}}, "schedule.at", "must repeat"),
        ({"schedule": {"cron": "* * * * *", "expiresAt": 1}}, "schedule.expiresAt", "expire"),
        ({"schedule": {"timing": {"years": [2030]}}}, "schedule.timing", "years"),
        ({"schedule": {"cron": "0 * * * *", "timezone": "UTC"}}, "schedule.timezone", "its"),
        (
            {"schedule": {"hours": [], "mdays": [], "minutes": [], "months": [], "wdays": []}},
            "schedule",
            "must repeat",
        ),
        ({"schedule": {"cron": "61 * * * *"}}, "schedule.cron", ""),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({"folderId": 7}, "folderId", "no such folder"),
        ({"notification": {"onFailure": True}}, "notification.onFailure", "unknown field"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"title": "a\nb"}, "title", "one line"),
    ],
)
def test_it_rejects_a_bad_monitor_naming_the_field(
    api: Api, alice: Persona, monitor: dict[str, Any], field: str, message: str
) -> None:
    answer = create(api, alice, **monitor)
    assert answer.status_code == 400
    error = answer.json_body["error"]
    assert error["field"] == field and message in error["message"]
    assert api.get("/monitors", alice).json_body["monitors"] == []


def test_a_bad_edit_changes_nothing(api: Api, alice: Persona) -> None:
    monitor_id = create(api, alice, grace=300).json_body["monitorId"]
    answer = api.patch(f"/monitors/{monitor_id}", alice, {"monitor": {"grace": 1, "title": "x"}})
    assert answer.status_code == 400 and answer.json_body["error"]["field"] == "grace"
    shown = api.get(f"/monitors/{monitor_id}", alice).json_body["monitor"]
    assert shown["grace"] == 300 and shown["title"] == "backup"


def test_another_account_sees_no_monitor_of_alice(api: Api, alice: Persona, bob: Persona) -> None:
    monitor_id = create(api, alice).json_body["monitorId"]
    for method, path in [
        ("GET", f"/monitors/{monitor_id}"),
        ("PATCH", f"/monitors/{monitor_id}"),
        ("DELETE", f"/monitors/{monitor_id}"),
        ("POST", f"/monitors/{monitor_id}/pause"),
        ("POST", f"/monitors/{monitor_id}/ping-url"),
        ("GET", f"/monitors/{monitor_id}/pings"),
    ]:
        answer = api.call(method, path, bob, {"monitor": {"title": "mine"}})
        assert answer.status_code == 404, (method, path)
    assert api.get("/monitors", bob).json_body["monitors"] == []


def test_a_read_only_key_lists_but_cannot_create(api: Api, alice: Persona, carol: Persona) -> None:
    create(api, alice)
    assert len(api.get("/monitors", carol).json_body["monitors"]) == 1
    assert create(api, carol).status_code == 403


def test_a_ping_body_over_the_request_cap_is_refused_and_not_recorded(
    api: Api, alice: Persona
) -> None:
    answer = create(api, alice)
    token, monitor_id = token_of(answer), answer.json_body["monitorId"]
    refused = api.client.http.post(f"/ping/{token}", body=b"x" * (300 * 1024))
    assert refused.status_code == 413
    assert api.get(f"/monitors/{monitor_id}/pings", alice).json_body["pings"] == []


def test_a_head_ping_answers_without_a_body_errors_too(api: Api, alice: Persona) -> None:
    token = token_of(create(api, alice))
    ok = api.client.http.head(f"/ping/{token}")
    missing = api.client.http.head("/ping/nope")
    assert (ok.status_code, ok.body) == (200, b"")
    assert (missing.status_code, missing.body) == (404, b"")


def test_a_ping_after_the_grace_but_before_the_tick_sends_no_up(beats: Heartbeats) -> None:
    monitor, token = hourly(beats)
    beats.ping(token)
    beats.clock.now += 3600 + 300 + 10  # down by the rules; the tick has not looked yet
    assert (
        monitors.status(beats.monitors.get("acct", monitor.monitor_id), beats.clock.now) == "down"
    )
    beats.ping(token)
    beats.tick(5)
    assert beats.sent.requests == []


def test_it_lists_monitors_as_text_too(api: Api, alice: Persona) -> None:
    create(api, alice, title="nightly")
    answer = api.get("/monitors?format=text&columns=monitorId,title,status", alice)
    assert answer.status_code == 200
    assert answer.body.decode().splitlines()[1:] == ['"1","nightly","new"']


def test_it_mails_the_down_notice_where_an_address_is_set() -> None:
    from unittest.mock import Mock

    stores, clock = memory_stores(), Clock(T0)
    settings = Settings()
    Service(stores, settings, clock=clock).set_notification_settings(
        "acct", {"email": "ops@example.com"}
    )
    ses = Mock(spec=["send_email"])
    notifier = Notifier(stores, settings, ses=lambda: ses, clock=clock)
    beats = Heartbeats(Monitors(stores, notifier, clock), clock, Sent(), "")
    _, token = hourly(beats)
    beats.ping(token)
    beats.tick(70)
    (call,) = ses.send_email.call_args_list
    assert call.kwargs["Destination"] == {"ToAddresses": ["ops@example.com"]}
    assert call.kwargs["Message"]["Subject"]["Data"] == "[cronhook] Monitor backup is down"
