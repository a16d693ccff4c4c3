"""``columnar.frame_of``: the loaders' one-call frame builder is ``pd.DataFrame(dict)``.

The loaders build their tables with it on every request of the ward monitor (issue 17), so it
must give the very frame pandas' constructor gives (dtypes, labels, index, values) and own
its data the same way (no array shared with the caller or with another frame).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crsscore.columnar import categorical, constant, decode, frame_of


def _columns(n: int) -> dict[str, object]:
    rng = np.random.default_rng(7)
    text = pd.array([None if i % 3 == 0 else f"p{i}" for i in range(n)], dtype="str")
    return {
        "_row": np.arange(n, dtype=np.int64) + 2,
        "_src": constant(n, "observations"),
        "patient_id": text,
        "analyte": categorical(rng.integers(-1, 2, n), ["crp", "ferritin"]),
        "value": rng.normal(size=n),
        "_orig": rng.normal(size=n),
        "flag": rng.integers(0, 2, n).astype(bool),
        "when": np.array(["2024-01-01"] * n, dtype="datetime64[ns]"),
        "obj": np.array([None if i % 2 else i for i in range(n)], dtype=object),
    }


@pytest.mark.parametrize("n", [0, 1, 9, 1000])
def test_frame_of_is_the_frame_pandas_builds(n: int) -> None:
    cols = _columns(n)
    got, want = frame_of(cols), pd.DataFrame(cols)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert list(got.dtypes) == list(want.dtypes)
    assert got.columns.dtype == want.columns.dtype
    assert type(got.index) is type(want.index) and got.index.equals(want.index)


def test_frame_of_takes_other_labels_as_pandas_does() -> None:
    cols = {"a": np.arange(3), 5: np.ones(3), ("t", 1): decode(np.array([0, -1, 0]), ["x"]).array}
    got, want = frame_of(cols), pd.DataFrame(cols)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got.columns.dtype == want.columns.dtype


def test_frame_of_shares_no_data() -> None:
    values = np.ones(3)
    text = pd.array(["a", "b", "c"], dtype="str")
    first = frame_of({"v": values, "w": values, "t": text})
    second = frame_of({"v": values, "w": values, "t": text})
    values[0] = 5.0
    first.loc[1, "w"] = 7.0
    first.loc[0, "t"] = "z"
    first.columns.name = "renamed"
    assert first["v"].tolist() == [1.0, 1.0, 1.0]
    assert second["w"].tolist() == [1.0, 1.0, 1.0] and second["t"].tolist() == ["a", "b", "c"]
    assert text[0] == "a" and second.columns.name is None


@pytest.mark.parametrize("bad", [{"a": np.ones(2), "b": np.ones(3)},
                                 {"a": pd.Series([1.0, 2.0])},
                                 {"a": np.ones((2, 2))}])
def test_frame_of_refuses_what_is_not_one_length_of_1d_arrays(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="1-D array"):
        frame_of(bad)
