"""Shared fixtures of the dynamic-model tests (small simulated cohorts, fitted once)."""

from __future__ import annotations

import pytest

from crsscore.data.cohort import Cohort
from crsscore.data.simulate import simulate_cohort
from crsscore.modeling.dynamic import DynamicModel, fit_dynamic
from crsscore.modeling.persondays import PersonDays, build_person_days


@pytest.fixture(scope="package")
def cohort() -> Cohort:
    return simulate_cohort(125, seed=3)


@pytest.fixture(scope="package")
def pdays(cohort: Cohort) -> PersonDays:
    return build_person_days(cohort)


@pytest.fixture(scope="package")
def model(pdays: PersonDays) -> DynamicModel:
    return fit_dynamic(pdays, seed=1)
