"""The error tree: every error crsscore raises on purpose is a CrsscoreError."""

from __future__ import annotations

import inspect

import pytest

from crsscore import errors


def test_every_error_class_is_a_crsscore_error() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if c.__module__ == errors.__name__ and issubclass(c, Exception)
               and not issubclass(c, Warning)]
    assert {c.__name__ for c in classes} >= {"DataError", "UnitError", "MappingError",
                                             "ModelError", "ScoreCardError"}
    assert all(issubclass(c, errors.CrsscoreError) for c in classes)


def test_service_input_errors_join_the_tree() -> None:
    """Issue 19.5: the service's refusals are caught by ``except CrsscoreError`` too."""
    pytest.importorskip("fastapi")
    from crsscore.service.inputs import InputError, InputProblem
    from crsscore.service.routers.calculate import BatchInputError

    problem = InputProblem("crp", "value", "not a number", "invalid")
    with pytest.raises(errors.CrsscoreError, match="not a number"):
        raise InputError([problem])
    with pytest.raises(errors.CrsscoreError) as info:
        raise BatchInputError([problem], fmt="csv")
    assert isinstance(info.value, InputError) and info.value.fmt == "csv"
