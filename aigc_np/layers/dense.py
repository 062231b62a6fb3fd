"""Dense (fully connected) layer."""
from __future__ import annotations

import numpy as np

from ..initializers import get_initializer
from . import fast_dense
from .base import Layer


class Dense(Layer):
    """y = x W + b, applied to the last axis.

    Shapes: x (N, ..., in) -> y (N, ..., units); W (in, units); b (units,).
    Any number of middle axes is allowed (e.g. (N, T, in) for sequences).

    Backward, with X and dY the inputs and upstream gradients flattened to rows:
        dW = X^T dY,   db = sum_rows dY,   dx = dY W^T
    """

    example_args = {"units": 3}
    example_input_shape = (2, 4)  # a middle axis too: Dense acts on the last axis

    def __init__(self, units: int, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", name: str | None = None):
        super().__init__(name)
        # int(2.7) would quietly give 2 units, and bool is an int: accept true integers only.
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)):
            raise TypeError(f"{self.name}: expected units as a positive int, got {units!r} "
                            f"({type(units).__name__})")
        if units < 1:
            raise ValueError(f"{self.name}: expected units >= 1, got {units}")
        self.units = int(units)
        self.use_bias = use_bias
        self.kernel_initializer = get_initializer(kernel_initializer)

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"{self.name}: expected a per-example shape (..., features), got {input_shape}")
        if min(input_shape) < 1:
            raise ValueError(f"{self.name}: expected every input size >= 1, got input shape {input_shape}")
        return input_shape[:-1] + (self.units,)

    def _build(self, input_shape, rng):
        if rng is None:
            raise ValueError(f"{self.name}: build needs a np.random.Generator to initialize W")
        self.params["W"] = self.kernel_initializer((input_shape[-1], self.units), rng)
        if self.use_bias:
            self.params["b"] = np.zeros(self.units)

    def forward(self, x):
        if not self.built:
            raise ValueError(f"{self.name}: call build(input_shape, rng) first (Sequential does this)")
        self._check_input(x, exact_shape=False)
        if x.ndim < 2 or x.shape[-1] != self.input_shape[-1]:
            raise ValueError(f"{self.name}: expected input shape (N, ..., {self.input_shape[-1]}), got {x.shape}")
        self._cache = x
        y = x @ self.params["W"]
        if self.use_bias:
            y += self.params["b"]
        return self._remember_output(y)

    def backward(self, dy):
        dy = self._check_grad(dy)
        # BEGIN EXERCISE 1: Dense backward
        # Hint: with X and dY flattened to rows, dW = X^T dY, db = the column sums of dY, dx = dY W^T.
        x = self._cache
        rows_x = x.reshape(-1, x.shape[-1])
        rows_dy = dy.reshape(-1, self.units)
        self.grads["W"] = rows_x.T @ rows_dy
        if "b" in self.grads:
            self.grads["b"] = rows_dy.sum(axis=0)
        return dy @ self.params["W"].T
        # END EXERCISE 1

    # The fast paths (aigc_np.layers.backend): dL/dx alone, or the grads alone (layers/fast_dense.py).
    fast_input_gradient = fast_dense.input_gradient
    fast_param_gradients = fast_dense.param_gradients

    def backward_backward(self, d_dx, dy):
        """Double backward of dx = dY W^T (see ``Layer.backward_backward``).

        With V = d_dx and dY flattened to rows, L = sum_{r,i,j} V[r,i] dY[r,j] W[i,j], so

            dL/d(dY) = V W  (shaped like y),   dL/dW = V^T dY  (in, units),   dL/db = 0,

        and dL/dx = 0: dx does not depend on x, so the x-term is None.
        """
        dy = self._check_grad(dy)
        d_dx, dy = self._check_double(d_dx, dy, dy.shape[:-1] + (self.input_shape[-1],))
        v_rows = d_dx.reshape(-1, d_dx.shape[-1])                           # (rows, in)
        self.grads["W"] = v_rows.T @ dy.reshape(-1, dy.shape[-1])           # (in, units)
        if self.use_bias:
            self.grads["b"] = np.zeros_like(self.params["b"])
        return d_dx @ self.params["W"], None
