#!/usr/bin/env bash
# Create a separate virtualenv holding FasterRisk 0.1.10 for the side-by-side benchmark
# (benchmarks/bench_intscore.py).  FasterRisk pins old releases (numpy < 2, scikit-learn 1.2,
# pandas 1.5), so it is installed with --no-deps next to a numpy 1.26 stack, never into the
# project's environment and never as a project dependency.
#
# Usage: bash benchmarks/fasterrisk_env.sh [VENV_DIR]     (default: /tmp/fr-venv)
# Then:  .venv/bin/python benchmarks/bench_intscore.py --fasterrisk-python VENV_DIR/bin/python
set -euo pipefail
VENV="${1:-/tmp/fr-venv}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# What fasterrisk 0.1.10 imports at run time, at releases that work with numpy 1.26.
"$VENV/bin/python" -m pip install --quiet \
    "numpy==1.26.4" "scipy>=1.11,<1.14" "scikit-learn>=1.3,<1.6" "pandas>=2.1,<2.3" \
    "requests" "matplotlib>=3.8,<3.10"
"$VENV/bin/python" -m pip install --quiet --no-deps "fasterrisk==0.1.10"
"$VENV/bin/python" -c "import fasterrisk, numpy; print('fasterrisk ok, numpy', numpy.__version__)"
