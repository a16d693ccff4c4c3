"""Numeric kernels every layer shares: the logistic function, row-wise dot products, the AUC.

The row-wise dot product gives linear predictors that do not depend on the other rows.

They sit at the bottom of the package so that scores, modeling and validation use one
definition each.  The AUC here is the point estimate of :func:`crsscore.validation.discrimination.auc`
(which adds the DeLong or bootstrap interval): the probability that an event's score exceeds a
non-event's, ties counting one half, computed from the event and non-event weights at each
distinct score (no pairs, no floating-point rank sums).  The same tallies serve frequency
weights, patterns with event/non-event counts and bootstrap resamples, so every caller gets the
same number.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from crsscore._types import FloatArray, IntArray

__all__ = [
    "auc_tallies", "dense_codes", "expit", "expit_exp", "logistic_parts", "rank_auc", "row_dot",
    "weighted_auc",
]


def row_dot(x: ArrayLike, b: ArrayLike) -> FloatArray:
    """``x @ b`` for a matrix ``x`` (rows of predictors) and a vector ``b``, each row's sum of
    products taken in one order whatever the other rows.

    BLAS's matrix-vector product sums a row in an order that depends on the row's place in
    its block, so a patient's linear predictor changed in the last digit with the rows around
    it (scored alone by the ward monitor or within a cohort, or in another row order);
    numpy's einsum over a C-ordered matrix reduces each row by itself.
    """
    out: FloatArray = np.einsum("ij,j->i", np.ascontiguousarray(x, dtype=np.float64),
                                np.asarray(b, dtype=np.float64))
    return out


def expit(x: ArrayLike) -> FloatArray:
    """The logistic function ``1 / (1 + exp(-x))``, exact for large ``|x|`` (scipy's ufunc)."""
    out: FloatArray = special.expit(np.asarray(x, dtype=np.float64))
    return out


def dense_codes(score: ArrayLike) -> IntArray:
    """Ordinal codes ``0..k-1`` of a score (equal scores share a code): all an AUC depends on."""
    _, inv = np.unique(np.asarray(score, dtype=np.float64), return_inverse=True)
    out: IntArray = inv.astype(np.intp).ravel()
    return out


def auc_tallies(events: FloatArray, nonevents: FloatArray) -> FloatArray:
    """AUC from the weights of events and non-events at each distinct score (last axis, in
    ascending score order); leading axes are independent problems (e.g. resamples).

    ``sum_k events_k (nonevents below k + nonevents_k / 2) / (total events * total
    non-events)``; NaN where either total is zero.
    """
    n1 = events.sum(axis=-1)
    n0 = nonevents.sum(axis=-1)
    below = np.cumsum(nonevents, axis=-1) - nonevents
    num = np.sum(events * (below + 0.5 * nonevents), axis=-1)
    den = n1 * n0
    out: FloatArray = np.divide(num, den, out=np.full(np.shape(den), np.nan), where=den > 0)
    return out


def weighted_auc(codes: IntArray, events: ArrayLike, nonevents: ArrayLike) -> float:
    """AUC of rows with score codes ``codes`` (:func:`dense_codes`) carrying event and
    non-event weights (frequency weights, pattern counts or resample counts); O(n), no sort."""
    c = np.asarray(codes, dtype=np.intp)
    k = int(c.max()) + 1 if c.size else 1
    e = np.asarray(np.bincount(c, weights=np.asarray(events, dtype=np.float64), minlength=k),
                   dtype=np.float64)
    ne = np.asarray(np.bincount(c, weights=np.asarray(nonevents, dtype=np.float64), minlength=k),
                    dtype=np.float64)
    return float(auc_tallies(e, ne))


def rank_auc(y: ArrayLike, score: ArrayLike, weights: ArrayLike | None = None) -> float:
    """AUC of ``score`` for the 0/1 outcome ``y`` (higher score = higher risk, ties count 1/2),
    optionally with frequency weights; NaN without both an event and a non-event."""
    ya = np.asarray(y, dtype=np.float64).reshape(-1)
    w = np.ones_like(ya) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    return weighted_auc(dense_codes(score), w * ya, w * (1.0 - ya))


def logistic_parts(eta: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``expit(eta)`` and ``log(1 + exp(eta))`` from one exponential (stable for any eta).

    The fused form of :func:`expit` for the batched Newton loops, which need both.
    """
    p, e = expit_exp(eta)
    sp: FloatArray = np.maximum(eta, 0.0) + np.log1p(e)
    return p, sp


def expit_exp(eta: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``expit(eta)`` and ``exp(-|eta|)`` (in (0, 1], no overflow), from one exponential.

    ``log(1 + exp(eta)) = max(eta, 0) + log1p(exp(-|eta|))``: callers that need only sums of
    the softplus (a log-likelihood) can take them from the second array.
    """
    e: FloatArray = np.exp(-np.abs(eta))
    inv = 1.0 / (1.0 + e)
    p: FloatArray = np.where(eta >= 0.0, inv, e * inv)
    return p, e
