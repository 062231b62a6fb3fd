"""Numerical gradient checking: the proof that a backward pass is right.

The analytic gradient from ``backward`` is compared with centred differences

    df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2 h)      (error O(h^2))

in float64. For a layer, the scalar checked is f = sum(forward(x) * dy) with a
random upstream gradient dy, so that every output element counts with its own
weight (an all-ones dy would hide errors that cancel). Agreement is measured
element by element:

    rel_error(a, n) = max_i |a_i - n_i| / max(1e-8, |a_i| + |n_i|)

A correct float64 backward pass typically gives 1e-7 to 1e-11; the tests demand
<= 1e-6 for every tensor.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["numerical_gradient", "rel_error", "rng_replayer", "check_layer", "check_loss"]


def rel_error(a: np.ndarray, n: np.ndarray) -> float:
    """Largest element-wise relative error between analytic ``a`` and numeric ``n``."""
    a = np.asarray(a, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"rel_error: shapes differ: analytic {a.shape}, numerical {n.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - n) / np.maximum(1e-8, np.abs(a) + np.abs(n))))


def numerical_gradient(f: Callable[[], np.ndarray | float], x: np.ndarray,
                       df: np.ndarray | None = None, h: float = 1e-5) -> np.ndarray:
    """Centred-difference gradient of ``f()`` with respect to ``x``.

    If ``f`` returns a scalar, this is d f / d x. If it returns an array, ``df``
    (same shape) is the upstream gradient and the result is d sum(f * df) / d x.
    The array form subtracts the two outputs *before* summing, so outputs that
    x_i does not touch cancel exactly instead of adding round-off.

    ``x`` is nudged *in place*, one element at a time, and restored, so ``f``
    may read ``x`` through any reference (an input array or a layer's
    parameter). This loop is deliberately simple: it is the reference, not a
    hot path.
    """
    if x.dtype != np.float64:
        raise TypeError(f"numerical_gradient: needs a float64 array for accuracy, got {x.dtype}")
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        f_plus = np.array(f(), dtype=np.float64)
        x[idx] = old - h
        f_minus = np.array(f(), dtype=np.float64)
        x[idx] = old
        diff = f_plus - f_minus
        grad[idx] = (diff if df is None else np.sum(diff * df)) / (2.0 * h)
    return grad


def rng_replayer(layer):
    """Return a function that rewinds every random generator the layer draws
    from, so that each forward pass of a stochastic layer (Dropout) sees the
    same random numbers during the check."""
    generators = list(layer.rngs()) if hasattr(layer, "rngs") else []
    states = [g.bit_generator.state for g in generators]

    def rewind():
        for g, s in zip(generators, states):
            g.bit_generator.state = s

    return rewind


def check_layer(layer, x: np.ndarray, dy: np.ndarray | None = None,
                rng: np.random.Generator | None = None, h: float = 1e-5) -> dict[str, float]:
    """Check ``layer.backward`` against numerical gradients.

    Args:
        layer: a built layer whose parameters are float64.
        x: float64 input of shape (N, ...).
        dy: upstream gradient, shape of the output; random normal if None.
        rng: generator for ``dy`` (seeded 0 if None).
        h: finite-difference step.

    Returns:
        ``{"x": err, "<param>": err, ...}``: the max relative error per tensor.
    """
    if x.dtype != np.float64:
        raise TypeError(f"check_layer: x must be float64, got {x.dtype}")
    for name, p in layer.params.items():
        if p.dtype != np.float64:
            raise TypeError(f"check_layer: parameter {name!r} of {layer.name} must be float64, got {p.dtype}"
                            " (call layer.astype(np.float64))")
    rng = np.random.default_rng(0) if rng is None else rng
    rewind = rng_replayer(layer)
    x = x.copy()

    rewind()
    y = layer.forward(x)
    if dy is None:
        dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    analytic = {"x": dx.copy()}
    analytic.update({name: g.copy() for name, g in layer.grads.items()})

    def f():
        rewind()
        return layer.forward(x)

    errors = {"x": rel_error(analytic["x"], numerical_gradient(f, x, dy, h))}
    for name, p in layer.params.items():
        errors[name] = rel_error(analytic[name], numerical_gradient(f, p, dy, h))
    return errors


def check_loss(loss, inputs: tuple, *extra, scale: float = 1.7, h: float = 1e-5) -> list[float]:
    """Check a loss's ``backward`` with respect to each array in ``inputs``.

    ``loss.forward(*inputs, *extra)`` must return a scalar and
    ``loss.backward(dloss)`` the gradient of ``dloss * loss`` (one array, or a
    tuple with one array per input). ``scale`` plays the role of the random
    upstream gradient. Returns one max relative error per input.
    """
    inputs = tuple(np.array(a, dtype=np.float64) for a in inputs)
    loss.forward(*inputs, *extra)
    grads = loss.backward(scale)
    if not isinstance(grads, tuple):
        grads = (grads,)
    grads = tuple(np.array(g) for g in grads)

    def f():
        return scale * loss.forward(*inputs, *extra)

    return [rel_error(g, numerical_gradient(f, a, h=h)) for g, a in zip(grads, inputs)]
