"""Root of the test tree: makes the shared test helpers beside it (``live_server``) importable."""

from pathlib import Path
from typing import Any

import pytest

# ------------------------------------------------------------------------------------------
# the simulated cohort (n = 125, seed 1) on disk and a dynamic card fitted on it: used by the
# ward-monitor tests and the monitor's command-line tests (built on first use, once)

@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from crsscore.data.simulate import simulate_cohort, write_cohort

    out = tmp_path_factory.mktemp("sim") / "cohort"
    write_cohort(simulate_cohort(n=125, seed=1), out)
    return out


@pytest.fixture(scope="session")
def sim_cohort(sim_dir: Path) -> Any:
    from crsscore.data.io import load_cohort

    return load_cohort(sim_dir)


@pytest.fixture(scope="session")
def dyn_card(sim_cohort: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A dynamic card fitted on the simulated cohort."""
    from crsscore.modeling.dynamic import fit_dynamic
    from crsscore.modeling.persondays import build_person_days

    pdays = build_person_days(sim_cohort)
    return fit_dynamic(pdays, seed=1).to_card(card_id="test-dynamic")


@pytest.fixture(scope="session")
def card_file(dyn_card: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("card") / "dynamic.json"
    path.write_text(dyn_card.model_dump_json(indent=2), encoding="utf-8")
    return path
