"""Learned integer point scores vs FasterRisk 0.1.10 and L1-then-round, side by side.

On the RiskSLIM benchmark data (``<name>_data.csv``: first column the 0/1 label;
``<name>_cvindices.csv``: fold 1-5 of each row), with the given folds and at most ``k``
features, reports the test AUC (mean +- SD over folds) and the fit wall time (sum over folds)
of

* ``crsscore``: :class:`crsscore.modeling.intscore.IntegerScoreClassifier` (defaults);
* ``FasterRisk``: FasterRisk 0.1.10 with its default settings, run by
  ``benchmarks/fasterrisk_runner.py`` in its own virtualenv (``benchmarks/fasterrisk_env.sh``),
  never imported here;
* ``L1-round``: L1 logistic regression at the largest penalty path point with at most ``k``
  features, scaled so that max |beta| = 5 and rounded.

Usage (from the repository root)::

    bash benchmarks/fasterrisk_env.sh /tmp/fr-venv
    .venv/bin/python benchmarks/bench_intscore.py --fasterrisk-python /tmp/fr-venv/bin/python \\
        --write-reference

``--certify SECONDS`` also runs the exact MIP check (``certify=True``) of crsscore's score on
every fold, with that time limit, and prints whether it is proven optimal at its multiplier.

``--write-reference`` stores the crsscore results for the fast data sets (mammo,
breastcancer) in ``tests/modeling/intscore_reference.json``, which the test suite checks.
The data are read where they are (``--data-dir``), never copied.  ``wdbc`` (continuous
columns: scikit-learn's breast-cancer data, 569 x 30, fixed stratified folds from a seed) is
written to a temporary folder for the run, so FasterRisk reads the same folds.
"""

from __future__ import annotations

import os

# One BLAS thread for both sides (set before numpy loads): the machine is shared and small
# matrices gain nothing from threads.  The FasterRisk subprocess inherits the same setting.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.svm import l1_min_c  # noqa: E402

from crsscore.modeling.intscore import IntegerScoreClassifier  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "riskslim"
REFERENCE = ROOT / "tests" / "modeling" / "intscore_reference.json"
FAST = ("mammo", "breastcancer")
#: continuous data sets made here (no download, nothing copied into the repository)
CONTINUOUS = ("wdbc",)
ALL = ("mammo", "breastcancer", "mushroom", "adult", *CONTINUOUS)
FOLD_SEED = 2026


def make_continuous(name: str, out_dir: Path) -> None:
    """Write ``<name>_data.csv`` and ``<name>_cvindices.csv`` (RiskSLIM layout) to ``out_dir``.

    ``wdbc``: the Wisconsin diagnostic breast-cancer data scikit-learn ships
    (``load_breast_cancer``, 569 x 30 continuous columns, label 1 = malignant), five stratified
    folds drawn with seed ``FOLD_SEED``.
    """
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import StratifiedKFold

    if name != "wdbc":
        raise ValueError(name)
    bc = load_breast_cancer()
    y = 1 - bc.target  # sklearn codes malignant as 0
    frame = pd.DataFrame(bc.data, columns=[c.replace(" ", "_") for c in bc.feature_names])
    frame.insert(0, "malignant", y)
    frame.to_csv(out_dir / f"{name}_data.csv", index=False)
    folds = np.zeros(len(y), dtype=int)
    skf = StratifiedKFold(n_splits=5, shuffle=True, random_state=FOLD_SEED)
    for f, (_, te) in enumerate(skf.split(bc.data, y), start=1):
        folds[te] = f
    pd.Series(folds).to_csv(out_dir / f"{name}_cvindices.csv", index=False, header=False)


