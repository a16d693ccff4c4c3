"""Fuzzing every POST endpoint of the monitor (hypothesis): never a 5xx, and a refused request
writes nothing (every table's row count is the same before and after)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from monitor_support import Ward

from crsscore.data.schema import ANALYTES, EVENTS
from crsscore.monitor.fhir import LOINC_TO_ANALYTE

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])

PIDS = ["FZ1", "FZ2"]
texts = st.text(max_size=12)
numbers = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=32),
                    st.integers(-10**6, 10**9), st.sampled_from([0, -1, 1e300, 38.5, 5.0]))
units = st.one_of(st.sampled_from(["mg/L", "mg/dL", "pg/mL", "C", "F", "10^9/L", "cells/uL",
                                   "g/dL", "%", "fraction", "mg/L FEU", "", "umol/L"]), texts)
analytes = st.one_of(st.sampled_from(sorted(ANALYTES)), texts)
junk = st.recursive(st.none() | st.booleans() | numbers | texts,
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(texts, c, max_size=3),
                    max_leaves=8)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def rowdict(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Rows whose fields are sometimes missing, sometimes junk, sometimes extra."""
    base = st.fixed_dictionaries({}, optional={k: st.one_of(v, junk) for k, v in fields.items()})
    extra = st.dictionaries(st.sampled_from(["foo", "patient_id", "value", "x"]), junk,
                            max_size=1)
    return st.builds(lambda a, b, use: {**a, **b} if use else a, base, extra,
                     st.integers(0, 9).map(lambda k: k == 0))


obs_rows = rowdict(day=numbers, analyte=analytes, value=numbers, unit=units,
                   patient_id=st.sampled_from(PIDS))
event_rows = rowdict(day=numbers, event=st.one_of(st.sampled_from(sorted(EVENTS)), texts),
                     value=maybe(numbers), unit=maybe(units),
                     detail=maybe(st.one_of(st.sampled_from(
                         ["norepinephrine", "fluids", "nasal_cannula", "crs"]), texts)))
patient_rows = rowdict(patient_id=st.one_of(st.sampled_from(["FZ3", "FZ4", "FZ1"]), texts),
                       infusion_date=st.one_of(st.sampled_from(["2024-01-01", "2024-13-40"]),
                                               texts),
                       age_years=numbers, sex=st.sampled_from(["F", "M", "X"]),
                       costim=st.sampled_from(["CD28", "4-1BB", "??"]),
                       mrd_baseline_pct=numbers, dose_cells_per_kg=numbers)


def body_of(key: str, rows: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    return st.one_of(st.fixed_dictionaries({key: st.lists(rows, min_size=0, max_size=4)}),
                     junk)


def fhir_obs() -> st.SearchStrategy[Any]:
    coding = st.fixed_dictionaries({
        "system": st.sampled_from(["http://loinc.org", "urn:x"]),
        "code": st.one_of(st.sampled_from(sorted(LOINC_TO_ANALYTE)), texts)})
    qty = st.fixed_dictionaries({"value": numbers}, optional={
        "system": st.just("http://unitsofmeasure.org"),
        "code": st.sampled_from(["mg/L", "mg/dL", "Cel", "[degF]", "pg/mL", "10*9/L", "x"]),
        "unit": units})
    good = st.fixed_dictionaries({
        "resourceType": st.just("Observation"), "status": st.sampled_from(["final", "bad"]),
        "code": st.fixed_dictionaries({"coding": st.lists(coding, min_size=1, max_size=2)}),
        "subject": st.fixed_dictionaries({"reference": st.sampled_from(
            ["Patient/FZ1", "Patient/FZ2", "Patient/none", "Group/1"])}),
    }, optional={
        "effectiveDateTime": st.sampled_from(["2024-01-03T10:00:00Z", "2024-01-03",
                                              "1999-01-01T00:00:00+02:00", "garbage"]),
        "valueQuantity": qty})
    return st.one_of(good, junk)


@pytest.fixture(scope="module")
def fward(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ward]:
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    w = Ward(url)
    r = w.post("/api/v1/patients", {"patients": [
        {"patient_id": p, "infusion_date": "2024-01-01"} for p in PIDS]})
    assert r.status_code == 200
    yield w
    w.close()


def check(w: Ward, path: str, body: Any, *, form: bool = False) -> None:
    before = w.counts()
    if form:
        r = w.client.post(path, data=body, follow_redirects=False)
    else:
        r = w.client.post(path, json=body, headers=w.headers)
    assert r.status_code < 500, (path, r.status_code, r.text[:300])
    if r.status_code != 200:
        assert w.counts() == before, (path, r.status_code)


@SETTINGS
@given(body=body_of("patients", patient_rows))
def test_fuzz_post_patients(fward: Ward, body: Any) -> None:
    check(fward, "/api/v1/patients", body)


@SETTINGS
@given(pid=st.sampled_from([*PIDS, "nobody", "a/b", "%00"]),
       body=body_of("observations", obs_rows))
def test_fuzz_post_observations(fward: Ward, pid: str, body: Any) -> None:
    check(fward, f"/api/v1/patients/{pid}/observations", body)


@SETTINGS
@given(pid=st.sampled_from([*PIDS, "nobody"]), body=body_of("events", event_rows))
def test_fuzz_post_events(fward: Ward, pid: str, body: Any) -> None:
    check(fward, f"/api/v1/patients/{pid}/events", body)


@SETTINGS
@given(body=fhir_obs())
def test_fuzz_fhir_observation(fward: Ward, body: Any) -> None:
    check(fward, "/fhir/Observation", body)


@SETTINGS
@given(body=st.one_of(
    st.fixed_dictionaries({"resourceType": st.just("Bundle"),
                           "type": st.sampled_from(["collection", "transaction", "x"]),
                           "entry": st.lists(st.fixed_dictionaries({"resource": fhir_obs()}),
                                             max_size=4)}), junk))
def test_fuzz_fhir_bundle(fward: Ward, body: Any) -> None:
    check(fward, "/fhir/Bundle", body)


@SETTINGS
@given(alert=st.one_of(st.integers(-5, 2**40), texts))
def test_fuzz_ack(fward: Ward, alert: Any) -> None:
    check(fward, f"/api/v1/alerts/{quote(str(alert), safe='')}/ack", None)


@SETTINGS
@given(form=st.dictionaries(st.sampled_from(["token", "csrf", "back", "x"]), texts,
                            max_size=3),
       path=st.sampled_from(["/login", "/logout", "/ward/alerts/1/ack", "/ward/alerts/x/ack"]))
def test_fuzz_page_forms(fward: Ward, form: dict[str, str], path: str) -> None:
    check(fward, path, form, form=True)
