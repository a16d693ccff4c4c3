"""Learned integer point scores: sparse logistic models whose points are small integers.

Rounding logistic coefficients into points loses accuracy; learning the points directly keeps
it.  :class:`IntegerScoreClassifier` searches for a score with at most ``max_features``
features and integer points in ``[-coef_bound, coef_bound]`` that minimises the logistic loss
of ``expit((intercept + x . points) / multiplier)``, with ``intercept`` and ``multiplier`` real
(they only map the total to a probability; the points alone rank the patients).

The search follows FasterRisk (Liu, Zhong, Rudin, Seltzer, Ruan, NeurIPS 2022): a beam search
over supports on the logistic loss, a diverse pool of near-optimal supports by one-feature
swaps, then integer points per support.  It differs where that loses accuracy or time:

* compressed data: each support is fitted on the distinct rows of its columns (at most
  ``2**k`` for binary features) with event counts, so every fit is exact and cheap;
* candidates are screened by the score statistic ``g^2 / h`` and fitted by projected Newton
  under the bounds, not by a few coordinate steps;
* integer points come from an exhaustive enumeration of sign-consistent integer vectors ranked
  by a quadratic model of the loss (FasterRisk's star-ray multipliers with floor/ceil
  candidates when that is too large), an exact refit of intercept and multiplier of the best
  ones, then local search (+-1 point on one or two features) on the exact loss;
* the intercept is real, not an integer, so the probability map is never coarsened.

See ``BENCHMARKS.md`` (section *Learned integer scores*) for the side-by-side comparison with
FasterRisk 0.1.10 on its own benchmark data.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.integers(0, 2, size=(300, 6)).astype(float)
>>> y = (rng.random(300) < 1 / (1 + np.exp(-(X[:, 0] * 2 - X[:, 1] * 1.5 - 0.5)))).astype(int)
>>> clf = IntegerScoreClassifier(max_features=2).fit(X, y)
>>> clf.coef_[:2].tolist()
[4, -3]
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError

from crsscore._numeric import dense_codes, expit, weighted_auc
from crsscore._types import FloatArray, IntArray
from crsscore.errors import DataError, ModelError, Problem, ScoreCardError
from crsscore.modeling import intscore_core as core
from crsscore.modeling import intscore_mip as mip
from crsscore.scores.scorecard import (
    Band,
    Category,
    Performance,
    ProbabilityMap,
    Provenance,
    ScoreCard,
    Variable,
)

FeatureKey = str | int

METHOD = ("learned integer points: beam search on the logistic loss, diverse pool by swaps, "
          "integer enumeration and local search with the multiplier refitted")


# --------------------------------------------------------------------------------------------
# One integer score (an entry of the pool)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class IntegerScore:
    """One integer point score: points per feature, and the map from total to probability.

    ``probability = expit((intercept + x . points) / multiplier)``.  ``loss`` is the training
    logistic loss (sum over patients, weighted), ``auc`` the training AUC.
    """

    feature_names: tuple[str, ...]
    points: tuple[int, ...]  # one per feature, zeros for unused features
    intercept: float
    multiplier: float
    loss: float
    auc: float
    n: int
    events: float
    binary: tuple[bool, ...]  # training values of each feature were all 0/1

    @property
    def coef(self) -> IntArray:
        return np.asarray(self.points, dtype=np.int64)

    @property
    def support(self) -> tuple[int, ...]:
        return tuple(j for j, v in enumerate(self.points) if v != 0)

    @property
    def selected(self) -> dict[str, int]:
        """Selected feature name -> points."""
        return {self.feature_names[j]: self.points[j] for j in self.support}

    def total(self, X: Any) -> FloatArray:
        """Total points of each row."""
        Xa = _as_matrix(X, self.feature_names)
        out: FloatArray = Xa @ self.coef.astype(np.float64)
        return out

    def decision_function(self, X: Any) -> FloatArray:
        """Log-odds of the event: ``(intercept + total) / multiplier``."""
        return (self.intercept + self.total(X)) / self.multiplier

    def predict_proba(self, X: Any) -> FloatArray:
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def to_frame(self) -> pd.DataFrame:
        """Selected features and their points (one row per feature)."""
        return pd.DataFrame({"feature": list(self.selected), "points": list(self.selected.values())})

    def summary(self) -> str:
        lines = [f"Integer score: {len(self.support)} feature(s), n = {self.n}, "
                 f"events = {self.events:g}, training log-loss = {self.loss:.4f}, "
                 f"training AUC = {self.auc:.4f}"]
        for name, pts in self.selected.items():
            lines.append(f"  {pts:+d}  {name}")
        lines.append(f"  probability = expit((total {self.intercept:+.4f}) / {self.multiplier:.4f})")
        return "\n".join(lines)

    def to_scorecard(self, features: Any = None, *, id: str = "learned-integer-score",
                     name: str = "Learned integer score", description: str = "",
                     outcome: str = "severe CRS (ASTCT grade >= 3)", population: str = "",
                     landmark: str | None = None, seed: int | None = None,
                     data_hash: str | None = None) -> ScoreCard:
        """Convert to a :class:`~crsscore.scores.scorecard.ScoreCard`.

        ``features`` describes what each column means: a fitted
        :class:`crsscore.modeling.binarize.Binarizer` (or its ``features_`` list).  Threshold
        features of one variable become one ``bands`` variable (or ``binary`` with a single
        threshold), category indicators a ``categorical`` variable, and missing values or
        unseen categories score 0 points (``missing="zero"``), as in the model.  Without
        ``features``, 0/1 columns become ``binary`` variables (points if value >= 1) and other
        columns ``linear`` variables (points per unit).
        """
        specs = _feature_specs(features, self.feature_names)
        variables = _variables(self, specs)
        prob = ProbabilityMap(kind="logistic", intercept=self.intercept / self.multiplier,
                              slope=1.0 / self.multiplier)
        from crsscore import __version__ as version
        return ScoreCard(
            id=id, name=name, description=description, outcome=outcome, population=population,
            landmark=landmark, variables=variables, probability=prob,
            provenance=Provenance(software_version=str(version), method=METHOD, seed=seed,
                                  data_hash=data_hash,
                                  notes=[f"training log-loss {self.loss:.4f}",
                                         f"intercept {self.intercept:.4f} points, multiplier "
                                         f"{self.multiplier:.4f}"]),
            performance=Performance(n=self.n, events=round(self.events),
                                    auc_apparent=self.auc),
        )


# --------------------------------------------------------------------------------------------
# The estimator
# --------------------------------------------------------------------------------------------
class IntegerScoreClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Sparse integer point score learned on the logistic loss.

    Parameters
    ----------
    max_features : int, default 5
        At most this many features get non-zero points.
    coef_bound : int, default 5
        Points lie in ``[-coef_bound, coef_bound]``; real-valued coefficients during the search
        (and ``points / multiplier``) lie in the same box, as in FasterRisk.
    bounds : mapping, optional
        Per-feature ``(low, high)`` integer bounds overriding ``coef_bound`` (key: column name
        or index).
    intercept_bound : float, optional
        ``|intercept| <= intercept_bound`` (in points).  Unbounded by default.
    required, forbidden : sequence of column names or indices
        Features that must get non-zero points, and features that must not be used.
    sign : mapping, optional
        Feature -> +1 (points >= 0) or -1 (points <= 0).
    groups : sequence or mapping, optional
        Group (variable) label of each column, e.g. ``Binarizer.groups_``; unlabelled columns
        form their own group.
    max_groups : int, optional
        At most this many groups (variables) are used.
    max_per_group : int, optional
        At most this many features of one group (1: a single cut-point per variable).
    monotone : mapping, optional
        Group label -> +1 or -1: every feature of the group gets points of that sign.  With
        cumulative threshold features (``x >= t``, as :class:`Binarizer` makes) the points of
        the variable are then a monotone step function.
    groups_together : bool, default False
        The features of a group enter (and leave) the score together: choosing a variable
        brings in all its cut-points, whose points are then learned (zero points merge two
        bands).  ``max_features`` still bounds the total number of features.
    pool_size : int, default 50
        Number of distinct near-optimal scores kept in ``pool_``.
    beam_width, n_children : int, default 10
        Beam search: supports kept per level, and children expanded per parent.
    swap_attempts : int, default 50
        Diverse pool: replacement features tried for each feature of the best support.
    gap_tolerance : float, default 0.05
        Supports whose continuous loss is within this relative gap of the best are rounded.
    min_multiplier : float, default 0.5
        Smallest multiplier: one point is worth at most ``1 / min_multiplier`` log-odds.  This
        keeps the probabilities finite when a score separates the classes (FasterRisk's
        star-ray search also stops at 0.5); it never changes how the points rank patients.
    certify : bool, default False
        After the search, check the best score exactly (see
        :mod:`crsscore.modeling.intscore_mip`).  First by enumerating every maximal feasible
        set of features with a proven lower bound from its convex relaxation, which proves
        optimality over every multiplier ``>= min_multiplier`` (seconds for a few tens of
        binary features and k = 5); when that is unavailable (``intercept_bound``, too many
        feature sets) or not conclusive in half the time, a mixed-integer program (HiGHS)
        proves optimality at the fitted multiplier.  A better score found becomes ``best_``,
        with intercept and multiplier refitted; the verdict is in ``certificate_``.
    certify_time_limit : float, default 60
        Seconds allowed for the check; when it runs out, ``certificate_`` holds the gap proven
        so far.

    Attributes
    ----------
    coef_ : ndarray of int, shape (n_features,)
        Points of the best score (zeros for unused features).
    intercept_ : float
        Intercept, in points.
    multiplier_ : float
        ``probability = expit((intercept_ + X @ coef_) / multiplier_)``.
    pool_ : list of IntegerScore
        Distinct scores (distinct sets of features) sorted by training loss; ``pool_[0]`` is the
        fitted score.
    best_ : IntegerScore
    certificate_ : Certificate or None
        The exact check (``certify=True``), else None.
    classes_, n_features_in_, feature_names_in_ : as in scikit-learn.

    The fit is deterministic (no random steps), so it needs no seed.  On 125 patients x 30
    binary candidates a fit takes about 0.1 s of CPU with the defaults and about 0.05 s with
    ``pool_size=10`` (the number of supports rounded follows ``pool_size``, at least 10), the
    setting to use when the fit is repeated inside a bootstrap.
    """

    def __init__(self, max_features: int = 5, coef_bound: int = 5, *,
                 bounds: Mapping[FeatureKey, tuple[int, int]] | None = None,
                 intercept_bound: float | None = None,
                 required: Sequence[FeatureKey] = (), forbidden: Sequence[FeatureKey] = (),
                 sign: Mapping[FeatureKey, int] | None = None,
                 groups: Sequence[Any] | Mapping[FeatureKey, Any] | None = None,
                 max_groups: int | None = None, max_per_group: int | None = None,
                 monotone: Mapping[Any, int] | None = None, groups_together: bool = False,
                 pool_size: int = 50,
                 beam_width: int = 10, n_children: int = 10, swap_attempts: int = 50,
                 gap_tolerance: float = 0.05, min_multiplier: float = 0.5,
                 certify: bool = False, certify_time_limit: float = 60.0) -> None:
        self.max_features = max_features
        self.coef_bound = coef_bound
        self.bounds = bounds
        self.intercept_bound = intercept_bound
        self.required = required
        self.forbidden = forbidden
        self.sign = sign
        self.groups = groups
        self.max_groups = max_groups
        self.max_per_group = max_per_group
        self.monotone = monotone
        self.groups_together = groups_together
        self.pool_size = pool_size
        self.beam_width = beam_width
        self.n_children = n_children
        self.swap_attempts = swap_attempts
        self.gap_tolerance = gap_tolerance
        self.min_multiplier = min_multiplier
        self.certify = certify
        self.certify_time_limit = certify_time_limit

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> IntegerScoreClassifier:
        """Learn the score.  ``X``: numeric matrix or DataFrame without missing values
        (binarise first, see :class:`~crsscore.modeling.binarize.Binarizer`); ``y``: two
        classes, the second (sorted) being the event."""
        self._validate_params()
        names = _feature_names(X)
        Xa = _as_matrix(X, names)
        n, p = Xa.shape
        yv = np.asarray(y).reshape(-1)
        if len(yv) != n:
            raise ValueError(f"X has {n} rows but y has {len(yv)} values")
        y_missing = np.flatnonzero(pd.isna(pd.Series(yv)).to_numpy())
        if len(y_missing):
            raise DataError([Problem(table="y", row=int(i), message="missing outcome")
                             for i in y_missing[:20]])
        classes = np.unique(yv)
        if len(classes) != 2:
            raise ModelError(f"IntegerScoreClassifier needs two outcome classes; got {len(classes)}"
                             f" ({', '.join(map(str, classes[:5]))})")
        y01 = (yv == classes[1]).astype(np.float64)
        w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if w.shape != (n,) or not np.all(np.isfinite(w)) or (w < 0).any():
            raise ValueError("sample_weight must be n finite non-negative values")
        prob = self._problem(Xa, y01, w, names)
        sopts = core.SearchOptions(beam_width=self.beam_width, n_children=self.n_children,
                                   swap_attempts=self.swap_attempts,
                                   gap_tolerance=self.gap_tolerance,
                                   n_round=max(self.pool_size, 10))
        visited: list[core.ContinuousFit] = []
        fits = core.search(prob, sopts, core.RoundingOptions(), self.pool_size, visited)
        if not fits:
            raise ModelError("no integer score satisfies the constraints (check required, "
                             "forbidden, sign and bounds)")
        certificate = None
        if self.certify:
            fits, certificate = _certify(prob, fits, visited, float(self.certify_time_limit))
        binary = tuple(bool(np.isin(Xa[:, j], (0.0, 1.0)).all()) for j in range(p))
        pool = []
        for f in fits:
            pts = np.zeros(p, dtype=np.int64)
            pts[list(f.support)] = f.points
            pat = core.patterns(prob, f.support)
            auc = weighted_auc(dense_codes(pat.P @ f.points.astype(np.float64)), pat.n1, pat.n0)
            pool.append(IntegerScore(feature_names=tuple(names), points=tuple(int(v) for v in pts),
                                     intercept=f.intercept, multiplier=f.multiplier,
                                     loss=f.loss, auc=auc, n=n, events=float(prob.wy.sum()),
                                     binary=binary))
        self.classes_ = classes
        self.n_features_in_ = p
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.pool_ = pool
        self.certificate_ = certificate
        self.best_ = pool[0]
        self.coef_ = pool[0].coef
        self.intercept_ = pool[0].intercept
        self.multiplier_ = pool[0].multiplier
        return self

    def _validate_params(self) -> None:
        def bad(name: str, want: str) -> ValueError:
            return ValueError(f"The '{name}' parameter of IntegerScoreClassifier must be {want}. "
                              f"Got {getattr(self, name)!r} instead.")
        for name in ("max_features", "coef_bound", "pool_size", "beam_width", "n_children",
                     "swap_attempts"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
                raise bad(name, "an int >= 1")
        for name in ("max_groups", "max_per_group"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1):
                raise bad(name, "None or an int >= 1")
        if not (isinstance(self.gap_tolerance, int | float) and self.gap_tolerance >= 0):
            raise bad("gap_tolerance", "a float >= 0")
        if not (isinstance(self.min_multiplier, int | float) and self.min_multiplier > 0):
            raise bad("min_multiplier", "a float > 0")
        if not isinstance(self.certify, bool | np.bool_):
            raise bad("certify", "a bool")
        if not (isinstance(self.certify_time_limit, int | float)
                and not isinstance(self.certify_time_limit, bool) and self.certify_time_limit > 0):
            raise bad("certify_time_limit", "a float > 0")
        if self.intercept_bound is not None and not (
                isinstance(self.intercept_bound, int | float) and self.intercept_bound >= 0):
            raise bad("intercept_bound", "None or a float >= 0")

    def _problem(self, Xa: FloatArray, y: FloatArray, w: FloatArray,
                 names: list[str]) -> core.Problem:
        p = Xa.shape[1]
        index = {nm: j for j, nm in enumerate(names)}

        def col(key: FeatureKey, what: str) -> int:
            if isinstance(key, int | np.integer) and not isinstance(key, bool):
                if 0 <= int(key) < p:
                    return int(key)
            elif isinstance(key, str) and key in index:
                return index[key]
            raise ValueError(f"{what}: unknown feature {key!r} (features: "
                             f"{', '.join(names[:10])}{'...' if p > 10 else ''})")

        lb = np.full(p, -int(self.coef_bound), dtype=np.int64)
        ub = np.full(p, int(self.coef_bound), dtype=np.int64)
        for key, (lo, hi) in (self.bounds or {}).items():
            j = col(key, "bounds")
            if int(lo) > int(hi):
                raise ValueError(f"bounds: low {lo} > high {hi} for feature {names[j]!r}")
            lb[j], ub[j] = int(lo), int(hi)
        allowed = np.ones(p, dtype=bool)
        for key in self.forbidden:
            allowed[col(key, "forbidden")] = False
        required = sorted({col(k, "required") for k in self.required})
        clash = [names[j] for j in required if not allowed[j]]
        if clash:
            raise ValueError(f"features both required and forbidden: {', '.join(clash)}")
        if len(required) > self.max_features:
            raise ValueError(f"{len(required)} required features but max_features = {self.max_features}")
        # groups
        labels: list[Any]
        if self.groups is None:
            labels = list(range(p))
        elif isinstance(self.groups, Mapping):
            labels = [("__own__", j) for j in range(p)]
            for key, g in self.groups.items():
                labels[col(key, "groups")] = g
        else:
            labels = list(self.groups)
            if len(labels) != p:
                raise ValueError(f"groups has {len(labels)} labels for {p} features")
        uniq: dict[Any, int] = {}
        gidx: IntArray = np.array([uniq.setdefault(g, len(uniq)) for g in labels],
                                  dtype=np.int64)
        signs: dict[int, int] = {}
        for key, sg in (self.sign or {}).items():
            signs[col(key, "sign")] = int(sg)
        for g, sg in (self.monotone or {}).items():
            if g not in uniq:
                raise ValueError(f"monotone: unknown group {g!r}")
            for jj in np.flatnonzero(gidx == uniq[g]).tolist():
                signs.setdefault(int(jj), int(sg))
        for j, sg in signs.items():
            if sg not in (1, -1):
                raise ValueError(f"sign/monotone of {names[j]!r} must be +1 or -1, got {sg}")
            if sg > 0:
                lb[j] = max(lb[j], 0)
            else:
                ub[j] = min(ub[j], 0)
        for j in required:
            if lb[j] == 0 and ub[j] == 0:
                raise ValueError(f"required feature {names[j]!r} can only get 0 points")
        if self.max_groups is not None:
            req_groups = len(set(gidx[required].tolist()))
            if req_groups > self.max_groups:
                raise ValueError(f"required features span {req_groups} groups but max_groups = "
                                 f"{self.max_groups}")
        return core.make_problem(Xa, y, w, lb=lb, ub=ub, allowed=allowed & (ub > lb),
                                 required=required, groups=gidx,
                                 max_features=int(self.max_features),
                                 max_groups=self.max_groups, max_per_group=self.max_per_group,
                                 intercept_bound=self.intercept_bound,
                                 min_multiplier=float(self.min_multiplier),
                                 together=bool(self.groups_together))

    # -- prediction ----------------------------------------------------------------------------
    def _check_fitted(self) -> IntegerScore:
        if not hasattr(self, "best_"):
            raise NotFittedError("This IntegerScoreClassifier instance is not fitted yet. "
                                 "Call 'fit' with appropriate arguments first.")
        best: IntegerScore = self.best_
        return best

    def total_points(self, X: Any) -> FloatArray:
        """Total points of each row (no intercept)."""
        return self._check_fitted().total(X)

    def decision_function(self, X: Any) -> FloatArray:
        """Log-odds of the event, ``(intercept_ + X @ coef_) / multiplier_``."""
        return self._check_fitted().decision_function(X)

    def predict_proba(self, X: Any) -> FloatArray:
        return self._check_fitted().predict_proba(X)

    def predict(self, X: Any) -> npt.NDArray[Any]:
        out: npt.NDArray[Any] = self.classes_[(self.decision_function(X) > 0).astype(int)]
        return out

    def to_scorecard(self, features: Any = None, **kwargs: Any) -> ScoreCard:
        """The fitted score as a score card (see :meth:`IntegerScore.to_scorecard`)."""
        return self._check_fitted().to_scorecard(features, **kwargs)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _certify(prob: core.Problem, fits: list[core.IntegerFit], visited: list[core.ContinuousFit],
             time_limit: float) -> tuple[list[core.IntegerFit], mip.Certificate]:
    """Exact check of the best fit; a better score found goes first.

    Enumerating the supports (exact over every multiplier) is tried first, with half the time;
    when it is unavailable or not conclusive, the outer-approximation MIP checks the best
    score at its multiplier with the rest, and the more conclusive of the two is kept.
    """
    t0 = time.perf_counter()
    Inc = np.zeros((len(fits), prob.p))
    for i, f in enumerate(fits):
        Inc[i, list(f.support)] = f.points
    top = fits[0]
    enum = mip.certify_supports(prob, Inc[0], top.loss, top.multiplier, top.intercept,
                                time_limit=time_limit / 2)
    cert: mip.Certificate
    if enum is not None and (enum.optimal or enum.improved):
        cert = enum
    else:
        # the continuous fits the search visited, in points at this multiplier: tangent planes
        # there make the first relaxations tight around the good supports
        warm = np.zeros((len(visited), prob.p))
        for i, cf in enumerate(visited):
            warm[i, list(cf.support)] = cf.beta * top.multiplier
        remaining = max(time_limit - (time.perf_counter() - t0), 1e-3)
        oa = mip.certify(prob, Inc, top.multiplier, warm_points=warm, time_limit=remaining)
        cert = oa if enum is None or oa.optimal or oa.improved or oa.gap <= enum.gap else enum
        # the time spent is that of both checks
        cert = dataclasses.replace(cert, seconds=time.perf_counter() - t0)
    if not cert.improved:
        return fits, cert
    lam = np.asarray(cert.points, dtype=np.int64)
    support = tuple(int(j) for j in np.flatnonzero(lam))
    pat = core.patterns(prob, support)
    T = (pat.P @ lam[list(support)].astype(np.float64))[:, None]
    s0 = 1.0 / cert.multiplier
    a, s, loss = core.refit_exact(T, pat.n1[:, None], pat.n0[:, None], prob.s_max,
                                  np.array([cert.intercept * s0]), np.array([s0]),
                                  prob.intercept_bound)
    new = core.IntegerFit(support=support, points=lam[list(support)], intercept=float(a[0] / s[0]),
                          multiplier=float(1.0 / s[0]), loss=float(loss[0]))
    rest = [f for f in fits if f.support != support]
    return [new, *rest], cert


def _feature_names(X: Any) -> list[str]:
    if isinstance(X, pd.DataFrame):
        return [str(c) for c in X.columns]
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-dimensional; got shape {arr.shape}")
    return [f"x{j}" for j in range(arr.shape[1])]


def _as_matrix(X: Any, names: Sequence[str]) -> FloatArray:
    if isinstance(X, pd.DataFrame):
        cols = [str(c) for c in X.columns]
        if cols != list(names):
            missing = [c for c in names if c not in cols]
            if missing:
                raise DataError([Problem(table="input", column=c, message="column missing")
                                 for c in missing])
            lookup = {str(c): c for c in X.columns}
            X = X[[lookup[c] for c in names]]
        try:
            arr = X.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            bad = [str(c) for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])
                   and not pd.api.types.is_bool_dtype(X[c])]
            raise DataError([Problem(table="input", column=c, message="not numeric",
                                     expected="0/1 or numeric (binarise categories first)")
                             for c in bad]) from None
    else:
        try:
            arr = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError("X is not numeric (binarise categories first)") from None
    if arr.ndim != 2 or arr.shape[1] != len(names):
        raise ValueError(f"X must have {len(names)} columns; got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        rr, cc = np.nonzero(bad)
        problems = [Problem(table="input", row=int(r), column=names[int(c)],
                            message="missing or non-finite value",
                            expected="a number (use Binarizer for missing values)")
                    for r, c in zip(rr[:20], cc[:20], strict=True)]
        raise DataError(problems)
    out: FloatArray = arr
    return out


@dataclass(frozen=True)
class _Spec:
    variable: str
    kind: Literal["threshold", "category", "missing", "binary", "numeric"]
    threshold: float | None = None
    category: str | None = None
    categories: tuple[str, ...] = ()
    missing: str = "zero"


def _feature_specs(features: Any, names: Sequence[str]) -> dict[str, _Spec]:
    if features is None:
        return {}
    feats = getattr(features, "features_", features)
    cats = getattr(features, "categories_", {})
    policy = str(getattr(features, "missing", "zero"))
    out: dict[str, _Spec] = {}
    for f in feats:
        out[f.name] = _Spec(variable=f.variable, kind=f.kind, threshold=f.threshold,
                            category=f.category, categories=tuple(cats.get(f.variable, ())),
                            missing=policy)
    unknown = [nm for nm in names if nm not in out]
    if unknown:
        raise ScoreCardError(f"no feature description for column(s) {', '.join(unknown[:10])}")
    return out


def _variables(score: IntegerScore, specs: Mapping[str, _Spec]) -> list[Variable]:
    by_var: dict[str, list[tuple[_Spec, int]]] = {}
    plain: list[Variable] = []
    for j in score.support:
        nm, pts = score.feature_names[j], score.points[j]
        spec = specs.get(nm)
        if spec is None:
            if score.binary[j]:
                plain.append(Variable(name=nm, label=nm, kind="binary", source="derived",
                                      threshold=1.0, threshold_points=float(pts),
                                      missing="error"))
            else:
                plain.append(Variable(name=nm, label=nm, kind="linear", source="derived",
                                      coefficient=float(pts), missing="error",
                                      description="points per unit"))
            continue
        if spec.kind == "missing":
            raise ScoreCardError(f"feature {nm!r} gives {pts:+d} points to a missing value; the "
                                 "score card format gives missing values 0 points: refit with "
                                 "this feature forbidden, or impute")
        by_var.setdefault(spec.variable, []).append((spec, pts))
    out = list(plain)
    for var, items in by_var.items():
        spec0 = items[0][0]
        miss: Literal["error", "zero"] = "zero" if spec0.missing in ("zero", "indicator") else "error"
        if spec0.kind == "category":
            pts_of = {s.category: p for s, p in items}
            cats = spec0.categories or tuple(str(s.category) for s, _ in items)
            out.append(Variable(name=var, label=var, kind="categorical", source="derived",
                                categories=[Category(value=str(c), points=float(pts_of.get(c, 0)))
                                            for c in cats],
                                missing="zero",
                                description="unseen categories and missing values: 0 points"))
        elif spec0.kind == "binary":
            out.append(Variable(name=var, label=var, kind="binary", source="derived",
                                threshold=1.0, threshold_points=float(items[0][1]), missing=miss))
        else:  # thresholds x >= t, cumulative
            ths = sorted((float(s.threshold), p) for s, p in items if s.threshold is not None)
            if len(ths) == 1:
                out.append(Variable(name=var, label=var, kind="binary", source="derived",
                                    threshold=ths[0][0], threshold_points=float(ths[0][1]),
                                    missing=miss))
            else:
                bands = [Band(lower=None, upper=ths[0][0], points=0.0, label=f"< {ths[0][0]:g}")]
                cum = 0.0
                for i, (t, p) in enumerate(ths):
                    cum += p
                    upper = ths[i + 1][0] if i + 1 < len(ths) else None
                    lab = f">= {t:g}" if upper is None else f"{t:g} to < {upper:g}"
                    bands.append(Band(lower=t, upper=upper, points=cum, label=lab))
                out.append(Variable(name=var, label=var, kind="bands", source="derived",
                                    bands=bands, missing=miss))
    return out


__all__ = ["IntegerScore", "IntegerScoreClassifier"]
