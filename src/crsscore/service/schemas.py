"""Request and response models of the REST API (``/api/v1``).

Every value that crosses the API carries its unit.  Response models never contain a
non-finite float (NaN and infinity become ``null`` with a warning), so every response is
valid JSON.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


def _whole_number(value: object) -> object:
    """12.0 is the integer 12 in JSON Schema (and JSON): accept it where an integer is due;
    12.5, "12" and true stay refused by strict validation."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: An integer from 0 to 10 (ICE) and from 0 to 32 (CAPD); the bounds come before the
#: validator, or pydantic leaves them out of the JSON schema.
Ice = Annotated[int, Field(ge=0, le=10), BeforeValidator(_whole_number)]
Capd = Annotated[int, Field(ge=0, le=32), BeforeValidator(_whole_number)]
ShortStr = Annotated[str, Field(max_length=64)]
VariableName = Annotated[str, Field(min_length=1, max_length=64)]


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True)


class _Request(BaseModel):
    # strict: 0 is not false and "5" is not 5; a clinician's client must say what it means
    model_config = ConfigDict(extra="forbid", strict=True)


# --- errors ---------------------------------------------------------------------------------
class FieldProblem(_Response):
    """One input problem: where it is (``loc``), what is wrong and what was expected."""

    loc: list[str | int] = Field(description="path to the field, e.g. body.values.crp.unit")
    msg: str
    type: str = Field(description="machine-readable code, e.g. unknown_unit, out_of_range")
    expected: str | None = Field(None, description="the expected unit, range or values")


class ProblemResponse(_Response):
    detail: list[FieldProblem]


class Message(_Response):
    detail: str


# --- score cards ----------------------------------------------------------------------------
class BandInfo(_Response):
    lower: float | None
    upper: float | None
    lower_inclusive: bool
    upper_inclusive: bool
    points: float
    label: str


class CategoryInfo(_Response):
    value: str
    points: float
    label: str


class VariableInfo(_Response):
    name: str
    label: str
    kind: Literal["bands", "linear", "categorical", "binary"]
    input: Literal["number", "category"]
    unit: str | None = Field(description="unit in which the card's cut-points are written")
    accepted_units: list[str] = Field(description="units the API converts from (first: canonical)")
    transform: str
    bands: list[BandInfo]
    categories: list[CategoryInfo]
    plausible_range: tuple[float, float] | None = Field(
        description="values outside are refused (card unit)")
    physiological_range: tuple[float, float] | None = Field(
        description="values outside are refused (card unit)")
    training_range: tuple[float, float] | None = Field(
        description="values outside are accepted with a warning (card unit)")
    missing: Literal["error", "zero"]
    description: str


class RiskGroupInfo(_Response):
    name: str
    min_total: float | None
    max_total: float | None
    observed_rate: float | None


class ScoreCardSummary(_Response):
    id: str
    name: str
    version: str
    kind: Literal["points", "product"]
    outcome: str
    population: str
    landmark: str | None
    synthetic: bool = Field(description="derived from simulated (synthetic) patients")
    verification: str
    label: str = Field(description="short provenance label shown to clinicians")
    citation: str | None
    source: str = Field(description="'builtin' or the file it was loaded from")
    variables: list[str]


class DerivationInfo(_Response):
    """How well the card did on its own derivation cohort, and whether that cohort sufficed."""

    n: int | None = Field(description="patients the card was derived on")
    events: int | None = Field(description="patients with the outcome among them")
    auc_apparent: float | None
    auc_optimism_corrected: float | None = Field(
        description="bootstrap optimism-corrected AUC (None without a bootstrap)")
    calibration_slope_corrected: float | None
    bootstrap_B: int | None
    auc_loss_points: float | None = Field(
        description="apparent AUC lost from the continuous model to the points")
    sample_size_ok: bool | None = Field(description="None when the card carries no verdict")
    sample_size_message: str | None
    sample_size_override: bool = Field(
        default=False, description="written below crsscore's sample-size floor on request")


class ScoreCardDetail(ScoreCardSummary):
    description: str
    derivation: DerivationInfo | None = Field(
        default=None, description="figures from the derivation cohort (derived cards only)")
    variables_detail: list[VariableInfo]
    risk_groups: list[RiskGroupInfo]
    has_probability: bool
    tocilizumab_sensitive: bool = Field(
        description="the score uses CRP or IL-6, which tocilizumab changes")


class RejectedCard(_Response):
    source: str
    error: str


class ScoreCardList(_Response):
    items: list[ScoreCardSummary]
    rejected: list[RejectedCard] = Field(
        description="score card files that failed validation at start-up")


# --- scoring --------------------------------------------------------------------------------
class Measurement(_Request):
    """A value with its unit.  Categorical inputs take the category as a string."""

    value: FiniteFloat | Annotated[str, Field(max_length=64)] | None = None
    unit: ShortStr | None = None


class ScoreRequest(_Request):
    values: dict[VariableName, Measurement] = Field(
        max_length=200,
        description="one entry per score-card variable; a missing entry is a missing input",
        examples=[{"plt": {"value": 100, "unit": "10^9/L"}, "crp": {"value": 45, "unit": "mg/L"}}])
    after_tocilizumab: bool = Field(
        False, description="values were measured after tocilizumab (CRP falls, IL-6 rises)")


class ScoreWarning(_Response):
    code: Literal["missing", "out_of_training_range", "after_tocilizumab", "no_band",
                  "not_finite", "synthetic"]
    variable: str | None
    message: str


class VariableResult(_Response):
    name: str
    label: str
    value: float | str | None = Field(description="as entered")
    unit: str | None = Field(description="as entered (normalised spelling)")
    value_card_unit: float | str | None
    card_unit: str | None
    points: float | None = Field(
        description="points (points cards) or factor value**exponent (product cards)")
    band: str | None


