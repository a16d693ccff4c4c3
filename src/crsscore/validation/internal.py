"""Internal validation: Harrell's bootstrap optimism correction and repeated CV of a pipeline.

:func:`optimism_bootstrap` is the generic engine of ``rms::predab.resample``: the caller's
``fit_fn(X_train, y_train, weights)`` must return a predictor ``X -> linear predictor``; it is
called on the original data and again on every bootstrap resample, so every step inside it
(transforms, cut-points, variable selection, rounding to points) is repeated.  For each
resample the rms indexes (:mod:`crsscore.validation.indexes`) are computed on the resample
(``training``) and on the original data (``test``); ``optimism = training - test`` averaged
over the resamples whose fit succeeded, and ``index.corrected = index.orig - optimism``.

:func:`validate_lrm` is a fast path equal to ``rms::validate(lrm(y ~ ., x = TRUE, y = TRUE),
B, bw, rule)``: all resamples are fitted at once by vectorised IRLS
(:func:`crsscore.modeling._batched.fit_logistic_batch`) with ``fastbw`` vectorised over
resamples.  :func:`cv_validate` is repeated stratified k-fold cross-validation with the same
output layout.

Resample ``i`` is drawn from ``numpy.random.SeedSequence(seed, spawn_key=(i,))``, so results do
not depend on ``n_jobs``, chunking or the Dask cluster used.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from threadpoolctl import ThreadpoolController

from crsscore._types import FloatArray, IntArray
from crsscore.errors import (
    ConvergenceWarning,
    CrsscoreError,
    ModelError,
    SeparationWarning,
)
from crsscore.modeling._batched import fit_logistic_batch
from crsscore.modeling.logistic import fit_logistic
from crsscore.modeling.selection import fastbw, fastbw_batch_coef
from crsscore.validation.indexes import INDEX_NAMES, emax, lrm_indexes_batch

COLUMNS: tuple[str, ...] = ("index.orig", "training", "test", "optimism", "index.corrected", "n")
_FIT_ERRORS = (CrsscoreError, ArithmeticError, ValueError, np.linalg.LinAlgError)
_FAIL_WARNINGS = (SeparationWarning, ConvergenceWarning)
_MEASURES = ("Dxy", "C", "R2", "Intercept", "Slope", "D", "U", "Q", "B", "g", "gp")


class Predictor(Protocol):
    def __call__(self, X: Any, /) -> ArrayLike: ...


FitFn = Callable[[Any, NDArray[np.float64], "NDArray[np.float64] | None"], Predictor]
#: ``statistic(train_rows, lp_train, lp_test) -> 1-D array`` computed on every resample whose
#: fit succeeded (``lp_test`` on all original rows), kept in ``ValidationResult.per_resample``.
PerResample = Callable[[NDArray[np.intp], FloatArray, FloatArray], FloatArray]


_CONTROLLER: list[ThreadpoolController] = []


def _single_thread_blas() -> Any:
    """Limit BLAS to one thread: tiny batched products are much faster without threading,
    and the parallelism is across chunks of resamples."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def _version() -> str:
    from crsscore import __version__

    return str(__version__)


