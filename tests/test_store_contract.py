"""One contract, three stores: every test runs against DynamoDB (moto), SQLite and the in-memory
twin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib import runs
from chalicelib.crypto import LocalSealer
from chalicelib.errors import Conflict, ValidationError
from chalicelib.store.base import (
    ApiKey,
    JobRecord,
    Outcome,
    RunRecord,
    SessionRecord,
    Stores,
    Unchanged,
    UserRecord,
    edit_job,
)
from chalicelib.store.memory import MemoryRunStore, memory_stores
from chalicelib.store.sqlite import Database, sqlite_stores

pytestmark = pytest.mark.backend("moto")  # `stores` here is DynamoDB


@pytest.fixture(params=["dynamodb", "sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    if request.param == "memory":
        yield memory_stores()
    elif request.param == "sqlite":
        db = Database(tmp_path / "contract.db")
        yield sqlite_stores(db, sealer=LocalSealer(bytes(32)))
        db.close()
    else:
        yield request.getfixturevalue("stores")


def job(account: str = "alice", job_id: int = 1, **kw: Any) -> JobRecord:
    spec = {"enabled": True, "url": "https://example.com/", "title": "t"}
    spec.update(kw.pop("spec", {}))
    return JobRecord(account_id=account, job_id=job_id, spec=spec, **kw)


def test_it_creates_a_job_once(store: Stores) -> None:
    assert store.jobs.create(job())
    assert not store.jobs.create(job())


def test_it_reads_back_what_it_stored(store: Stores) -> None:
    original = job(
        next_run_at=1_800_000_000,
        secrets={"password": "pw"},
        ssl_cert_expiry=5,
        disabled_reason="too many failures",
        failure_streak=3,
    )
    store.jobs.create(original)
    assert store.jobs.get("alice", 1) == original


def test_it_returns_none_for_a_missing_job(store: Stores) -> None:
    assert store.jobs.get("alice", 404) is None


def test_it_keeps_accounts_apart(store: Stores) -> None:
    store.jobs.create(job("alice", 1))
    store.jobs.create(job("bob", 2))
    assert store.jobs.get("bob", 1) is None
    assert [j.job_id for j in store.jobs.list("alice")] == [1]
    assert not store.jobs.delete("bob", 1)


def test_it_lists_jobs_in_id_order(store: Stores) -> None:
    for job_id in (3, 1, 2):
        store.jobs.create(job(job_id=job_id))
    assert [j.job_id for j in store.jobs.list("alice")] == [1, 2, 3]


def test_it_replaces_only_the_expected_version(store: Stores) -> None:
    store.jobs.create(job())
    first = store.jobs.get("alice", 1)
    assert first is not None
    first.spec["title"] = "new"
    first.version = 2
    assert store.jobs.replace(first, expected_version=1)
    stale = job(spec={"title": "stale"}, version=2)
    assert not store.jobs.replace(stale, expected_version=1)
    stored = store.jobs.get("alice", 1)
    assert stored is not None and stored.spec["title"] == "new"


def test_it_hands_out_copies(store: Stores) -> None:
    store.jobs.create(job())
    got = store.jobs.get("alice", 1)
    assert got is not None
    got.spec["title"] = "changed in memory only"
    again = store.jobs.get("alice", 1)
    assert again is not None and again.spec["title"] == "t"


def test_it_deletes_a_job(store: Stores) -> None:
    store.jobs.create(job())
    assert store.jobs.delete("alice", 1)
    assert store.jobs.get("alice", 1) is None
    assert not store.jobs.delete("alice", 1)


def test_it_drops_next_run_of_a_disabled_job(store: Stores) -> None:
    store.jobs.create(job(spec={"enabled": False}, next_run_at=1_800_000_000))
    got = store.jobs.get("alice", 1)
    assert got is not None and not got.due


def test_an_edit_retries_a_lost_race_and_writes_once(store: Stores) -> None:
    store.jobs.create(job())
    calls: list[int] = []

    def change(current: JobRecord) -> str:
        calls.append(current.version)
        if len(calls) == 1:  # someone else writes between this read and its write
            other = store.jobs.get("alice", 1)
            assert other is not None
            other.spec = {**other.spec, "title": "theirs"}
            other.version += 1
            assert store.jobs.replace(other, other.version - 1)
        current.spec = {**current.spec, "note": "mine"}
        return "done"

    edited = edit_job(store.jobs, "alice", 1, change, 1_000, "conflict")
    assert edited is not None and edited[1] == "done" and calls == [1, 2]
    stored = store.jobs.get("alice", 1)
    assert stored is not None and stored.version == 3 and stored.updated_at == 1_000
    assert (stored.spec["title"], stored.spec["note"]) == ("theirs", "mine")


def test_an_edit_writes_nothing_when_unchanged_or_gone(store: Stores) -> None:
    store.jobs.create(job())

    def unchanged(current: JobRecord) -> None:
        raise Unchanged

    assert edit_job(store.jobs, "alice", 1, unchanged, 1_000, "conflict") is None
    assert edit_job(store.jobs, "alice", 2, lambda j: None, 1_000, "conflict") is None
    stored = store.jobs.get("alice", 1)
    assert stored is not None and stored.version == 1


def test_an_edit_that_always_loses_reports_a_conflict(store: Stores) -> None:
    store.jobs.create(job())

    def always_overtaken(current: JobRecord) -> None:
        other = store.jobs.get("alice", 1)
        assert other is not None
        other.version += 1
        store.jobs.replace(other, other.version - 1)

    with pytest.raises(Conflict, match="try again"):
        edit_job(store.jobs, "alice", 1, always_overtaken, 1_000, "changed meanwhile; try again")


def key(key_hash: str = "h1", key_id: str = "k1", account: str = "alice", **kw: Any) -> ApiKey:
    return ApiKey(key_hash=key_hash, key_id=key_id, account_id=account, scopes=["read"], **kw)


def test_it_finds_keys_by_hash_and_by_id(store: Stores) -> None:
    assert store.keys.create(key(rate_limit_per_s=2.5, ip_allowlist=["10.0.0.0/8"]))
    assert not store.keys.create(key())
    by_hash = store.keys.get_by_hash("h1")
    assert by_hash is not None and by_hash.rate_limit_per_s == 2.5
    assert store.keys.get_by_id("alice", "k1") == by_hash
    assert store.keys.get_by_id("bob", "k1") is None
    assert store.keys.get_by_hash("nope") is None


def test_it_lists_and_revokes_keys_per_account(store: Stores) -> None:
    store.keys.create(key("h1", "k1"))
    store.keys.create(key("h2", "k2"))
    store.keys.create(key("h3", "k3", account="bob"))
    assert [k.key_id for k in store.keys.list("alice")] == ["k1", "k2"]
    assert not store.keys.revoke("bob", "k1", 100)
    assert store.keys.revoke("alice", "k1", 100)
    revoked = store.keys.get_by_hash("h1")
    assert revoked is not None and revoked.revoked_at == 100
    assert store.keys.revoke("alice", "k1", 200)
    still = store.keys.get_by_hash("h1")
    assert still is not None and still.revoked_at == 100


def test_it_keeps_whether_a_key_is_strict(store: Stores) -> None:
    store.keys.create(key("h1", "k1", strict=True))
    store.keys.create(key("h2", "k2"))
    strict, lenient = store.keys.get_by_hash("h1"), store.keys.get_by_hash("h2")
    assert strict is not None and strict.strict is True
    assert lenient is not None and lenient.strict is False
    assert [k.strict for k in store.keys.list("alice")] == [True, False]


def test_it_adds_the_strict_column_to_a_database_made_before_it(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the keys table as the first schema made it
        conn.execute(
            "CREATE TABLE keys (key_hash TEXT PRIMARY KEY, key_id TEXT NOT NULL, "
            "account_id TEXT NOT NULL, name TEXT NOT NULL, scopes TEXT NOT NULL, "
            "ip_allowlist TEXT NOT NULL, created_at INTEGER NOT NULL, last_used_at INTEGER, "
            "revoked_at INTEGER, rate_limit_per_s REAL, rate_limit_burst REAL)"
        )
        conn.execute(
            "INSERT INTO keys VALUES ('h1', 'k1', 'alice', 'old', '[\"read\"]', '[]', 1, "
            "NULL, NULL, NULL, NULL)"
        )
    conn.close()
    for _ in range(2):  # opening again finds the column there
        db = Database(path)
        stores = sqlite_stores(db, sealer=LocalSealer(bytes(32)))
        old = stores.keys.get_by_hash("h1")
        assert old is not None and old.name == "old" and old.strict is False
        db.close()
    db = Database(path)
    stores = sqlite_stores(db, sealer=LocalSealer(bytes(32)))
    assert stores.keys.create(key("h2", "k2", strict=True))
    new = stores.keys.get_by_hash("h2")
    assert new is not None and new.strict is True
    db.close()


def test_it_records_when_a_key_was_used(store: Stores) -> None:
    store.keys.create(key())
    store.keys.touch("h1", 1234)
    store.keys.touch("missing", 1234)
    used = store.keys.get_by_hash("h1")
    assert used is not None and used.last_used_at == 1234
    assert store.keys.get_by_hash("missing") is None


def run(run_id: str, job_id: int = 1, account: str = "alice") -> RunRecord:
    return RunRecord(account, job_id, run_id, data={"status": 1}, expires_at=2_000_000_000)


def test_it_pages_a_jobs_runs_newest_first(store: Stores) -> None:
    for n in range(5):
        store.runs.put(run(f"r{n}"))
    store.runs.put(run("r9", job_id=2))
    first = store.runs.list_for_job("alice", 1, limit=2)
    assert [r.run_id for r in first.items] == ["r4", "r3"]
    second = store.runs.list_for_job("alice", 1, limit=2, cursor=first.cursor)
    assert [r.run_id for r in second.items] == ["r2", "r1"]
    last = store.runs.list_for_job("alice", 1, limit=2, cursor=second.cursor)
    assert [r.run_id for r in last.items] == ["r0"]
    assert last.cursor is None


def test_it_ends_a_full_last_page_without_a_cursor(store: Stores) -> None:
    for n in range(4):
        store.runs.put(run(f"r{n}"))
    page = store.runs.list_for_job("alice", 1, limit=2)
    page = store.runs.list_for_job("alice", 1, limit=2, cursor=page.cursor)
    assert [r.run_id for r in page.items] == ["r1", "r0"] and page.cursor is None


def test_it_lists_an_accounts_runs_across_its_jobs(store: Stores) -> None:
    for account, job_id in (("alice", 1), ("alice", 2), ("bob", 3)):
        store.jobs.create(job(account, job_id))
    store.runs.put(run("a1", job_id=1))
    store.runs.put(run("a2", job_id=2))
    store.runs.put(run("b1", job_id=3, account="bob"))
    store.runs.put(run("gone", job_id=9))  # a deleted job's: the caller names those that exist
    assert store.jobs.ids("alice") == [1, 2] and store.jobs.ids("carol") == []
    page = store.runs.list_for_account("alice", store.jobs.ids("alice"), limit=10)
    assert [r.run_id for r in page.items] == ["a2", "a1"] and page.cursor is None
    assert store.runs.get("alice", 2, "a2") == run("a2", job_id=2)
    assert store.runs.get("bob", 2, "a2") is None


def test_it_pages_an_accounts_runs_newest_first_across_jobs(store: Stores) -> None:
    # A busy job and two quiet ones: the merge reads more of a job only when it has used up
    # what it read of it, and every page follows on from the last.
    t = 1_795_435_260
    expected = []
    for job_id, count in ((1, 30), (2, 3), (3, 1)):
        store.jobs.create(job("alice", job_id))
        for n in range(count):
            run_id = runs.run_id(job_id, t + n * 60 + job_id)
            store.runs.put(run(run_id, job_id=job_id))
            expected.append(run_id)
    expected.sort(reverse=True)
    seen, cursor, pages = [], None, 0
    while True:
        page = store.runs.list_for_account("alice", [1, 2, 3], limit=7, cursor=cursor)
        seen.extend(r.run_id for r in page.items)
        pages += 1
        if page.cursor is None:
            break
        cursor = page.cursor
    assert seen == expected and pages == 5
    only = store.runs.list_for_account("alice", [2], limit=50)
    assert [r.run_id for r in only.items] == [r for r in expected if r.split("-")[1] == "2"]
    if not isinstance(store.runs, MemoryRunStore):  # the twin takes any cursor as a run id
        with pytest.raises(ValidationError) as bad:
            store.runs.list_for_account("alice", [1, 2, 3], limit=7, cursor="bm90LWEtY3Vyc29y")
        assert bad.value.field == "cursor"


def test_it_lists_only_runs_planned_up_to_a_time(store: Stores) -> None:
    # History leaves out slots claimed ahead: ids start with the planned time in milliseconds.
    t = 1_795_435_260
    ids = [runs.run_id(1, t - 60), runs.run_id(1, t, 2), runs.run_id(1, t + 0.001)]
    ids.append(runs.run_id(1, t + 60))
    for run_id in ids:
        store.runs.put(run(run_id))
    page = store.runs.list_for_job("alice", 1, limit=1, planned_until=t)
    assert [r.run_id for r in page.items] == [ids[1]]
    rest = store.runs.list_for_job("alice", 1, limit=5, cursor=page.cursor, planned_until=t)
    assert [r.run_id for r in rest.items] == [ids[0]] and rest.cursor is None
    everything = store.runs.list_for_account("alice", [1], limit=10, planned_until=t + 60)
    assert [r.run_id for r in everything.items] == ids[::-1]
    assert len(store.runs.list_for_account("alice", [1], limit=10, planned_until=t).items) == 2
    below = store.runs.list_for_job("alice", 1, limit=5, before=ids[2], planned_until=t + 60)
    assert [r.run_id for r in below.items] == [ids[1], ids[0]]


def test_it_counts_ids_upwards(store: Stores) -> None:
    assert [store.state.next_id("job") for _ in range(3)] == [1, 2, 3]
    assert store.state.next_id("folder") == 1


def test_it_switches_the_scheduler_per_account(store: Stores) -> None:
    assert store.state.scheduler_enabled("alice")
    store.state.set_scheduler_enabled("alice", False)
    assert not store.state.scheduler_enabled("alice")
    assert store.state.scheduler_enabled("bob")


def test_it_allows_a_burst_then_refills_at_the_rate(store: Stores) -> None:
    now = 1000.0
    results = [store.state.take_token("k", rate=2, burst=3, now=now)[0] for _ in range(4)]
    assert results == [True, True, True, False]
    allowed, retry_after = store.state.take_token("k", rate=2, burst=3, now=now)
    assert not allowed and retry_after == pytest.approx(0.5)
    assert store.state.take_token("k", rate=2, burst=3, now=now + 0.5)[0]
    assert store.state.take_token("other", rate=2, burst=3, now=now)[0]


def test_it_lets_a_request_through_while_others_of_its_key_keep_cutting_in(stores: Any) -> None:
    """DynamoDB only: before each write of one request, another request of the same key writes
    the bucket. No read-modify-write, so the first is not refused for losing the race."""
    client = stores.state.table.meta.client
    cuts = {"left": 6, "inside": False}

    def cut_in(**kwargs: Any) -> None:  # a before-call handler that returned a value would stub
        if cuts["inside"] or not cuts["left"]:
            return
        cuts["inside"], cuts["left"] = True, cuts["left"] - 1
        try:
            later = 1000.0 + 0.001 * (6 - cuts["left"])  # each one a moment after the last
            assert stores.state.take_token("k", rate=100, burst=100, now=later)[0]
        finally:
            cuts["inside"] = False

    client.meta.events.register("before-call.dynamodb.UpdateItem", cut_in)
    try:
        assert [stores.state.take_token("k", 100, 100, 1000.0)[0] for _ in range(3)] == [True] * 3
    finally:
        client.meta.events.unregister("before-call.dynamodb.UpdateItem", cut_in)
    assert cuts["left"] <= 3  # each of the three was cut in on at least once


def test_it_saves_folders_with_optimistic_versions(store: Stores) -> None:
    assert store.state.folders("alice") == ({}, 0)
    assert store.state.put_folders("alice", {1: "Backups"}, expected_version=0)
    assert not store.state.put_folders("alice", {2: "Lost update"}, expected_version=0)
    folders, version = store.state.folders("alice")
    assert folders == {1: "Backups"} and version == 1
    assert store.state.folders("bob") == ({}, 0)


def test_it_finds_due_jobs_oldest_first_through_the_index(store: Stores) -> None:
    store.jobs.create(job(job_id=8, next_run_at=300))
    store.jobs.create(job(job_id=16, next_run_at=100))
    store.jobs.create(job(job_id=24, next_run_at=900))
    store.jobs.create(job(job_id=32, next_run_at=50, spec={"enabled": False}))
    store.jobs.create(job(job_id=9, next_run_at=10))
    assert store.jobs.due(0, until=300, limit=10) == [("alice", 16), ("alice", 8)]
    assert store.jobs.due(0, until=300, limit=1) == [("alice", 16)]
    assert store.jobs.due(1, until=300, limit=10) == [("alice", 9)]


def test_it_reads_many_jobs_at_once(store: Stores) -> None:
    for job_id in range(1, 120):
        store.jobs.create(job(job_id=job_id))
    keys = [("alice", j) for j in range(1, 120)] + [("alice", 500)]
    assert sorted(j.job_id for j in store.jobs.get_many(keys)) == list(range(1, 120))


def test_it_advances_a_job_once_per_slot(store: Stores) -> None:
    store.jobs.create(job(next_run_at=100))
    assert store.jobs.advance("alice", 1, slot=100, next_run_at=160, max_running=1) == "started"
    assert store.jobs.advance("alice", 1, slot=100, next_run_at=160, max_running=1) == "moved"
    got = store.jobs.get("alice", 1)
    assert got is not None and got.next_run_at == 160 and got.running == 1
    assert (got.version, got.state_version) == (1, 1)  # a claim is not an edit
    assert store.jobs.due(1, until=150, limit=10) == []


def test_it_claims_a_frequent_job_once_per_slot_while_it_stays_in_the_index(
    store: Stores,
) -> None:
    # A claim whose next slot falls in the next tick's window may leave the index key alone
    # (DynamoDB does: one write instead of three); the job still waits on the new slot.
    store.jobs.create(job(next_run_at=100))
    for slot in (100, 160, 220):
        assert store.jobs.due(1, until=slot + 59, limit=10) == [("alice", 1)]
        stay = slot + 119  # the next tick's window ends here
        assert store.jobs.advance("alice", 1, slot, slot + 60, 5, stay_until=stay) == "started"
        assert store.jobs.advance("alice", 1, slot, slot + 60, 5, stay_until=stay) == "moved"
        got = store.jobs.get("alice", 1)
        assert got is not None and got.next_run_at == slot + 60
    # A slot beyond the next window moves the job in the index again.
    store.jobs.advance("alice", 1, 280, 10_000, 5, stay_until=399)
    assert store.jobs.due(1, until=9_999, limit=10) == []
    assert store.jobs.due(1, until=10_000, limit=10) == [("alice", 1)]


def test_it_claims_a_job_stored_before_slots_were_kept_apart(stores: Stores) -> None:
    # Items written before `slot` existed hold their slot in the index key alone.
    stores.jobs.create(job(next_run_at=100))
    table = stores.jobs.table  # type: ignore[attr-defined]
    table.update_item(Key={"account_id": "alice", "job_id": -1}, UpdateExpression="REMOVE slot")
    got = stores.jobs.get("alice", 1)
    assert got is not None and got.next_run_at == 100
    assert stores.jobs.advance("alice", 1, 160, 220, 1) == "moved"
    assert stores.jobs.advance("alice", 1, 100, 160, 1, stay_until=200) == "started"
    got = stores.jobs.get("alice", 1)
    assert got is not None and got.next_run_at == 160


def test_it_moves_a_busy_job_on_without_counting_a_run(store: Stores) -> None:
    store.jobs.create(job(next_run_at=100))
    store.jobs.advance("alice", 1, slot=100, next_run_at=160, max_running=1)
    assert store.jobs.advance("alice", 1, slot=160, next_run_at=220, max_running=1) == "busy"
    got = store.jobs.get("alice", 1)
    assert got is not None and got.next_run_at == 220 and got.running == 1


def test_it_leaves_the_index_when_no_slot_follows(store: Stores) -> None:
    store.jobs.create(job(next_run_at=100))
    store.jobs.advance("alice", 1, slot=100, next_run_at=None, max_running=1)
    got = store.jobs.get("alice", 1)
    assert got is not None and got.next_run_at is None and not got.due
    assert store.jobs.due(1, until=10**10, limit=10) == []


def test_it_records_outcomes_and_failure_streaks(store: Stores) -> None:
    store.jobs.create(job(next_run_at=100))
    store.jobs.advance("alice", 1, slot=100, next_run_at=160, max_running=5)
    fields = {"status": 4, "duration_ms": 12, "executed_at": 101, "ssl_cert_expiry": None}
    first = store.jobs.record("alice", 1, ok=False, release=True, run_id="r1", **fields)
    second = store.jobs.record("alice", 1, ok=False, release=False, run_id="r2", **fields)
    assert (first, second) == (Outcome(1, 0), Outcome(2, 0))
    fine = store.jobs.record(
        "alice",
        1,
        ok=True,
        release=False,
        status=1,
        duration_ms=5,
        executed_at=200,
        ssl_cert_expiry=1_900_000_000,
        run_id="r3",
    )
    assert fine == Outcome(0, 0)
    got = store.jobs.get("alice", 1)
    assert got is not None
    assert (got.last_status, got.last_duration, got.last_execution) == (1, 5, 200)
    assert (got.success_count, got.failure_count, got.ssl_cert_expiry) == (1, 2, 1_900_000_000)
    assert store.jobs.record("alice", 404, ok=True, release=False, run_id="r", **fields) is None


def test_it_records_a_run_once_when_the_write_is_repeated(store: Stores) -> None:
    store.jobs.create(job(next_run_at=100))
    store.jobs.advance("alice", 1, slot=100, next_run_at=160, max_running=5)
    fields = {"status": 4, "duration_ms": 12, "executed_at": 101, "ssl_cert_expiry": None}
    first = store.jobs.record("alice", 1, ok=False, release=True, run_id="r1", **fields)
    again = store.jobs.record("alice", 1, ok=False, release=True, run_id="r1", **fields)
    assert first == again == Outcome(1, 0)
    got = store.jobs.get("alice", 1)
    assert got is not None and (got.failure_count, got.running) == (1, 0)


def test_it_releases_a_run_without_going_below_zero(store: Stores) -> None:
    store.jobs.create(job(next_run_at=100))
    store.jobs.advance("alice", 1, slot=100, next_run_at=160, max_running=5)
    store.jobs.release("alice", 1)
    store.jobs.release("alice", 1)
    got = store.jobs.get("alice", 1)
    assert got is not None and got.running == 0


def test_it_keeps_run_state_when_the_definition_is_replaced(store: Stores) -> None:
    store.jobs.create(job(next_run_at=100))
    edit = store.jobs.get("alice", 1)
    assert edit is not None
    store.jobs.advance("alice", 1, slot=100, next_run_at=160, max_running=5)
    store.jobs.record(
        "alice",
        1,
        ok=True,
        release=False,
        status=1,
        duration_ms=5,
        executed_at=150,
        ssl_cert_expiry=None,
        run_id="r1",
    )
    edit.spec["title"] = "edited"
    edit.version += 1
    # Read before the claim: writing it back would put next_run_at on the claimed slot.
    assert not store.jobs.replace(edit, expected_version=1)
    fresh = store.jobs.get("alice", 1)
    assert fresh is not None
    fresh.spec["title"] = "edited"
    expected, fresh.version = fresh.version, fresh.version + 1
    assert store.jobs.replace(fresh, expected_version=expected)
    got = store.jobs.get("alice", 1)
    assert got is not None and got.spec["title"] == "edited" and got.next_run_at == 160
    assert (got.running, got.success_count, got.last_execution) == (1, 1, 150)


def test_it_refuses_an_edit_based_on_a_stale_definition(store: Stores) -> None:
    store.jobs.create(job(next_run_at=100))
    first, second = store.jobs.get("alice", 1), store.jobs.get("alice", 1)
    assert first is not None and second is not None
    first.version = second.version = 2
    assert store.jobs.replace(first, expected_version=1)
    assert not store.jobs.replace(second, expected_version=1)


def test_it_claims_a_run_id_once(store: Stores) -> None:
    first = RunRecord("alice", 1, "r1", state="running", active_deadline=500, claim="tick-a")
    assert store.runs.create(first)
    assert not store.runs.create(RunRecord("alice", 1, "r1", state="queued", claim="tick-b"))
    assert not store.runs.create(RunRecord("alice", 1, "r1", state="queued"))
    got = store.runs.get("alice", 1, "r1")
    assert got is not None and got.state == "running" and got.claim == "tick-a"


def test_it_knows_its_own_claim_when_the_create_is_repeated(store: Stores) -> None:
    # The first create landed but its reply was lost; the retry finds the claimer's token.
    run = RunRecord("alice", 1, "r1", state="queued", active_deadline=500, claim="tick-a")
    assert store.runs.create(run)
    assert store.runs.create(run)


def test_it_moves_a_run_only_from_the_expected_state(store: Stores) -> None:
    store.runs.create(RunRecord("alice", 1, "r1", state="queued", active_deadline=500))
    running = RunRecord("alice", 1, "r1", state="running", active_deadline=600)
    assert store.runs.update(running, expected_state="queued")
    assert not store.runs.update(running, expected_state="queued")
    done = RunRecord("alice", 1, "r1", state="done", data={"status": 1})
    assert store.runs.update(done, expected_state="running")
    got = store.runs.get("alice", 1, "r1")
    assert got is not None and got.state == "done" and got.active_deadline is None


def test_it_files_runs_to_watch_by_the_minute_after_their_deadline(store: Stores) -> None:
    store.runs.watch([("alice", 8, "late", 100), ("bob#x", 9, "other", 119)], "tick-a")
    store.runs.watch([("alice", 16, "later", 120)], "tick-b")
    big = [("carol", n, f"r{n}", 150) for n in range(600)]  # more than one item holds
    store.runs.watch(big, "tick-c")
    assert sorted(store.runs.watched(2)) == [("alice", 8, "late", 100), ("bob#x", 9, "other", 119)]
    assert sorted(store.runs.watched(3)) == sorted([("alice", 16, "later", 120), *big])
    assert store.runs.watched(1) == [] and store.runs.watched(4) == []


def test_it_files_jobs_to_wake_by_shard_and_minute(store: Stores) -> None:
    store.runs.wake([("alice", 8, 0, 100), ("bob#x", 9, 1, 100)], "tick-a")
    store.runs.wake([("alice", 16, 0, 100), ("alice", 8, 0, 101)], "tick-b")
    many = [("carol", n, 2, 100) for n in range(900)]  # more than one item holds
    store.runs.wake(many, "tick-c")
    assert sorted(store.runs.woken(0, 100)) == [("alice", 8), ("alice", 16)]
    assert store.runs.woken(1, 100) == [("bob#x", 9)]
    assert sorted(store.runs.woken(2, 100)) == sorted((a, j) for a, j, _, _ in many)
    assert store.runs.woken(0, 101) == [("alice", 8)] and store.runs.woken(0, 99) == []
    store.jobs.create(job("alice", 8))
    assert store.runs.list_for_account("alice", [8], 10).items == []  # not runs


def test_it_notes_a_mark_once(store: Stores) -> None:
    # A queue message's mark: the first delivery takes it, a duplicate finds it taken.
    assert store.runs.mark("m-1", 2_000_000_000)
    assert not store.runs.mark("m-1", 2_000_000_000)
    assert store.runs.mark("m-2", 2_000_000_000)
    assert store.runs.list_for_account("alice", [1], 10).items == []  # marks are not runs


def test_it_keeps_watch_lists_out_of_the_account_history(store: Stores) -> None:
    store.runs.create(RunRecord("alice", 1, "r1", state="queued", active_deadline=500))
    store.runs.watch([("alice", 1, "r1", 500)], "tick-a")
    assert [r.run_id for r in store.runs.list_for_account("alice", [1], 10).items] == ["r1"]
    assert [r.run_id for r in store.runs.list_for_job("alice", 1, 10).items] == ["r1"]


def test_it_stores_small_values(store: Stores) -> None:
    assert store.state.get_value("settings#alice") is None
    store.state.put_value("settings#alice", {"url": "https://example.com/n", "n": 1.5})
    assert store.state.get_value("settings#alice") == {"url": "https://example.com/n", "n": 1.5}
    # Read at half the price (eventually, on DynamoDB): the same value once it has settled.
    assert store.state.get_value("settings#alice", consistent=False)["n"] == 1.5


def test_it_bounds_runs_in_flight(store: Stores) -> None:
    store.jobs.create(job())
    assert store.jobs.acquire("alice", 1, max_running=2)
    assert store.jobs.acquire("alice", 1, max_running=2)
    assert not store.jobs.acquire("alice", 1, max_running=2)
    store.jobs.release("alice", 1)
    assert store.jobs.acquire("alice", 1, max_running=2)
    assert not store.jobs.acquire("alice", 404, max_running=2)


def test_it_finds_no_job_zero(store: Stores) -> None:
    assert store.jobs.get("alice", 0) is None and not store.jobs.delete("alice", 0)


# ---- users and sessions ----------------------------------------------------------------------


def user(name: str = "ada", account: str = "alice", **kw: Any) -> UserRecord:
    return UserRecord(name, account, "$argon2id$hash-of-" + name, ["read"], 10, 10, **kw)


def session(token_hash: str = "a" * 64, name: str = "ada", expires_at: int = 100) -> SessionRecord:
    return SessionRecord(token_hash, name, "alice", 10, expires_at, 0)


def test_it_creates_a_user_name_once_across_accounts(store: Stores) -> None:
    assert store.users.create(user())
    assert not store.users.create(user(account="bob"))
    assert store.users.get("ada") == user()
    assert store.users.get("nobody") is None


def test_it_lists_an_accounts_users_by_name_and_apart_from_its_keys(store: Stores) -> None:
    for name in ("zoe", "ada"):
        store.users.create(user(name))
    store.users.create(user("bea", "bob"))
    store.keys.create(ApiKey("h" * 64, "k1", "alice"))
    assert [u.username for u in store.users.list("alice")] == ["ada", "zoe"]
    assert [k.key_id for k in store.keys.list("alice")] == ["k1"]


def test_it_changes_a_password_only_in_the_users_account(store: Stores) -> None:
    store.users.create(user())
    assert not store.users.set_password("bob", "ada", "other", 20)
    assert store.users.set_password("alice", "ada", "new", 20)
    found = store.users.get("ada")
    assert found is not None and (found.password_hash, found.password_changed_at) == ("new", 20)


def test_it_deletes_a_user_with_its_sessions(store: Stores) -> None:
    store.users.create(user())
    store.users.create_session(session("a" * 64))
    store.users.create_session(session("b" * 64))
    assert not store.users.delete("bob", "ada")
    assert store.users.delete("alice", "ada")
    assert store.users.get("ada") is None
    assert store.users.get_session("a" * 64) is None and store.users.get_session("b" * 64) is None
    assert not store.users.delete("alice", "ada")


def test_it_keeps_renews_and_ends_sessions(store: Stores) -> None:
    assert store.users.create_session(session())
    assert not store.users.create_session(session())
    store.users.renew_session("a" * 64, 500)
    found = store.users.get_session("a" * 64)
    assert found == session(expires_at=500)
    assert store.users.end_session("a" * 64)
    assert not store.users.end_session("a" * 64)
    store.users.renew_session("a" * 64, 900)  # gone: nothing comes back
    assert store.users.get_session("a" * 64) is None


def test_it_ends_every_session_of_one_user(store: Stores) -> None:
    store.users.create_session(session("a" * 64))
    store.users.create_session(session("b" * 64))
    store.users.create_session(session("c" * 64, name="zoe"))
    assert store.users.end_sessions("ada") == 2
    assert store.users.get_session("c" * 64) is not None


# ---- monitors -------------------------------------------------------------------------------


def monitor(account: str = "alice", monitor_id: int = 1, **kw: Any) -> Any:
    from chalicelib.store.base import MonitorRecord

    kw.setdefault("token_hash", f"hash-{account}-{monitor_id}")
    return MonitorRecord(account, monitor_id, spec={"title": "backup"}, **kw)


def ping(account: str = "alice", monitor_id: int = 1, n: int = 0) -> Any:
    from chalicelib.store.base import PingRecord

    return PingRecord(account, monitor_id, f"{1_800_000_000_000 + n:013d}-{n:08x}", {"n": n}, 5)


def test_it_creates_a_monitor_once_and_finds_it_by_its_token(store: Stores) -> None:
    original = monitor(status="up", last_ping=1_800_000_000.5, alert_at=1_800_000_900)
    assert store.monitors.create(original)
    assert not store.monitors.create(monitor())
    assert not store.monitors.create(monitor(monitor_id=2, token_hash=original.token_hash))
    assert store.monitors.get("alice", 1) == original
    assert store.monitors.by_token(original.token_hash) == original
    assert store.monitors.by_token("nothing") is None
    assert store.monitors.get("bob", 1) is None


def test_it_lists_an_accounts_monitors_in_id_order(store: Stores) -> None:
    for monitor_id in (3, 1, 2):
        store.monitors.create(monitor(monitor_id=monitor_id))
    store.monitors.create(monitor("bob", 4))
    assert [m.monitor_id for m in store.monitors.list("alice")] == [1, 2, 3]


def test_it_replaces_a_monitor_only_at_the_expected_version(store: Stores) -> None:
    store.monitors.create(monitor())
    changed = monitor(version=2, status="down")
    assert store.monitors.replace(changed, expected_version=1)
    assert not store.monitors.replace(monitor(version=2, status="up"), expected_version=1)
    found = store.monitors.get("alice", 1)
    assert found is not None and found.status == "down" and found.version == 2


def test_it_moves_the_token_when_a_replace_changes_it(store: Stores) -> None:
    store.monitors.create(monitor())
    store.monitors.create(monitor(monitor_id=2))
    rotated = monitor(version=2, token_hash="fresh")
    assert store.monitors.replace(rotated, expected_version=1)
    assert store.monitors.by_token("hash-alice-1") is None
    assert store.monitors.by_token("fresh") == rotated
    taken = monitor(version=3, token_hash="hash-alice-2")
    assert not store.monitors.replace(taken, expected_version=2)


def test_it_deletes_a_monitor_and_its_token(store: Stores) -> None:
    store.monitors.create(monitor())
    assert not store.monitors.delete("bob", 1)
    assert store.monitors.delete("alice", 1)
    assert store.monitors.get("alice", 1) is None
    assert store.monitors.by_token("hash-alice-1") is None
    assert not store.monitors.delete("alice", 1)


def test_it_finds_overdue_monitors_through_the_index_oldest_first(store: Stores) -> None:
    from chalicelib.store.base import MONITOR_SHARDS

    store.monitors.create(monitor(monitor_id=1, alert_at=300))
    store.monitors.create(monitor(monitor_id=1 + MONITOR_SHARDS, alert_at=100))
    store.monitors.create(monitor(monitor_id=1 + 2 * MONITOR_SHARDS, alert_at=900))
    store.monitors.create(monitor(monitor_id=1 + 3 * MONITOR_SHARDS))  # never alerts
    store.monitors.create(monitor("bob", 2, alert_at=50))  # another shard
    assert store.monitors.overdue(1, 500, 10) == [("alice", 9), ("alice", 1)]
    assert store.monitors.overdue(1, 500, 1) == [("alice", 9)]
    assert store.monitors.overdue(2, 500, 10) == [("bob", 2)]
    calm = monitor(version=2, alert_at=None)
    assert store.monitors.replace(calm, expected_version=1)
    assert store.monitors.overdue(1, 500, 10) == [("alice", 9)]


def test_it_pages_pings_newest_first(store: Stores) -> None:
    store.monitors.create(monitor())
    for n in range(5):
        store.monitors.add_ping(ping(n=n))
    store.monitors.add_ping(ping("bob", 1, 9))
    first = store.monitors.pings("alice", 1, 2, None)
    assert [p.data["n"] for p in first.items] == [4, 3]
    assert first.items[0].expires_at == 5
    second = store.monitors.pings("alice", 1, 2, first.cursor)
    third = store.monitors.pings("alice", 1, 2, second.cursor)
    assert [p.data["n"] for p in second.items + third.items] == [2, 1, 0]
    assert third.cursor is None


def test_it_rejects_a_pings_cursor_it_did_not_make(store: Stores) -> None:
    from chalicelib.errors import ValidationError

    with pytest.raises(ValidationError) as caught:
        store.monitors.pings("alice", 1, 2, "bm9wZQ")
    assert caught.value.field == "cursor"
