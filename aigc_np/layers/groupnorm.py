"""Group normalization (Wu & He 2018): BatchNorm's statistics, taken per example.

The U-Net of lesson 16 trains on small batches of very different noise
levels, so batch statistics would mix a clean image with pure noise. Group
normalization needs no batch: it splits the C channels of each example into
``groups`` groups of C/G channels and normalizes each group over its
channels and all its pixels.
"""
from __future__ import annotations

import numpy as np

from . import backend, fast_norm
from .base import Layer


class GroupNormalization(Layer):
    """Normalize each example's channel groups, then scale and shift per channel.

    Shapes: x (N, C, ...) -> y, the same shape; gamma, beta (C,). With the
    group axis made explicit, x -> (N, G, M) where M = (C/G) * (pixels):

        xhat = (x - mean_M(x)) / sqrt(var_M(x) + eps)      per example and group
        y    = gamma[c] * xhat + beta[c]

    Backward: dgamma[c] = sum dy * xhat and dbeta[c] = sum dy over the batch and
    the pixels; with dxhat = dy * gamma[c], per example and group,

        dx = (dxhat - mean_M(dxhat) - xhat * mean_M(dxhat * xhat)) / sqrt(var + eps)

    (LayerNormalization's backward, over a group's M numbers). groups = 1 is
    layer norm over (C, H, W); groups = C is instance norm. No batch
    statistics, so train and eval modes are the same.

    Training runs the same maths in fewer passes (layers/fast_norm.py, chosen
    by aigc_np.layers.backend); ``forward`` records which path it took and
    ``backward`` follows it.
    """

    example_args = {"groups": 2}
    example_input_shape = (4, 3, 3)
    example_batch = 2

    def __init__(self, groups: int, epsilon: float = 1e-5, name: str | None = None):
        super().__init__(name)
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
            raise ValueError(f"{self.name}: groups must be a positive int, got {groups!r}")
        if float(epsilon) <= 0:
            raise ValueError(f"{self.name}: epsilon must be positive, got {epsilon}")
        self.groups, self.epsilon = int(groups), float(epsilon)

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 1 or input_shape[0] % self.groups:
            raise ValueError(f"{self.name}: expected a per-example shape (C, ...) with C divisible by "
                             f"groups={self.groups}, got {input_shape}")
        return input_shape

    def _build(self, input_shape, rng):
        self.params["gamma"] = np.ones(input_shape[0])
        self.params["beta"] = np.zeros(input_shape[0])

    def _per_channel(self, v: np.ndarray, ndim: int) -> np.ndarray:
        """(C,) -> (1, C, 1, ..., 1), to broadcast over an (N, C, ...) array."""
        return v.reshape((1, -1) + (1,) * (ndim - 2))

    def forward(self, x):
        self._check_input(x, min_rank=2)
        if backend.fast():
            y, cache = fast_norm.group_norm_forward(x, self.params["gamma"], self.params["beta"],
                                                    self.groups, self.epsilon)
            self._cache = ("fast", cache)
            return self._remember_output(y)
        grouped = x.reshape(len(x), self.groups, -1)                    # (N, G, M)
        centred = grouped - grouped.mean(axis=2, keepdims=True)
        inv_std = 1.0 / np.sqrt(np.mean(centred * centred, axis=2, keepdims=True) + self.epsilon)
        centred *= inv_std                                              # now xhat, in the same array
        xhat = centred.reshape(x.shape)
        self._cache = ("reference", (xhat, inv_std))
        y = xhat * self._per_channel(self.params["gamma"], x.ndim) + self._per_channel(self.params["beta"], x.ndim)
        return self._remember_output(y)

    def backward(self, dy):
        dy = self._check_grad(dy)
        path, cache = self._cache
        if path == "fast":
            dx, self.grads["gamma"], self.grads["beta"] = fast_norm.group_norm_backward(dy, cache, self.params["gamma"])
            return dx
        xhat, inv_std = cache
        summed = (0,) + tuple(range(2, dy.ndim))                          # batch and pixel axes
        # BEGIN EXERCISE 13: GroupNormalization backward
        # Hint: dgamma and dbeta sum over every axis but the channels; dx is LayerNormalization's formula over each (example, group) of M = (C/G) * pixels numbers, with dxhat = dy * gamma[c].
        self.grads["gamma"] = np.sum(dy * xhat, axis=summed)
        self.grads["beta"] = np.sum(dy, axis=summed)
        dxhat = (dy * self._per_channel(self.params["gamma"], dy.ndim)).reshape(len(dy), self.groups, -1)
        xhat_g = xhat.reshape(dxhat.shape)
        dx = inv_std * (dxhat - dxhat.mean(axis=2, keepdims=True)
                        - xhat_g * np.mean(dxhat * xhat_g, axis=2, keepdims=True))
        return dx.reshape(dy.shape)
        # END EXERCISE 13
