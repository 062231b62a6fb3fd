"""Embeddings that tell a denoiser *when* it is (the timestep) and *what* to draw (the label)."""
from __future__ import annotations

import numpy as np

from ..initializers import get_initializer
from .base import Layer


class SinusoidalEmbedding(Layer):
    """A scalar t -> dim numbers: sines and cosines of t at geometrically spaced frequencies.

    Shapes: t (N, 1) -> y (N, dim), dim even. With half = dim / 2 and
    frequencies w_k = max_period^(-k / half), k = 0 .. half-1 (Vaswani et al. 2017):

        y = [sin(w_0 t), ..., sin(w_{half-1} t), cos(w_0 t), ..., cos(w_{half-1} t)]

    Nearby t get similar vectors and far-apart t different ones, at every
    scale from 1 step (w_0 = 1) to ~max_period steps, so an MLP after it can
    tell t = 3 from t = 30 from t = 300. No parameters. Backward (for the
    contract and the gradient check; a timestep is data, not learned):

        dL/dt = sum_k w_k (dy_sin,k cos(w_k t) - dy_cos,k sin(w_k t))
    """

    example_args = {"dim": 6}
    example_input_shape = (1,)

    def __init__(self, dim: int, max_period: float = 10000.0, name: str | None = None):
        super().__init__(name)
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 2 or dim % 2:
            raise ValueError(f"{self.name}: dim must be an even int >= 2, got {dim!r}")
        if float(max_period) <= 1:
            raise ValueError(f"{self.name}: max_period must be > 1, got {max_period}")
        self.dim, self.max_period = int(dim), float(max_period)

    def compute_output_shape(self, input_shape):
        if tuple(input_shape) != (1,):
            raise ValueError(f"{self.name}: expected one number per example, input shape (1,), got {input_shape}")
        return (self.dim,)

    def frequencies(self, dtype) -> np.ndarray:
        half = self.dim // 2
        return np.exp(-np.log(self.max_period) * np.arange(half) / half).astype(dtype)

    def forward(self, t):
        self._check_input(t, min_rank=2)
        angles = t * self.frequencies(t.dtype)                            # (N, half)
        self._cache = (angles, self.frequencies(t.dtype))
        return self._remember_output(np.concatenate([np.sin(angles), np.cos(angles)], axis=1))

    def backward(self, dy):
        dy = self._check_grad(dy)
        angles, freqs = self._cache
        half = self.dim // 2
        d_angles = dy[:, :half] * np.cos(angles) - dy[:, half:] * np.sin(angles)
        return (d_angles * freqs).sum(axis=1, keepdims=True)


class LabelEmbedding(Layer):
    """A class label -> a learned vector: row k of a table E (n_classes, dim).

    Shapes: one-hot labels x (N, n_classes) -> y = x E (N, dim). With one-hot
    rows, y[i] = E[label_i]: a table lookup written as a product, so the
    backward is the Dense layer's, dE = x^T dy and dx = dy E^T (only the rows
    of the labels in the batch get a gradient). For classifier-free guidance
    the table has one extra row, the "null" label that means "no label".
    """

    example_args = {"n_classes": 4, "dim": 3}
    example_input_shape = (4,)

    def __init__(self, n_classes: int, dim: int, initializer="glorot_uniform", name: str | None = None):
        super().__init__(name)
        for what, v in (("n_classes", n_classes), ("dim", dim)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{self.name}: {what} must be a positive int, got {v!r}")
        self.n_classes, self.dim = int(n_classes), int(dim)
        self.initializer = get_initializer(initializer)

    def compute_output_shape(self, input_shape):
        if tuple(input_shape) != (self.n_classes,):
            raise ValueError(f"{self.name}: expected one-hot labels, input shape ({self.n_classes},), "
                             f"got {input_shape}")
        return (self.dim,)

    def _build(self, input_shape, rng):
        if rng is None:
            raise ValueError(f"{self.name}: build needs a np.random.Generator to initialize E")
        self.params["E"] = self.initializer((self.n_classes, self.dim), rng)

    def forward(self, x):
        self._check_input(x, min_rank=2)
        self._cache = x
        return self._remember_output(x @ self.params["E"])

    def backward(self, dy):
        dy = self._check_grad(dy)
        self.grads["E"] = self._cache.T @ dy
        return dy @ self.params["E"].T
