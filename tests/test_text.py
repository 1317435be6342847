"""Titles and names are measured in characters as people count them, and folder titles are one
title however their accents were typed (Unicode NFC)."""

from __future__ import annotations

import pytest

from chalicelib import text
from tests.helpers import Api, Persona, body, new_job

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 7 code points
FLAG = "\U0001f1e9\U0001f1ea"  # DE: two regional indicators
E_ACUTE = "e\u0301"  # e + combining acute accent
CAFE_PRECOMPOSED = "Caf\u00e9"
CAFE_COMBINING = "Cafe\u0301"


@pytest.mark.parametrize(
    ("sample", "count"),
    [("abc", 3), (E_ACUTE, 1), (FAMILY, 1), (FLAG, 1), ("\u1100\u1161\u11a8", 1), ("a\r\nb", 3)],
)
def test_it_counts_user_perceived_characters(sample: str, count: int) -> None:
    assert text.characters(sample) == count


def test_it_takes_a_job_title_of_255_emoji_sequences(api: Api, alice: Persona) -> None:
    title = FAMILY * 255  # 1,785 code points
    response = api.put("/jobs", alice, new_job(title=title))
    assert response.status_code == 200, response.body
    job = body(api.get(f"/jobs/{body(response)['jobId']}", alice))["jobDetails"]
    assert job["title"] == title


def test_it_refuses_a_job_title_of_256_characters(api: Api, alice: Persona) -> None:
    response = api.put("/jobs", alice, new_job(title=E_ACUTE * 256))
    assert response.status_code == 400
    assert body(response)["error"] == {
        "code": "invalid_field",
        "field": "title",
        "message": "must be at most 255 characters",
    }


def test_it_refuses_a_title_swollen_with_combining_marks(api: Api, alice: Persona) -> None:
    response = api.put("/jobs", alice, new_job(title="a" + "\u0301" * 2100))
    assert response.status_code == 400
    error = body(response)["error"]
    assert error["field"] == "title" and "2040 code points" in error["message"]


def test_it_takes_a_folder_title_of_128_accented_letters(api: Api, alice: Persona) -> None:
    response = api.put("/folders", alice, {"folder": {"title": E_ACUTE * 128}})
    assert response.status_code == 200, response.body
    assert api.put("/folders", alice, {"folder": {"title": E_ACUTE * 129}}).status_code == 400


def test_it_takes_a_key_name_of_128_flags(api: Api, alice: Persona) -> None:
    response = api.post("/keys", alice, {"name": FLAG * 128})
    assert response.status_code == 201, response.body
    assert api.post("/keys", alice, {"name": FLAG * 129}).status_code == 400


def test_it_sees_cafe_typed_two_ways_as_one_folder_title(api: Api, alice: Persona) -> None:
    assert api.put("/folders", alice, {"folder": {"title": CAFE_PRECOMPOSED}}).status_code == 200
    response = api.put("/folders", alice, {"folder": {"title": CAFE_COMBINING}})
    assert response.status_code == 409
    assert len(body(api.get("/folders", alice))["folders"]) == 1


def test_it_refuses_renaming_a_folder_to_another_ones_title_typed_otherwise(
    api: Api, alice: Persona
) -> None:
    api.put("/folders", alice, {"folder": {"title": CAFE_COMBINING}})
    other = body(api.put("/folders", alice, {"folder": {"title": "Tea"}}))["folderId"]
    response = api.patch(f"/folders/{other}", alice, {"folder": {"title": CAFE_PRECOMPOSED}})
    assert response.status_code == 409


def test_it_lets_a_folder_keep_its_own_title_typed_otherwise(api: Api, alice: Persona) -> None:
    folder = body(api.put("/folders", alice, {"folder": {"title": CAFE_COMBINING}}))["folderId"]
    response = api.patch(f"/folders/{folder}", alice, {"folder": {"title": CAFE_PRECOMPOSED}})
    assert response.status_code == 200, response.body
