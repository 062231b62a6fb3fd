"""Inverted dropout."""
from __future__ import annotations

import numpy as np

from .base import Layer


class Dropout(Layer):
    """Zero each input with probability ``rate`` in train mode; identity in eval mode.

    Train:  y = x * m / (1 - rate),  m_i ~ Bernoulli(1 - rate);  dx = dy * m / (1 - rate).
    Scaling at train time ("inverted" dropout) keeps E[y] = x, so eval needs no rescaling.

    The mask is drawn from ``rng`` (a np.random.Generator). If none is given,
    ``build`` derives one from the model's generator, so a seed still
    reproduces the run exactly.
    """

    example_args = {"rate": 0.3}

    def __init__(self, rate: float, rng: np.random.Generator | None = None, name: str | None = None):
        super().__init__(name)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"{self.name}: rate must be in [0, 1), got {rate}")
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"{self.name}: rng must be a np.random.Generator, got {type(rng).__name__}")
        self.rate = float(rate)
        self.rng = rng

    def _build(self, input_shape, rng):
        if self.rng is None and rng is not None:
            self.rng = np.random.default_rng(rng.integers(2**63))

    def rngs(self):
        return [self.rng] if self.rng is not None else []

    def forward(self, x):
        self._check_input(x, exact_shape=False)
        if not self.training or self.rate == 0.0:
            self._cache = 1.0  # the "mask" of an identity: backward passes dy through
            return self._remember_output(x)
        if self.rng is None:
            raise ValueError(f"{self.name}: needs a np.random.Generator: pass rng= or build the layer with one")
        keep = 1.0 - self.rate
        self._cache = (self.rng.random(x.shape, dtype=x.dtype) < keep) / np.asarray(keep, dtype=x.dtype)
        return self._remember_output(x * self._cache)

    def backward(self, dy):
        dy = self._check_grad(dy)
        return dy * self._cache
