"""Plain-English wording of a cron-like schedule via cron-descriptor (imported only when used)."""

from __future__ import annotations

from typing import Any

from chalicelib.schedule_fields import MACROS, Spec, quartz_text

_BOUNDS = {"minutes": (0, 59), "hours": (0, 23), "mdays": (1, 31), "days": (1, 31)}
_BOUNDS.update({"months": (1, 12), "wdays": (0, 6), "weekdays": (0, 6), "years": (1970, 2199)})


def field_text(values: list[int] | None, lo: int, hi: int, steps: bool = True) -> str:
    """A sorted list as cron field text: "*", "*/15", "1-5", "0,30". A step only from the
    field's first value: cron-descriptor words "5/15" minutes as "every 15 minutes" and weekdays
    1,3,5 as "every 2 days of the week", without saying where they start."""
    if values is None:
        return "*"
    if steps and len(values) > 2 and values[0] == lo:
        step = values[1] - values[0]
        if step > 1 and values == list(range(lo, hi + 1, step)):
            return f"*/{step}"
    runs: list[list[int]] = []
    for value in values:
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    return ",".join(
        f"{run[0]}-{run[-1]}" if len(run) > 2 else ",".join(map(str, run)) for run in runs
    )


def cron_text(kind: str, source: Any) -> tuple[str, bool]:
    """The expression cron-descriptor should read, and whether weekdays count from 0=Sunday."""
    if kind in ("cron", "quartz"):
        text = str(source)
        text = quartz_text(text) or MACROS.get(text.lower(), text)
        return text, kind == "cron"
    lists: dict[str, list[int] | None] = source
    if kind == "cronjob":
        keys = ("minutes", "hours", "mdays", "months", "wdays")
    else:
        keys = ("minutes", "hours", "days", "months", "weekdays")
    # Weekdays by name: "every 2 days of the week" says less than "Sunday, Tuesday, ...".
    fields = [field_text(lists[k], *_BOUNDS[k], steps=k != keys[-1]) for k in keys]
    if kind == "timing" and lists["years"] is not None:
        fields = ["0", *fields, field_text(lists["years"], *_BOUNDS["years"])]
    return " ".join(fields), True


def describe_spec(kind: str, spec: Spec, source: Any) -> str:
    """Describe a cron, quartz, cronjob or timing schedule, without the zone or expiry."""
    from cron_descriptor import (
        CasingTypeEnum,
        DescriptionTypeEnum,
        ExpressionDescriptor,
        Options,
    )

    text, zero_based = cron_text(kind, source)
    parts = text.split()
    dow_at = 4 if len(parts) == 5 else 5
    whole_week = False
    if len(spec.dow) == 7 and not (spec.dow_last or spec.dow_nth) and parts[dow_at] not in "*?":
        # Every weekday spelled out (`0-7`, `SUN-SAT`): cron-descriptor would say "Sunday
        # through Sunday". With Vixie's OR the day of month no longer narrows anything either.
        parts[dow_at] = "*"
        whole_week = True
        if spec.day_or:
            parts[dow_at - 2] = "*"
        text = " ".join(parts)
    options = Options(
        CasingTypeEnum.Sentence,
        day_of_week_start_index_zero=zero_based,
        use_24hour_time_format=True,
        locale_code="en_US",
    )
    try:
        descriptor = ExpressionDescriptor(text, options)
        if spec.dom_every or spec.dow_every or whole_week:
            return str(descriptor.get_description())
        # cron-descriptor words a restricted day of month with a restricted day of week as
        # Vixie's "or" for one weekday but not for a range ("on day 1, Monday through Friday");
        # Cronicle and cron-job.org (and Vixie after a "*/n" day of month) need both to match.
        parts = text.split()
        parts[2 if len(parts) == 5 else 3] = "*"
        weekdays = ExpressionDescriptor(" ".join(parts), options)
        dow = weekdays.get_description(DescriptionTypeEnum.DAYOFWEEK)
        if spec.day_or:
            dow = ", or " + dow.removeprefix(", ").removeprefix("only ")
        joined = "".join(
            [
                descriptor.get_description(DescriptionTypeEnum.TIMEOFDAY),
                descriptor.get_description(DescriptionTypeEnum.DAYOFMONTH),
                dow,
                descriptor.get_description(DescriptionTypeEnum.MONTH),
                descriptor.get_description(DescriptionTypeEnum.YEAR),
            ]
        )
        joined = descriptor.transform_verbosity(joined, use_verbose_format=False)
        return str(ExpressionDescriptor.transform_case(joined, CasingTypeEnum.Sentence))
    except Exception:
        # cron-descriptor has no words for a few valid corners; the expression still says it.
        return f"On the schedule '{text}'"
