"""The canonical cohort format: tables, columns, analytes and events.

See README ("The canonical format") and ``../shared/specs/cohort-format.md``.  Names here are a
public contract: users' pipelines depend on them.  Extend, never rename.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from crsscore.units import canonical_unit


@dataclass(frozen=True)
class Analyte:
    """A laboratory value or vital sign in ``observations``.

    ``low``/``high`` bound physiologically possible values in the canonical unit: outside them
    a value is an error (a typo or a unit mix-up), not an outlier.  ``skewed`` marks
    right-skewed labs that the models log10-transform.  ``loinc`` is None where no single code
    fits or the code could not be verified.
    """

    code: str
    label: str
    loinc: str | None
    low: float
    high: float
    skewed: bool = False

    @property
    def unit(self) -> str:
        return canonical_unit(self.code)


ANALYTES: Final[dict[str, Analyte]] = {a.code: a for a in [
    Analyte("anc", "Absolute neutrophil count", "751-8", 0.0, 200.0, skewed=False),
    Analyte("wbc", "White blood cell count", "6690-2", 0.0, 500.0),
    Analyte("alc", "Absolute lymphocyte count", "731-0", 0.0, 500.0),
    Analyte("hb", "Haemoglobin", "718-7", 1.0, 25.0),
    Analyte("plt", "Platelets", "777-3", 0.0, 2000.0),
    Analyte("crp", "C-reactive protein", "1988-5", 0.0, 1000.0, skewed=True),
    Analyte("ferritin", "Ferritin", "2276-4", 0.0, 500000.0, skewed=True),
    Analyte("il6", "Interleukin-6", "26881-3", 0.0, 1000000.0, skewed=True),
    Analyte("ifng", "Interferon-gamma", None, 0.0, 1000000.0, skewed=True),
    Analyte("il10", "Interleukin-10", "26848-2", 0.0, 1000000.0, skewed=True),
    Analyte("mcp1", "Monocyte chemoattractant protein-1 (CCL2)", None, 0.0, 1000000.0, skewed=True),
    Analyte("il1ra", "Interleukin-1 receptor antagonist", None, 0.0, 10000000.0, skewed=True),
    Analyte("il13", "Interleukin-13", None, 0.0, 1000000.0, skewed=True),
    Analyte("mip1a", "Macrophage inflammatory protein-1 alpha (CCL3)", None, 0.0, 1000000.0, skewed=True),
    Analyte("sgp130", "Soluble gp130", None, 0.0, 100000.0, skewed=True),
    Analyte("ldh", "Lactate dehydrogenase", "2532-0", 0.0, 100000.0, skewed=True),
    Analyte("creatinine", "Creatinine", "2160-0", 0.0, 30.0, skewed=True),
    Analyte("aptt", "Activated partial thromboplastin time", "14979-9", 5.0, 300.0),
    Analyte("pt", "Prothrombin time", "5902-2", 5.0, 200.0),
    Analyte("fibrinogen", "Fibrinogen", "3255-7", 0.0, 20.0),
    Analyte("ddimer", "D-dimer (FEU)", "48065-7", 0.0, 500.0, skewed=True),
    Analyte("albumin", "Albumin", "1751-7", 5.0, 70.0),
    Analyte("temp", "Body temperature", "8310-5", 25.0, 45.0),
    Analyte("sbp", "Systolic blood pressure", "8480-6", 20.0, 300.0),
    Analyte("spo2", "Oxygen saturation (pulse oximetry)", "59408-5", 20.0, 100.0),
]}


@dataclass(frozen=True)
class MedianBand:
    """Where the median of a CAR-T cohort's values of one analyte is expected to sit.

    Over all of a cohort's rows (days -5 to +28, canonical unit) the median of a correctly
    labelled column falls inside ``[low, high]``; a whole column given in another unit than
    its label says (CRP in mg/dL labelled mg/L) lands outside while every single value stays
    plausible.  ``below``/``above`` name the likely trap.  Bands are deliberately wide (a
    centre's cohort may be sicker or healthier than most): a median outside is a warning to
    look at the unit, never an error.
    """

    low: float
    high: float
    below: str
    above: str


#: Expected medians of a CAR-T cohort per analyte (canonical units); see docs/mapping.md.
#: Set from published CAR-T cohorts (before and after infusion) with a wide margin, and
#: checked against the simulator (whose medians sit well inside).
EXPECTED_MEDIANS: Final[dict[str, MedianBand]] = {
    "crp": MedianBand(2.0, 200.0, "CRP in mg/dL labelled mg/L (values 10x too low)",
                      "CRP in mg/L labelled mg/dL (values 10x too high)"),
    "il6": MedianBand(1.0, 5000.0, "IL-6 in ng/mL labelled pg/mL (values 1000x too low)",
                      "IL-6 in pg/mL labelled ng/mL (values 1000x too high)"),
    "ferritin": MedianBand(20.0, 50000.0, "ferritin in ug/mL or mg/L labelled ng/mL "
                           "(values 1000x too low)", "ferritin in pmol/L or a unit "
                           "mix-up (values too high)"),
    "ldh": MedianBand(50.0, 5000.0, "LDH in ukat/L labelled U/L (values 60x too low)",
                      "LDH in nkat/L labelled U/L (values too high)"),
    "hb": MedianBand(5.0, 17.0, "haemoglobin in g/dL where g/L was declared (values 10x "
                     "too low)", "haemoglobin in g/L labelled g/dL "
                     "(values 10x too high)"),
    "albumin": MedianBand(15.0, 55.0, "albumin in g/dL labelled g/L (values 10x too low)",
                          "albumin in g/L where g/dL was declared (values 10x too high)"),
    "creatinine": MedianBand(0.2, 5.0, "creatinine in mg/dL where umol/L was declared "
                             "(values 88x too low)", "creatinine in umol/L labelled mg/dL "
                             "(values 88x too high)"),
    "fibrinogen": MedianBand(0.8, 8.0, "fibrinogen in g/L where mg/dL was declared "
                             "(values 100x too low)", "fibrinogen in mg/dL labelled g/L "
                             "(values 100x too high)"),
    "ddimer": MedianBand(0.1, 50.0, "D-dimer in ug/mL labelled ng/mL (values 1000x too low)",
                         "D-dimer in ng/mL labelled mg/L or ug/mL (values 1000x too high)"),
    "plt": MedianBand(3.0, 700.0, "platelets in another unit than 10^9/L (values too low)",
                      "platelets in cells/uL labelled 10^9/L (values 1000x too high)"),
    "temp": MedianBand(35.0, 39.0, "temperature in another unit than declared",
                       "temperature in F labelled C"),
}


@dataclass(frozen=True)
class Column:
    """A column of the patients table."""

    name: str
    kind: str  # "str" | "float" | "int01" | "date" | "category"
    required: bool = False
    low: float | None = None
    high: float | None = None
    categories: tuple[str, ...] | None = None
    unit: str | None = None  # canonical unit of numeric columns
    unit_kind: str | None = None  # key in units.ANALYTE_UNITS used for conversions
    description: str = ""


PATIENT_COLUMNS: Final[dict[str, Column]] = {c.name: c for c in [
    Column("patient_id", "str", required=True, description="one row per infusion"),
    Column("centre", "str"),
    Column("age_years", "float", low=0, high=110, unit="years"),
    Column("sex", "category", categories=("F", "M")),
    Column("weight_kg", "float", low=1, high=300, unit="kg"),
    Column("diagnosis", "str"),
    Column("prior_lines", "float", low=0, high=30),
    Column("prior_hsct", "int01"),
    Column("bridging", "int01"),
    Column("product", "str"),
    Column("costim", "category", categories=("CD28", "4-1BB")),
    Column("dose_cells_per_kg", "float", low=0, high=1e10, unit="cells/kg"),
    Column("lymphodepletion", "str"),
    Column("infusion_date", "date"),
    Column("mrd_baseline_pct", "float", low=0, high=100, unit="%", unit_kind="mrd",
           description="bone-marrow MRD before lymphodepletion, % of nucleated cells"),
    Column("mrd_post_ld_pct", "float", low=0, high=100, unit="%", unit_kind="mrd",
           description="bone-marrow MRD after lymphodepletion, % of nucleated cells"),
    Column("marrow_blasts_pct", "float", low=0, high=100, unit="%", unit_kind="blasts"),
    Column("synthetic", "int01", description="1 when the row was simulated"),
]}

OBSERVATION_COLUMNS: Final = ("patient_id", "day", "analyte", "value", "unit")
EVENT_COLUMNS: Final = ("patient_id", "day", "event", "value", "unit", "detail")

#: Events and their allowed details (None: free text or empty).
EVENTS: Final[dict[str, tuple[str, ...] | None]] = {
    "hypotension": ("fluids", ""),
    "vasopressor": ("norepinephrine", "epinephrine", "dopamine", "phenylephrine",
                    "vasopressin", "dobutamine", "milrinone", "angiotensin_ii"),
    "vasopressor_hours": None,
    "oxygen": ("room_air", "nasal_cannula", "blow_by", "high_flow_nasal_cannula", "facemask",
               "non_rebreather", "venturi", "cpap", "bipap", "mechanical_ventilation"),
    "fio2": None,
    "tocilizumab": None,
    "corticosteroid": None,
    "antipyretic": None,
    "ice": None,
    "capd": None,
    "consciousness": ("spontaneous", "voice", "touch", "unarousable"),
    "seizure": ("resolved_rapidly", "prolonged", "repeated", "nonconvulsive_eeg"),
    "motor_weakness": None,
    "cerebral_edema": ("focal", "diffuse"),
    "organ_toxicity": None,
    "death": ("crs", "icans", "infection", "disease", "other"),
    "crs_grade_recorded": None,
    "icans_grade_recorded": None,
}

#: Day range accepted in observations and events (days since infusion).
DAY_MIN: Final = -60.0
DAY_MAX: Final = 3650.0

#: Named landmarks (day since infusion).  ``pre-ld`` means before lymphodepletion.
NAMED_LANDMARKS: Final[dict[str, float]] = {"pre-ld": -5.0, "day0": 0.0}

SYNTHETIC_NOTE: Final = (
    "SYNTHETIC DATA: simulated by crsscore to match published summary figures; "
    "these are not real patients."
)

#: What a cohort without the table loses (shown in warnings of check, grade and derive).
MISSING_TABLE_EFFECT: Final[dict[str, str]] = {
    "events": "hypotension, vasopressors, oxygen and deaths are unknown, so CRS cannot be "
              "graded from raw data (days not gradable, severe CRS unknown) unless the "
              "centre's recorded grades (crs_grade_recorded events) are given",
    "observations": "no laboratory values or vital signs (temperature, blood pressure): "
                    "fever cannot be assessed and no lab-based score can be computed",
}


#: Events that the ASTCT CRS grading reads (an events table without any of them leaves CRS
#: ungradable).
CRS_EVENTS: Final = frozenset({"hypotension", "vasopressor", "vasopressor_hours", "oxygen", "fio2",
                               "tocilizumab", "corticosteroid", "antipyretic", "organ_toxicity",
                               "death"})
