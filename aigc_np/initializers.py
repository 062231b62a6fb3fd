"""Weight initializers. Each takes a shape and a Generator and returns float64.

fan_in / fan_out follow Keras: for a Dense weight (in, out) they are in and
out; for a conv kernel (out_ch, in_ch, kh, kw) they are in_ch*kh*kw and
out_ch*kh*kw. (Conv2DTranspose passes its own fans.)
"""
from __future__ import annotations

import numpy as np

__all__ = ["glorot_uniform", "he_normal", "dcgan_normal", "zeros", "get_initializer"]


def _fans(shape: tuple) -> tuple[int, int]:
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) == 4:  # (out_ch, in_ch, kh, kw)
        receptive = shape[2] * shape[3]
        return shape[1] * receptive, shape[0] * receptive
    size = int(np.prod(shape))
    return size, size


def glorot_uniform(shape, rng: np.random.Generator, fans=None) -> np.ndarray:
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010; Keras default)."""
    fan_in, fan_out = fans or _fans(tuple(shape))
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def he_normal(shape, rng: np.random.Generator, fans=None) -> np.ndarray:
    """N(0, 2 / fan_in), truncated at 2 std like Keras (He et al. 2015); suits ReLU."""
    fan_in, _ = fans or _fans(tuple(shape))
    std = np.sqrt(2.0 / fan_in) / 0.87962566103423978  # std of N(0,1) truncated at +-2
    w = rng.standard_normal(size=shape)
    bad = np.abs(w) > 2.0
    while bad.any():  # redraw the few values beyond 2 std (about 4.6%)
        w[bad] = rng.standard_normal(size=int(bad.sum()))
        bad = np.abs(w) > 2.0
    return w * std


def dcgan_normal(shape, rng: np.random.Generator, fans=None) -> np.ndarray:
    """N(0, 0.02^2), the initialization of Radford et al. 2015 (DCGAN)."""
    return rng.normal(0.0, 0.02, size=shape)


def zeros(shape, rng=None, fans=None) -> np.ndarray:
    return np.zeros(shape)


_BY_NAME = {"glorot_uniform": glorot_uniform, "he_normal": he_normal,
            "dcgan_normal": dcgan_normal, "normal_0.02": dcgan_normal, "zeros": zeros}


def get_initializer(init):
    """Accept a name ('glorot_uniform', 'he_normal', 'dcgan_normal', 'zeros') or a callable."""
    if callable(init):
        return init
    try:
        return _BY_NAME[init]
    except KeyError:
        raise ValueError(f"unknown initializer {init!r}; expected one of {sorted(_BY_NAME)} or a callable") from None