class ScoreResult(_Response):
    card_id: str
    card_name: str
    card_version: str
    kind: Literal["points", "product"]
    outcome: str
    synthetic: bool
    label: str
    variables: list[VariableResult]
    total: float | None
    probability: float | None
    risk_group: str | None
    complete: bool = Field(description="every input present and scored")
    warnings: list[ScoreWarning]


# --- service --------------------------------------------------------------------------------
class Health(_Response):
    status: Literal["ok"]
    version: str
    scorecards: int
    rejected_scorecards: int
    grading: bool


# --- grading ----------------------------------------------------------------------------------
VasopressorAgent = Literal["norepinephrine", "epinephrine", "dopamine", "phenylephrine",
                           "vasopressin", "angiotensin_ii", "dobutamine", "milrinone"]
OxygenDevice = Literal["room_air", "nasal_cannula", "blow_by", "high_flow_nasal_cannula",
                       "facemask", "non_rebreather", "venturi", "cpap", "bipap",
                       "mechanical_ventilation"]


class OxygenIn(_Request):
    # room air takes no flow: declared in the schema (if/then) and checked here, as the
    # grader refuses it
    model_config = ConfigDict(json_schema_extra={
        "if": {"properties": {"device": {"const": "room_air"}}, "required": ["device"]},
        "then": {"properties": {"flow_l_min": {"anyOf": [{"const": 0}, {"type": "null"}]}}}})

    device: OxygenDevice
    flow_l_min: Annotated[float, Field(ge=0, le=80, allow_inf_nan=False)] | None = Field(
        None, description="flow in L/min (nasal cannula: <= 6 is low flow; room air: none)")

    @field_validator("flow_l_min")
    @classmethod
    def _no_flow_on_room_air(cls, flow: float | None, info: ValidationInfo) -> float | None:
        if flow and info.data.get("device") == "room_air":
            raise ValueError("room air takes no oxygen flow (leave the flow empty or 0)")
        return flow


#: Temperatures outside these limits are refused (a typing error or the wrong unit).  The
#: OpenAPI schema of :class:`CrsDay` declares them; ``grading_form.grade_day`` enforces them.
TEMPERATURE_LIMITS = {"C": (25.0, 45.0), "F": (77.0, 113.0)}


def _temperature_range(limits: tuple[float, float]) -> dict[str, object]:
    lo, hi = limits
    return {"properties": {"temperature_max": {"anyOf": [
        {"type": "number", "minimum": lo, "maximum": hi}, {"type": "null"}]}}}


def _crs_day_schema(schema: dict[str, Any]) -> None:
    """The physiological temperature range depends on the unit: JSON Schema if/then/else."""
    schema["allOf"] = [{
        "if": {"properties": {"temperature_unit": {"const": "F"}},
               "required": ["temperature_unit"]},
        "then": _temperature_range(TEMPERATURE_LIMITS["F"]),
        "else": _temperature_range(TEMPERATURE_LIMITS["C"])}]


class CrsDay(_Request):
    """One patient-day for ASTCT 2019 CRS grading."""

    model_config = ConfigDict(json_schema_extra=_crs_day_schema)

    temperature_max: FiniteFloat | None = Field(
        None, description="highest temperature that day: 25 to 45 C, or 77 to 113 F",
        json_schema_extra={"minimum": TEMPERATURE_LIMITS["C"][0],
                           "maximum": TEMPERATURE_LIMITS["F"][1]})
    temperature_unit: Literal["C", "F"] = "C"
    hypotension: Literal["none", "fluids", "vasopressors"] = Field(
        "none", description="none; responsive to fluids (no vasopressor); needing vasopressors")
    vasopressors: list[VasopressorAgent] = Field(
        default_factory=list, max_length=8,
        description="agents given that day (vasopressin is not counted as a second agent; "
                    "dobutamine and milrinone are inotropes, not vasopressors)")
    oxygen: list[OxygenIn] = Field(default_factory=list, max_length=10)
    crs_before: bool = Field(False, description="CRS established on an earlier day")
    treated: bool = Field(False, description="tocilizumab or corticosteroids given (today or "
                                             "earlier): fever no longer needed once CRS is "
                                             "established")
    death_from_crs: bool = False


class IcansDay(_Request):
    """One patient-day for ASTCT 2019 ICANS grading."""

    ice: Ice | None = Field(None, description="ICE score 0-10")
    capd: Capd | None = Field(
        None, description="CAPD total 0-32 (young children, instead of ICE)")
    age_years: Annotated[float, Field(ge=0, le=110, allow_inf_nan=False)] | None = None
    consciousness: Literal["spontaneous", "voice", "touch", "unarousable"] | None = Field(
        None, description="awakens spontaneously, to voice, only to touch, or unarousable")
    seizure: Literal["resolved_rapidly", "nonconvulsive_eeg", "prolonged", "repeated"] | None = None
    motor_weakness: bool = Field(False, description="deep focal motor weakness")
    cerebral_edema: Literal["focal", "diffuse"] | None = None


class GradeRequest(_Request):
    crs: CrsDay = Field(default_factory=lambda: CrsDay.model_validate({}))
    icans: IcansDay = Field(default_factory=lambda: IcansDay.model_validate({}))


class GradeOut(_Response):
    grade: int | None = Field(description="None: not gradable (no information)")
    criterion: str = Field(description="what set the grade, in words")
    criterion_name: str = Field(description="the deciding domain, e.g. hypotension, hypoxia")
    notes: list[str]


class GradeResult(_Response):
    system: Literal["ASTCT 2019"]
    crs: GradeOut
    icans: GradeOut
