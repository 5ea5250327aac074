"""Scenarios (``pksim_app.scenario``): every page's inputs round-trip through the URL's query
parameters and through a JSON scenario file; bad values and bad files give messages, never a
traceback. Runs the app with ``streamlit.testing.v1.AppTest`` (small populations).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pksim_app import scenario

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"

N = 100
PAGES = {"couple": None, "routes": "routes", "sweep": "sweep", "plan": "plan", "models": "models"}


def fresh(params: dict | None = None, page: str | None = None) -> AppTest:
    """A new session (like a new browser tab) opened with ``params`` in its URL."""
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["pop_n"] = N
    for k, v in (params or {}).items():
        at.query_params[k] = v
    if page:  # the URL's path: /routes?...
        at.switch_page(f"pksim_app/pages/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def url(at: AppTest) -> dict[str, str]:
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in dict(at.query_params).items()}


def refusals(at: AppTest) -> str:
    return "\n".join(e.value for e in at.error if "scenario" in e.value.lower())


def test_encode_gives_short_url_text():
    assert scenario.encode(82.0) == "82"
    assert scenario.encode(0.25) == "0.25"
    assert scenario.encode((45.0, 90.0)) == "45,90"
    assert scenario.encode(True) == "true"
    assert scenario.encode(["iv", "oral"]) == "iv,oral"


@pytest.mark.parametrize(
    "kind,raw,kw,expected",
    [
        ("number_input", "82", {"min_value": 20.0, "max_value": 300.0}, 82.0),
        ("number_input", "7", {"min_value": 0, "max_value": 10, "step": 1}, 7),
        ("slider", "45,90", {"min_value": 0, "max_value": 240, "value": (45, 90)}, (45, 90)),
        ("checkbox", "false", {}, False),
        ("selectbox", "male", {"options": ["female", "male"]}, "male"),
        ("selectbox", "60", {"options": [10.0, 60.0]}, 60.0),
        ("multiselect", "iv,oral", {"options": ["iv", "oral", "sublingual"]}, ["iv", "oral"]),
    ],
)
def test_coerce_accepts_what_the_widget_accepts(kind, raw, kw, expected):
    got = scenario.coerce(kind, raw, "label", (), kw, "k")
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    "kind,raw,kw,message",
    [
        (
            "number_input",
            "500",
            {"min_value": 20.0, "max_value": 300.0},
            "outside the allowed range",
        ),
        ("number_input", "nan", {"min_value": 20.0, "max_value": 300.0}, "finite"),
        ("number_input", "heavy", {"min_value": 20.0, "max_value": 300.0}, "expected a number"),
        ("number_input", "7.5", {"min_value": 0, "max_value": 10, "step": 1}, "whole number"),
        ("slider", "90,45", {"min_value": 0, "max_value": 240, "value": (45, 90)}, "is after"),
        ("slider", "45", {"min_value": 0, "max_value": 240, "value": (45, 90)}, "two numbers"),
        ("checkbox", "maybe", {}, "true or false"),
        ("selectbox", "intrathecal", {"options": ["iv", "oral"]}, "not one of iv, oral"),
        ("multiselect", "iv,intrathecal", {"options": ["iv", "oral"]}, "not one of"),
    ],
)
def test_coerce_refuses_with_a_message(kind, raw, kw, message):
    with pytest.raises(scenario.ScenarioError, match=message):
        scenario.coerce(kind, raw, "label", (), kw, "k")


@pytest.mark.parametrize("page", list(PAGES))
def test_a_pages_url_reopens_the_same_scenario_in_a_new_session(page):
    """Change inputs, take the URL the page wrote, open it in a fresh session: same inputs."""
    at = fresh(page=PAGES[page])
    first = url(at)
    assert "model_id" in first and "t_end_min" in first
    at.number_input(key="t_end_min").set_value(300.0).run()
    if page == "couple":
        at.number_input(key="a_weight").set_value(91.0).run()
        at.selectbox(key="b_sex").set_value("male").run()
    elif page == "routes":
        at.number_input(key="rt_weight").set_value(55.0).run()
    elif page == "sweep":
        at.number_input(key="sw_dstep").set_value(30.0).run()
    elif page == "plan":
        at.selectbox(key="pl_p_sex").set_value("male").run()
    assert not at.exception, [e.value for e in at.exception]
    changed = url(at)
    assert changed != first and changed["t_end_min"] == "300"
    again = fresh(changed, PAGES[page])
    assert url(again) == changed
    assert not refusals(again)
    for key, text in changed.items():
        if not key.startswith(scenario.EDGE_PREFIX):
            assert scenario.encode(again.session_state[key]) == text, key


def test_bad_url_values_are_refused_with_messages_and_defaults_kept():
    at = fresh(
        {
            "a_weight": "900",
            "b_sex": "other",
            "a_d1_amount_mg": "abc",
            "nonsense": "1",
            "edge_window": "5000",
            "a_age": "44",
        }
    )
    text = refusals(at)
    for part in (
        "'a_weight': 900 is outside",
        "'b_sex': 'other' is not one of",
        "'a_d1_amount_mg': expected a number",
        "no such input on this page: nonsense",
        "band edges",
    ):
        assert part in text, text
    assert at.number_input(key="a_weight").value == 82.0  # default kept
    assert at.number_input(key="a_age").value == 44.0  # the good value still applies
    assert url(at)["a_weight"] == "82" and "edge_window" not in url(at)


def test_band_edges_travel_in_the_url():
    at = fresh({"edge_window": "60"})
    assert url(at)["edge_window"] == "60"
    assert "60–" in "\n".join(m.value for m in at.sidebar.markdown)


def test_scenario_file_round_trips():
    at = fresh(page="routes")
    at.number_input(key="rt_weight").set_value(58.0).run()
    at.selectbox(key="rt_sex").set_value("female").run()
    before = url(at)
    from pksim.model import load_model

    model = load_model("ketamine")
    inputs = {k: at.session_state[k] for k in before}
    data = scenario.to_json("routes", inputs, {"window": 55.0}, model)
    doc = json.loads(data)
    assert doc["schema"] == scenario.SCHEMA and doc["page"] == "routes"
    assert doc["model_sha256"] == model.sha256
    pending = scenario.parse_file(data, "routes")
    assert pending["edge_window"] == 55.0
    other = fresh(page="routes")
    assert url(other) != before
    other.session_state[scenario.PENDING_KEY] = pending
    other.session_state[scenario.EDGES_RESET_KEY] = True
    other.run()
    assert not refusals(other), refusals(other)
    assert url(other) == {**before, "edge_window": "55"}


@pytest.mark.parametrize(
    "payload,message",
    [
        (b"", "empty"),
        (b"{not json", "not a JSON document"),
        (b'{"schema": "something-else"}', "not a pksim scenario"),
        (
            json.dumps({"schema": scenario.SCHEMA, "page": "couple", "inputs": {}}).encode(),
            "for the page 'couple'",
        ),
        (
            json.dumps({"schema": scenario.SCHEMA, "page": "routes", "inputs": [1]}).encode(),
            "must be JSON objects",
        ),
        (
            json.dumps(
                {"schema": scenario.SCHEMA, "page": "routes", "inputs": {"rt_weight": {"x": 1}}}
            ).encode(),
            "must be numbers",
        ),
        (b"x" * (scenario.MAX_FILE_BYTES + 1), "larger than"),
    ],
)
def test_bad_scenario_files_are_refused(payload, message):
    with pytest.raises(scenario.ScenarioError, match=message):
        scenario.parse_file(payload, "routes")


def test_uploading_a_scenario_file_applies_it_or_says_why_not():
    at = fresh(page="routes")
    good = json.dumps(
        {
            "schema": scenario.SCHEMA,
            "page": "routes",
            "inputs": {"rt_weight": 61, "rt_sex": "female", "rt_w1": 999},
        }
    ).encode()
    at.file_uploader(key="scn_upload_routes").set_value(("s.json", good, "application/json"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key="rt_weight").value == 61.0
    assert at.selectbox(key="rt_sex").value == "female"
    assert "'rt_w1'" in refusals(at) or "rt_w1" in refusals(at)
    at.file_uploader(key="scn_upload_routes").set_value(
        ("bad.json", b"{oops", "application/json")
    ).run()
    assert not at.exception
    assert "not a JSON document" in refusals(at)


def test_inputs_no_longer_shown_leave_the_url():
    at = fresh()
    at.number_input(key="a_n_doses").set_value(2).run()
    assert "a_d2_amount_mg" in url(at)
    at.number_input(key="a_n_doses").set_value(1).run()
    assert "a_d2_amount_mg" not in url(at)
    again = fresh(url(at))
    assert not refusals(again)
