"""Tasks and their messages: what a tick hands to a thread or to the queue, how tasks are
packed into SQS messages and read back from them."""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.store.base import JobRecord, RunRecord

if TYPE_CHECKING:
    from chalicelib.dispatch.dispatcher import Dispatcher

log = logging.getLogger(__name__)

TASKS_PER_MESSAGE = 10  # tasks due the same second packed into one SQS message


@dataclass
class Task:
    """One unit of work for a thread or an SQS message: a job and its claimed run(s)."""

    job: JobRecord
    runs: list[RunRecord]
    counted: bool  # the job's in-flight counter already holds this task
    overrides: dict[str, Any] | None = None
    inline: bool = False  # run by the tick that claimed it: its runs are still `queued`
    marked: bool = False  # its message's mark was taken: no other delivery of it runs

    @property
    def deliver_at(self) -> float:
        return float(self.runs[0].data["deliverAt"])


@dataclass
class Batch:
    """What a worker invocation did: its report, the messages (by position) whose tasks failed
    and must come back, and their errors."""

    report: dict[str, int]
    failed: list[int]
    errors: list[Exception]


@dataclass(frozen=True)
class Entry:
    """One task as a message carries it: the runs by id, to be read back from the store."""

    account: str
    job: int
    runs: list[str]
    counted: bool
    overrides: dict[str, Any] | None
    message: int  # the position of its message in the batch
    mark: str = ""  # its message's mark ("" in messages sent before marks)


def enqueue(d: Dispatcher, tasks: Iterable[Task]) -> None:
    """Send tasks to the worker, up to TASKS_PER_MESSAGE of them in one message when they are
    due the same second: a worker invocation (10 messages) then runs up to 100."""
    now = d.clock()
    by_delay: dict[int, list[dict[str, Any]]] = {}
    for task in tasks:
        entry: dict[str, Any] = {
            "account": task.job.account_id,
            "job": task.job.job_id,
            "runs": [r.run_id for r in task.runs],
            "counted": task.counted,
        }
        if task.overrides:
            entry["overrides"] = task.overrides
        delay = int(max(0.0, task.deliver_at - now - d.settings.delivery_lead_s))
        by_delay.setdefault(delay, []).append(entry)
    # Each message carries a mark of its own, which the worker takes before it runs any of the
    # message's tasks: a duplicate delivery (SQS delivers at least once) finds it taken.
    messages = [
        (
            json.dumps(
                {"v": 2, "mark": uuid.uuid4().hex, "tasks": group[n : n + TASKS_PER_MESSAGE]}
            ),
            delay,
        )
        for delay, group in sorted(by_delay.items())
        for n in range(0, len(group), TASKS_PER_MESSAGE)
    ]
    d.queue.send(messages)


def entries(bodies: Sequence[str], report: Counter[str]) -> list[Entry]:
    """The tasks of a batch of message bodies; a malformed message is dropped whole (and
    counted), the others kept."""
    found: list[Entry] = []
    for number, body in enumerate(bodies):
        try:
            message = json.loads(body)
            # v1: one task, its fields on the message itself; v2: a list of tasks.
            tasks = message["tasks"] if message.get("v", 1) >= 2 else [message]
            mark = str(message.get("mark") or "")
            parsed = [  # the whole message or none of it
                Entry(
                    str(t["account"]),
                    int(t["job"]),
                    [str(r) for r in t["runs"]],
                    bool(t.get("counted")),
                    t.get("overrides"),
                    number,
                    mark,
                )
                for t in tasks
            ]
        except (ValueError, KeyError, TypeError, AttributeError):
            log.error("dropping a malformed dispatch message")
            report["malformed"] += 1
            continue
        found.extend(parsed)
    return found
