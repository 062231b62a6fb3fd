"""The fast path of CausalSelfAttention: the same maths as layers/attention.py, in fewer passes.

The reference (``CausalSelfAttention.forward``/``backward``, Exercise 10)
reads like the formulas. Around its products it spends about as long again
on data movement: the causal mask written by boolean indexing, a softmax of
four full-size temporaries, and dq, dk, dv stacked and transposed back into
one (N, T, 3C) array. Here, with the same products:

* the mask is one add of a (T, T) array of 0 and -inf, in place;
* the softmax runs in place, its row sums as one product with a vector of ones;
* the heads' outputs are written by ``matmul(..., out=)`` straight into the
  (N, T, H, d) layout that Wo reads, and dq, dk, dv straight into the
  (N, T, 3, H, d) layout that Wqkv's gradient reads, so no transposed copy is made;
* dS = P * (dP - rowsum(dP * P)) is computed in dP's buffer, its row sums a
  batch of dot products.

The cache has the reference's layout (x, q, k, v, P, merged), so
``attention_weights`` reads either. tests/test_fast_paths.py holds both
functions equal to the reference.
"""
from __future__ import annotations

import numpy as np

__all__ = ["attention_forward", "attention_backward"]


def _causal_bias(t: int, dtype) -> np.ndarray:
    """(T, T): 0 where key s <= query t, -inf after it (adding it masks the future)."""
    return np.where(np.triu(np.ones((t, t), dtype=bool), k=1), -np.inf, 0).astype(dtype)


def _split_heads(qkv_rows: np.ndarray, n: int, t: int, n_head: int):
    """(N*T, 3C) rows -> views q, k, v, each (N, H, T, d)."""
    c = qkv_rows.shape[1] // 3
    qkv = qkv_rows.reshape(n, t, 3, n_head, c // n_head).transpose(2, 0, 3, 1, 4)
    return qkv[0], qkv[1], qkv[2]


def attention_forward(x, w_qkv, w_o, b_o, n_head: int):
    """y = softmax(Q K^T / sqrt(d) + causal mask) V, heads merged, times Wo, plus bo; x (N, T, C).

    Returns y (N, T, C) and the cache (x, q, k, v, P, merged) of the reference."""
    n, t, c = x.shape
    d = c // n_head
    q, k, v = _split_heads(x.reshape(n * t, c) @ w_qkv, n, t, n_head)
    s = np.matmul(q, k.transpose(0, 1, 3, 2))                              # (N, H, T, T)
    s *= np.asarray(1.0 / np.sqrt(d), dtype=x.dtype)
    s += _causal_bias(t, x.dtype)
    s -= s.max(axis=-1, keepdims=True)
    p = np.exp(s, out=s)
    rows = p.reshape(-1, t)
    rows /= (rows @ np.ones(t, dtype=x.dtype))[:, None]
    merged = np.empty((n, t, n_head, d), dtype=x.dtype)
    np.matmul(p, v, out=merged.transpose(0, 2, 1, 3))                       # heads, already merged
    merged = merged.reshape(n, t, c)
    y = (merged.reshape(n * t, c) @ w_o).reshape(n, t, c)
    y += b_o
    return y, (x, q, k, v, p, merged)


def attention_backward(dy, cache, w_qkv, w_o):
    """(dx, dWqkv, dWo, dbo) of ``attention_forward``, given dy (N, T, C)."""
    x, q, k, v, p, merged = cache
    n, t, c = dy.shape
    n_head = q.shape[1]
    d = c // n_head
    scale = np.asarray(1.0 / np.sqrt(d), dtype=dy.dtype)
    dy_rows = dy.reshape(n * t, c)
    dw_o = merged.reshape(n * t, c).T @ dy_rows
    db_o = np.ones(n * t, dtype=dy.dtype) @ dy_rows
    dheads = (dy_rows @ w_o.T).reshape(n, t, n_head, d).transpose(0, 2, 1, 3)    # (N, H, T, d)
    dqkv = np.empty((n, t, 3, n_head, d), dtype=dy.dtype)
    dq, dk, dv = dqkv.transpose(2, 0, 3, 1, 4)                                  # views, each (N, H, T, d)
    np.matmul(p.transpose(0, 1, 3, 2), dheads, out=dv)                         # dV = P^T dY
    ds = np.matmul(dheads, v.transpose(0, 1, 3, 2))                            # dP = dY V^T
    ds_rows, p_rows = ds.reshape(-1, t), p.reshape(-1, t)
    ds_rows -= np.matmul(ds_rows[:, None, :], p_rows[:, :, None]).reshape(-1, 1)   # dP - rowsum(dP * P)
    ds *= p
    ds *= scale
    np.matmul(ds, k, out=dq)                                                   # dQ = dS K / sqrt(d)
    np.matmul(ds.transpose(0, 1, 3, 2), q, out=dk)                             # dK = dS^T Q / sqrt(d)
    dqkv_rows = dqkv.reshape(n * t, 3 * c)
    dw_qkv = x.reshape(n * t, c).T @ dqkv_rows
    dx = (dqkv_rows @ w_qkv.T).reshape(n, t, c)
    return dx, dw_qkv, dw_o, db_o
