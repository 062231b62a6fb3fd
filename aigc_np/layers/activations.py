"""Element-wise activations. Any input shape; the output has the same shape and dtype."""
from __future__ import annotations

import numpy as np

from .base import Layer


class ReLU(Layer):
    """y = max(x, 0);  dy/dx = 1 where x > 0, else 0."""

    def forward(self, x):
        self._check_input(x, exact_shape=False)
        self._cache = x > 0                       # the mask is all backward needs
        # np.maximum, not np.where: where branches on every element (docs/performance.md)
        return self._remember_output(np.maximum(x, 0))

    def backward(self, dy):
        dy = self._check_grad(dy)
        # BEGIN EXERCISE 2: activation backwards
        # Hint: ReLU passes dy where x > 0.
        return dy * self._cache                   # the mask is 1 where x > 0, else 0
        # END EXERCISE 2

    def backward_backward(self, d_dx, dy):
        """Double backward of dx = dy * 1[x > 0] (see ``Layer.backward_backward``).

        dx is linear in dy with a fixed mask, so dL/d(dy) = d_dx * 1[x > 0]; the
        slope is constant away from the kink at 0 (f'' = 0), so the x-term is None.
        """
        d_dx, dy = self._check_double(d_dx, dy)
        return np.where(self._cache, d_dx, 0), None


class LeakyReLU(Layer):
    """y = x if x > 0 else alpha * x;  dy/dx = 1 or alpha.

    Keras's default alpha is 0.3; the article's GANs use 0.2.
    """

    example_args = {"alpha": 0.2}

    def __init__(self, alpha: float = 0.3, name: str | None = None):
        super().__init__(name)
        if not 0.0 <= float(alpha) < 1.0:
            raise ValueError(f"{self.name}: alpha must be in [0, 1), got {alpha}")
        self.alpha = float(alpha)

    def forward(self, x):
        self._check_input(x, exact_shape=False)
        self._cache = x > 0                       # the mask is all backward needs
        # max(x, alpha x) is x for x > 0 and alpha x otherwise, as 0 <= alpha < 1;
        # in place, and without np.where, which branches on every element
        y = np.multiply(x, self.alpha)
        return self._remember_output(np.maximum(y, x, out=y))

    def backward(self, dy):
        dy = self._check_grad(dy)
        # BEGIN EXERCISE 2: activation backwards
        # Hint: LeakyReLU scales dy by alpha where x <= 0.
        slope = self._cache.astype(dy.dtype)      # 1 where x > 0, else 0 ...
        slope *= 1 - self.alpha
        slope += self.alpha                       # ... now 1 where x > 0, else alpha
        return np.multiply(slope, dy, out=slope)  # dy * slope, in the same array
        # END EXERCISE 2

    def backward_backward(self, d_dx, dy):
        """Double backward of dx = dy * (1 if x > 0 else alpha) (see ``Layer.backward_backward``).

        dL/d(dy) = d_dx * (1 or alpha); the slope is piecewise constant (f'' = 0
        away from the kink at 0), so the x-term is None. A gradient penalty on a
        LeakyReLU critic therefore reaches x only through the layers' forward path.
        """
        d_dx, dy = self._check_double(d_dx, dy)
        return np.where(self._cache, d_dx, self.alpha * d_dx), None


class Tanh(Layer):
    """y = tanh(x);  dy/dx = 1 - y^2 (so we cache y, not x)."""

    def forward(self, x):
        self._check_input(x, exact_shape=False)
        self._cache = np.tanh(x)
        return self._remember_output(self._cache)

    def backward(self, dy):
        dy = self._check_grad(dy)
        # BEGIN EXERCISE 2: activation backwards
        # Hint: tanh' = 1 - y^2 with y the cached output.
        y = self._cache
        return dy * (1 - y * y)
        # END EXERCISE 2

    def backward_backward(self, d_dx, dy):
        """Double backward of dx = dy * f'(x), f' = 1 - y^2 with y = tanh(x):

            dL/d(dy) = d_dx * f'(x)
            dL/dx    = d_dx * dy * f''(x),   f''(x) = -2 y (1 - y^2)

        The x-term is the one a ReLU-only derivation silently drops.
        """
        d_dx, dy = self._check_double(d_dx, dy)
        out = self._cache                     # y = tanh(x), cached by forward
        slope = 1 - np.square(out)            # f'(x)
        return d_dx * slope, d_dx * dy * (-2 * out * slope)


def sigmoid(x: np.ndarray, e: np.ndarray | None = None) -> np.ndarray:
    """Logistic function 1 / (1 + e^-x), without overflow for large |x|.

    exp is only ever taken of -|x| <= 0, so it cannot overflow: with
    e = exp(-|x|), sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0.
    The numerator is built as e + (1 - e) * [x >= 0] -- exactly e where x < 0 --
    rather than with np.where, which branches on every element (docs/performance.md).

    ``e``: exp(-|x|), if the caller has it already (BinaryCrossentropy's
    forward does), so that the exponential is taken once.
    """
    e = np.exp(-np.abs(x)) if e is None else e
    numerator = (1 - e) * (x >= 0)
    numerator += e
    return numerator / (1 + e)


class Sigmoid(Layer):
    """y = 1 / (1 + e^-x);  dy/dx = y (1 - y)."""

    def forward(self, x):
        self._check_input(x, exact_shape=False)
        self._cache = sigmoid(x)
        return self._remember_output(self._cache)

    def backward(self, dy):
        dy = self._check_grad(dy)
        # BEGIN EXERCISE 2: activation backwards
        # Hint: sigmoid' = y (1 - y) with y the cached output.
        y = self._cache
        return dy * y * (1 - y)
        # END EXERCISE 2

    def backward_backward(self, d_dx, dy):
        """Double backward of dx = dy * f'(x), f' = y (1 - y) with y = sigmoid(x):

            dL/d(dy) = d_dx * f'(x)
            dL/dx    = d_dx * dy * f''(x),   f''(x) = y (1 - y) (1 - 2 y)
        """
        d_dx, dy = self._check_double(d_dx, dy)
        out = self._cache                     # y = sigmoid(x), cached by forward
        slope = out - np.square(out)          # f'(x)
        return d_dx * slope, d_dx * dy * slope * (1 - 2 * out)
