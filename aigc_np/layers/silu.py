"""SiLU ("swish"), the smooth activation of diffusion U-Nets (Elfwing et al. 2018; Ramachandran et al. 2017)."""
from __future__ import annotations

import numpy as np

from .base import Layer


class SiLU(Layer):
    """y = x * sigmoid(x);  dy/dx = s + x s (1 - s) = s (1 + x (1 - s)),  s = sigmoid(x).

    Any input shape. Unlike ReLU it is smooth everywhere (no kink for a
    gradient check to straddle) and lets a little negative signal through
    (its minimum is -0.28 at x = -1.28). The sigmoid is taken as
    1 / (1 + exp(-x)) in one array: NumPy's float32 exp is about 3x faster
    than its tanh (docs/performance.md), and where exp(-x) overflows (x below
    about -88 in float32) s is 1/inf = 0, the right limit.
    """

    def forward(self, x):
        self._check_input(x, exact_shape=False)
        s = np.negative(x)
        with np.errstate(over="ignore"):
            np.exp(s, out=s)
        s += 1
        np.divide(1, s, out=s)          # the same numbers as np.reciprocal, which NumPy 2.4 runs 2x slower
        self._cache = (x, s)
        return self._remember_output(x * s)

    def backward(self, dy):
        dy = self._check_grad(dy)
        x, s = self._cache
        # s (1 + x (1 - s)) dy, built in one array: a U-Net's activations are large,
        # and each temporary costs more than its arithmetic
        g = np.subtract(1, s)
        g *= x
        g += 1
        g *= s
        g *= dy
        return g
