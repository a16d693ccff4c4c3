"""Integer codes of table columns, computed once per distinct value, and back to text.

The loaders and checks work on distinct values (patient ids, analytes, units), never on
millions of rows in a Python loop; these helpers give the codes and the distinct values
(pyarrow's dictionary encoding for Arrow-backed text) and build text or categorical columns
from them.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api.extensions import ExtensionArray

#: A column: a Series or the array it holds (a frame's column or one about to become one).
Column = pd.Series | ExtensionArray


def _array(column: Column) -> ExtensionArray:
    return column.array if isinstance(column, pd.Series) else column


def _arrow_strings(column: Column) -> Any:
    import pyarrow as pa

    dtype = column.dtype
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        # the array's own Arrow data where pandas exposes it (no conversion), else converted
        # from the array (the same values, ~70 us less a call than from the Series)
        arr = getattr(_array(column), "_pa_array", None)
        if arr is None:
            arr = pa.array(_array(column))
        return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    return None


def encode_text(column: Column) -> tuple[npt.NDArray[np.int64], list[Any]] | None:
    """:func:`encode` of an Arrow-backed string column by Arrow's dictionary encoding (codes
    and values in order of appearance, as ``pd.factorize``); None for any other column."""
    import pyarrow.compute as pc

    arr = _arrow_strings(column)
    if arr is None:
        return None
    encoded = pc.dictionary_encode(arr)
    indices = encoded.indices
    # fill_null costs a compute call (~20 us): only when there is a null to fill
    codes = (indices.fill_null(-1) if indices.null_count else indices).to_numpy(
        zero_copy_only=False)
    return codes.astype(np.int64), list(encoded.dictionary.to_pylist())


def encode(column: Column) -> tuple[npt.NDArray[np.int64], list[Any]]:
    """Integer codes (-1 for missing) and the distinct values, like ``pd.factorize`` of the
    column as a Series."""
    text = encode_text(column)
    if text is not None:
        return text
    cat = _array(column)  # a Categorical itself: .cat.codes builds a Series first
    if isinstance(cat, pd.Categorical):
        return np.asarray(cat.codes).astype(np.int64), list(cat.categories)
    series = column if isinstance(column, pd.Series) else pd.Series(column)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return codes.astype(np.int64), list(uniques)


def decode(codes: npt.NDArray[np.int64], uniques: Sequence[object]) -> pd.Series:
    """The text series whose value at i is ``uniques[codes[i]]`` (None/-1: missing)."""
    import pyarrow as pa

    dictionary = pa.array([None if u is None else str(u) for u in uniques],
                          type=pa.large_string())
    if len(dictionary) == 0:
        return pd.Series([None] * len(codes), dtype="str")
    indices = pa.array(np.where(codes < 0, 0, codes), mask=codes < 0, type=pa.int64())
    arr = pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.large_string())
    # wrapped as the "str" dtype's array directly: pd.Series(arr, dtype="str") converts it
    # again (~0.1 ms a call on a few rows)
    # (pandas 3's signature has dtype=; pandas-stubs does not know it yet)
    return pd.Series(pd.arrays.ArrowStringArray(arr, dtype=_STR))  # type: ignore[call-arg]


_STR = pd.StringDtype(storage="pyarrow", na_value=np.nan)  # the "str" dtype of pandas 3


def categorical(codes: npt.NDArray[np.integer[Any]], categories: Sequence[str]
                ) -> pd.Categorical[str]:
    """The categorical of ``categories[codes]`` (-1: missing)."""
    return pd.Categorical.from_codes(codes, dtype=_categorical_dtype(tuple(categories)))


@functools.lru_cache(maxsize=256)
def _categorical_dtype(categories: tuple[str, ...]) -> pd.CategoricalDtype[str]:
    # An index of text costs about 0.1 ms to build in pandas 3, and its dtype validates it
    # again (~5 us): once per set of categories (analyte codes, file labels), which matters
    # on the monitor's few-row requests.  A dtype is immutable: shared by the categoricals.
    return pd.CategoricalDtype(pd.Index(list(categories)))


def frame_of(columns: dict[Any, Any]) -> pd.DataFrame:
    """``pd.DataFrame(columns)`` for 1-D arrays of one length (numpy or pandas arrays, not
    Series or scalars), on a fresh RangeIndex.

    The same frame (dtypes, column labels, index) at a fraction of the fixed cost on a few
    rows: pandas builds an Index of text for the labels on every call (about 0.1 ms in
    pandas 3, Arrow-backed); here it is built once per set of labels (each frame gets its own
    view of it: renaming one frame's labels leaves the others alone), and the arrays go
    through pandas' own checks (``verify_integrity``).
    """
    names = tuple(columns)
    n = len(next(iter(columns.values()))) if columns else 0
    arrays: list[Any] = []
    for name, arr in columns.items():
        if isinstance(arr, pd.Series | pd.Index) or np.ndim(arr) != 1 or len(arr) != n:
            raise ValueError(f"column {name!r}: a 1-D array of length {n} is expected")
        # copied as pd.DataFrame(dict) does (numpy arrays are copied into blocks by pandas)
        arrays.append(arr.copy() if isinstance(arr, pd.api.extensions.ExtensionArray) else arr)
    out: pd.DataFrame = pd.DataFrame._from_arrays(  # type: ignore[attr-defined]
        arrays, columns=_labels(names).view(), index=pd.RangeIndex(n), verify_integrity=True)
    return out


def column_of(values: Sequence[Any]) -> Any:
    """The 1-D array of the column ``pd.DataFrame({name: list(values)})`` holds (for
    :func:`frame_of`).

    Built directly where every value is a float (float64) or every value is text (the "str"
    dtype: Arrow text, as pandas stores it); any other list through pandas' own inference
    (~30 us less a column on a few rows, which the monitor's requests pay per column).
    """
    kinds = {type(v) for v in values}
    if kinds == {float}:
        return np.array(values, dtype=np.float64)
    if kinds == {str}:
        return text_array(values)
    column = pd.DataFrame({0: list(values)})[0]
    return column.array if isinstance(column.dtype, pd.api.extensions.ExtensionDtype) \
        else column.to_numpy()


@functools.lru_cache(maxsize=256)
def _labels(names: tuple[Hashable, ...]) -> pd.Index:
    return pd.Index(list(names))


def as_float(values: pd.Series) -> npt.NDArray[np.float64]:
    """A column as float64, NaN for what is not a number (``pd.to_numeric(errors="coerce")``),
    without ``to_numeric``'s overhead when the column already holds numbers."""
    dt = values.dtype
    if isinstance(dt, np.dtype) and dt.kind in "fiu":  # plain numpy numbers
        return np.asarray(values.to_numpy(), dtype=np.float64)
    if pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt):
        return np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    return np.asarray(pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64,
                                                                       na_value=np.nan),
                      dtype=np.float64)


def constant(n: int, value: str) -> pd.Categorical[str]:
    return categorical(np.zeros(n, dtype=np.int8), categories=[value])


def is_missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def text_or_none(value: object) -> str | None:
    return None if value is None or is_missing(value) else str(value)


def text_array(values: Sequence[str | None]) -> pd.api.extensions.ExtensionArray:
    """The pandas "str" array of Python strings (None: missing), as ``pd.Series(values)``
    makes it, built by Arrow in one call (pandas' own conversion checks every value in
    Python: ~0.1 ms a column on a few rows)."""
    import pyarrow as pa

    arr = pa.array(values, type=pa.large_string())
    # (pandas 3's signature has dtype=; pandas-stubs does not know it yet)
    return pd.arrays.ArrowStringArray(arr, dtype=_STR)  # type: ignore[call-arg]


__all__ = ["Column", "as_float", "categorical", "column_of", "constant", "decode", "encode",
           "encode_text", "frame_of", "is_missing", "text_array", "text_or_none"]
