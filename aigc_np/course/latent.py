"""Walking through a latent space: straight lines between codes, one-dimension sweeps, a quantile grid.

A decoder ``decode(z)`` maps codes (N, D) to images (N, H, W) or (N, 1, H, W). Each
function here builds the codes of one classic figure (lesson 05) and decodes them:

* :func:`interpolation_rows`: z = (1 - t) a + t b for t from 0 to 1, one row per pair (a, b);
* :func:`traversal_rows`: one code with a single dimension swept over given values;
* :func:`normal_manifold`: a 2-D latent decoded on an n x n grid at the normal's quantiles,
  Kingma & Welling's figure (``statistics.NormalDist().inv_cdf``, no scipy).
"""
from __future__ import annotations

from statistics import NormalDist

import numpy as np

__all__ = ["interpolation_rows", "traversal_rows", "normal_manifold"]


def _images(decoded: np.ndarray, shape: tuple) -> np.ndarray:
    """Decoder outputs reshaped to ``shape + (H, W)`` (a channel axis of 1 is dropped)."""
    h, w = decoded.shape[-2:]
    return decoded.reshape(shape + (h, w))


def interpolation_rows(decode, a: np.ndarray, b: np.ndarray, steps: int = 10, ends=None) -> np.ndarray:
    """Decode ``steps`` evenly spaced codes from a[i] to b[i] (both included) for every pair.

    a, b: (P, D) codes. ends: optional images (x_a, x_b), each (P, H, W), put at both ends of
    each row (the originals). Returns (P, steps, H, W), or (P, steps + 2, H, W) with ends.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or a.shape != b.shape or steps < 2:
        raise ValueError(f"interpolation_rows: expected codes a, b of the same shape (P, D) and steps >= 2, "
                         f"got {a.shape}, {b.shape} and {steps}")
    t = np.linspace(0.0, 1.0, steps)[None, :, None]
    codes = (1 - t) * a[:, None] + t * b[:, None]                        # (P, steps, D)
    rows = _images(decode(codes.reshape(-1, a.shape[1]).astype(np.float32)), (len(a), steps))
    if ends is None:
        return rows
    return np.concatenate([ends[0][:, None], rows, ends[1][:, None]], axis=1)


def traversal_rows(decode, code: np.ndarray, dims, values) -> np.ndarray:
    """Row i: ``code`` with dimension dims[i] set to each of ``values`` in turn, decoded.

    code: (D,); dims: (K,) dimensions; values: (V,). Returns (K, V, H, W).
    """
    code, dims, values = np.asarray(code), np.asarray(dims, dtype=int), np.asarray(values)
    if code.ndim != 1 or dims.ndim != 1 or values.ndim != 1 or np.any((dims < 0) | (dims >= len(code))):
        raise ValueError(f"traversal_rows: expected a code (D,), dimensions (K,) in 0..D-1 and values (V,), "
                         f"got {code.shape}, {dims.tolist()} and {values.shape}")
    codes = np.tile(code, (len(dims), len(values), 1))                 # (K, V, D): the code everywhere
    codes[np.arange(len(dims)), :, dims] = values                      # row i sweeps dimension dims[i]
    return _images(decode(codes.reshape(-1, len(code)).astype(np.float32)), (len(dims), len(values)))


def normal_manifold(decode, n: int = 20, lo: float = 0.01, hi: float = 0.99) -> tuple[np.ndarray, np.ndarray]:
    """Decode a 2-D latent on the n x n grid of the N(0, 1) quantiles at n levels from lo to hi.

    Cell (row r, column c) is z = (q[c], q[n - 1 - r]): z1 grows to the right and z2 upwards,
    as on a plot's axes. Returns (images (n * n, H, W), quantiles q (n,)).
    """
    if n < 2 or not 0 < lo < hi < 1:
        raise ValueError(f"normal_manifold: expected n >= 2 and 0 < lo < hi < 1, got n={n}, lo={lo}, hi={hi}")
    q = np.array([NormalDist().inv_cdf(p) for p in np.linspace(lo, hi, n)])
    z1, z2 = np.meshgrid(q, q[::-1])
    codes = np.stack([z1.ravel(), z2.ravel()], axis=1).astype(np.float32)
    return _images(decode(codes), (n * n,)), q
