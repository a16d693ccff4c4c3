"""Loading cohorts: canonical folders, layouts, units, and every kind of unreadable input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crsscore.data.cohort import Cohort
from crsscore.data.io import load_cohort, read_cohort_tables
from crsscore.errors import DataError, MappingError, UnitError

PATIENTS = "patient_id,sex,age_years,mrd_baseline_pct,prior_hsct\nP1,F,30,2.5,0\nP2,M,41,0,1\n"


def _folder(tmp_path: Path, patients: str = PATIENTS, observations: str | None = None,
            events: str | None = None) -> Path:
    (tmp_path / "patients.csv").write_text(patients, encoding="utf-8")
    if observations is not None:
        (tmp_path / "observations.csv").write_text(observations, encoding="utf-8")
    if events is not None:
        (tmp_path / "events.csv").write_text(events, encoding="utf-8")
    return tmp_path


OBS_HEADER = "patient_id,day,analyte,value,unit\n"


@pytest.fixture(scope="module")
def simulated() -> Cohort:
    from crsscore.data.simulate import simulate_cohort

    return simulate_cohort(40, 3)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_canonical_folder_round_trip_is_exact(tmp_path: Path, simulated: Cohort,
                                              fmt: str) -> None:
    from crsscore.data.simulate import write_cohort

    write_cohort(simulated, tmp_path, format=fmt)  # type: ignore[arg-type]
    loaded = load_cohort(tmp_path)
    for table in ("patients", "observations", "events"):
        pd.testing.assert_frame_equal(getattr(loaded, table), getattr(simulated, table))
    assert loaded.synthetic is True
    assert loaded.data_hash() == simulated.data_hash()


def test_units_converted_to_canonical_with_the_canonical_unit(tmp_path: Path) -> None:
    obs = OBS_HEADER + ("P1,7,crp,5,mg/dL\nP1,7,hb,102,g/L\nP1,7,creatinine,88.42,µmol/l\n"
                        "P2,7,anc,1500,cells/uL\nP2,7.5,temp,101.3,F\nP2,0,hb,9,g/dL\n")
    cohort = load_cohort(_folder(tmp_path, observations=obs))
    got = {(r.patient_id, r.analyte): (r.value, r.unit)
           for r in cohort.observations.itertuples(index=False)}
    assert got[("P1", "crp")] == (50.0, "mg/L")
    assert got[("P1", "hb")] == pytest.approx((10.2, "g/dL"))
    assert got[("P1", "creatinine")][0] == pytest.approx(1.0, rel=1e-12)
    assert got[("P2", "anc")] == (1.5, "10^9/L")
    assert got[("P2", "temp")][0] == pytest.approx((101.3 - 32) * 5 / 9, rel=1e-12)
    assert list(cohort.observations["day"]) == [7.0, 7.0, 7.0, 7.0, 7.5, 0.0]
    assert any("hb" in n or "mixed_units" in n for n in cohort.notes)


def test_unknown_unit_refused_naming_row_column_and_value(tmp_path: Path) -> None:
    obs = OBS_HEADER + "P1,7,crp,5,mg/dL\nP1,8,crp,6,mg/100mL\nP2,8,crp,2,mg/100mL\n"
    with pytest.raises(UnitError, match=r"observations \(observations\.csv\) row 3, column "
                                        r"'unit'.*for crp; rows left out \(2 rows, first at row 3\).*'mg/100mL'"):
        load_cohort(_folder(tmp_path, observations=obs))


def test_ambiguous_and_missing_units_refused(tmp_path: Path) -> None:
    obs = OBS_HEADER + "P1,7,ddimer,1.2,mg/L\nP1,7,crp,5,\n"
    with pytest.raises(UnitError) as info:
        load_cohort(_folder(tmp_path, observations=obs))
    codes = {(p.code, p.row, p.column) for p in info.value.problems}
    assert codes == {("ambiguous_unit", 2, "unit"), ("missing_unit", 3, "unit")}
    assert "FEU" in str(info.value)


def test_mrd_as_fraction_through_a_mapping(tmp_path: Path) -> None:
    (tmp_path / "pat.csv").write_text("id,mrd\nA,0.052\nB,0.0003\n", encoding="utf-8")
    cohort = load_cohort(tmp_path / "pat.csv", mapping={
        "patients": {"columns": {"patient_id": "id", "mrd_baseline_pct": "mrd"},
                     "units": {"mrd_baseline_pct": "fraction"}}})
    np.testing.assert_allclose(cohort.patients["mrd_baseline_pct"], [5.2, 0.03], rtol=1e-12)


def test_mrd_fraction_above_one_is_out_of_range(tmp_path: Path) -> None:
    (tmp_path / "pat.csv").write_text("id,mrd\nA,0.5\nB,12\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"row 3, column 'mrd_baseline_pct'.*0 to 100 %"):
        load_cohort(tmp_path / "pat.csv", mapping={
            "patients": {"columns": {"patient_id": "id", "mrd_baseline_pct": "mrd"},
                         "units": {"mrd_baseline_pct": "fraction"}}})


def test_patient_day_layout_with_dates(tmp_path: Path) -> None:
    (tmp_path / "pat.csv").write_text("id,inf\nA,2022-03-01\nB,2022-04-10\n", encoding="utf-8")
    (tmp_path / "labs.csv").write_text(
        "id;Datum;CRP;Hb;Notiz\nA;08.03.2022;1,5;95;x\nA;01.03.2022;;101;\nB;17.04.2022;3;88;\n",
        encoding="utf-8")
    cohort = load_cohort(tmp_path, mapping={
        "decimal": ",", "date_format": "%d.%m.%Y",
        "patients": {"file": "pat.csv", "columns": {"patient_id": "id",
                                                    "infusion_date": "inf"}},
        "observations": {"file": "labs.csv", "layout": "patient_day",
                         "columns": {"patient_id": "id", "date": "Datum"},
                         "units": {"crp": "mg/dL", "hb": "g/L"}}})
    got = {(r.patient_id, r.day, r.analyte): r.value
           for r in cohort.observations.itertuples(index=False)}
    assert got == pytest.approx({("A", 7.0, "crp"): 15.0, ("A", 7.0, "hb"): 9.5,
                                 ("A", 0.0, "hb"): 10.1, ("B", 7.0, "crp"): 30.0,
                                 ("B", 7.0, "hb"): 8.8})


def test_long_layout_unit_column_falls_back_to_mapping_units(tmp_path: Path) -> None:
    (tmp_path / "pat.csv").write_text("pid\n7\n", encoding="utf-8")
    (tmp_path / "lab.csv").write_text(
        "pid,tag,test,result,einheit\n7,3,CRP,2,\n7,3,CRP,20,mg/L\n7,3,Natrium,140,mmol/L\n",
        encoding="utf-8")
    mapping = {
        "patients": {"file": "pat.csv", "columns": {"patient_id": "pid"}},
        "observations": {"file": "lab.csv", "unknown_analytes": "ignore",
                         "columns": {"patient_id": "pid", "day": "tag", "analyte": "test",
                                     "value": "result", "unit": "einheit"},
                         "units": {"crp": "mg/dL"}}}
    cohort = load_cohort(tmp_path, mapping=mapping)
    assert sorted(cohort.observations["value"]) == [20.0, 20.0]
    loaded = read_cohort_tables(tmp_path, mapping)
    info = [p for p in loaded.collector.problems if p.code == "unknown_analyte"]
    assert len(info) == 1 and info[0].value == "Natrium" and info[0].severity == "info"
    assert info[0].row == 4
    with pytest.raises(DataError, match=r"row 4, column 'test': analyte not recognised"):
        mapping["observations"]["unknown_analytes"] = "error"  # type: ignore[index]
        load_cohort(tmp_path, mapping=mapping)


def test_glob_reads_several_files_with_their_own_row_numbers(tmp_path: Path) -> None:
    (tmp_path / "pat.csv").write_text("patient_id\nA\n", encoding="utf-8")
    (tmp_path / "lab_2021.csv").write_text(OBS_HEADER + "A,1,crp,3,mg/L\n", encoding="utf-8")
    (tmp_path / "lab_2022.csv").write_text(OBS_HEADER + "A,2,crp,4,mg/L\nA,3,crp,x,mg/L\n",
                                           encoding="utf-8")
    mapping = {"patients": {"file": "pat.csv"}, "observations": {"file": "lab_*.csv"}}
    with pytest.raises(DataError, match=r"observations \(lab_2022\.csv\) row 3, column "
                                        r"'value': value is not a number.*'x'"):
        load_cohort(tmp_path, mapping=mapping)


def test_synthetic_flag_from_column_or_marker(tmp_path: Path) -> None:
    folder = _folder(tmp_path, patients="patient_id,synthetic\nA,1\nB,1\n")
    assert load_cohort(folder).synthetic is True
    folder = _folder(tmp_path, patients="patient_id,synthetic\nA,1\nB,0\n")
    assert load_cohort(folder).synthetic is False
    (tmp_path / "SYNTHETIC").write_text("simulated\n", encoding="utf-8")
    assert load_cohort(folder).synthetic is True


def test_extra_canonical_columns_are_kept(tmp_path: Path) -> None:
    cohort = load_cohort(_folder(tmp_path, patients="patient_id,ecog\nA,1\n"))
    assert list(cohort.patients.columns) == ["patient_id", "ecog"]


def test_ids_keep_leading_zeros_and_are_text(tmp_path: Path) -> None:
    cohort = load_cohort(_folder(tmp_path, patients="patient_id\n007\n010\n",
                                 observations=OBS_HEADER + "007,1,crp,3,mg/L\n"))
    assert list(cohort.patients["patient_id"]) == ["007", "010"]
    assert cohort.observations["patient_id"].iloc[0] == "007"


def test_yes_no_words_and_missing_cells(tmp_path: Path) -> None:
    folder = _folder(tmp_path, patients="patient_id,prior_hsct,bridging\nA,yes,\nB,No,1\n")
    p = load_cohort(folder).patients
    assert list(p["prior_hsct"]) == [1, 0] and p["prior_hsct"].dtype == np.int64
    assert p["bridging"].isna().tolist() == [True, False]


@pytest.mark.parametrize(("patients", "message"), [
    ("patient_id,age_years\nA,3x\n", r"row 2, column 'age_years': age_years is not a number.*'3x'"),
    ("patient_id,sex\nA,X\n", r"row 2, column 'sex': sex value not recognised.*'X'"),
    ("patient_id,prior_hsct\nA,maybe\n", r"column 'prior_hsct': prior_hsct is not yes/no"),
    ("patient_id,infusion_date\nA,31.02.2021\n", r"column 'infusion_date'.*not a date"),
    ("patient_id,age_years\nA,-4\n", r"row 2, column 'age_years'.*outside the plausible"),
    ("patient_id\nA\nA\n", r"row 2, column 'patient_id': patient id appears in more than"),
    ("patient_id,age_years\n,30\n", r"row 2, column 'patient_id': no patient id"),
])
def test_bad_patient_cells_are_named(tmp_path: Path, patients: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_cohort(_folder(tmp_path, patients=patients))


@pytest.mark.parametrize(("observations", "message"), [
    (OBS_HEADER + "P1,7,crp,<5,mg/L\n", r"row 2, column 'value'.*'<5'.*not guessed"),
    (OBS_HEADER + "P1,seven,crp,5,mg/L\n", r"row 2, column 'day': day is not readable"),
    (OBS_HEADER + "P1,9999,crp,5,mg/L\n", r"row 2, column 'day': day outside.*-60 to 3650"),
    (OBS_HEADER + "P1,7,crp,-5,mg/L\n", r"row 2, column 'value': crp outside.*0 to 1000 mg/L"),
    (OBS_HEADER + "P1,7,crp,5,mg/dL\nP1,7,crp,2000,mg/L\n", r"row 3, column 'value': crp outside"),
    (OBS_HEADER + "P9,7,crp,5,mg/L\n", r"row 2, column 'patient_id': patient id not in"),
    (OBS_HEADER + "P1,7,sodium,140,mmol/L\n", r"row 2, column 'analyte'.*'sodium'"),
])
def test_bad_observation_rows_are_named(tmp_path: Path, observations: str,
                                        message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_cohort(_folder(tmp_path, observations=observations))


def test_all_problems_are_collected_in_one_error(tmp_path: Path) -> None:
    obs = OBS_HEADER + "P1,7,crp,x,mg/L\nP1,x,crp,5,mg/L\nP1,7,hb,3,stones\nP1,7,crp,-1,mg/L\n"
    with pytest.raises(DataError) as info:
        load_cohort(_folder(tmp_path, patients="patient_id,age_years\nP1,abc\n",
                            observations=obs))
    found = {(p.table.split(" ")[0], p.row, p.code) for p in info.value.problems}
    assert found == {("patients", 2, "not_a_number"), ("observations", 2, "not_a_number"),
                     ("observations", 3, "not_a_day"), ("observations", 4, "unknown_unit"),
                     ("observations", 5, "out_of_range"),
                     ("input", None, "implausible_values")}  # names --implausible exclude


@pytest.mark.parametrize(("content", "message"), [
    (b"", r"file is empty"),
    (b"   \n\n", r"file is empty"),
    (b"patient_id,patient_id\nA,B\n", r"appear more than once.*patient_id"),
    (b"patient_id,age_years\nA,3\nB,4,5\n", r"row 3: row has 3 fields, the header has 2"),
    (b"patient_id,age\n\xff\xfe\xfa,1\n" * 3, r"not utf-8 text"),
    (b"age_years\n30\n", r"column 'patient_id'.*not found"),
])
def test_unreadable_patients_files(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "patients.csv").write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_cohort(tmp_path)


def test_missing_folder_and_missing_patients_table(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or folder"):
        load_cohort(tmp_path / "nowhere")
    (tmp_path / "observations.csv").write_text(OBS_HEADER, encoding="utf-8")
    with pytest.raises(DataError, match=r"no patients\.csv or patients\.parquet.*observations"):
        load_cohort(tmp_path)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("pat.xls", b"\xd0\xcf\x11\xe0", r"\.xls files are not read"),
    ("pat.xlsx", b"not a zip", r"not a readable \.xlsx"),
    ("pat.parquet", b"PAR1garbage", r"not a readable Parquet"),
    ("pat.json", b"{}", r"unknown file type '\.json'"),
])
def test_unreadable_file_types(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_cohort(tmp_path / name, mapping={"patients": {}})


def test_mapped_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=r"\[patients\] file 'missing\.csv' not found"):
        load_cohort(tmp_path, mapping={"patients": {"file": "missing.csv"}})


def test_no_rows_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no patients"):
        load_cohort(_folder(tmp_path, patients="patient_id\n"))


def test_default_wide_pattern_with_canonical_codes(tmp_path: Path) -> None:
    (tmp_path / "wide.csv").write_text(
        "patient_id,crp_d-1,crp_d7,il6_d7,age_years\nA,3,40,100,30\nB,,55.5,,41\n",
        encoding="utf-8")
    cohort = load_cohort(tmp_path / "wide.csv", mapping={
        "patients": {}, "observations": {"layout": "wide",
                                         "units": {"crp": "mg/L", "il6": "pg/mL"}}})
    got = sorted((r.patient_id, r.day, r.analyte, r.value)
                 for r in cohort.observations.itertuples(index=False))
    assert got == [("A", -1.0, "crp", 3.0), ("A", 7.0, "crp", 40.0), ("A", 7.0, "il6", 100.0),
                   ("B", 7.0, "crp", 55.5)]
    assert list(cohort.patients["age_years"]) == [30.0, 41.0]


def test_text_in_a_wide_cell_names_the_wide_column(tmp_path: Path) -> None:
    (tmp_path / "wide.csv").write_text("patient_id,crp_d7\nA,hoch\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"row 2, column 'crp_d7'.*'hoch'.*a number in mg/dL"):
        load_cohort(tmp_path / "wide.csv", mapping={
            "patients": {}, "observations": {"layout": "wide", "units": {"crp": "mg/dL"}}})


def test_quoted_line_breaks_in_free_text_cells(tmp_path: Path) -> None:
    (tmp_path / "patients.csv").write_text(
        'patient_id,diagnosis,age_years\nA,"B-ALL\nsecond relapse",30\nB,B-ALL,x\n',
        encoding="utf-8")
    with pytest.raises(DataError, match=r"row 3, column 'age_years'.*'x'"):
        load_cohort(tmp_path)  # the second record is the third spreadsheet row
    (tmp_path / "patients.csv").write_text(
        'patient_id,diagnosis,age_years\nA,"B-ALL\nsecond relapse",30\nB,B-ALL,41\n',
        encoding="utf-8")
    cohort = load_cohort(tmp_path)
    assert cohort.patients["diagnosis"].tolist() == ["B-ALL\nsecond relapse", "B-ALL"]


def test_row_numbers_count_blank_lines_as_a_spreadsheet_does(tmp_path: Path) -> None:
    (tmp_path / "patients.csv").write_text("patient_id,age_years\nA,30\n\n\nB,x\n",
                                           encoding="utf-8")
    with pytest.raises(DataError, match=r"row 5, column 'age_years'"):
        load_cohort(tmp_path)
