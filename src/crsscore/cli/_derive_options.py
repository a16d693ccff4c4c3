"""The derivation options shared by ``crsscore derive`` and ``crsscore report``.

One definition of each option (name, help, default) and one function that checks them and
builds :class:`~crsscore.modeling.derivation.DerivationSettings`, so that the two commands
cannot drift: whatever ``derive`` accepts, ``report`` accepts, and every error's advice names
an option both of them take (``tests/cli/test_centre_export.py`` checks it).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Annotated, Any, TypeVar

import typer

from crsscore.errors import CrsscoreError

Landmark = Annotated[str, typer.Option(help="pre-ld, day0, day3, day7 or dayN.")]
Window = Annotated[float, typer.Option(help="Days either side of the landmark.")]
PriorOutcome = Annotated[str, typer.Option(help="exclude|keep patients with severe CRS before the landmark.")]
Candidates = Annotated[str | None, typer.Option(help="Comma-separated canonical names (default: the study's seven).")]
Method = Annotated[str, typer.Option(help="auto|ml|firth")]
Select = Annotated[str, typer.Option(help="backward|lasso|none")]
Rule = Annotated[str, typer.Option(help="aic|p (backward elimination)")]
Cutpoints = Annotated[str, typer.Option(help="Bands of the card: points (where the points change) | clinical | quantile.")]
Bands = Annotated[int, typer.Option(help="Bands per variable (clinical/quantile).")]
MaxPoints = Annotated[int, typer.Option(min=1, help="Bound of the total score (about 0 to this).")]
Splines = Annotated[str, typer.Option(help="none|rcs: restricted cubic splines in the reference model (d.f. limited by the events).")]
Knots = Annotated[int, typer.Option(min=3, max=7, help="Knots of each spline (rcs).")]
Shrinkage = Annotated[str, typer.Option(help="heuristic|none: shrink the points-to-risk slope by (LR - df) / LR.")]
Missing = Annotated[str, typer.Option(help="mice|complete")]
Imputations = Annotated[int, typer.Option(min=1, help="Number of imputations (MICE).")]
Points = Annotated[str, typer.Option(help="sullivan (rounded logistic) | learned (integer points learned directly)")]
MaxFeatures = Annotated[int, typer.Option(help="Thresholds allowed in a learned score.")]
Seed = Annotated[int, typer.Option(help="Seed of every random step.")]
Jobs = Annotated[int, typer.Option(help="Local worker processes for the bootstrap.")]
AllowSmallSample = Annotated[bool, typer.Option("--allow-small-sample", help="Derive even below the sample-size floor (fewer than 10 events, or 10x below Riley's minimum); the card and the report say so.")]

CHOICES: dict[str, tuple[str, ...]] = {
    "method": ("auto", "ml", "firth"),
    "select": ("backward", "lasso", "none"),
    "rule": ("aic", "p"),
    "cutpoints": ("points", "clinical", "quantile"),
    "splines": ("none", "rcs"),
    "shrinkage": ("heuristic", "none"),
    "missing": ("mice", "complete"),
    "points": ("sullivan", "learned"),
    "prior-outcome": ("exclude", "keep"),
}


_F = TypeVar("_F", bound=Callable[..., Any])


def choice(name: str, value: str, options: tuple[str, ...] | None = None) -> None:
    """Refuse a value outside the option's choices, naming the option."""
    options = options or CHOICES[name]
    if value not in options:
        raise CrsscoreError(f"--{name} must be one of {', '.join(options)}; got {value!r}")


