"""Layer normalization (Ba, Kiros & Hinton 2016): the worked example of adding a layer.

This file is the "Add a layer in 3 steps" example of docs/design.md: a subclass of
Layer with ``_build``, ``forward`` and ``backward`` side by side, plus an
``example_*`` spec -- and ``tests/test_every_layer.py`` gradient-checks it
without any test written for it.
"""
from __future__ import annotations

import numpy as np

from . import backend, fast_norm
from .base import Layer


class LayerNormalization(Layer):
    """Normalize each example over its last axis, then scale and shift.

        xhat = (x - mean(x)) / sqrt(var(x) + eps)   over the last axis (size D)
        y    = gamma * xhat + beta                  gamma, beta: (D,)

    Unlike BatchNormalization it uses no batch statistics, so train and eval
    modes are the same and it works for any batch size (and any rank: (N, D),
    (N, T, D), ...). Backward, per example:

        dxhat = dy * gamma
        dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps)

    Training runs the same maths in fewer passes (layers/fast_norm.py, chosen
    by aigc_np.layers.backend); ``forward`` records which path it took.
    """

    example_input_shape = (2, 5)

    def __init__(self, epsilon: float = 1e-3, name: str | None = None):
        super().__init__(name)
        if float(epsilon) <= 0:
            raise ValueError(f"{self.name}: epsilon must be positive, got {epsilon}")
        self.epsilon = float(epsilon)

    def _build(self, input_shape, rng):
        self.params["gamma"] = np.ones(input_shape[-1])
        self.params["beta"] = np.zeros(input_shape[-1])

    def forward(self, x):
        self._check_input(x, min_rank=2)
        if backend.fast():
            y, cache = fast_norm.layer_norm_forward(x, self.params["gamma"], self.params["beta"], self.epsilon)
            self._cache = ("fast", cache)
            return self._remember_output(y)
        mean = x.mean(axis=-1, keepdims=True)
        inv_std = 1.0 / np.sqrt(x.var(axis=-1, keepdims=True) + self.epsilon)
        xhat = (x - mean) * inv_std
        self._cache = ("reference", (xhat, inv_std))
        return self._remember_output(self.params["gamma"] * xhat + self.params["beta"])

    def backward(self, dy):
        dy = self._check_grad(dy)
        path, cache = self._cache
        if path == "fast":
            dx, self.grads["gamma"], self.grads["beta"] = fast_norm.layer_norm_backward(dy, cache, self.params["gamma"])
            return dx
        xhat, inv_std = cache
        batch_axes = tuple(range(dy.ndim - 1))
        self.grads["gamma"] = np.sum(dy * xhat, axis=batch_axes)
        self.grads["beta"] = np.sum(dy, axis=batch_axes)
        dxhat = dy * self.params["gamma"]
        return inv_std * (dxhat - dxhat.mean(axis=-1, keepdims=True)
                          - xhat * np.mean(dxhat * xhat, axis=-1, keepdims=True))
