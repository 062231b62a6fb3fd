"""Shape-only layers: the backward pass undoes the forward reshape."""
from __future__ import annotations

import numpy as np

from .base import Layer, as_shape


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...). Backward reshapes dy back."""

    example_input_shape = (2, 3, 2)

    def compute_output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)

    def forward(self, x):
        self._check_input(x, min_rank=2, exact_shape=self.built)
        self._cache = x.shape
        return self._remember_output(x.reshape(x.shape[0], -1))

    def backward(self, dy):
        dy = self._check_grad(dy)
        return dy.reshape(self._cache)

    def backward_backward(self, d_dx, dy):
        """Double backward of dx = reshape(dy): dL/d(dy) = d_dx reshaped back to
        the output shape; no parameters, no x-term (None)."""
        d_dx, dy = self._check_double(d_dx, dy, self._cache)
        return d_dx.reshape(dy.shape), None


class Reshape(Layer):
    """(N, ...) -> (N, *target_shape), e.g. Reshape((256, 7, 7)) after a Dense(7*7*256).

    Note the layout: aigc_np images are NCHW, so the article's Keras
    Reshape((7, 7, 256)) becomes Reshape((256, 7, 7)) here.
    """

    example_args = {"target_shape": (2, 3)}
    example_input_shape = (6,)

    def __init__(self, target_shape, name: str | None = None):
        super().__init__(name)
        self.target_shape = as_shape(target_shape)

    def compute_output_shape(self, input_shape):
        if int(np.prod(input_shape)) != int(np.prod(self.target_shape)):
            raise ValueError(f"{self.name}: cannot reshape per-example shape {input_shape} "
                             f"({int(np.prod(input_shape))} values) to {self.target_shape}")
        return self.target_shape

    def forward(self, x):
        self._check_input(x, min_rank=2, exact_shape=self.built)
        if x[0].size != int(np.prod(self.target_shape)):
            raise ValueError(f"{self.name}: expected {int(np.prod(self.target_shape))} values per example "
                             f"to reshape to {self.target_shape}, got shape {x.shape}")
        self._cache = x.shape
        return self._remember_output(x.reshape((x.shape[0],) + self.target_shape))

    def backward(self, dy):
        dy = self._check_grad(dy)
        return dy.reshape(self._cache)

    def backward_backward(self, d_dx, dy):
        """Double backward of dx = reshape(dy): dL/d(dy) = d_dx reshaped to the
        output shape; no parameters, no x-term (None)."""
        d_dx, dy = self._check_double(d_dx, dy, self._cache)
        return d_dx.reshape(dy.shape), None
