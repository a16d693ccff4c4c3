"""Array type aliases shared by every layer (typing only; nothing here runs)."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

#: Float64 arrays: predictors, probabilities, linear predictors, weights.
FloatArray: TypeAlias = NDArray[np.float64]
#: Integer arrays: indices, codes and counts (``np.intp``; int64 arrays are accepted).
IntArray: TypeAlias = NDArray[np.intp]
#: Boolean masks.
BoolArray: TypeAlias = NDArray[np.bool_]

__all__ = ["BoolArray", "FloatArray", "IntArray"]
