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


def kink_branches(layer) -> list:
    """Which side of its kink every ReLU/LeakyReLU input is on, for a layer
    or a (nested) Sequential: each caches exactly this mask, x > 0, in forward."""
    from .layers import LeakyReLU, ReLU

    children = getattr(layer, "layers", None)
    if children is None:
        return [layer._cache.copy()] if isinstance(layer, (ReLU, LeakyReLU)) else []
    return [mask for child in children for mask in kink_branches(child)]


def smooth_numerical_gradient(f: Callable[[], np.ndarray | float], x: np.ndarray,
                              df: np.ndarray | None = None, branches: Callable[[], list] | None = None,
                              h: float = 1e-4) -> np.ndarray:
    """Fourth-order centred difference of ``f()`` (or of sum(f() * df)) w.r.t. ``x``,
    taken where f is smooth.

        f'(x) ~ [8 (f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))] / (12 h)

    is Richardson's extrapolation of ``numerical_gradient``: its error is
    O(h^4) instead of O(h^2), so h can be 10x larger, for 10x less round-off
    (which is eps * |f| / h). That matters for deep models, where some
    gradient elements are 1e-5 of the largest and the plain difference's
    round-off alone is more than 1e-6 of them.

    A larger h risks straddling a ReLU kink, where a difference means
    nothing. ``branches()`` (e.g. ``lambda: kink_branches(model)``) reports
    every kink's side after the last f(); where one differs from the base
    point, h is halved for that element.
    """
    if x.dtype != np.float64:
        raise TypeError(f"smooth_numerical_gradient: needs a float64 array for accuracy, got {x.dtype}")
    f()
    base = branches() if branches else []
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old, step = x[idx], h
        while True:
            values, smooth = {}, True
            for k in (1, -1, 2, -2):
                x[idx] = old + k * step
                values[k] = np.array(f(), dtype=np.float64)
                if branches:
                    smooth = smooth and all(np.array_equal(a, b) for a, b in zip(branches(), base))
            x[idx] = old
            if smooth or step < h / 1e3:
                break
            step /= 2
        diff = 8 * (values[1] - values[-1]) - (values[2] - values[-2])
        grad[idx] = (diff if df is None else np.sum(diff * df)) / (12 * step)
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
                rng: np.random.Generator | None = None, h: float = 1e-5, check_x: bool = True) -> dict[str, float]:
    """Check ``layer.backward`` against numerical gradients.

    Args:
        layer: a built layer whose parameters are float64.
        x: float64 input of shape (N, ...).
        dy: upstream gradient, shape of the output; random normal if None.
        rng: generator for ``dy`` (seeded 0 if None).
        h: finite-difference step.
        check_x: False leaves out the input gradient (for a caller that checks it another way).

    Returns:
        ``{"x": err, "<param>": err, ...}``: the max relative error per tensor (no "x" if not check_x).
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

    errors = {"x": rel_error(analytic["x"], numerical_gradient(f, x, dy, h))} if check_x else {}
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