def load(data_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data = pd.read_csv(data_dir / f"{name}_data.csv")
    y = data.iloc[:, 0].to_numpy(dtype=float)
    X = data.iloc[:, 1:].to_numpy(dtype=float)
    folds = pd.read_csv(data_dir / f"{name}_cvindices.csv", header=None).iloc[:, 0].to_numpy()
    return X, y, folds


def run_crsscore(X: np.ndarray, y: np.ndarray, folds: np.ndarray, k: int) -> dict[str, Any]:
    out = []
    for f in sorted(np.unique(folds)):
        tr, te = folds != f, folds == f
        t0 = time.perf_counter()
        clf = IntegerScoreClassifier(max_features=k).fit(X[tr], y[tr])
        elapsed = time.perf_counter() - t0
        auc = float(roc_auc_score(y[te], clf.decision_function(X[te])))
        out.append({"fold": int(f), "test_auc": auc, "train_loss": clf.best_.loss,
                    "seconds": elapsed, "support": list(clf.best_.support),
                    "points": [int(clf.coef_[j]) for j in clf.best_.support]})
    return summarise(out)


def run_certify(X: np.ndarray, y: np.ndarray, folds: np.ndarray, k: int,
                limit: float) -> list[dict[str, Any]]:
    out = []
    for f in sorted(np.unique(folds)):
        tr, te = folds != f, folds == f
        clf = IntegerScoreClassifier(max_features=k, certify=True,
                                     certify_time_limit=limit).fit(X[tr], y[tr])
        cert = clf.certificate_
        assert cert is not None
        out.append({"fold": int(f), "status": cert.status, "gap": cert.gap, "scope": cert.scope,
                    "upper": cert.upper, "lower": cert.lower, "improved": cert.improved,
                    "seconds": cert.seconds, "iterations": cert.iterations,
                    "test_auc": float(roc_auc_score(y[te], clf.decision_function(X[te])))})
    return out


def run_l1_round(X: np.ndarray, y: np.ndarray, folds: np.ndarray, k: int) -> dict[str, Any]:
    out = []
    for f in sorted(np.unique(folds)):
        tr, te = folds != f, folds == f
        t0 = time.perf_counter()
        c0 = l1_min_c(X[tr], y[tr], loss="log")
        best = None
        model = LogisticRegression(l1_ratio=1.0, solver="liblinear", tol=1e-6, max_iter=1000)
        for c in c0 * np.logspace(0, 4, 40):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.set_params(C=c).fit(X[tr], y[tr])
            beta = model.coef_.ravel()
            if np.count_nonzero(beta) > k:
                break
            best = beta.copy()
        assert best is not None
        points = np.round(best * 5.0 / max(np.abs(best).max(), 1e-12))
        elapsed = time.perf_counter() - t0
        auc = float(roc_auc_score(y[te], X[te] @ points)) if np.any(points) else 0.5
        out.append({"fold": int(f), "test_auc": auc, "seconds": elapsed,
                    "support": [int(j) for j in np.flatnonzero(points)],
                    "points": [int(v) for v in points[points != 0]]})
    return summarise(out)


def run_fasterrisk(python: str, data_dir: Path, name: str, k: int) -> dict[str, Any]:
    runner = ROOT / "benchmarks" / "fasterrisk_runner.py"
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    res = subprocess.run([python, str(runner), str(data_dir / f"{name}_data.csv"),
                          str(data_dir / f"{name}_cvindices.csv"), str(k)],
                         capture_output=True, text=True, check=True, env=env)
    return summarise(json.loads(res.stdout)["folds"])


def summarise(folds: list[dict[str, Any]]) -> dict[str, Any]:
    aucs = np.array([f["test_auc"] for f in folds])
    return {"test_auc_mean": float(aucs.mean()), "test_auc_sd": float(aucs.std(ddof=1)),
            "seconds": float(sum(f["seconds"] for f in folds)), "folds": folds}


def fmt(r: dict[str, Any] | None) -> str:
    if r is None:
        return "-"
    return f"{r['test_auc_mean']:.4f} +- {r['test_auc_sd']:.4f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--datasets", nargs="+", default=list(ALL), choices=ALL)
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--fasterrisk-python", default="/tmp/fr-venv/bin/python",
                    help="interpreter of the FasterRisk virtualenv ('' to skip FasterRisk)")
    ap.add_argument("--certify", type=float, default=0.0, metavar="SECONDS",
                    help="also run the exact MIP check on every fold with this time limit")
    ap.add_argument("--json", type=Path, help="write all results to this JSON file")
    ap.add_argument("--write-reference", action="store_true",
                    help=f"store crsscore's mammo/breastcancer results in {REFERENCE.relative_to(ROOT)}")
    args = ap.parse_args(argv)
    fr_python = args.fasterrisk_python
    if fr_python and not Path(fr_python).exists():
        print(f"FasterRisk interpreter {fr_python} not found: run benchmarks/fasterrisk_env.sh; "
              "FasterRisk skipped", file=sys.stderr)
        fr_python = ""
    results: dict[str, dict[str, Any]] = {}
    rows = []
    cert_rows: list[str] = []
    made = Path(tempfile.mkdtemp(prefix="crsscore-intscore-"))
    for name in args.datasets:
        data_dir = args.data_dir
        if name in CONTINUOUS:
            make_continuous(name, made)
            data_dir = made
        X, y, folds = load(data_dir, name)
        ours = run_crsscore(X, y, folds, args.k)
        l1 = run_l1_round(X, y, folds, args.k)
        fr = run_fasterrisk(fr_python, data_dir, name, args.k) if fr_python else None
        results[name] = {"rows": int(X.shape[0]), "features": int(X.shape[1]),
                         "crsscore": ours, "l1_round": l1, "fasterrisk": fr}
        if args.certify > 0:
            certs = run_certify(X, y, folds, args.k, args.certify)
            results[name]["certify"] = certs
            glob = sum(c["status"] == "optimal" and c["scope"] == "all multipliers" for c in certs)
            cert_rows.append(
                f"| {name} | {sum(c['status'] == 'optimal' for c in certs)}/{len(certs)} | "
                f"{glob}/{len(certs)} | "
                f"{max(c['gap'] for c in certs):.1e} | "
                f"{sum(c['improved'] for c in certs)} | "
                f"{min(c['seconds'] for c in certs):.1f} to {max(c['seconds'] for c in certs):.1f} |")
            print(cert_rows[-1], file=sys.stderr, flush=True)
        if fr is not None:
            lower = sum(a["train_loss"] <= b["train_loss"] + 1e-6
                        for a, b in zip(ours["folds"], fr["folds"], strict=True))
            ratio = f"{ours['seconds'] / fr['seconds']:.3f}"
            fr_time = f"{fr['seconds']:.1f}"
            loss_col = f"{lower}/{len(ours['folds'])}"
        else:
            ratio = fr_time = loss_col = "-"
        rows.append(f"| {name} | {X.shape[0]} x {X.shape[1]} | {fmt(ours)} | {fmt(fr)} | "
                    f"{fmt(l1)} | {ours['seconds']:.2f} | {fr_time} | {ratio} | {loss_col} |")
        print(rows[-1], file=sys.stderr, flush=True)
    header = ("| data | rows x features | crsscore test AUC | FasterRisk test AUC | L1-round "
              "test AUC | crsscore fit s | FasterRisk fit s | time ratio | folds with "
              "train loss <= FasterRisk |\n|---|---|---|---|---|---|---|---|---|")
    print(header)
    print("\n".join(rows))
    if cert_rows:
        print("\n| data | folds proven optimal | of which over all multipliers | largest gap | "
              "folds where the check found a better score | check seconds per fold |\n"
              "|---|---|---|---|---|---|")
        print("\n".join(cert_rows))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.write_reference:
        ref = {"k": args.k, "tolerance": 0.005,
               "command": "benchmarks/bench_intscore.py --write-reference",
               "datasets": {nm: {"test_auc_mean": round(results[nm]["crsscore"]["test_auc_mean"], 6),
                                 "test_auc_sd": round(results[nm]["crsscore"]["test_auc_sd"], 6)}
                            for nm in FAST if nm in results}}
        REFERENCE.write_text(json.dumps(ref, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
