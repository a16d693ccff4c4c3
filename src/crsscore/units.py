"""Units as data: canonical units, accepted spellings and explicit conversion factors.

Every lab value in crsscore travels with its unit.  A value is converted to the analyte's
canonical unit with ``canonical = value * scale + offset`` from the table below, which is the
single source of truth (README's unit table is generated from it).  A unit that is not in an
analyte's table, is missing, or could mean two things is refused with :class:`UnitError`,
naming the column; crsscore never guesses.

The tenfold traps this guards against: CRP mg/L vs mg/dL, haemoglobin g/L vs g/dL, creatinine
umol/L vs mg/dL, counts in cells/uL vs 10^9/L, MRD as a fraction vs a percentage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from crsscore.errors import Problem, UnitError


@dataclass(frozen=True)
class Conversion:
    """``canonical = value * scale + offset``."""

    scale: float
    offset: float = 0.0

    def apply(self, value: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """``value`` in the canonical unit (snapped to 14 significant digits unless identity)."""
        return rescale(value, self.scale, self.offset)

    def invert(self, value: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Canonical ``value`` back in this unit (snapped like :meth:`apply`)."""
        out = (np.asarray(value, dtype=np.float64) - self.offset) / self.scale
        return out if self.scale == 1.0 and self.offset == 0.0 else snap_significant(out)


IDENTITY: Final = Conversion(1.0)


def rescale(value: npt.ArrayLike, scale: npt.ArrayLike, offset: npt.ArrayLike = 0.0
            ) -> npt.NDArray[np.float64]:
    """``value * scale + offset`` (elementwise), snapped to 14 significant digits where the
    conversion is not the identity: the one way a value changes unit, so that the same
    quantity written in two units is the same number (:func:`snap_significant`)."""
    v = np.asarray(value, dtype=np.float64)
    sc = np.asarray(scale, dtype=np.float64)
    off = np.asarray(offset, dtype=np.float64)
    out: npt.NDArray[np.float64] = np.asarray(v * sc + off, dtype=np.float64)
    moved = np.broadcast_to((sc != 1.0) | (off != 0.0), out.shape)
    if not moved.any():
        return out
    if moved.all():
        return snap_significant(out)
    out[moved] = snap_significant(out[moved])  # only the rows that changed unit (loading)
    return out


_POW10: Final = 10.0 ** np.arange(0, 250)  # |k| <= 213 inside the range snapped


