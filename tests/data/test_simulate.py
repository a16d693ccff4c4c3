"""The simulated cohort: targets, reproducibility, units, associations and raw events."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crsscore.data.cohort import Cohort
from crsscore.data.schema import (
    ANALYTES,
    EVENT_COLUMNS,
    EVENTS,
    OBSERVATION_COLUMNS,
    PATIENT_COLUMNS,
)
from crsscore.data.simulate import (
    MRD_FLOOR,
    Simulation,
    SimulationOptions,
    simulate,
    simulate_batch,
    simulate_cohort,
    write_cohort,
)
from crsscore.grading import grade_cohort
from crsscore.units import canonical_unit

N_COHORTS = 200
N = 125
#: The analytes listed in the cohort format (shared/specs/cohort-format.md).
FORMAT_ANALYTES = ("anc", "wbc", "alc", "hb", "plt", "crp", "ferritin", "il6", "ifng", "il10",
                   "mcp1", "ldh", "creatinine", "aptt", "pt", "fibrinogen", "ddimer", "albumin",
                   "temp", "sbp", "spo2")


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(N, seed=1)


@pytest.fixture(scope="module")
def big() -> Simulation:
    return simulate(6000, seed=11)


def _nearest(cohort: Cohort, analyte: str, day: float, window: float = 1.0) -> pd.Series:
    o = cohort.observations
    o = o[(o["analyte"] == analyte) & ((o["day"] - day).abs() <= window)]
    o = o.assign(dist=(o["day"] - day).abs()).sort_values(["patient_id", "dist", "day"])
    return o.drop_duplicates("patient_id").set_index("patient_id")["value"]


# ---------------------------------------------------------------------------- targets


def test_derived_rates_over_200_cohorts_match_the_study() -> None:
    """Acceptance: raw data -> ASTCT grade (grading engine) -> outcome, 200 seeds of n = 125.

    The 200 cohorts are simulated in one vectorised call and graded in one call; cohort
    ``seed`` is exactly ``simulate_cohort(125, seed)`` apart from the ids (checked below).
    The centre's recorded grades are left out: the grade is derived from raw data only.
    """
    sims = simulate_batch(N, list(range(N_COHORTS)))
    c = sims.cohort
    raw_events = c.events[~c.events["event"].isin(["crs_grade_recorded",
                                                   "icans_grade_recorded"])]
    raw = Cohort(patients=c.patients, observations=c.observations, events=raw_events,
                 synthetic=True)
    out = grade_cohort(raw, system="astct").outcomes
    assert (out["grade_source"] == "derived").mean() > 0.95
    out = out.merge(sims.truth[["patient_id", "seed"]], on="patient_id", validate="1:1")
    per = out.groupby("seed").agg(severe=("severe_crs", "mean"),
                                  anyc=("crs_max_grade", lambda g: (g >= 1).mean()))
    assert len(per) == N_COHORTS
    assert abs(per["severe"].mean() - 0.136) <= 0.015
    assert abs(per["anyc"].mean() - 0.672) <= 0.03
    # varies by seed like a binomial with n = 125 (sd ~ 3 points), not frozen
    assert 0.015 < per["severe"].std() < 0.05
    # the derived grades are exactly the grades the generator intended
    truth = sims.truth.set_index("patient_id")
    derived = out.set_index("patient_id").reindex(truth.index)
    for col in ("crs_max_grade", "severe_crs", "crs_onset_day", "crs_severe_onset_day"):
        np.testing.assert_array_equal(derived[col].astype("float64").to_numpy(na_value=np.nan),
                                      truth[col].astype("float64").to_numpy(), err_msg=col)


@pytest.mark.parametrize("seed", [0, 7])
def test_batch_cohorts_are_the_single_cohorts(seed: int) -> None:
    batch = simulate_batch(40, [3, seed, 11]).cohort
    single = simulate_cohort(40, seed=seed)
    for name in ("patients", "observations", "events"):
        frame = getattr(batch, name)
        frame = frame[frame["patient_id"].str.startswith(f"S{seed}-")].reset_index(drop=True)
        frame = frame.assign(patient_id=frame["patient_id"].str.slice(len(f"S{seed}-")))
        pd.testing.assert_frame_equal(frame, getattr(single, name))
    with pytest.raises(ValueError, match="distinct seeds"):
        simulate_batch(10, [1, 1])
    with pytest.raises(ValueError, match="at least one seed"):
        simulate_batch(10, [])


def test_derived_icans_grades_and_recorded_grades_agree(big: Simulation) -> None:
    res = grade_cohort(big.cohort)
    derived = res.outcomes.set_index("patient_id")["icans_max_grade"]
    truth = big.truth.set_index("patient_id")["icans_max_grade"]
    assessed = derived.notna()
    assert assessed.mean() > 0.4
    np.testing.assert_array_equal(derived[assessed].astype(int).to_numpy(),
                                  truth.reindex(derived.index)[assessed].to_numpy())
    assert (truth[~assessed.reindex(truth.index)] == 0).all()
    # the centre's recorded grades (crs/icans_grade_recorded) never contradict the raw data
    assert len(res.disagreements) == 0


def test_grade_distribution_and_rare_grade_5(big: Simulation) -> None:
    g = big.truth["crs_max_grade"]
    share = g.value_counts(normalize=True).reindex(range(6), fill_value=0.0)
    assert share[0] == pytest.approx(0.328, abs=0.03)
    assert share[5] < 0.02
    assert share[3] > share[4] > share[5]
    # grade 5 is a CRS death recorded as such
    deaths = big.cohort.events[big.cohort.events["event"] == "death"]
    crs_deaths = set(deaths.loc[deaths["detail"] == "crs", "patient_id"])
    assert crs_deaths == set(big.truth.loc[g == 5, "patient_id"])


def test_severe_onset_mostly_days_2_to_8_median_4_to_5(big: Simulation) -> None:
    onset = big.truth["crs_severe_onset_day"].dropna()
    assert 4.0 <= onset.median() <= 5.0
    assert ((onset >= 2) & (onset <= 8)).mean() > 0.85
    anyonset = big.truth["crs_onset_day"].dropna()
    assert anyonset.median() <= onset.median()


def test_severe_crs_associations_have_the_study_directions(big: Simulation) -> None:
    c = big.cohort
    sev = big.truth.set_index("patient_id")["severe_crs"]
    p = c.patients.set_index("patient_id")
    by = lambda s: s.groupby(sev.reindex(s.index)).median()  # noqa: E731
    mrd = by(np.log10(p["mrd_baseline_pct"].clip(lower=MRD_FLOOR)))
    assert mrd[1] > mrd[0] + 0.5
    post = by(np.log10(p["mrd_post_ld_pct"].clip(lower=MRD_FLOOR)))
    assert post[1] > post[0] + 0.5
    anc = by(_nearest(c, "anc", 7.0))
    assert anc[1] < anc[0]
    for code in ("crp", "ferritin", "il6", "aptt"):
        m = by(_nearest(c, code, 7.0))
        assert m[1] > m[0] * 1.1, code


def test_tocilizumab_lowers_crp_and_raises_il6(big: Simulation) -> None:
    ev = big.cohort.events
    toci = ev[ev["event"] == "tocilizumab"].groupby("patient_id")["day"].min()
    # patients given tocilizumab on day 2-3: compare day 7 with their peak before tocilizumab
    early = toci[(toci >= 2) & (toci < 4)].index
    crp3 = _nearest(big.cohort, "crp", 3.0, 0.5).reindex(early)
    crp7 = _nearest(big.cohort, "crp", 7.0, 0.5).reindex(early)
    il3 = _nearest(big.cohort, "il6", 3.0, 0.5).reindex(early)
    il5 = _nearest(big.cohort, "il6", 5.0, 0.5).reindex(early)
    assert (crp7 / crp3).median() < 1.0
    assert (il5 / il3).median() > 1.0


def test_tocilizumab_dose_is_8_mg_per_kg_capped_at_800(sim: Simulation) -> None:
    ev = sim.cohort.events
    toci = ev[ev["event"] == "tocilizumab"].drop_duplicates("patient_id").set_index("patient_id")
    w = sim.cohort.patients.set_index("patient_id")["weight_kg"].reindex(toci.index)
    assert np.allclose(toci["value"], np.minimum(8 * w, 800).round(), atol=0.5)
    assert (toci["unit"] == "mg").all()
    # given to every patient who reached grade >= 2
    g2 = set(sim.truth.loc[sim.truth["crs_max_grade"] >= 2, "patient_id"])
    assert g2 == set(toci.index)


def test_apparent_auc_of_the_study_model_is_near_the_published_one() -> None:
    """Seven study candidates, complete cases, maximum likelihood: apparent AUC ~0.85-0.90."""
    sm = pytest.importorskip("statsmodels.api")
    from sklearn.metrics import roc_auc_score

    sims = simulate_batch(N, list(range(16)))
    c = sims.cohort
    p = c.patients.set_index("patient_id")
    x = pd.DataFrame({
        "mb": np.log10(p["mrd_baseline_pct"].clip(lower=MRD_FLOOR)),
        "mp": np.log10(p["mrd_post_ld_pct"].clip(lower=MRD_FLOOR)),
        "anc": _nearest(c, "anc", 7.0),
        "crp": np.log10(_nearest(c, "crp", 7.0).clip(lower=0.5)),
        "fer": np.log10(_nearest(c, "ferritin", 7.0)),
        "il6": np.log10(_nearest(c, "il6", 7.0)),
        "aptt": _nearest(c, "aptt", 7.0),
    })
    truth = sims.truth.set_index("patient_id")
    aucs = []
    for _, ids in truth.groupby("seed").groups.items():
        xs = x.reindex(ids).dropna()
        y = truth.loc[xs.index, "severe_crs"]
        fit = sm.Logit(y, sm.add_constant(xs)).fit(disp=0, maxiter=100, warn_convergence=False)
        aucs.append(roc_auc_score(y, fit.predict()))
    assert 0.83 <= np.mean(aucs) <= 0.93
    # each marker alone discriminates less than the model
    alone = roc_auc_score(truth.loc[x.index, "severe_crs"], x["mb"])
    assert 0.6 < alone < np.mean(aucs)


# ---------------------------------------------------------------------------- format


def test_tables_follow_the_canonical_format(sim: Simulation) -> None:
    c = sim.cohort
    assert c.synthetic is True
    assert any("SYNTHETIC" in n for n in c.notes)
    assert list(c.patients.columns) == [k for k in PATIENT_COLUMNS if k in c.patients.columns]
    assert set(PATIENT_COLUMNS) - set(c.patients.columns) == set()
    assert (c.patients["synthetic"] == 1).all()
    assert c.patients["patient_id"].is_unique
    assert tuple(c.observations.columns) == OBSERVATION_COLUMNS
    assert tuple(c.events.columns) == EVENT_COLUMNS
    assert set(c.events["event"]) <= set(EVENTS)
    for event, allowed in EVENTS.items():
        if allowed is None or event == "death":
            continue
        details = set(c.events.loc[c.events["event"] == event, "detail"].dropna())
        assert details <= set(allowed), event


def test_patient_columns_within_schema_ranges(big: Simulation) -> None:
    p = big.cohort.patients
    for name, col in PATIENT_COLUMNS.items():
        if col.low is not None:
            assert p[name].min() >= col.low, name
        if col.high is not None:
            assert p[name].max() <= col.high, name
        if col.categories is not None:
            assert set(p[name]) <= set(col.categories), name
        if col.kind == "int01":
            assert set(p[name]) <= {0, 1}, name
    neg = (p["mrd_baseline_pct"] == 0).mean()
    assert 0.15 < neg < 0.25
    pos = p.loc[p["mrd_baseline_pct"] > 0, "mrd_baseline_pct"]
    assert pos.min() >= MRD_FLOOR
    assert 0.5 < pos.median() < 10
    assert (p["mrd_post_ld_pct"] == 0).mean() > neg


def test_observations_in_canonical_units_and_physiological_ranges(big: Simulation) -> None:
    o = big.cohort.observations
    assert set(FORMAT_ANALYTES) <= set(o["analyte"]) <= set(ANALYTES)
    stats = o.groupby("analyte")["value"].agg(["min", "max"])
    units = o.groupby("analyte")["unit"].unique()
    for code in FORMAT_ANALYTES:
        a = ANALYTES[code]
        assert list(units[code]) == [canonical_unit(code)], code
        assert a.low <= stats.loc[code, "min"] and stats.loc[code, "max"] <= a.high, code
    day = o["day"]
    assert day.min() >= -6 and day.max() < 29
    assert (day != day.round()).mean() > 0.9  # fractional days


def test_realistic_values(big: Simulation) -> None:
    o = big.cohort.observations
    base = o[(o["day"] < -3)]
    med = base.groupby("analyte")["value"].median()
    assert 30 <= med["aptt"] <= 36
    assert 1.0 <= med["anc"] <= 4.0
    assert 7.5 <= med["hb"] <= 12
    assert 2 <= med["crp"] <= 20
    d7 = o[(o["day"] - 7.3).abs() < 0.5].groupby("analyte")["value"].median()
    assert d7["anc"] < 0.5  # neutropenia after lymphodepletion
    assert o.loc[o["analyte"] == "crp", "value"].quantile(0.99) < 500
    temp = o[o["analyte"] == "temp"]["value"]
    assert temp.max() <= 41.5 and temp.min() >= 35.0


def test_labs_have_missing_values_and_out_of_window_draws(big: Simulation) -> None:
    o = big.cohort.observations
    crp = o[o["analyte"] == "crp"]
    near7 = ((crp["day"] - 7).abs() <= 1).groupby(crp["patient_id"]).any()
    share7 = near7.reindex(big.cohort.patients["patient_id"], fill_value=False).mean()
    assert 0.85 < share7 < 0.99
    # some draws lie 1-2.5 days away from their nominal day (outside a +-1 day window)
    far = (crp["day"] - 7).abs().between(1.0, 2.6)
    assert far.sum() > 0
    # cytokine panel only for some patients
    has_ifng = set(o.loc[o["analyte"] == "ifng", "patient_id"])
    assert 0.5 < len(has_ifng) / big.cohort.n_patients < 0.8


def test_no_observation_after_death(big: Simulation) -> None:
    death = big.truth.set_index("patient_id")["death_day"].dropna()
    assert len(death) > 0
    o = big.cohort.observations
    after = o["day"].to_numpy() > death.reindex(o["patient_id"]).to_numpy()
    assert not after.any()


def test_raw_events_follow_the_intended_daily_grade(big: Simulation) -> None:
    """Each intended grade is carried by the raw events a grading engine needs."""
    ev = big.cohort.events.assign(d=lambda e: np.floor(e["day"]).astype(int))
    daily = big.daily_frame()
    days3 = daily[daily["crs_grade"] == 3].set_index(["patient_id", "day"]).index
    days4 = daily[daily["crs_grade"] >= 4].set_index(["patient_id", "day"]).index
    vaso = ev[(ev["event"] == "vasopressor") & (ev["detail"] != "vasopressin")]
    n_vaso = vaso.groupby(["patient_id", "d"]).size()
    o2 = ev[ev["event"] == "oxygen"].set_index(["patient_id", "d"])["detail"]
    high = {"high_flow_nasal_cannula", "facemask", "non_rebreather", "venturi"}
    pp = {"cpap", "bipap", "mechanical_ventilation"}
    for key in days3[:300]:
        v = int(n_vaso.get(key, 0))
        dev = set(o2.loc[[key]]) if key in o2.index else set()
        assert v == 1 or dev & high, key
        assert v < 2 and not dev & pp, key
    for key in days4[:300]:
        v = int(n_vaso.get(key, 0))
        dev = set(o2.loc[[key]]) if key in o2.index else set()
        assert v >= 2 or dev & pp, key
    # no CRS: never a temperature >= 38
    temp = big.cohort.observations
    temp = temp[temp["analyte"] == "temp"]
    none = set(big.truth.loc[big.truth["crs_max_grade"] == 0, "patient_id"])
    assert temp.loc[temp["patient_id"].isin(none), "value"].max() < 38.0


# ---------------------------------------------------------------------------- reproducibility


def test_same_seed_same_tables_and_hash() -> None:
    a, b = simulate_cohort(60, seed=5), simulate_cohort(60, seed=5)
    for name in ("patients", "observations", "events"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert a.data_hash() == b.data_hash()
    c = simulate_cohort(60, seed=6)
    assert c.data_hash() != a.data_hash()


def test_options_change_the_rates_and_unknown_options_are_refused() -> None:
    t = simulate(3000, seed=2, severe_rate=0.30, any_crs_rate=0.80).truth
    assert t["severe_crs"].mean() == pytest.approx(0.30, abs=0.03)
    with pytest.raises(TypeError, match=r"unknown option.*sevre_rate"):
        simulate_cohort(10, sevre_rate=0.2)
    with pytest.raises(ValueError, match=r"'severe_rate' option .* must be in \[0, 1\]"):
        simulate_cohort(10, severe_rate=1.5)
    with pytest.raises(ValueError, match="grade5_rate <= severe_rate <= any_crs_rate"):
        simulate_cohort(10, severe_rate=0.9, any_crs_rate=0.5)
    with pytest.raises(ValueError, match=r"'n' parameter .* integer >= 1"):
        simulate_cohort(0)
    with pytest.raises(ValueError, match="'seed' parameter"):
        simulate_cohort(5, seed=-1)
    with pytest.raises(ValueError, match="mrd_negative_value"):
        SimulationOptions(mrd_negative_value=0.5)


def test_mrd_negative_value_option() -> None:
    p = simulate_cohort(400, seed=3, mrd_negative_value=MRD_FLOOR).patients
    assert p["mrd_baseline_pct"].min() == MRD_FLOOR


# ---------------------------------------------------------------------------- writing


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_cohort_round_trip(tmp_path, fmt: str) -> None:
    c = simulate_cohort(30, seed=4)
    paths = write_cohort(c, tmp_path, format=fmt)
    names = sorted(p.name for p in paths)
    assert names == sorted(["SYNTHETIC.txt", f"events.{fmt}", f"observations.{fmt}",
                            f"patients.{fmt}"])
    assert "SYNTHETIC" in (tmp_path / "SYNTHETIC.txt").read_text()
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    p = read(tmp_path / f"patients.{fmt}")
    assert (p["synthetic"] == 1).all() and len(p) == 30
    o = read(tmp_path / f"observations.{fmt}")
    assert len(o) == len(c.observations)
    np.testing.assert_allclose(o["value"].to_numpy(), c.observations["value"].to_numpy())
    with pytest.raises(ValueError, match="'format' parameter of write_cohort"):
        write_cohort(c, tmp_path, format="xlsx")  # type: ignore[arg-type]


def test_large_cohort_is_fast_enough() -> None:
    import time

    t = time.perf_counter()
    c = simulate_cohort(10_000, seed=1)
    assert time.perf_counter() - t < 15
    assert c.n_patients == 10_000 and c.patients["patient_id"].iloc[-1] == "SIM10000"


# ---------------------------------------------------------------------------- command line


def test_cli_simulate_writes_a_synthetic_folder(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from crsscore.cli import _register, app

    _register()
    out = tmp_path / "cohort"
    res = CliRunner().invoke(app, ["simulate", "--n", "40", "--seed", "3", "--out", str(out),
                                   "--format", "parquet", "--json", str(tmp_path / "s.json")])
    assert res.exit_code == 0, res.output
    assert "SYNTHETIC" in res.output and "40 patients" in res.output
    assert (out / "patients.parquet").exists() and (out / "SYNTHETIC.txt").exists()
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["synthetic"] is True and summary["n_patients"] == 40
    assert summary["data_hash"] == simulate_cohort(40, seed=3).data_hash()
    bad = CliRunner().invoke(app, ["simulate", "--out", str(out), "--format", "xlsx"])
    assert bad.exit_code != 0 and "csv or parquet" in bad.output
    assert "Traceback" not in bad.output


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 30), seed=st.integers(0, 2**32 - 1),
       severe=st.floats(0.0, 0.5), extra=st.floats(0.0, 0.5))
def test_any_size_seed_and_rates_give_valid_tables(n: int, seed: int, severe: float,
                                                   extra: float) -> None:
    s = simulate(n, seed, severe_rate=severe, any_crs_rate=min(1.0, severe + extra),
                 grade5_rate=0.0)
    c = s.cohort
    assert c.n_patients == n and c.patients["patient_id"].is_unique
    assert set(c.observations["patient_id"]) <= set(c.patients["patient_id"])
    assert set(c.events["patient_id"]) <= set(c.patients["patient_id"])
    assert c.observations["value"].notna().all() and c.observations["day"].notna().all()
    assert set(s.truth["crs_max_grade"]) <= {0, 1, 2, 3, 4}


def test_write_cohort_quotes_only_text_that_needs_it(tmp_path) -> None:
    c = simulate_cohort(5, seed=2)
    c.patients.loc[0, "product"] = 'brand, "x"'
    write_cohort(c, tmp_path)
    text = (tmp_path / "patients.csv").read_text()
    assert '"brand, ""x"""' in text
    assert pd.read_csv(tmp_path / "patients.csv")["product"].iloc[0] == 'brand, "x"'
    assert (tmp_path / "events.csv").read_text().startswith("patient_id,day,event,")
