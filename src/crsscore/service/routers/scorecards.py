"""``/api/v1/scorecards``: the score cards on offer and their variables."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from crsscore.scores.scorecard import ScoreCard
from crsscore.service.dependencies import Card, Registry
from crsscore.service.inputs import (
    accepted_units,
    card_label,
    is_numeric,
    physiological_range_card_units,
    tocilizumab_sensitive,
)
from crsscore.service.schemas import (
    BandInfo,
    CategoryInfo,
    DerivationInfo,
    Message,
    RejectedCard,
    RiskGroupInfo,
    ScoreCardDetail,
    ScoreCardList,
    ScoreCardSummary,
    VariableInfo,
)

router = APIRouter()

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Message, "description": "no score card with that id"}}


def summary(card: ScoreCard, source: str) -> ScoreCardSummary:
    p = card.provenance
    return ScoreCardSummary(
        id=card.id, name=card.name, version=card.version, kind=card.kind, outcome=card.outcome,
        population=card.population, landmark=card.landmark, synthetic=p.synthetic_data,
        verification=p.verification, label=card_label(card), citation=p.citation, source=source,
        variables=card.input_names)


def detail(card: ScoreCard, source: str) -> ScoreCardDetail:
    variables = [VariableInfo(
        name=v.name, label=v.label, kind=v.kind,
        input="number" if is_numeric(v) else "category",
        unit=v.unit, accepted_units=accepted_units(v), transform=v.transform,
        bands=[BandInfo(lower=b.lower, upper=b.upper, lower_inclusive=b.lower_inclusive,
                        upper_inclusive=b.upper_inclusive, points=b.points, label=b.label)
               for b in v.bands],
        categories=[CategoryInfo(value=c.value, points=c.points, label=c.label)
                    for c in v.categories],
        plausible_range=v.plausible_range,
        physiological_range=physiological_range_card_units(v) if is_numeric(v) else None,
        training_range=v.training_range, missing=v.missing, description=v.description)
        for v in card.variables]
    return ScoreCardDetail(
        **summary(card, source).model_dump(), description=card.description,
        variables_detail=variables,
        risk_groups=[RiskGroupInfo(name=g.name, min_total=g.min_total, max_total=g.max_total,
                                   observed_rate=g.observed_rate) for g in card.risk_groups],
        has_probability=card.probability.kind != "none",
        tocilizumab_sensitive=tocilizumab_sensitive(card),
        derivation=derivation_info(card))


def derivation_info(card: ScoreCard) -> DerivationInfo | None:
    """The derivation cohort's figures and sample-size verdict (None for published cards)."""
    perf, ss = card.performance, card.sample_size
    if perf.n is None and ss is None:
        return None
    loss = perf.extra.get("auc_loss_points")
    return DerivationInfo(
        n=perf.n, events=perf.events, auc_apparent=perf.auc_apparent,
        auc_optimism_corrected=perf.auc_optimism_corrected,
        calibration_slope_corrected=perf.calibration_slope_corrected,
        bootstrap_B=perf.bootstrap_B, auc_loss_points=None if loss is None else float(loss),
        sample_size_ok=None if ss is None else ss.ok,
        sample_size_message=None if ss is None else ss.message,
        sample_size_override=bool(ss is not None and ss.override))


@router.get("", response_model=ScoreCardList, summary="List score cards")
def list_scorecards(registry: Registry) -> ScoreCardList:
    """Every score card the service offers, and the files rejected at start-up."""
    return ScoreCardList(
        items=[summary(c, registry.sources[k]) for k, c in registry.cards.items()],
        rejected=[RejectedCard(source=r.source, error=r.error) for r in registry.rejected])


@router.get("/{card_id}", response_model=ScoreCardDetail, responses=NOT_FOUND,
            summary="One score card with its variables and accepted units")
def get_scorecard(card: Card, registry: Registry) -> ScoreCardDetail:
    return detail(card, registry.sources[card.id])


@router.get("/{card_id}/variables", response_model=list[VariableInfo], responses=NOT_FOUND,
            summary="The variables of one score card, with the units accepted for each")
def get_variables(card: Card, registry: Registry) -> list[VariableInfo]:
    return detail(card, registry.sources[card.id]).variables_detail


@router.get("/{card_id}/card", response_model=ScoreCard, responses=NOT_FOUND,
            summary="The score card file itself")
def get_scorecard_file(card: Card) -> ScoreCard:
    return card
