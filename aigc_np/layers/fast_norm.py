"""The fast paths of GroupNormalization, LayerNormalization and BatchNormalization: the same maths in fewer passes.

The reference (``GroupNormalization.forward``/``backward``, Exercise 13) reads
like the formulas and makes a dozen full-size temporaries per call; on the
U-Net's activations each costs more than its arithmetic. Here the per-group
and per-channel sums are products with a vector of ones (one BLAS pass, about
twice as fast as ``np.sum`` on these shapes), and the normalization and the
per-channel scale and shift are folded into one scale per (example, channel):

    forward    y  = (x - mean) * a + beta               a[n, c] = gamma[c] / std[n, g(c)]
    backward   dx = a * dy + b * (x - mean) + d         b, d per (example, group)

with, per example and group of M = (C/G) * pixels numbers, s1[n, c] = sum_p dy
and s2[n, c] = sum_p dy * xhat,

    b = -inv_std^2 * sum_{c in g} gamma[c] s2[n, c] / M,   d = -inv_std * sum_{c in g} gamma[c] s1[n, c] / M

(the reference's dx = inv_std (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) with
dxhat = gamma dy, multiplied out); dgamma = sum_n s2 and dbeta = sum_n s1.
tests/test_fast_paths.py holds both functions equal to the reference.
"""
from __future__ import annotations

import numpy as np

__all__ = ["group_norm_forward", "group_norm_backward", "layer_norm_forward", "layer_norm_backward",
           "batch_norm_forward", "batch_norm_backward"]


def _row_sums(a: np.ndarray) -> np.ndarray:
    """Sums of the rows of a 2-D array, as one matrix-vector product."""
    return a @ np.ones(a.shape[1], dtype=a.dtype)


def _row_dots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sum_j a[i, j] b[i, j] for every row i of two 2-D arrays, as a batch of dot products."""
    return np.matmul(a[:, None, :], b[:, :, None]).reshape(len(a))


def group_norm_forward(x, gamma, beta, groups: int, epsilon: float):
    """y = (x - mean) * gamma / std + beta, per example and group; x (N, C, ...) -> y like x.

    Returns y and the cache for ``group_norm_backward``: x - mean as (N, C, pixels),
    inv_std (N, G) and the per-(example, channel) scale a (N, C)."""
    n, c = x.shape[:2]
    grouped = x.reshape(n * groups, -1)                                  # (N*G, M)
    m = grouped.shape[1]
    centred = grouped - (_row_sums(grouped) / m)[:, None]
    inv_std = 1.0 / np.sqrt(_row_dots(centred, centred) / m + epsilon)   # (N*G,)
    inv_std = inv_std.reshape(n, groups)
    scale = gamma.reshape(groups, -1) * inv_std[:, :, None]              # (N, G, C/G)
    centred = centred.reshape(n, c, -1)                                  # (N, C, P)
    y = centred * scale.reshape(n, c, 1)
    y += beta[:, None]
    return y.reshape(x.shape), (centred, inv_std, scale.reshape(n, c))


def group_norm_backward(dy, cache, gamma):
    """(dx, dgamma, dbeta) of ``group_norm_forward``, given dy like y."""
    centred, inv_std, scale = cache                                      # (N, C, P), (N, G), (N, C)
    n, c, p = centred.shape
    groups = inv_std.shape[1]
    m = (c // groups) * p
    dy3 = dy.reshape(n, c, p)
    s1 = _row_sums(dy3.reshape(n * c, p)).reshape(n, c)                  # sum_p dy
    s2 = _row_dots(dy3.reshape(n * c, p), centred.reshape(n * c, p)).reshape(n, groups, -1)
    s2 *= inv_std[:, :, None]                                            # sum_p dy * xhat
    s2 = s2.reshape(n, c)
    mean_dxhat = (s1 * gamma).reshape(n, groups, -1).sum(axis=2) / m     # (N, G)
    mean_dxhat_xhat = (s2 * gamma).reshape(n, groups, -1).sum(axis=2) / m
    b = np.repeat(-inv_std * inv_std * mean_dxhat_xhat, c // groups, axis=1)   # (N, C)
    d = np.repeat(-inv_std * mean_dxhat, c // groups, axis=1)
    dx = dy3 * scale[:, :, None]
    dx += centred * b[:, :, None]
    dx += d[:, :, None]
    return dx.reshape(dy.shape), s2.sum(axis=0), s1.sum(axis=0)


# LayerNormalization (layers/layernorm.py) over the last axis of size D, as (R, D) rows.
# Its rows are short (a GPT's D = 128), where NumPy's reductions along the last axis cost
# several passes each; here every per-row sum is one BLAS product (with a vector of ones,
# with gamma, or a batch of row dot products), and the backward is multiplied out:
#     dx = inv_std * (dy gamma - m1 - xhat m2),  m1 = dy . gamma / D,  m2 = (dy xhat) . gamma / D.

def layer_norm_forward(x, gamma, beta, epsilon: float):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta over the last axis; x (..., D) -> y like x.

    Returns y and the cache for ``layer_norm_backward``: xhat as (R, D) rows and inv_std (R,)."""
    d = x.shape[-1]
    rows = x.reshape(-1, d)
    xhat = rows - (_row_sums(rows) / d)[:, None]
    inv_std = 1.0 / np.sqrt(_row_dots(xhat, xhat) / d + epsilon)
    xhat *= inv_std[:, None]
    y = xhat * gamma
    y += beta
    return y.reshape(x.shape), (xhat, inv_std)