@dataclass(frozen=True)
class DeriveOptions:
    """The derivation options as given on the command line."""

    landmark: str = "day7"
    window: float = 1.0
    prior_outcome: str = "exclude"
    candidates: str | None = None
    method: str = "auto"
    select: str = "backward"
    rule: str = "aic"
    cutpoints: str = "points"
    bands: int = 3
    max_points: int = 20
    splines: str = "none"
    knots: int = 3
    shrinkage: str = "heuristic"
    missing: str = "mice"
    imputations: int = 5
    points: str = "sullivan"
    max_features: int = 5
    seed: int = 0
    allow_small_sample: bool = False

    def check(self) -> None:
        for name in ("method", "select", "rule", "cutpoints", "splines", "shrinkage", "missing",
                     "points"):
            choice(name, getattr(self, name))
        choice("prior-outcome", self.prior_outcome)

    def candidate_names(self) -> tuple[str, ...]:
        from crsscore.modeling.candidates import STUDY_CANDIDATES

        if self.candidates is None:
            return tuple(STUDY_CANDIDATES)
        names = tuple(t.strip() for t in self.candidates.split(",") if t.strip())
        if not names:
            raise CrsscoreError("--candidates names no candidate (comma-separated canonical "
                                "names, e.g. crp,ldh,il6)")
        return names

    def settings(self) -> Any:
        """The :class:`DerivationSettings` these options ask for (checked)."""
        from crsscore.modeling.derivation import DerivationSettings

        self.check()
        return DerivationSettings(
            candidates=self.candidate_names(), method=self.method,  # type: ignore[arg-type]
            select=self.select, rule=self.rule, cutpoints=self.cutpoints,  # type: ignore[arg-type]
            n_bands=self.bands, max_points=self.max_points,
            splines=self.splines, knots=self.knots,  # type: ignore[arg-type]
            shrinkage=self.shrinkage, missing=self.missing,  # type: ignore[arg-type]
            n_imputations=self.imputations, seed=self.seed)

    def derive_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`crsscore.workflow.derive` besides the cohort."""
        return {"landmark": self.landmark, "window": self.window,
                "prior_outcome": self.prior_outcome, "settings": self.settings(),
                "seed": self.seed, "points": self.points, "max_features": self.max_features,
                "allow_small_sample": self.allow_small_sample}


#: Prefix of the provenance note in which ``derive`` records its options (read back by
#: ``report --scorecard``).
OPTIONS_NOTE = "crsscore derive options: "


def record_options(card: Any, opts: DeriveOptions) -> Any:
    """The card with ``opts`` recorded in a provenance note (JSON after :data:`OPTIONS_NOTE`)."""
    import dataclasses
    import json

    notes = [n for n in card.provenance.notes if not n.startswith(OPTIONS_NOTE)]
    notes.append(OPTIONS_NOTE + json.dumps(dataclasses.asdict(opts), sort_keys=True))
    return card.model_copy(update={"provenance": card.provenance.model_copy(
        update={"notes": notes})})


def options_from_card(card: Any) -> DeriveOptions:
    """The options a card made by ``crsscore derive`` was derived with."""
    import json

    for note in card.provenance.notes:
        if note.startswith(OPTIONS_NOTE):
            fields = json.loads(note[len(OPTIONS_NOTE):])
            known = {f for f in DeriveOptions.__dataclass_fields__}
            return DeriveOptions(**{k: v for k, v in fields.items() if k in known})
    raise CrsscoreError(f"score card {card.id!r} does not record how it was derived (not made "
                        "by this version of 'crsscore derive'): give the derivation options "
                        "(--candidates, --landmark, ...) instead of --scorecard")


#: The command-line type of each :class:`DeriveOptions` field (one definition for every command).
OPTION_TYPES: dict[str, Any] = {
    "landmark": Landmark, "window": Window, "prior_outcome": PriorOutcome,
    "candidates": Candidates, "method": Method, "select": Select, "rule": Rule,
    "cutpoints": Cutpoints, "bands": Bands, "max_points": MaxPoints, "splines": Splines,
    "knots": Knots, "shrinkage": Shrinkage, "missing": Missing, "imputations": Imputations,
    "allow_small_sample": AllowSmallSample, "points": Points, "max_features": MaxFeatures,
    "seed": Seed,
}


def derive_options(command: _F) -> _F:
    """Give a typer command every derivation option, passed to it as one ``opts: DeriveOptions``.

    The command declares a parameter ``opts``; in the command line it is replaced by one
    option per :class:`DeriveOptions` field (type and help from :data:`OPTION_TYPES`, default
    from the dataclass), in the field order, so ``derive`` and ``report`` take the same options
    written once.
    """
    sig = inspect.signature(command, eval_str=True)
    if "opts" not in sig.parameters:
        raise TypeError(f"{command.__name__} has no 'opts' parameter for the derivation options")
    names = [f.name for f in fields(DeriveOptions)]
    defaults = DeriveOptions()
    added = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=OPTION_TYPES[n],
                               default=getattr(defaults, n)) for n in names]
    params: list[inspect.Parameter] = []
    for p in sig.parameters.values():
        if p.name == "opts":
            params.extend(added)
        else:
            params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
                          if p.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD else p)

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {n: kwargs.pop(n) for n in names if n in kwargs}
        return command(*args, opts=DeriveOptions(**given), **kwargs)

    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params
                               if p.annotation is not inspect.Parameter.empty}
    return wrapper  # type: ignore[return-value]
