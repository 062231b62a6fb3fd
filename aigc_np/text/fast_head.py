"""The output layer and softmax cross-entropy fused into one step: the fast path of a GPT's loss.

With a vocabulary of 5,000 characters the (N, V) logits are the largest
array of a training step, and the reference path (``Dense`` then
``SequenceCrossentropy``) passes over them about ten times: the product, the
bias, the max, a shifted copy, its exp, the log-sum, the log-softmax copy,
and in backward the exp again, the one-hot and the scaling. Fused, one
buffer holds the logits, then their shifted exp, then the gradient:

    z = H W + b,  m = max_j z_j,  e = exp(z - m),  s = sum_j e_j
    L = (1/N) sum_n [ln s_n - (z_n,y_n - m_n)]
    dL/dz = dloss (e / s - onehot(y)) / N;   dW = H^T dz,  db = sum_n dz,  dH = dz W^T

tests/test_text_fast_head.py holds this equal to the reference (float64,
relative error <= 1e-12) and checks its gradient by central differences.
"""
from __future__ import annotations

import numpy as np

__all__ = ["head_crossentropy", "head_crossentropy_backward"]


def head_crossentropy(h: np.ndarray, w: np.ndarray, b: np.ndarray, labels: np.ndarray) -> tuple[float, tuple]:
    """Mean cross-entropy (nats) of logits h W + b against ``labels``, and the cache for backward.

    h: (N, C) rows; w: (C, V); b: (V,); labels: (N,) ints in [0, V).
    """
    n, v = h.shape[0], w.shape[1]
    if labels.shape != (n,) or labels.dtype.kind not in "iu":
        raise ValueError(f"head_crossentropy: expected {n} integer labels, got {labels.dtype} {labels.shape}")
    if n and (labels.min() < 0 or labels.max() >= v):
        raise ValueError(f"head_crossentropy: labels must lie in [0, {v}), got [{labels.min()}, {labels.max()}]")
    rows = np.arange(n)
    z = np.matmul(h, w)
    z += b
    z -= z.max(axis=1, keepdims=True)                 # z - m: the largest exponent is 0
    picked = z[rows, labels]                          # z_y - m (a copy: fancy indexing)
    np.exp(z, out=z)                                  # e, in the logits' buffer
    s = np.add.reduce(z, axis=1)
    loss = float(np.sum(np.log(s), dtype=np.float64) - np.sum(picked, dtype=np.float64)) / max(n, 1)
    return loss, (h, z, s, labels)


def head_crossentropy_backward(cache: tuple, w: np.ndarray, dloss: float = 1.0):
    """(dH, dW, db) of ``dloss`` times the loss; the cached buffer becomes dL/dz (the cache is spent)."""
    h, z, s, labels = cache
    n = h.shape[0]
    scale = float(dloss) / max(n, 1)
    z *= (scale / s).astype(z.dtype)[:, None]         # softmax * dloss / N, in place
    z[np.arange(n), labels] -= np.asarray(scale, dtype=z.dtype)
    return np.matmul(z, w.T), np.matmul(h.T, z), np.add.reduce(z, axis=0)

