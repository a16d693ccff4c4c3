"""Mapping files: real exports (German wide, Chinese long) load unedited, with exact values."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crsscore.data.io import load_cohort
from crsscore.data.mapping import Mapping, parse_mapping, read_mapping
from crsscore.errors import DataError, MappingError, UnitError

FIXTURES = Path(__file__).parent / "fixtures"
DE = FIXTURES / "de"
ZH = FIXTURES / "zh"


def _obs(cohort_obs: pd.DataFrame) -> dict[tuple[str, float, str], tuple[float, str]]:
    return {(r.patient_id, r.day, r.analyte): (r.value, r.unit)
            for r in cohort_obs.itertuples(index=False)}


# Expected canonical values, worked out by hand from the export (make_exports.py).
DE_EXPECTED = {
    ("001", -1.0, "hb"): (10.2, "g/dL"),          # 102 g/L
    ("002", -1.0, "hb"): (13.1, "g/dL"),          # 131 g/L
    ("003", -1.0, "hb"): (8.7, "g/dL"),
    ("001", 7.0, "hb"): (9.5, "g/dL"),
    ("003", 7.0, "hb"): (7.85, "g/dL"),           # "78,5" g/L
    ("001", 7.0, "creatinine"): (1.0, "mg/dL"),   # "88,42" umol/L
    ("002", 7.0, "creatinine"): (0.5, "mg/dL"),   # 44.21 umol/L
    ("003", 7.0, "creatinine"): (2.0, "mg/dL"),   # 176.84 umol/L
    ("001", 0.0, "crp"): (5.0, "mg/L"),           # "0,5" mg/dL
    ("002", 0.0, "crp"): (12.0, "mg/L"),
    ("003", 0.0, "crp"): (34.0, "mg/L"),
    ("001", 7.0, "crp"): (123.0, "mg/L"),         # "12,3" mg/dL
    ("002", 7.0, "crp"): (250.0, "mg/L"),
    ("003", 7.0, "crp"): (310.7, "mg/L"),
    ("001", 7.0, "anc"): (0.8, "10^9/L"),         # Gpt/l
    ("003", 7.0, "anc"): (0.05, "10^9/L"),
}


@pytest.mark.parametrize("export", ["export.csv", "export.xlsx"])
def test_german_wide_export_loads_with_exact_canonical_values(export: str) -> None:
    cohort = load_cohort(DE / export, mapping=DE / "mapping.toml")
    got = _obs(cohort.observations)
    assert set(got) == set(DE_EXPECTED)  # "n.b." and the empty Hb_T7 cell are not measurements
    for key, (value, unit) in DE_EXPECTED.items():
        assert got[key][1] == unit
        assert got[key][0] == pytest.approx(value, rel=1e-12, abs=1e-12), key
    p = cohort.patients.set_index("patient_id")
    assert list(p.index) == ["001", "002", "003"]  # leading zeros kept
    assert list(p["sex"]) == ["F", "M", "M"]
    assert list(p["prior_hsct"]) == [1, 0, 0]
    assert list(p["costim"]) == ["4-1BB", "CD28", "4-1BB"]
    assert list(p["infusion_date"]) == ["2021-02-03", "2022-06-15", "2023-01-09"]
    np.testing.assert_allclose(p["mrd_baseline_pct"], [5.2, 0.0, 41.0], rtol=1e-12)
    np.testing.assert_allclose(p["mrd_post_ld_pct"], [0.03, 0.0, 12.0], rtol=1e-12)
    np.testing.assert_allclose(p["age_years"], [34, 7, 52])
    ev = cohort.events.sort_values(["patient_id", "day"]).reset_index(drop=True)
    assert list(ev["event"]) == ["hypotension", "tocilizumab", "oxygen"]
    assert list(ev["day"]) == [4.0, 5.0, 5.0]  # dates minus the infusion date
    assert ev["detail"].tolist()[0] == "fluids" and ev["detail"].tolist()[2] == "nasal_cannula"
    assert cohort.synthetic is False


def test_csv_and_xlsx_exports_give_the_same_cohort() -> None:
    a = load_cohort(DE / "export.csv", mapping=DE / "mapping.toml")
    b = load_cohort(DE / "export.xlsx", mapping=DE / "mapping.toml")
    assert a.data_hash() == b.data_hash()


def test_chinese_long_export_with_dates_units_and_gbk() -> None:
    cohort = load_cohort(ZH / "mapping.toml")  # the mapping names its files
    got = _obs(cohort.observations)
    assert got[("A01", 7.0, "hb")] == pytest.approx((9.6, "g/dL"))
    assert got[("A01", 7.0, "creatinine")][0] == pytest.approx(0.8, rel=1e-12)  # 70.736 umol/L
    assert got[("A01", 7.0, "crp")] == (85.0, "mg/L")
    assert got[("A01", -1.0, "crp")] == (4.0, "mg/L")
    assert got[("A02", 7.0, "hb")] == (11.2, "g/dL")
    assert got[("A02", 7.0, "ferritin")] == (1520.0, "ng/mL")
    assert list(cohort.patients["sex"]) == ["F", "M"]
    # hb came in g/L and g/dL: converted, and said so
    assert any("mixed_units" in note for note in cohort.notes)


def test_mapping_passed_as_object_or_dict(tmp_path: Path) -> None:
    mapping = read_mapping(ZH / "mapping.toml")
    assert isinstance(mapping, Mapping)
    as_object = load_cohort(ZH, mapping=mapping)
    data = mapping.model_dump(exclude={"base_dir"})
    as_dict = load_cohort(ZH, mapping=data)
    assert as_object.data_hash() == as_dict.data_hash()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "message"), [
    ("[patients]\ncolums = {}\n", r"patients\.colums: unknown key"),
    ("dezimal = ','\n", r"dezimal: unknown key"),
    ("[observations.analytes]\nCRP = 'c-rp'\n", r"unknown analyte code"),
    ("[observations.units]\ncrp = 'mg/100'\n", r"\[observations.units\] crp = 'mg/100'.*not convertible"),
    ("[observations.units]\nddimer = 'mg/L'\n", r"ddimer.*ambiguous.*FEU"),
    ("[observations.units]\nsodium = 'mmol/L'\n", r"'sodium' is not an analyte code"),
    ("[patients.units]\nage_years = 'months'\n", r"'age_years' takes no unit"),
    ("[patients.units]\nmrd_baseline_pct = 'permille'\n", r"mrd_baseline_pct.*not convertible"),
    ("[patients.columns]\nbirthday = 'Geburtstag'\n", r"'birthday' is not a patients column"),
    ("[observations]\npattern = '{analyte}_d'\n", r"must contain \{analyte\} and \{day\}"),
    ("[observations]\nlayout = 'diagonal'\n", r"observations\.layout"),
    ("[events.events]\nFieber = 'fever'\n", r"unknown event"),
    ("encoding = 'klingon'\n", r"unknown text encoding"),
    ("decimal = ';'\n", r"decimal"),
    ("[patients\n", r"not valid TOML"),
])
def test_invalid_mappings_are_refused_with_the_key(tmp_path: Path, text: str,
                                                   message: str) -> None:
    with pytest.raises(MappingError, match=message):
        read_mapping(_write(tmp_path, text))


def test_missing_or_binary_mapping_file(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="mapping file not found"):
        read_mapping(tmp_path / "nope.toml")
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(MappingError, match="not UTF-8"):
        read_mapping(bad)


def test_mapped_column_absent_from_the_file_is_named_with_a_suggestion(tmp_path: Path) -> None:
    shutil.copy(DE / "export.csv", tmp_path / "export.csv")
    text = (DE / "mapping.toml").read_text(encoding="utf-8").replace(
        'sex = "Geschlecht"', 'sex = "Geschlect"').replace('file = "ereignisse.csv"', "")
    text = text.split("[events]")[0]
    with pytest.raises(MappingError, match=r"'Geschlect'.*did you mean 'Geschlecht'"):
        load_cohort(tmp_path / "export.csv", mapping=_write(tmp_path, text))


def test_unknown_sheet_lists_the_sheets(tmp_path: Path) -> None:
    text = (DE / "mapping.toml").read_text(encoding="utf-8").replace(
        'sheet = "Patienten"', 'sheet = "Patients"', 1)
    with pytest.raises(MappingError, match=r"sheet 'Patients' not found.*Hinweise, Patienten"):
        load_cohort(DE / "export.xlsx", mapping=_write(tmp_path, text.replace(
            'file = "ereignisse.csv"', f'file = "{(DE / "ereignisse.csv").as_posix()}"')))


def test_wide_analyte_without_unit_is_refused_naming_the_columns(tmp_path: Path) -> None:
    text = (DE / "mapping.toml").read_text(encoding="utf-8").replace('crp = "mg/dL"\n', "")
    text = text.split("[events]")[0]
    with pytest.raises(UnitError, match=r"no unit for crp \(columns CRP_T0, CRP_T7\)"):
        load_cohort(DE / "export.csv", mapping=_write(tmp_path, text))


def test_wide_columns_of_unmapped_analytes_are_reported(tmp_path: Path) -> None:
    text = (DE / "mapping.toml").read_text(encoding="utf-8").replace('Neutrophile = "anc"\n', "")
    text = text.split("[events]")[0]
    with pytest.raises(DataError, match=r"1 column\(s\) match the pattern.*Neutrophile_T7"):
        load_cohort(DE / "export.csv", mapping=_write(tmp_path, text))
    ignored = text.replace('layout = "wide"', 'layout = "wide"\nunknown_analytes = "ignore"')
    cohort = load_cohort(DE / "export.csv", mapping=_write(tmp_path, ignored))
    assert "anc" not in set(cohort.observations["analyte"])


def test_single_file_without_mapping_is_refused() -> None:
    with pytest.raises(MappingError, match=r"a mapping file .* is needed"):
        load_cohort(DE / "export.csv")


def test_pattern_regex_reads_negative_and_decimal_days() -> None:
    mapping = parse_mapping({"observations": {"layout": "wide", "pattern": "{analyte} (T{day})"}})
    assert mapping.observations is not None
    regex = mapping.observations.pattern_regex()
    hit = regex.match("CRP (T-1)")
    assert hit is not None and (hit.group("analyte"), hit.group("day")) == ("CRP", "-1")
    hit = regex.match("il6 (t+7,5)")
    assert hit is not None and hit.group("day") == "+7,5"
    assert regex.match("CRP_T7") is None


def test_value_codes_outside_patients_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=r"events\.values: unknown key"):
        read_mapping(_write(tmp_path, "[events.values.detail]\nVolumen = 'fluids'\n"))
