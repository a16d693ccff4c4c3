"""Score cards built for the service tests (imported by conftest and by module-level
schemathesis schemas)."""

from __future__ import annotations

from crsscore.scores.scorecard import (
    Band,
    Category,
    ProbabilityMap,
    Provenance,
    RiskGroup,
    ScoreCard,
    Variable,
)


def make_points_card() -> ScoreCard:
    """A small points card with every variable kind, a logistic map and risk groups.

    Synthetic: it exists for the tests, and is labelled so.
    """
    return ScoreCard(
        id="test-points", name="Test points score", version="2",
        outcome="severe CRS (ASTCT grade >= 3)", population="test", landmark="day0",
        variables=[
            Variable(name="crp", label="CRP", unit="mg/dL", unit_kind="crp", bands=[
                Band(upper=3.0, points=0, label="< 3"),
                Band(lower=3.0, upper=10.0, points=1, label="3-10"),
                Band(lower=10.0, points=3, label=">= 10")],
                training_range=(0.1, 30.0)),
            Variable(name="ferritin", label="Ferritin", unit="ng/mL", unit_kind="ferritin",
                     transform="log10", bands=[
                         Band(upper=3.0, points=0), Band(lower=3.0, points=2)]),
            Variable(name="plt", label="Platelets", unit="10^9/L", unit_kind="plt", bands=[
                Band(lower=75.0, points=0), Band(upper=75.0, points=1)],
                plausible_range=(0.0, 1500.0)),
            Variable(name="costim", label="Costimulatory domain", kind="categorical",
                     source="patient", categories=[Category(value="CD28", points=1),
                                                   Category(value="4-1BB", points=0)]),
            Variable(name="mrd_baseline_pct", label="Baseline MRD", kind="binary",
                     source="patient", unit="%", unit_kind="mrd", threshold=5.0,
                     threshold_points=2, missing="zero"),
        ],
        probability=ProbabilityMap(kind="logistic", intercept=-3.0, slope=0.6),
        risk_groups=[RiskGroup(name="low", max_total=2), RiskGroup(name="high", min_total=3)],
        provenance=Provenance(synthetic_data=True, method="test", verification="derived_locally"),
    )


def make_product_card() -> ScoreCard:
    """EASIX written as data (LDH x creatinine / platelets, log2)."""
    return ScoreCard(
        id="test-easix", name="Test log2 EASIX", kind="product", product_transform="log2",
        variables=[
            Variable(name="ldh", label="LDH", kind="linear", unit="U/L", unit_kind="ldh",
                     exponent=1.0),
            Variable(name="creatinine", label="Creatinine", kind="linear", unit="mg/dL",
                     unit_kind="creatinine", exponent=1.0),
            Variable(name="plt", label="Platelets", kind="linear", unit="10^9/L",
                     unit_kind="plt", exponent=-1.0),
        ],
        risk_groups=[RiskGroup(name="low", max_total=2.0), RiskGroup(name="high", min_total=2.0)],
        provenance=Provenance(verification="secondary_sources", citation="test"),
    )