def snap_significant(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``x`` (just converted from another unit) to 14 significant digits (NaN, 0, inf kept).

    Unit factors are decimals (2.247, 88.42, 9/5), so the same quantity written in two units
    differs only by float error after conversion; at 14 digits (far finer than any assay) it
    is the same number: 2,000 ug/L typed as 4,494 pmol/L is 2000, not 2000.0000000000002,
    and a cut-off or a product score's threshold is decided alike in every unit.  An integer
    divided (or multiplied) by an exact power of ten is correctly rounded, so the result is
    the double nearest the 14-digit decimal.
    """
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    ok = (a > 1e-200) & (a < 1e200)  # NaN and infinities fail both
    with np.errstate(divide="ignore", invalid="ignore"):
        k = (13.0 - np.floor(np.log10(np.where(ok, a, 1.0)))).astype(np.int64)
    up = k >= 0
    if up.all():
        out = np.round(x * _POW10[k]) / _POW10[k]
    else:
        p = _POW10[np.abs(k)]
        out = np.where(up, np.round(x * p) / p, np.round(x / p) * p)
    snapped: npt.NDArray[np.float64] = np.where(ok, out, x)
    return snapped


# Quantity kinds: canonical unit -> {accepted unit: conversion to canonical}.
_COUNT = {  # cell counts, canonical 10^9/L
    "10^9/L": IDENTITY,
    "10^3/uL": IDENTITY,
    "cells/uL": Conversion(1e-3),
}
_HB = {"g/dL": IDENTITY, "g/L": Conversion(0.1), "mmol/L": Conversion(1.611)}
_CRP = {"mg/L": IDENTITY, "mg/dL": Conversion(10.0), "ug/mL": IDENTITY}
_FERRITIN = {"ng/mL": IDENTITY, "ug/L": IDENTITY, "pmol/L": Conversion(1 / 2.247)}
_CYTOKINE = {"pg/mL": IDENTITY, "ng/L": IDENTITY, "ng/mL": Conversion(1000.0)}
_SGP130 = {"ng/mL": IDENTITY, "ug/L": IDENTITY, "pg/mL": Conversion(1e-3)}
_LDH = {"U/L": IDENTITY, "ukat/L": Conversion(60.0)}
_CREATININE = {"mg/dL": IDENTITY, "umol/L": Conversion(1 / 88.42), "mg/L": Conversion(0.1)}
_SECONDS = {"s": IDENTITY}
_FIBRINOGEN = {"g/L": IDENTITY, "mg/dL": Conversion(0.01)}
_DDIMER = {"mg/L FEU": IDENTITY, "ug/mL FEU": IDENTITY, "ng/mL FEU": Conversion(1e-3)}
_ALBUMIN = {"g/L": IDENTITY, "g/dL": Conversion(10.0)}
_TEMP = {"C": IDENTITY, "F": Conversion(5 / 9, -32 * 5 / 9)}
_PRESSURE = {"mmHg": IDENTITY, "kPa": Conversion(7.50062)}
_PERCENT = {"%": IDENTITY, "fraction": Conversion(100.0)}

#: analyte code -> accepted units with their conversion to the canonical (first) unit.
ANALYTE_UNITS: Final[dict[str, dict[str, Conversion]]] = {
    "anc": _COUNT,
    "wbc": _COUNT,
    "alc": _COUNT,
    "plt": _COUNT,
    "hb": _HB,
    "crp": _CRP,
    "ferritin": _FERRITIN,
    "il6": _CYTOKINE,
    "ifng": _CYTOKINE,
    "il10": _CYTOKINE,
    "mcp1": _CYTOKINE,
    "il1ra": _CYTOKINE,
    "il13": _CYTOKINE,
    "mip1a": _CYTOKINE,
    "sgp130": _SGP130,
    "ldh": _LDH,
    "creatinine": _CREATININE,
    "aptt": _SECONDS,
    "pt": _SECONDS,
    "fibrinogen": _FIBRINOGEN,
    "ddimer": _DDIMER,
    "albumin": _ALBUMIN,
    "temp": _TEMP,
    "sbp": _PRESSURE,
    "spo2": _PERCENT,
    # patient-level percentages
    "mrd": _PERCENT,
    "blasts": _PERCENT,
}

#: Spellings that are ambiguous for an analyte, with the reason given to the user.
AMBIGUOUS: Final[dict[tuple[str, str], str]] = {
    ("ddimer", "mg/L"): "D-dimer in mg/L may be FEU or DDU (a twofold difference); write 'mg/L FEU' or convert DDU to FEU",
    ("ddimer", "ug/mL"): "D-dimer in ug/mL may be FEU or DDU; write 'ug/mL FEU'",
    ("ddimer", "ng/mL"): "D-dimer in ng/mL may be FEU or DDU; write 'ng/mL FEU'",
    ("temp", "deg"): "'deg' does not say Celsius or Fahrenheit",
    ("hb", "mmol"): "'mmol' is not a concentration; write mmol/L",
}

_SPELLINGS: Final[dict[str, str]] = {
    # counts
    "10^9/l": "10^9/L", "10e9/l": "10^9/L", "10*9/l": "10^9/L", "x10^9/l": "10^9/L",
    "x10e9/l": "10^9/L", "10**9/l": "10^9/L", "giga/l": "10^9/L", "gpt/l": "10^9/L",
    "10^3/ul": "10^3/uL", "10e3/ul": "10^3/uL", "x10^3/ul": "10^3/uL", "k/ul": "10^3/uL",
    "10^3/mm3": "10^3/uL", "thou/ul": "10^3/uL", "10*3/ul": "10^3/uL",
    "cells/ul": "cells/uL", "/ul": "cells/uL", "cells/mm3": "cells/uL", "/mm3": "cells/uL",
    "cells/mcl": "cells/uL",
    # mass and substance concentrations
    "g/dl": "g/dL", "g/l": "g/L", "mmol/l": "mmol/L", "mg/l": "mg/L", "mg/dl": "mg/dL",
    "ug/ml": "ug/mL", "mcg/ml": "ug/mL", "ng/ml": "ng/mL", "ug/l": "ug/L", "mcg/l": "ug/L",
    "pmol/l": "pmol/L", "pg/ml": "pg/mL", "ng/l": "ng/L", "umol/l": "umol/L",
    "micromol/l": "umol/L", "u/l": "U/L", "iu/l": "U/L", "ukat/l": "ukat/L",
    "mg/lfeu": "mg/L FEU", "ug/mlfeu": "ug/mL FEU", "ng/mlfeu": "ng/mL FEU",
    "mgfeu/l": "mg/L FEU", "ugfeu/ml": "ug/mL FEU", "ngfeu/ml": "ng/mL FEU",
    # others
    "s": "s", "sec": "s", "seconds": "s", "second": "s",
    "c": "C", "degc": "C", "°c": "C", "celsius": "C", "f": "F", "degf": "F", "°f": "F",
    "fahrenheit": "F", "deg": "deg",
    "mmhg": "mmHg", "kpa": "kPa",
    "%": "%", "percent": "%", "pct": "%", "fraction": "fraction", "ratio": "fraction",
    "mmol": "mmol",
}


def normalise_unit(unit: str) -> str:
    """Return the canonical spelling of a unit string, or the stripped input if unknown.

    Spaces, case, the micro sign and multiplication signs are normalised:
    ``"µmol/l" -> "umol/L"``, ``"x10^9/L" -> "10^9/L"``, ``"G/L" -> "10^9/L"``.
    ``"G/L"`` (giga per litre) and ``"g/L"`` (grams per litre) differ only by case, so that one
    pair is decided before lower-casing.
    """
    text = unit.strip()
    if text == "G/L":
        return "10^9/L"
    key = text.replace("µ", "u").replace("μ", "u").replace("×", "x").replace("·", "")
    key = re.sub(r"\s+", "", key).lower()
    key = key.replace("⁹", "^9").replace("³", "^3")
    return _SPELLINGS.get(key, text)


def is_missing_unit(unit: object) -> bool:
    return unit is None or (isinstance(unit, float) and np.isnan(unit)) or (
        isinstance(unit, str) and unit.strip() == ""
    )


def canonical_unit(analyte: str) -> str:
    """The canonical unit of an analyte code (``"crp" -> "mg/L"``)."""
    try:
        return next(iter(ANALYTE_UNITS[analyte]))
    except KeyError:
        raise UnitError(
            [Problem(table="units", message=f"unknown analyte code {analyte!r}",
                     expected=", ".join(sorted(ANALYTE_UNITS)), code="unknown_analyte")]
        ) from None


def conversion_for(analyte: str, unit: object, *, column: str | None = None,
                   table: str = "observations", row: int | None = None) -> Conversion:
    """The conversion from ``unit`` to the canonical unit of ``analyte``.

    Raises :class:`UnitError` naming the table, row and column when the unit is missing,
    unknown for that analyte, or ambiguous.
    """
    canon = canonical_unit(analyte)
    accepted = ANALYTE_UNITS[analyte]
    expected = f"one of {', '.join(accepted)} (canonical {canon})"
    col = column or analyte
    if is_missing_unit(unit):
        raise UnitError([Problem(table=table, row=row, column=col, code="missing_unit",
                                 message=f"no unit given for {analyte}", expected=expected)])
    spelled = normalise_unit(str(unit))
    if (analyte, spelled) in AMBIGUOUS:
        raise UnitError([Problem(table=table, row=row, column=col, code="ambiguous_unit",
                                 message=f"ambiguous unit for {analyte}: {AMBIGUOUS[(analyte, spelled)]}",
                                 value=str(unit), expected=expected)])
    if spelled not in accepted:
        raise UnitError([Problem(table=table, row=row, column=col, code="unknown_unit",
                                 message=f"unit not convertible to {canon} for {analyte}",
                                 value=str(unit), expected=expected)])
    return accepted[spelled]


def convert(values: npt.ArrayLike, analyte: str, unit: object, *, to: str | None = None,
            column: str | None = None) -> npt.NDArray[np.float64]:
    """Convert values of ``analyte`` from ``unit`` to ``to`` (default: the canonical unit).

    >>> float(convert(5.0, "crp", "mg/dL")[()])
    50.0
    >>> float(convert(50.0, "crp", "mg/L", to="mg/dL")[()])
    5.0
    """
    to_canon = conversion_for(analyte, unit, column=column).apply(values)
    if to is None:
        return to_canon
    return conversion_for(analyte, to, column=column).invert(to_canon)


@dataclass(frozen=True)
class Quantity:
    """A single value with its unit, for one analyte (used by the calculator and the API)."""

    value: float
    unit: str
    analyte: str

    def to(self, unit: str | None = None) -> Quantity:
        target = unit or canonical_unit(self.analyte)
        out = float(convert(self.value, self.analyte, self.unit, to=target)[()])
        return Quantity(out, normalise_unit(target), self.analyte)

    def __str__(self) -> str:
        return f"{self.value:g} {self.unit}"


def conversion_table() -> list[dict[str, object]]:
    """Every accepted (analyte, unit) with its factor to the canonical unit, for docs and tests."""
    rows: list[dict[str, object]] = []
    for analyte, units in ANALYTE_UNITS.items():
        canon = next(iter(units))
        for unit, conv in units.items():
            rows.append({"analyte": analyte, "unit": unit, "canonical_unit": canon,
                         "scale": conv.scale, "offset": conv.offset})
    return rows


# ----------------------------------------------------------------------------------------------
# vasopressor doses: the agents, their canonical dose units and the conversions between them

AGENTS: Final = ("norepinephrine", "epinephrine", "dopamine", "phenylephrine", "vasopressin",
                 "angiotensin_ii", "dobutamine", "milrinone")
#: Canonical dose unit of each agent.
AGENT_UNIT: Final = ("ug/min", "ug/min", "ug/kg/min", "ug/min", "U/min", "ng/kg/min",
                     "ug/kg/min", "ug/kg/min")
_AGENT_ALIASES: Final = {"noradrenaline": "norepinephrine", "adrenaline": "epinephrine",
                         "levophed": "norepinephrine", "neosynephrine": "phenylephrine",
                         "angiotensin": "angiotensin_ii", "angiotensin ii": "angiotensin_ii",
                         "adh": "vasopressin"}

#: Spellings of vasopressor dose units (lower case, no spaces or underscores) -> canonical.
DOSE_UNIT_FORMS: Final = {"ug/min": "ug/min", "mcg/min": "ug/min", "µg/min": "ug/min",
                          "ug/kg/min": "ug/kg/min", "mcg/kg/min": "ug/kg/min",
                          "µg/kg/min": "ug/kg/min", "u/min": "U/min", "units/min": "U/min",
                          "iu/min": "U/min", "u/h": "U/h", "u/hr": "U/h", "units/h": "U/h",
                          "units/hr": "U/h", "ng/kg/min": "ng/kg/min"}


def agent_index(detail: str) -> int:
    """Index in :data:`AGENTS` of a vasopressor named as in a ``detail`` cell (-1: unknown)."""
    d = str(detail).strip().lower().replace(" ", "_")
    name = _AGENT_ALIASES.get(d.replace("_", " "), _AGENT_ALIASES.get(d, d))
    return AGENTS.index(name) if name in AGENTS else -1


def dose_unit(unit: str) -> str | None:
    """The canonical spelling of a vasopressor dose unit as written, or None if unknown."""
    key = str(unit).strip().lower().replace(" ", "_").replace("_", "")
    return DOSE_UNIT_FORMS.get(key)


def dose_unit_problem(detail: str, unit: str) -> str | None:
    """Why a vasopressor dose unit cannot be used for the agent in ``detail`` (None: fine).

    The same rules the grading applies, so that loading refuses what grading could not use.
    """
    canon = dose_unit(unit)
    if canon is None:
        return "vasopressor dose unit not recognised"
    agent = agent_index(detail)
    if agent >= 0 and dose_factor(agent, canon) is None:
        return f"vasopressor dose unit {canon} not valid for {AGENTS[agent]}"
    return None


def dose_factor(agent: int, unit: str) -> tuple[float, str] | None:
    """(factor, weight use) converting ``unit`` to the agent's canonical unit; None if invalid.

    weight use: '' none, 'mul' multiply by weight, 'div' divide by weight.
    """
    canon = AGENT_UNIT[agent]
    if unit == canon:
        return 1.0, ""
    if canon == "U/min":
        return (1.0 / 60.0, "") if unit == "U/h" else None
    if canon == "ug/min" and unit == "ug/kg/min":
        return 1.0, "mul"
    if canon == "ug/kg/min" and unit == "ug/min":
        return 1.0, "div"
    return None
