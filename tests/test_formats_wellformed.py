"""Text and XML listings stay well-formed whatever a job holds and whatever column is asked."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

from tests.helpers import Api, Persona, body, new_job

NASTY = "a\u0001b <&> \"q\" 'p' ,;\t\ufffe end"


def test_it_writes_well_formed_xml_for_any_title(api: Api, alice: Persona) -> None:
    api.put("/jobs", alice, new_job(title=NASTY))
    response = api.get("/jobs?format=xml&columns=title,jobId", alice)
    assert response.status_code == 200
    root = ET.fromstring(response.body)
    (item,) = list(root)
    assert [child.tag for child in item] == ["title", "jobId"]
    assert item[0].text == NASTY.replace("\u0001", "\ufffd").replace("\ufffe", "\ufffd")


def test_it_writes_delimited_text_a_csv_reader_reads_back(api: Api, alice: Persona) -> None:
    api.put("/jobs", alice, new_job(title=NASTY))
    response = api.get("/jobs?format=text&columns=title", alice)
    rows = list(csv.reader(io.StringIO(response.body.decode(), newline="")))
    assert rows == [["title"], [NASTY]]


def test_it_refuses_text_without_a_qualifier_when_a_value_would_split(
    api: Api, alice: Persona
) -> None:
    api.put("/jobs", alice, new_job(title="a,b"))
    response = api.get("/jobs?format=text&columns=title&textQualifier=0", alice)
    assert response.status_code == 400
    assert body(response)["error"]["field"] == "textQualifier"


def test_it_refuses_a_separator_equal_to_the_qualifier(api: Api, alice: Persona) -> None:
    response = api.get("/jobs?format=text&fieldSeparator=34", alice)
    assert response.status_code == 400
    assert body(response)["error"]["field"] == "fieldSeparator"