def layer_norm_backward(dy, cache, gamma):
    """(dx, dgamma, dbeta) of ``layer_norm_forward``, given dy like y."""
    xhat, inv_std = cache
    d = xhat.shape[1]
    dy_rows = dy.reshape(-1, d)
    dy_xhat = dy_rows * xhat
    ones = np.ones(len(dy_rows), dtype=dy.dtype)
    dgamma, dbeta = ones @ dy_xhat, ones @ dy_rows
    m1, m2 = (dy_rows @ gamma) / d, (dy_xhat @ gamma) / d        # mean(dxhat), mean(dxhat * xhat)
    dx = dy_rows * gamma
    dx -= m1[:, None]
    dx -= xhat * m2[:, None]
    dx *= inv_std[:, None]
    return dx.reshape(dy.shape), dgamma, dbeta


# BatchNormalization (layers/batchnorm.py) over the batch axis and, for images, the pixels: an image
# batch is seen as (N, C, P), a feature batch stays (N, F) (a trailing axis of 1 would make every
# broadcast several times slower). Per-channel sums are products with vectors of ones, and as in
# GroupNorm's fast path the normalization, gamma and beta fold into one scale and one shift per
# channel; the cache keeps x - mean (not xhat), and the backward is multiplied out:
#     dx = a dy + b (x - mean) + d,   a = gamma inv_std,
#     b = -a inv_std^2 sum(dy (x - mean)) / m,   d = -a sum(dy) / m      (train mode; m = N P)
# with dgamma = inv_std sum(dy (x - mean)) and dbeta = sum(dy); in eval mode dx = a dy.

def _as_channels(x: np.ndarray) -> np.ndarray:
    """(N, F) as it is, (N, C, H, W) as (N, C, H*W)."""
    return x if x.ndim == 2 else x.reshape(x.shape[0], x.shape[1], -1)


def _per_channel(v: np.ndarray, a: np.ndarray) -> np.ndarray:
    """(C,) shaped to broadcast against ``a`` from ``_as_channels``."""
    return v if a.ndim == 2 else v[:, None]


def _channel_sums(a: np.ndarray) -> np.ndarray:
    """(N, C[, P]) -> (C,): sums over the batch and the pixels, as products with ones."""
    n, c = a.shape[:2]
    if a.ndim == 3:
        a = _row_sums(a.reshape(n * c, -1)).reshape(n, c)
    return np.ones(n, dtype=a.dtype) @ a


def _channel_dots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, C[, P]) twice -> (C,): the sum over n (and p) of a * b."""
    if a.ndim == 2:
        return _channel_sums(a * b)
    n, c = a.shape[:2]
    return np.ones(n, dtype=a.dtype) @ _row_dots(a.reshape(n * c, -1), b.reshape(n * c, -1)).reshape(n, c)


def batch_norm_forward(x, gamma, beta, mean, var, epsilon: float):
    """y = gamma (x - mean) / sqrt(var + eps) + beta per channel; x (N, C, ...) -> y like x.

    ``mean`` and ``var`` are the running estimates (eval mode), or None to use the batch's
    own (train mode). Returns y, the batch mean and biased variance (None in eval mode),
    and the cache for ``batch_norm_backward``."""
    xc = _as_channels(x)
    m = x.size // x.shape[1]
    batch = mean is None
    if batch:
        mean = _channel_sums(xc) / m
    centred = xc - _per_channel(mean.astype(x.dtype, copy=False), xc)
    if batch:
        var = _channel_dots(centred, centred) / m
    inv_std = (1.0 / np.sqrt(var + epsilon)).astype(x.dtype, copy=False)
    scale = (gamma * inv_std).astype(x.dtype, copy=False)
    y = centred * _per_channel(scale, xc)
    y += _per_channel(beta, xc)
    stats = (mean, var) if batch else (None, None)
    return y.reshape(x.shape), stats, (centred, inv_std, scale, batch)


def batch_norm_backward(dy, cache):
    """(dx, dgamma, dbeta) of ``batch_norm_forward``, given dy like y."""
    centred, inv_std, scale, batch = cache
    dyc = dy.reshape(centred.shape)
    dbeta = _channel_sums(dyc)
    dgamma = _channel_dots(dyc, centred) * inv_std
    dx = dyc * _per_channel(scale, dyc)
    if batch:
        m = dy.size // len(scale)                                     # values per channel
        dx -= centred * _per_channel(scale * inv_std * dgamma / m, dyc)
        dx -= _per_channel(scale * dbeta / m, dyc)
    return dx.reshape(dy.shape), dgamma, dbeta
