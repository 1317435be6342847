"""docs/RELIABILITY.md is what scripts/reliability.py renders, for the suite as it is now.

The page ends with what it was rendered from (the run's figures, date and outcome, and a digest
of the hardening suite's test ids). Rendering those again must give the page byte for byte (the
renderer has not changed since), and the suite must still be the one that ran (no trial added,
renamed or removed since). Either failing means: run `python scripts/reliability.py`.
"""

from __future__ import annotations

import datetime

import pytest

from scripts import reliability

STALE = "docs/RELIABILITY.md is stale: run `python scripts/reliability.py` and commit the page"


def test_the_page_is_what_its_recorded_run_renders() -> None:
    text = reliability.DOC.read_text(encoding="utf-8")
    inputs = reliability.rendered_from(text)
    assert inputs is not None, STALE + " (it does not say what it was rendered from)"
    assert reliability.render_again(inputs) == text, STALE + " (the renderer changed)"


@pytest.mark.slow
def test_the_page_covers_every_trial_of_the_suite() -> None:
    inputs = reliability.rendered_from(reliability.DOC.read_text(encoding="utf-8"))
    assert inputs is not None, STALE
    ids = reliability.test_ids()
    assert len(ids) > 50  # collected, not an empty run
    assert inputs["tests"] == reliability.digest(ids), STALE + " (the suite's tests changed)"


def test_rendering_is_deterministic_and_round_trips() -> None:
    totals = {("batch", "poisoned message"): {"tried": 3, "lost": 0, "doubled": 0}}
    when = datetime.datetime(2026, 12, 7, 21, 17, tzinfo=datetime.UTC)
    gaps = [("tests/test_security.py::test_x", "not yet")]
    page = reliability.document(
        totals, gaps, when=when, seconds=135.2, summary="3 passed", tests="abc", cores=2
    )
    assert "Last run: 2026-12-07 21:17 UTC, 135 s on 2 cores" in page
    inputs = reliability.rendered_from(page)
    assert inputs is not None and reliability.render_again(inputs) == page