@dataclass(frozen=True)
class ValidationResult:
    """Optimism-corrected indexes laid out as ``rms::validate``.

    ``table`` has rows ``Dxy, AUC, R2, Intercept, Slope, Emax, D, U, Q, B, g, gp`` (AUC =
    C-index = Dxy/2 + 1/2, added to rms's rows) and columns ``index.orig, training, test,
    optimism, index.corrected, n``.  As in rms, the Emax row holds the Emax of the corrected
    calibration (intercept, slope) in the test/optimism/index.corrected columns and 0 in the
    others.  ``resamples`` keeps the per-resample training and test values (for Monte Carlo
    error); ``kept`` how often each variable was selected (``validate_lrm(bw=True)``).
    """

    table: pd.DataFrame
    method: str
    B: int
    seed: int | None
    n_failed: int
    n: int
    events: int
    stratified: bool
    version: str
    resamples: pd.DataFrame = field(repr=False)
    failures: tuple[str, ...] = ()
    kept: pd.Series | None = None
    options: dict[str, Any] = field(default_factory=dict)
    #: what the caller's ``per_resample`` statistic returned for each resample (one row per
    #: resample; NaN rows for failed fits), e.g. calibration optimism and ROC sensitivities
    per_resample: FloatArray | None = field(default=None, repr=False)

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self) -> pd.DataFrame:
        """The rms table with the Monte Carlo standard error of the optimism."""
        out = self.table.copy()
        out["MC se"] = self.mc_se()
        return out

    def mc_se(self) -> pd.Series:
        """Monte Carlo standard error of ``optimism`` (SD of per-resample optimism / sqrt(n))."""
        r = self.resamples
        se = {}
        for name in self.table.index:
            key = "Dxy" if name == "AUC" else name
            if f"training.{key}" not in r:
                se[name] = math.nan
                continue
            d = (r[f"training.{key}"] - r[f"test.{key}"]).dropna()
            scale = 0.5 if name == "AUC" else 1.0
            se[name] = scale * float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else math.nan
        return pd.Series(se, name="MC se")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view: metadata, the rms table (index -> column -> value) and failures."""

        def clean(v: float) -> float | None:
            return float(v) if math.isfinite(float(v)) else None

        return {
            "method": self.method, "B": self.B, "seed": self.seed, "n_failed": self.n_failed,
            "n": self.n, "events": self.events, "stratified": self.stratified,
            "version": self.version, "options": dict(self.options),
            "table": {str(i): {str(c): clean(v) for c, v in row.items()} for i, row in self.table.iterrows()},
            "failures": list(self.failures),
            "kept": None if self.kept is None else {str(k): float(v) for k, v in self.kept.items()},
        }

    def __str__(self) -> str:
        head = (
            f"{self.method} validation: B = {self.B}, seed = {self.seed}, n = {self.n}, "
            f"events = {self.events}, failed fits = {self.n_failed}"
        )
        return head + "\n" + self.table.round(4).to_string()

    def _repr_html_(self) -> str:
        return f"<p>{str(self).splitlines()[0]}</p>" + self.table.round(4).to_html()


# ----------------------------------------------------------------------------------------------
# resampling


def _rng(seed: int | None, i: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i,)))


#: Resamples are drawn in blocks of this many from one generator each (cheap, and the same
#: draws whatever the chunking).
BLOCK = 50


def bootstrap_indices(y: FloatArray, seed: int | None, ids: Sequence[int], stratified: bool) -> IntArray:
    """Row indices (len(ids), n) of bootstrap resamples ``ids``.

    Resample ``i`` uses row ``i % BLOCK`` of a (BLOCK, n) uniform matrix drawn from
    ``SeedSequence(seed, spawn_key=(i // BLOCK,))``.  ``stratified`` resamples events and
    non-events separately (keeping their numbers).
    """
    n = y.shape[0]
    ids_a = np.asarray(ids, dtype=np.intp)
    U = np.empty((ids_a.size, n))
    for blk in np.unique(ids_a // BLOCK):
        sel = np.flatnonzero(ids_a // BLOCK == blk)
        block = _rng(seed, int(blk)).random((BLOCK, n))
        U[sel] = block[ids_a[sel] % BLOCK]
    if not stratified:
        flat: IntArray = np.minimum((U * n).astype(np.intp), n - 1)
        return flat
    ev = np.flatnonzero(y == 1)
    ne = np.flatnonzero(y == 0)
    a = ev[np.minimum((U[:, : ev.size] * ev.size).astype(np.intp), ev.size - 1)]
    b = ne[np.minimum((U[:, ev.size :] * ne.size).astype(np.intp), ne.size - 1)]
    return np.concatenate([a, b], axis=1)


def _cv_split(y: FloatArray, seed: int | None, i: int, k: int) -> tuple[IntArray, IntArray]:
    r, fold = divmod(i, k)
    rng = _rng(seed, r)
    folds = np.empty(y.shape[0], dtype=np.intp)
    start = 0
    for cls in (1.0, 0.0):
        rows = rng.permutation(np.flatnonzero(y == cls))
        folds[rows] = (np.arange(rows.size) + start) % k
        start += rows.size
    return np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)


def _take(X: Any, rows: IntArray) -> Any:
    if isinstance(X, pd.DataFrame):
        return X.iloc[rows].reset_index(drop=True)
    return np.asarray(X)[rows]


def _fit_predict(
    fit_fn: FitFn, X: Any, y: FloatArray, train: IntArray, test: IntArray | None, resample: str
) -> tuple[FloatArray, FloatArray, str | None]:
    """Fit on ``train`` rows; return lp on train rows, lp on test rows (all rows if None)."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if resample == "weights":
                w = np.bincount(train, minlength=y.shape[0]).astype(np.float64)
                used = np.flatnonzero(w > 0)
                model = fit_fn(_take(X, used), y[used], w[used])
            else:
                model = fit_fn(_take(X, train), y[train], None)
            lp_train = np.asarray(model(_take(X, train)), dtype=np.float64).reshape(-1)
            lp_test = np.asarray(
                model(X if test is None else _take(X, test)), dtype=np.float64
            ).reshape(-1)
        bad = [w for w in caught if issubclass(w.category, _FAIL_WARNINGS)]
        if bad:
            return np.empty(0), np.empty(0), f"{bad[0].category.__name__}: {bad[0].message}"
    except _FIT_ERRORS as exc:
        return np.empty(0), np.empty(0), f"{type(exc).__name__}: {exc}"
    if not (np.all(np.isfinite(lp_train)) and np.all(np.isfinite(lp_test))):
        return np.empty(0), np.empty(0), "non-finite linear predictor"
    return lp_train, lp_test, None


def _indexes_row(lp: FloatArray, y: FloatArray, apparent: bool = False, null: str = "offset") -> FloatArray:
    out = lrm_indexes_batch(lp.reshape(1, -1), y.reshape(1, -1), apparent=apparent, null=null)
    return np.array([out[k][0] for k in _MEASURES])


class _Prefit:
    """A ``fit_fn`` returning a predictor fitted beforehand (or raising its fit's error)."""

    def __init__(self, got: Any) -> None:
        self.got = got

    def __call__(self, X: Any, y: Any, weights: Any = None) -> Any:
        if isinstance(self.got, Exception):
            raise self.got
        return self.got


def _run_chunk(
    fit_fn: FitFn,
    X: Any,
    y: FloatArray,
    indices: IntArray | None,
    ids: Sequence[int],
    *,
    kind: str,
    seed: int | None,
    stratified: bool,
    k: int,
    resample: str,
    convention: str,
    per_resample: PerResample | None = None,
) -> tuple[FloatArray, FloatArray, list[str], FloatArray | None]:
    """Run resamples ``ids``; return (len, 11) training and test index arrays, failures and
    the ``per_resample`` statistic's rows (None without one)."""
    with _single_thread_blas():
        return _run_chunk_inner(fit_fn, X, y, indices, ids, kind=kind, seed=seed, stratified=stratified,
                                k=k, resample=resample, convention=convention,
                                per_resample=per_resample)


def _run_chunk_inner(
    fit_fn: FitFn, X: Any, y: FloatArray, indices: IntArray | None, ids: Sequence[int], *,
    kind: str, seed: int | None, stratified: bool, k: int, resample: str, convention: str,
    per_resample: PerResample | None = None,
) -> tuple[FloatArray, FloatArray, list[str], FloatArray | None]:
    rms = convention == "rms"
    extra: dict[int, FloatArray] = {}
    train_stats = np.full((len(ids), len(_MEASURES)), np.nan)
    test_stats = np.full((len(ids), len(_MEASURES)), np.nan)
    failures: list[str] = []
    null = "rms" if rms else "offset"
    boot = _draw(y, seed, ids, stratified, indices) if kind == "boot" else None
    done: list[int] = []
    lp_tr: list[FloatArray] = []
    lp_te: list[FloatArray] = []
    # a pipeline that can fit many resamples at once (``fit_fn.fit_many``, e.g. the derivation
    # pipeline batching its Firth fits) fits the whole chunk first; each resample's predictor
    # (or the exception its fit raised) is then evaluated exactly as a single fit would be
    many = getattr(fit_fn, "fit_many", None)
    prefit: list[Any] | None = None
    if many is not None and boot is not None and resample == "rows":
        prefit = many([_take(X, boot[r]) for r in range(len(ids))],
                      [y[boot[r]] for r in range(len(ids))])
    for r, i in enumerate(ids):
        test: IntArray | None
        if boot is not None:
            train = boot[r]
            test = None
        else:
            train, test = _cv_split(y, seed, i, k)
        fn = fit_fn if prefit is None else _Prefit(prefit[r])
        lp_train, lp_test, err = _fit_predict(fn, X, y, train, test, resample)
        if err is not None:
            failures.append(err)
            continue
        if per_resample is not None:
            extra[r] = np.asarray(per_resample(train, lp_train, lp_test), dtype=np.float64)
        if boot is not None:  # equal lengths: indexes of the whole chunk in one batch below
            done.append(r)
            lp_tr.append(lp_train)
            lp_te.append(lp_test)
            continue
        train_stats[r] = _indexes_row(lp_train, y[train], apparent=rms, null=null)
        test_stats[r] = _indexes_row(lp_test, y if test is None else y[test], null=null)
    if boot is not None and done:
        rows = np.asarray(done)
        a = lrm_indexes_batch(np.stack(lp_tr), y[boot[rows]], apparent=rms, null=null)
        b = lrm_indexes_batch(np.stack(lp_te), y, null=null)
        train_stats[rows] = np.column_stack([a[m] for m in _MEASURES])
        test_stats[rows] = np.column_stack([b[m] for m in _MEASURES])
    stat: FloatArray | None = None
    if per_resample is not None and extra:
        stat = np.full((len(ids), next(iter(extra.values())).size), np.nan)
        for r, v in extra.items():
            stat[r] = v
    return train_stats, test_stats, failures, stat


def _chunks(total: int, size: int) -> list[list[int]]:
    if size > BLOCK:
        size = (size // BLOCK) * BLOCK  # whole blocks of draws per chunk
    return [list(range(s, min(total, s + size))) for s in range(0, total, size)]


def _execute(
    worker: Callable[..., tuple[FloatArray, FloatArray, list[str], FloatArray | None]],
    chunks: list[list[int]],
    *,
    n_jobs: int,
    scheduler: Any,
    progress: bool,
    label: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Iterator[tuple[int, tuple[FloatArray, FloatArray, list[str], FloatArray | None]]]:
    """Yield (chunk number, result) from local joblib workers or a Dask cluster."""
    total = sum(len(c) for c in chunks)
    bar = _progress(progress, label, total)
    try:
        if scheduler is not None:
            try:
                import distributed
            except ImportError:
                raise ModelError("a Dask scheduler was given, but Dask is not installed: "
                                 "pip install 'crsscore[dask]' (or run without --scheduler, "
                                 "on local cores with --jobs)") from None

            dist: Any = distributed  # untyped package
            client: Any = scheduler if isinstance(scheduler, dist.Client) else dist.Client(scheduler)
            try:
                data = client.scatter(list(args[1:]), broadcast=True)
                futures = [
                    client.submit(worker, args[0], *data, c, pure=False, **kwargs) for c in chunks
                ]
                order = {f.key: j for j, f in enumerate(futures)}
                for fut in dist.as_completed(futures):
                    j = order[fut.key]
                    res = fut.result()
                    bar(len(chunks[j]))
                    yield j, res
            finally:
                if client is not scheduler:
                    client.close()
        elif n_jobs == 1:
            for j, c in enumerate(chunks):
                res = worker(*args, c, **kwargs)
                bar(len(c))
                yield j, res
        else:
            from joblib import Parallel, delayed

            from crsscore.validation import wait_for_workers

            wait_for_workers()  # workers started ahead (prestart_workers) are reused here
            par = Parallel(n_jobs=n_jobs, return_as="generator")
            gen = par(delayed(worker)(*args, c, **kwargs) for c in chunks)
            for j, res in enumerate(gen):
                bar(len(chunks[j]))
                yield j, res
    finally:
        bar(-1)


def _progress(enabled: bool, label: str, total: int) -> Callable[[int], None]:
    if not enabled:
        return lambda k: None
    from rich.progress import Progress

    prog = Progress(transient=False)
    task = prog.add_task(label, total=total)
    prog.start()

    def advance(k: int) -> None:
        if k < 0:
            prog.stop()
        else:
            prog.advance(task, k)

    return advance


# ----------------------------------------------------------------------------------------------
# aggregation (predab.resample)


def _aggregate(
    orig: FloatArray,
    train: FloatArray,
    test: FloatArray,
    *,
    method: str,
    B: int,
    seed: int | None,
    y: FloatArray,
    stratified: bool,
    failures: list[str],
    kept: pd.Series | None = None,
    options: dict[str, Any] | None = None,
) -> ValidationResult:
    ok = ~np.all(np.isnan(train), axis=1)
    n_failed = int((~ok).sum())
    if not ok.any():
        raise ModelError(
            f"all {B} resample fits failed; first failure: {failures[0] if failures else 'unknown'}"
        )
    tr, te = train[ok], test[ok]
    valid = ~(np.isnan(tr) | np.isnan(te))
    num = valid.sum(axis=0)
    with np.errstate(invalid="ignore"):
        tr_m = np.where(valid, tr, 0.0).sum(axis=0) / num
        te_m = np.where(valid, te, 0.0).sum(axis=0) / num
    opt = tr_m - te_m
    corr = orig - opt
    rows: dict[str, list[float]] = {}
    pos = {m: j for j, m in enumerate(_MEASURES)}
    for name in INDEX_NAMES:
        if name == "Emax":
            continue
        j = pos[name]
        rows[name] = [orig[j], tr_m[j], te_m[j], opt[j], corr[j], float(num[j])]
    e = float(emax(rows["Intercept"][4], rows["Slope"][4])[0])
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(COLUMNS))
    emax_row = pd.DataFrame([[0.0, 0.0, e, e, e, rows["Dxy"][5]]], index=["Emax"], columns=list(COLUMNS))
    j = pos["C"]
    auc_row = pd.DataFrame([[orig[j], tr_m[j], te_m[j], opt[j], corr[j], float(num[j])]], index=["AUC"], columns=list(COLUMNS))
    table = pd.concat([table.loc[["Dxy"]], auc_row, table.loc[["R2", "Intercept", "Slope"]], emax_row,
                       table.loc[["D", "U", "Q", "B", "g", "gp"]]])
    table["n"] = table["n"].astype(int)
    table.index.name = "index"
    res = pd.DataFrame(
        np.column_stack([train, test]),
        columns=[f"training.{m}" for m in _MEASURES] + [f"test.{m}" for m in _MEASURES],
    )
    distinct = tuple(dict.fromkeys(failures))[:5]
    return ValidationResult(
        table=table, method=method, B=B, seed=seed, n_failed=n_failed, n=int(y.shape[0]),
        events=int(y.sum()), stratified=stratified, version=_version(), resamples=res,
        failures=distinct, kept=kept, options=options or {},
    )


def _check_y(y: ArrayLike, n_rows: int) -> FloatArray:
    ya = np.asarray(y, dtype=np.float64).reshape(-1)
    if ya.shape[0] != n_rows:
        raise ModelError(f"X has {n_rows} rows but y has {ya.shape[0]}")
    if not np.all(np.isin(ya, (0.0, 1.0))):
        raise ModelError("outcome must be coded 0/1 without missing values")
    if ya.sum() < 2 or ya.sum() > ya.shape[0] - 2:
        raise ModelError(f"need at least 2 events and 2 non-events; got {int(ya.sum())} events in {ya.shape[0]}")
    return ya


def _draw(
    y: FloatArray, seed: int | None, ids: Sequence[int], stratified: bool, indices: IntArray | None
) -> IntArray:
    if indices is not None:
        out: IntArray = indices[np.asarray(ids, dtype=np.intp)]
        return out
    return bootstrap_indices(y, seed, ids, stratified)


def _check_indices(indices: ArrayLike | None, n: int) -> IntArray | None:
    if indices is None:
        return None
    idx = np.asarray(indices)
    if idx.ndim != 2 or idx.shape[1] != n or idx.shape[0] < 1:
        raise ModelError(f"indices must be a (B, n = {n}) matrix of row numbers; got shape {idx.shape}")
    if not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= n:
        raise ModelError(f"indices must be integer row numbers in 0..{n - 1}")
    return idx.astype(np.intp)


def _check_convention(convention: str) -> None:
    if convention not in ("rms", "recalibrate"):
        raise ModelError(f"convention must be 'rms' or 'recalibrate'; got {convention!r}")


def _fix_seed(seed: int | None) -> int:
    """A given seed, or a fresh one drawn from OS entropy (stored in the result either way)."""
    if seed is None:
        return int(np.random.SeedSequence().entropy) % (2**63)  # type: ignore[arg-type]
    if int(seed) < 0:
        raise ModelError(f"seed must be a non-negative integer; got {seed}")
    return int(seed)


def _check_common(B: int, n_jobs: int) -> None:
    if B < 1:
        raise ModelError(f"B must be a positive number of resamples; got {B}")
    if n_jobs == 0:
        raise ModelError("n_jobs must be a positive number of workers or -1 for all cores")


def optimism_bootstrap(
    fit_fn: FitFn,
    X: Any,
    y: ArrayLike,
    *,
    B: int = 1000,
    seed: int | None,
    stratified: bool = True,
    n_jobs: int = 1,
    scheduler: Any = None,
    progress: bool = False,
    resample: str = "rows",
    chunk_size: int | None = None,
    convention: str = "rms",
    indices: ArrayLike | None = None,
    per_resample: PerResample | None = None,
) -> ValidationResult:
    """Bootstrap optimism-corrected rms indexes of a whole modelling pipeline.

    Parameters
    ----------
    fit_fn : ``fit_fn(X_train, y_train, weights) -> predictor``; ``predictor(X)`` returns the
        linear predictor (log-odds) for rows of ``X``.  With ``resample="rows"`` (default)
        ``X_train`` holds the resampled rows (duplicates included) and ``weights`` is None; with
        ``resample="weights"`` it holds each drawn row once and ``weights`` the counts.
    X : predictors (DataFrame or array) passed to ``fit_fn`` and the predictor.
    y : 0/1 outcome.
    B, seed : number of resamples and the seed (stored in the result).
    stratified : resample events and non-events separately (recommended for rare events).
    n_jobs : local worker processes (joblib); ``scheduler`` a Dask scheduler address
        (``"tcp://host:8786"``) or ``distributed.Client`` to run the chunks on a cluster.
    progress : show a rich progress bar.
    convention : ``"rms"`` (default) reports the apparent (index.orig, training) calibration as
        intercept 0 / slope 1 and a constant predictor's test intercept as ``logit(mean y)``,
        as ``validate.lrm``; ``"recalibrate"`` recalibrates the predictor on the training data
        too and calibrates a constant predictor by its offset (for pipelines whose predictor
        is not a likelihood fit on the training data, e.g. a fixed published score).
    indices : optional (B, n) matrix of 0-based row numbers giving the resamples explicitly
        (e.g. to reproduce another program's bootstrap); ``B``, ``seed`` and ``stratified`` are
        then not used for drawing.
    per_resample : optional ``statistic(train_rows, lp_train, lp_test) -> 1-D array``
        computed on each resample whose fit succeeded, from the same fit the indexes use;
        returned row by row in ``per_resample`` of the result (NaN rows for failed fits), so
        a caller needing more than the indexes (a calibration curve, an ROC band) reads it
        from this one bootstrap instead of running another.

    A resample whose fit raises a crsscore/numerical error, warns of separation or
    non-convergence, or predicts non-finite values counts as failed (``n_failed``).  With
    :func:`~crsscore.modeling.logistic.fit_logistic` a SeparationWarning means the ML estimates
    do not exist (an exact check), so a converged fit with extreme fitted probabilities is kept,
    as rms ``predab.resample`` keeps every fit that ``lrm.fit`` does not mark ``fail``.
    """
    _check_common(B, n_jobs)
    _check_convention(convention)
    seed = _fix_seed(seed)
    if resample not in ("rows", "weights"):
        raise ModelError(f"resample must be 'rows' or 'weights'; got {resample!r}")
    ya = _check_y(y, len(X))
    idx = _check_indices(indices, ya.shape[0])
    if idx is not None:
        B = idx.shape[0]
    all_rows = np.arange(ya.shape[0])
    lp_tr, _, err = _fit_predict(fit_fn, X, ya, all_rows, None, "rows")
    if err is not None:
        raise ModelError(f"the pipeline cannot be fitted on the original data: {err}")
    orig = _indexes_row(lp_tr, ya, apparent=convention == "rms")
    return _resampled(
        fit_fn, X, ya, orig, indices=idx, kind="boot", total=B, B=B, seed=seed, stratified=stratified, k=0,
        n_jobs=n_jobs, scheduler=scheduler, progress=progress, resample=resample,
        chunk_size=chunk_size, method="boot", convention=convention, per_resample=per_resample,
    )


def _resampled(
    fit_fn: FitFn, X: Any, ya: FloatArray, orig: FloatArray, *, indices: IntArray | None = None,
    kind: str, total: int, B: int,
    seed: int | None, stratified: bool, k: int, n_jobs: int, scheduler: Any, progress: bool,
    resample: str, chunk_size: int | None, method: str, convention: str,
    per_resample: PerResample | None = None,
) -> ValidationResult:
    workers = max(1, n_jobs if n_jobs > 0 else 8)
    size = chunk_size or max(1, math.ceil(total / (4 * workers)))
    chunks = _chunks(total, size)
    train = np.full((total, len(_MEASURES)), np.nan)
    test = np.full((total, len(_MEASURES)), np.nan)
    failures: list[str] = []
    kwargs = {"kind": kind, "seed": seed, "stratified": stratified, "k": k, "resample": resample,
              "convention": convention, "per_resample": per_resample}
    stats: dict[int, FloatArray] = {}
    for j, (tr, te, fl, st) in _execute(
        _run_chunk, chunks, n_jobs=n_jobs, scheduler=scheduler, progress=progress,
        label=f"{method} validation", args=(fit_fn, X, ya, indices), kwargs=kwargs,
    ):
        ids = chunks[j]
        train[ids] = tr
        test[ids] = te
        failures.extend(fl)
        if st is not None:
            stats[j] = st
    per: FloatArray | None = None
    if stats:
        per = np.full((total, next(iter(stats.values())).shape[1]), np.nan)
        for j, st in stats.items():
            per[chunks[j]] = st
    res = _aggregate(orig, train, test, method=method, B=B, seed=seed, y=ya,
                     stratified=stratified, failures=failures, options={"convention": convention})
    return res if per is None else ValidationResult(**{**res.__dict__, "per_resample": per})


def cv_validate(
    fit_fn: FitFn,
    X: Any,
    y: ArrayLike,
    *,
    k: int = 5,
    repeats: int = 20,
    seed: int | None,
    n_jobs: int = 1,
    scheduler: Any = None,
    progress: bool = False,
    convention: str = "rms",
) -> ValidationResult:
    """Repeated stratified k-fold cross-validation of a whole pipeline (rms layout).

    ``training`` averages the indexes on the k-1 training folds, ``test`` on the held-out fold,
    over ``k * repeats`` fits; ``index.corrected = index.orig - (training - test)``.
    """
    _check_common(repeats, n_jobs)
    _check_convention(convention)
    seed = _fix_seed(seed)
    ya = _check_y(y, len(X))
    if k < 2 or min(ya.sum(), ya.shape[0] - ya.sum()) < k:
        raise ModelError(f"k must be >= 2 and at most the number of events/non-events; got k = {k}")
    all_rows = np.arange(ya.shape[0])
    lp, _, err = _fit_predict(fit_fn, X, ya, all_rows, None, "rows")
    if err is not None:
        raise ModelError(f"the pipeline cannot be fitted on the original data: {err}")
    orig = _indexes_row(lp, ya, apparent=convention == "rms")
    res = _resampled(
        fit_fn, X, ya, orig, kind="cv", total=k * repeats, B=k * repeats, seed=seed,
        stratified=True, k=k, n_jobs=n_jobs, scheduler=scheduler, progress=progress,
        resample="rows", chunk_size=None, method="crossvalidation", convention=convention,
    )
    return ValidationResult(**{**res.__dict__, "options": {"k": k, "repeats": repeats, "convention": convention}})


# ----------------------------------------------------------------------------------------------
# fast path: rms validate(lrm(...), B, bw, rule)


def _lrm_chunk(
    Xa: FloatArray, ya: FloatArray, indices: IntArray | None, ids: Sequence[int], *,
    seed: int | None, stratified: bool, bw: bool, rule: str, sls: float, aics: float,
    firth: bool, start: FloatArray,
) -> tuple[FloatArray, FloatArray, list[str], NDArray[np.bool_]]:
    with _single_thread_blas():
        return _lrm_chunk_inner(Xa, ya, indices, ids, seed=seed, stratified=stratified, bw=bw, rule=rule,
                                sls=sls, aics=aics, firth=firth, start=start)


def _lrm_chunk_inner(
    Xa: FloatArray, ya: FloatArray, indices: IntArray | None, ids: Sequence[int], *,
    seed: int | None, stratified: bool,
    bw: bool, rule: str, sls: float, aics: float, firth: bool, start: FloatArray,
) -> tuple[FloatArray, FloatArray, list[str], NDArray[np.bool_]]:
    n, p = Xa.shape
    idx = _draw(ya, seed, ids, stratified, indices)
    flat = (idx + (np.arange(len(ids)) * n)[:, None]).reshape(-1)
    W = np.bincount(flat, minlength=len(ids) * n).reshape(len(ids), n).astype(np.float64)
    D = np.column_stack([np.ones(n), Xa])
    full = fit_logistic_batch(Xa, W, ya, firth=firth, start=None if firth else np.broadcast_to(start, (len(ids), p + 1)))
    ok = full.converged.copy()
    mask = np.ones((len(ids), p + 1), dtype=bool)
    coef = full.coef
    if bw:
        with np.errstate(all="ignore"):
            cov = full.cov(D, W)
        good = ok & np.all(np.isfinite(cov.reshape(len(ids), -1)), axis=1)
        approx = np.zeros_like(full.coef)
        mask[good], approx[good] = fastbw_batch_coef(full.coef[good], cov[good], rule=rule, sls=sls, aics=aics)
        ok &= good
        red = fit_logistic_batch(Xa, W, ya, mask=mask, firth=firth, start=None if firth else approx)
        ok &= red.converged
        coef = red.coef
        ll = red.loglik
    else:
        ll = full.loglik
    lp = coef @ D.T
    tr = np.full((len(ids), len(_MEASURES)), np.nan)
    te = np.full((len(ids), len(_MEASURES)), np.nan)
    if ok.any():
        # ML fits are their own recalibration on the training data: use their log-likelihood
        # training sample = original rows with their bootstrap counts as frequency weights
        order = np.argsort(lp[ok], axis=1, kind="stable")
        a = lrm_indexes_batch(lp[ok], ya, weights=W[ok], apparent=True, null="rms",
                              loglik=None if firth else ll[ok], order=order)
        b = lrm_indexes_batch(lp[ok], ya, null="rms", order=order)
        tr[ok] = np.column_stack([a[m] for m in _MEASURES])
        te[ok] = np.column_stack([b[m] for m in _MEASURES])
    fails = ["fit did not converge (separation or singular information)"] * int((~ok).sum())
    return tr, te, fails, mask[:, 1:] & ok[:, None]


def validate_lrm(
    X: ArrayLike | pd.DataFrame,
    y: ArrayLike,
    *,
    B: int = 1000,
    bw: bool = False,
    rule: str = "aic",
    sls: float = 0.05,
    aics: float = 0.0,
    seed: int | None,
    stratified: bool = False,
    firth: bool = False,
    names: Sequence[str] | None = None,
    n_jobs: int = 1,
    chunk_size: int | None = None,
    indices: ArrayLike | None = None,
) -> ValidationResult:
    """Fast equivalent of ``rms::validate(lrm(y ~ X, x = TRUE, y = TRUE), B, bw, rule)``.

    Every resample refits the full model; with ``bw=True`` rms ``fastbw`` (``rule``, ``sls``,
    ``aics``, type "residual") selects variables and the kept ones are refitted, as in rms.
    ``index.orig`` uses the original-data fit (after fastbw when ``bw``).  Not stratified by
    default, like rms.  ``kept`` in the result gives how often each variable was selected.
    ``indices`` (B, n) gives the resamples explicitly: with R's ``sample(n, replace = TRUE)``
    draws (minus 1) the result equals rms ``validate`` exactly (``tests/validation``).

    As in rms, a resample fails (``n_failed``, left out of the averages) only when its fit does
    not converge (separated data, whose estimates diverge), has a singular information matrix
    or non-finite estimates; a converged fit with fitted probabilities near 0 or 1 is kept.
    """
    _check_common(B, n_jobs)
    seed = _fix_seed(seed)
    if isinstance(X, pd.DataFrame):
        cols = [str(c) for c in X.columns] if names is None else list(names)
        Xa = X.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        Xa = np.asarray(X, dtype=np.float64)
        if Xa.ndim == 1:
            Xa = Xa.reshape(-1, 1)
        cols = [f"x{i + 1}" for i in range(Xa.shape[1])] if names is None else list(names)
    ya = _check_y(y, Xa.shape[0])
    idx = _check_indices(indices, ya.shape[0])
    if idx is not None:
        B = idx.shape[0]
    fit = fit_logistic(Xa, ya, names=cols, firth=firth)
    start = fit.coef.copy()  # warm start of every resample's full fit
    keep_orig = list(range(len(cols)))
    if bw:
        fb = fastbw(fit, rule=rule, sls=sls, aics=aics)
        if not fb.names_kept:
            raise ModelError("no variables kept in the original model by fastbw (as rms, cannot validate)")
        keep_orig = [cols.index(c) for c in fb.names_kept]
        fit = fit_logistic(Xa[:, keep_orig], ya, names=[cols[i] for i in keep_orig], firth=firth)
    orig = _indexes_row(fit.predict_lp(Xa[:, keep_orig]), ya, apparent=True)
    size = chunk_size or max(BLOCK, min(250, int(2e6 // Xa.shape[0]) // BLOCK * BLOCK))
    chunks = _chunks(B, size)
    train = np.full((B, len(_MEASURES)), np.nan)
    test = np.full((B, len(_MEASURES)), np.nan)
    kept = np.zeros((B, len(cols)), dtype=bool)
    failures: list[str] = []
    kw = {"seed": seed, "stratified": stratified, "bw": bw, "rule": rule, "sls": sls, "aics": aics, "firth": firth,
          "start": start}
    if n_jobs == 1:
        results: Iterator[tuple[FloatArray, FloatArray, list[str], NDArray[np.bool_]]] = (
            _lrm_chunk(Xa, ya, idx, c, **kw) for c in chunks  # type: ignore[arg-type]
        )
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(_lrm_chunk)(Xa, ya, idx, c, **kw) for c in chunks
        )
    for c, (tr, te, fl, kp) in zip(chunks, results, strict=True):
        train[c], test[c], kept[c] = tr, te, kp
        failures.extend(fl)
    ok = ~np.isnan(train[:, 0])
    freq = pd.Series(kept[ok].mean(axis=0) if ok.any() else np.zeros(len(cols)), index=cols, name="kept")
    return _aggregate(
        orig, train, test, method="boot", B=B, seed=seed, y=ya, stratified=stratified,
        failures=failures, kept=freq if bw else None,
        options={"bw": bw, "rule": rule, "sls": sls, "firth": firth, "kept_orig": [cols[i] for i in keep_orig]},
    )
