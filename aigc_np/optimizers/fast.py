"""Adam's fast path: Algorithm 1 fused into a few in-place passes over cache-sized blocks.

The reference (``Adam.update`` in optimizers/__init__.py) is the paper's six
statements; each makes a temporary the size of the parameter. An update is
a handful of element-wise passes, bound by memory traffic rather than
arithmetic, so here

* every pass writes into an existing array (``out=``, ``*=``): the moments,
  the parameter, or one scratch array;
* the two bias corrections are folded into two scalars (the paper's Section
  2 rewrite; equal in exact arithmetic):
      lr * m_hat / (sqrt(v_hat) + eps) = lr_t * m / (sqrt(v) + eps_t),
      lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t),   eps_t = eps sqrt(1 - beta2^t);
* a large parameter is updated in blocks of at most ``BLOCK`` elements, so
  that all passes but the first over a block read from the CPU's cache, not
  from RAM (docs/performance.md).

``Adam.step`` calls ``adam_update`` when the fast paths are on
(aigc_np.layers.backend); tests/test_fast_paths.py holds it equal to Algorithm 1.
"""
from __future__ import annotations

import numpy as np

__all__ = ["adam_update", "BLOCK"]

# Elements per block (128 Ki float32 = 512 KiB per array).
BLOCK = 2**17
# The scratch array, {dtype: flat array}, reused by every update (never state: never saved).
_SCRATCH: dict = {}


def _scratch(size: int, dtype) -> np.ndarray:
    buf = _SCRATCH.get(np.dtype(dtype).str)
    if buf is None or buf.size < size:
        buf = _SCRATCH[np.dtype(dtype).str] = np.empty(max(size, 1), dtype=dtype)
    return buf[:size]


def _blocks(*arrays):
    """The arrays as matching blocks of at most BLOCK elements: flat views, so that
    updating a block updates the array. (Arrays that are not all C-contiguous,
    whose flat form would be a copy, come as one block.)"""
    if arrays[0].size <= BLOCK or not all(a.flags.c_contiguous for a in arrays):
        yield arrays
        return
    flat = [a.reshape(-1) for a in arrays]
    for start in range(0, flat[0].size, BLOCK):
        yield tuple(a[start:start + BLOCK] for a in flat)


def adam_update(p, g, m, v, t: int, lr: float, beta1: float, beta2: float, eps: float) -> None:
    """One Adam step of parameter p (in place) with gradient g, moments m and v (in
    place) and step counter t (this step's, from 1)."""
    root_c2 = (1 - beta2 ** t) ** 0.5                  # Python floats keep float32 arrays float32
    lr_t, eps_t = lr * root_c2 / (1 - beta1 ** t), eps * root_c2
    for p_b, g_b, m_b, v_b in _blocks(p, g, m, v):
        work = _scratch(p_b.size, p_b.dtype).reshape(p_b.shape)
        m_b *= beta1
        m_b += np.multiply(g_b, 1 - beta1, out=work)                          # m <- beta1 m + (1 - beta1) g
        v_b *= beta2
        v_b += np.multiply(np.square(g_b, out=work), 1 - beta2, out=work)    # v <- beta2 v + (1 - beta2) g^2
        denom = np.sqrt(v_b, out=work)
        denom += eps_t
        p_b -= np.multiply(np.divide(m_b, denom, out=work), lr_t, out=work)  # lr_t m / (sqrt(v) + eps_t)
