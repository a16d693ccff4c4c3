"""Run FasterRisk 0.1.10 on one RiskSLIM benchmark data set, fold by fold.

Executed by ``benchmarks/bench_intscore.py`` inside the separate FasterRisk virtualenv made by
``benchmarks/fasterrisk_env.sh`` (numpy 1.26), never in the project's environment.  Prints one
JSON object on stdout: per fold, the test AUC, training log-loss (sum) and fit wall time of
the top model, with FasterRisk's default settings and the given ``k``.

Usage: python fasterrisk_runner.py DATA_CSV CVINDICES_CSV K
"""

import json
import sys
import time

import numpy as np
import pandas as pd
from fasterrisk.fasterrisk import RiskScoreClassifier, RiskScoreOptimizer
from sklearn.metrics import roc_auc_score


def main() -> None:
    data_csv, cv_csv, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = pd.read_csv(data_csv)
    y01 = data.iloc[:, 0].to_numpy(dtype=float)
    X = data.iloc[:, 1:].to_numpy(dtype=float)
    y = 2.0 * y01 - 1.0
    folds = pd.read_csv(cv_csv, header=None).iloc[:, 0].to_numpy()
    out = []
    for f in sorted(np.unique(folds)):
        tr, te = folds != f, folds == f
        t0 = time.perf_counter()
        opt = RiskScoreOptimizer(X=X[tr], y=y[tr], k=k)
        opt.optimize()
        mult, b0, betas = opt.get_models(model_index=0)
        elapsed = time.perf_counter() - t0
        clf = RiskScoreClassifier(mult, b0, betas)
        z_tr = (b0 + X[tr] @ betas) / mult
        loss = float(np.sum(np.logaddexp(0.0, -y[tr] * z_tr)))
        auc = float(roc_auc_score(y01[te], clf.predict_prob(X[te])))
        out.append({"fold": int(f), "test_auc": auc, "train_loss": loss, "seconds": elapsed,
                    "support": [int(j) for j in np.flatnonzero(betas)],
                    "points": [round(float(v)) for v in betas[np.flatnonzero(betas)]]})
    json.dump({"folds": out}, sys.stdout)


if __name__ == "__main__":
    main()
