"""VisualCron's Web API at /VisualCron/{text|xml|json}/{method}: the reference's example URLs
(ids and tokens filled in), a client's session, and bad input answered in VisualCron's shape."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from typing import Any

from pytest_httpserver import HTTPServer

from tests.helpers import Api, Persona, body, new_job, queued_messages
from tests.test_runs_api import create, work_through_the_lambda
from tests.test_users_api import PASSWORD, add_user


def logon(api: Api, alice: Persona, name: str = "admin") -> str:
    assert add_user(api, alice, name).status_code == 201
    response = api.get(f"/visualcron/text/logon?username={name}&password={PASSWORD}")
    assert response.status_code == 200, response.body
    assert response.headers["Content-Type"].startswith("text/plain")
    return text_of(response)


def text_of(response: Any) -> str:
    return bytes(response.body).decode()


def rows(response: Any, delimiter: str = ",") -> list[list[str]]:
    assert response.status_code == 200, response.body
    return list(csv.reader(io.StringIO(text_of(response), newline=""), delimiter=delimiter))


def xml(response: Any) -> ET.Element:
    assert response.headers["Content-Type"].startswith("application/xml")
    return ET.fromstring(response.body)


# ---- the reference, as written --------------------------------------------------------------


def test_it_lists_jobs_in_the_three_outputs_of_the_reference(api: Api, alice: Persona) -> None:
    token = logon(api, alice)
    job_id = create(api, alice, title='Nightly <export> & "more"', notes="ERP")
    listed = rows(api.get(f"/visualcron/text/job/list?token={token}"))
    assert listed[0][:4] == ["Id", "Name", "Description", "Group"]
    assert listed[1][:3] == [str(job_id), 'Nightly <export> & "more"', "ERP"]
    jobs = xml(api.get(f"/visualcron/xml/job/list?token={token}"))
    assert jobs.tag == "Jobs" and [j.findtext("Id") for j in jobs.findall("Job")] == [str(job_id)]
    assert jobs.find("Job/Tasks/Task/TaskType").text == "HTTP"  # type: ignore[union-attr]
    answer = body(api.get(f"/visualcron/json/job/list?token={token}"))
    assert answer[0]["Id"] == job_id and answer[0]["Name"].startswith("Nightly")
    assert answer[0]["Active"] is True and answer[0]["Stats"]["Active"] is True
    assert answer[0]["Result"] == "Unknown" and answer[0]["NextRun"].endswith("+00:00")


def test_it_chooses_columns_as_the_reference_shows(api: Api, alice: Persona) -> None:
    token = logon(api, alice)
    job_id = create(api, alice, title="one")
    create(api, alice, title="two")
    url = f"/visualcron/text/job/List?id={job_id}&token={token}&columns=id,name,runmissed,tasks"
    listed = rows(api.get(url))
    assert listed[0] == ["Id", "Name", "RunMissed", "Tasks"]
    assert listed[1][:3] == [str(job_id), "one", "false"] and len(listed) == 2
    assert json.loads(listed[1][3])[0]["Url"] == "https://example.com/hook"
    bare = rows(api.get(url + "&includeheaders=false"))
    assert bare == listed[1:]


def test_it_takes_the_separator_qualifier_and_line_break_of_the_reference(
    api: Api, alice: Persona
) -> None:
    token = logon(api, alice)
    job_id = create(api, alice, title="a;b")
    # The reference prints `token=[token]=59`: its `&fieldSeparator` is lost in the page.
    url = (
        f"/visualcron/text/job/List?id={job_id}&token={token}&fieldSeparator=59"
        "&textQualifier=34&lineBreak=10&columns=Id,Name"
    )
    response = api.get(url)
    assert text_of(response) == f'"Id";"Name"\n"{job_id}";"a;b"\n'
    assert rows(response, ";") == [["Id", "Name"], [str(job_id), "a;b"]]


def test_it_logs_on_and_calls_with_the_user_and_password_instead(api: Api, alice: Persona) -> None:
    token = logon(api, alice)
    assert token.startswith("chs_") and "\n" not in token
    create(api, alice, title="one")
    listed = rows(api.get(f"/visualcron/text/job/List?token={token}"))
    assert listed[1][1] == "one"
    direct = rows(api.get(f"/visualcron/text/job/List?username=admin&password={PASSWORD}"))
    assert direct[1][1] == "one"
    logged = body(api.get(f"/VisualCron/json/logon?username=admin&password={PASSWORD}"))
    assert logged["Token"].startswith("chs_") and logged["Expires"]
    assert xml(api.get(f"/VisualCron/XML/Logon?username=admin&password={PASSWORD}")).findtext(
        "Token"
    )


# ---- a client's session ---------------------------------------------------------------------


def test_it_serves_a_clients_whole_session(
    api: Api, alice: Persona, settings: Any, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    token = logon(api, alice)
    job_id = create(api, alice, title="export", url=httpserver.url_for("/hook"))
    found = body(api.get(f"/VisualCron/json/Job/GetByName?token={token}&name=export"))
    assert found["Id"] == job_id
    got = xml(api.get(f"/VisualCron/xml/Job/Get?token={token}&id={job_id}"))
    assert got.tag == "Job" and got.findtext("Name") == "export"
    queued_messages(settings)  # what saving the job queued, if anything

    ran = body(api.get(f"/VisualCron/json/Job/Run?token={token}&id={job_id}"))
    assert ran["Result"] == "Success" and ran["Id"] == job_id and ran["RunId"]
    result = work_through_the_lambda(api, queued_messages(settings))
    assert result.payload["batchItemFailures"] == []
    after = body(api.get(f"/VisualCron/json/Job/Get?token={token}&id={job_id}"))
    assert after["Result"] == "Success" and after["LastRun"] and after["NoExecutes"] == 1
    assert after["Tasks"][0]["Stats"]["Result"] == "Success"
    history = body(api.get(f"/jobs/{job_id}/history", alice))["history"]
    assert [h["runId"] for h in history] == [ran["RunId"]]

    stopped = api.get(f"/VisualCron/json/Job/Stop?token={token}&id={job_id}")
    assert stopped.status_code == 409 and body(stopped)["Field"] == "id"

    off = body(api.get(f"/VisualCron/json/Job/Deactivate?token={token}&id={job_id}"))
    assert off["Active"] is False and off["ExecutionState"] == "Inactive"
    assert body(api.get(f"/jobs/{job_id}", alice))["jobDetails"]["enabled"] is False
    on = rows(api.get(f"/VisualCron/text/Job/Activate?token={token}&id={job_id}&columns=active"))
    assert on == [["Active"], ["true"]]
    assert api.get(f"/VisualCron/text/logoff?token={token}").status_code == 200
    assert api.get(f"/VisualCron/text/job/list?token={token}").status_code == 401


def test_it_stops_a_run_in_flight(api: Api, alice: Persona, settings: Any) -> None:
    token = logon(api, alice)
    job_id = create(api, alice, title="slow")
    queued_messages(settings)
    run_id = body(api.get(f"/VisualCron/json/Job/Run?token={token}&id={job_id}"))["RunId"]
    stopped = body(api.get(f"/VisualCron/json/Job/Stop?token={token}&id={job_id}"))
    assert stopped["Result"] == "Success" and stopped["RunId"] == run_id
    work_through_the_lambda(api, queued_messages(settings))
    assert body(api.get(f"/runs/{run_id}", alice))["run"]["state"] == "aborted"


def test_it_renews_the_token_at_each_call(api: Api, alice: Persona, stores: Any) -> None:
    from chalicelib.users import token_hash

    token = logon(api, alice)
    session = stores.users.get_session(token_hash(token))
    stores.users.renew_session(session.token_hash, session.expires_at - 3600)
    api.get(f"/visualcron/text/job/list?token={token}")
    assert stores.users.get_session(token_hash(token)).expires_at >= session.expires_at


def test_it_accepts_an_api_key_as_the_token(api: Api, alice: Persona) -> None:
    create(api, alice, title="one")
    assert body(api.get(f"/visualcron/json/job/list?token={alice.key}"))[0]["Name"] == "one"


# ---- bad input --------------------------------------------------------------------------------


def test_it_never_says_whether_the_user_exists(api: Api, alice: Persona) -> None:
    logon(api, alice)
    wrong = api.get("/visualcron/json/logon?username=admin&password=wrong-password")
    unknown = api.get("/visualcron/json/logon?username=nobody&password=wrong-password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.body == unknown.body
    assert body(wrong) == {"Result": "Error", "Message": "invalid user name, password or token"}
    bad = api.get("/visualcron/xml/job/list?token=chs_nothing")
    assert bad.status_code == 401 and xml(bad).findtext("Result") == "Error"
    assert text_of(api.get("/visualcron/text/job/list")).startswith("Error: ")


def test_it_names_an_unknown_column_and_lists_the_known(api: Api, alice: Persona) -> None:
    token = logon(api, alice)
    create(api, alice)
    for fmt in ("json", "xml", "text"):
        response = api.get(f"/visualcron/{fmt}/job/list?token={token}&columns=id,1st")
        assert response.status_code == 400
        text = xml(response).findtext("Message") or "" if fmt == "xml" else text_of(response)
        assert "columns" in text and "'1st'" in text and "NextRun" in text
    assert body(api.get(f"/visualcron/json/job/list?token={token}&columns=1st"))["Field"] == (
        "columns"
    )


def test_it_names_the_bad_field_and_writes_nothing(api: Api, alice: Persona) -> None:
    token = logon(api, alice)
    job_id = create(api, alice)
    cases = {
        f"/visualcron/json/job/get?token={token}": ("id", 400),
        f"/visualcron/json/job/get?token={token}&id=x": ("id", 400),
        f"/visualcron/json/job/activate?token={token}&id=999": ("id", 404),
        f"/visualcron/json/job/run?token={token}&id={job_id}&variables=a=1": ("variables", 400),
        f"/visualcron/json/job/list?token={token}&fieldSeparator=x": ("fieldSeparator", 400),
        f"/visualcron/json/job/list?token={token}&includeheaders=maybe": ("includeheaders", 400),
        f"/visualcron/json/job/nothing?token={token}": ("method", 404),
        f"/visualcron/yaml/job/list?token={token}": ("format", 404),
        "/visualcron/json/logon?username=admin": ("password", 400),
        f"/visualcron/json/logon?username=admin&password={PASSWORD}&expire=5": ("expire", 400),
    }
    for url, (field, status) in cases.items():
        response = api.get(url)
        assert response.status_code == status, (url, response.body)
        assert body(response)["Field"] == field, url
    malformed = api.call("POST", f"/visualcron/json/job/list?token={token}", None, raw=b"{not json")
    assert malformed.status_code == 400 and body(malformed)["Field"] == "body"
    assert body(api.get(f"/jobs/{job_id}", alice))["jobDetails"]["enabled"] is True
    assert body(api.get(f"/jobs/{job_id}/history", alice))["history"] == []


def test_it_writes_well_formed_xml_and_text_of_any_title(api: Api, alice: Persona) -> None:
    token = logon(api, alice)
    title = 'x\u0001<y> & "z"\r\n=1+1'
    response = api.put("/jobs", alice, new_job(title=title))
    if response.status_code != 200:  # a title with a control character may be refused
        title = 'x<y> & "z" =1+1'
        create(api, alice, title=title)
    listed = xml(api.get(f"/visualcron/xml/job/list?token={token}&columns=Name"))
    assert listed.find("Job/Name") is not None
    text = rows(api.get(f"/visualcron/text/job/list?token={token}&columns=Name"))
    assert len(text) == 2


def test_it_keeps_other_accounts_jobs_apart(api: Api, alice: Persona, bob: Persona) -> None:
    token = logon(api, alice)
    theirs = create(api, bob)
    assert body(api.get(f"/visualcron/json/job/list?token={token}")) == []
    response = api.get(f"/visualcron/json/job/run?token={token}&id={theirs}")
    assert response.status_code == 404 and body(response)["Field"] == "id"


def test_it_takes_a_form_body_and_holds_a_user_to_its_scopes(api: Api, alice: Persona) -> None:
    assert add_user(api, alice, "viewer", ["read"]).status_code == 201
    job_id = create(api, alice)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    raw = f"username=viewer&password={PASSWORD}"
    token = text_of(api.call("POST", "/VisualCron/TEXT/LOGON", None, headers=form, raw=raw))
    got = api.call(
        "POST", "/VisualCron/json/job/get", None, headers=form, raw=f"token={token}&id={job_id}"
    )
    assert body(got)["Id"] == job_id
    refused = api.get(f"/VisualCron/json/job/run?token={token}&id={job_id}")
    assert refused.status_code == 403 and body(refused)["Result"] == "Error"
    assert body(api.get(f"/jobs/{job_id}/history", alice))["history"] == []


def test_the_path_is_visualcron_in_any_case_and_nothing_else(api: Any, alice: Any) -> None:
    for product in ("VISUALCRON", "Visualcron", "visualCron"):
        answer = api.get(f"/{product}/JSON/Job/List?token={alice.key}")
        assert answer.status_code == 200, (product, answer.body)
    for path in ("/cronicle/json/job/list", "/jobs/1/nothing", "/x/json/logon"):
        missing = api.get(f"{path}?token={alice.key}")
        assert missing.status_code == 404, path
        assert body(missing)["error"] == {"code": "not_found", "message": "no such route or method"}
