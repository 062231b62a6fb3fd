"""Batch normalization (Ioffe & Szegedy 2015) for (N, F) and (N, C, H, W) inputs."""
from __future__ import annotations

import numpy as np

from . import backend, fast_norm
from .base import Layer


class BatchNormalization(Layer):
    """Normalize each feature (or channel) over the batch, then scale and shift.

    Train:  xhat = (x - mean_B) / sqrt(var_B + eps),   y = gamma * xhat + beta,
            with mean_B, var_B over axis 0 for (N, F), or axes (0, 2, 3) for (N, C, H, W).
    Eval:   the same with the running estimates instead of the batch statistics.

    Running estimates follow Keras's ``momentum`` convention:
        running = momentum * running + (1 - momentum) * batch_statistic
    so momentum=0.8 keeps 80% of the running value at every step. (PyTorch's
    ``momentum`` means the opposite: the weight of the *new* value.) The running
    variance uses the biased batch variance, as normalization itself does.

    Backward in train mode (m = number of values per feature, sums over the batch axes):
        dxhat = dy * gamma
        dx = (1 / (m * std)) * (m * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat))
        dgamma = sum(dy * xhat),   dbeta = sum(dy)
    gamma is constant over the sums, so sum(dxhat) = gamma * dbeta and
    sum(dxhat * xhat) = gamma * dgamma, and the code computes the same as
        dx = (gamma / std) * (dy - dbeta / m - xhat * dgamma / m)

    Params gamma, beta: (F,) or (C,). Buffers moving_mean, moving_variance: same shape.

    Training runs the same maths in fewer passes (layers/fast_norm.py, chosen
    by aigc_np.layers.backend); ``forward`` records which path it took.
    """

    example_args = {"momentum": 0.8}
    example_input_shape = (2, 3, 3)
    example_batch = 2

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, name: str | None = None):
        super().__init__(name)
        for what, value in (("momentum", momentum), ("epsilon", epsilon)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"{self.name}: expected {what} as a number, got {value!r} ({type(value).__name__})")
        if not 0.0 <= float(momentum) < 1.0:   # also refuses NaN
            raise ValueError(f"{self.name}: momentum must be in [0, 1), got {momentum}")
        if not (np.isfinite(epsilon) and epsilon > 0.0):
            raise ValueError(f"{self.name}: expected epsilon finite and > 0, got {epsilon}")
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)

    def compute_output_shape(self, input_shape):
        if len(input_shape) not in (1, 3):
            raise ValueError(f"{self.name}: expected per-example shape (F,) or (C, H, W), got {input_shape}")
        if min(input_shape) < 1:
            raise ValueError(f"{self.name}: expected every input size >= 1, got input shape {input_shape}")
        return input_shape

    def _build(self, input_shape, rng):
        n = input_shape[0]
        self.params["gamma"] = np.ones(n)
        self.params["beta"] = np.zeros(n)
        self.buffers["moving_mean"] = np.zeros(n)
        self.buffers["moving_variance"] = np.ones(n)

    def _axes_and_view(self, x):
        """Axes to reduce over, and the shape that broadcasts (C,) against x."""
        if x.ndim == 2:
            return (0,), (1, -1)
        return (0, 2, 3), (1, -1, 1, 1)

    def forward(self, x):
        if not self.built:
            raise ValueError(f"{self.name}: call build(input_shape, rng) first (Sequential does this)")
        self._check_input(x)
        if self.training and x.size // x.shape[1] < 2:
            raise ValueError(f"{self.name}: train mode needs more than one value per feature "
                             f"to compute batch statistics, got input shape {x.shape}")
        if backend.fast():
            return self._fast_forward(x)
        axes, view = self._axes_and_view(x)
        if self.training:
            mean = x.mean(axis=axes)
            xhat = x - mean.reshape(view)              # centred; scaled to xhat below
            var = np.mean(np.square(xhat), axis=axes)  # the biased batch variance
            m = self.momentum
            self.buffers["moving_mean"] = m * self.buffers["moving_mean"] + (1 - m) * mean
            self.buffers["moving_variance"] = m * self.buffers["moving_variance"] + (1 - m) * var
        else:
            xhat = x - self.buffers["moving_mean"].reshape(view)
            var = self.buffers["moving_variance"]
        inv_std = (1.0 / np.sqrt(var + self.epsilon)).astype(x.dtype, copy=False)
        xhat *= inv_std.reshape(view)
        self._cache = ("reference", (xhat, inv_std, self.training))
        y = xhat * self.params["gamma"].reshape(view)
        y += self.params["beta"].reshape(view)
        return self._remember_output(y)

    def _fast_forward(self, x):
        running = (None, None) if self.training else (self.buffers["moving_mean"], self.buffers["moving_variance"])
        y, (mean, var), cache = fast_norm.batch_norm_forward(x, self.params["gamma"], self.params["beta"],
                                                             *running, self.epsilon)
        if self.training:
            m = self.momentum
            self.buffers["moving_mean"] = m * self.buffers["moving_mean"] + (1 - m) * mean
            self.buffers["moving_variance"] = m * self.buffers["moving_variance"] + (1 - m) * var
        self._cache = ("fast", cache)
        return self._remember_output(y)

    def backward(self, dy):
        dy = self._check_grad(dy)
        path, cache = self._cache
        if path == "fast":
            dx, self.grads["gamma"], self.grads["beta"] = fast_norm.batch_norm_backward(dy, cache)
            return dx
        xhat, inv_std, batch_statistics = cache
        axes, view = self._axes_and_view(dy)
        # BEGIN EXERCISE 5: BatchNormalization backward
        # Hint: dgamma = sum(dy * xhat), dbeta = sum(dy); in train mode the batch mean and variance depend on x too, so dx = (gamma / std) (dy - dbeta / m - xhat dgamma / m).
        dgamma = np.sum(dy * xhat, axis=axes)
        dbeta = np.sum(dy, axis=axes)
        self.grads["gamma"], self.grads["beta"] = dgamma, dbeta
        gamma_over_std = (self.params["gamma"] * inv_std).reshape(view)
        if not batch_statistics:
            # Running statistics are constants: the layer is affine in x.
            return dy * gamma_over_std
        m = dy.size // dy.shape[1]
        dx = dy - (dbeta / m).reshape(view)           # dy - mean(dy)
        dx -= xhat * (dgamma / m).reshape(view)       # ... - xhat * mean(dy * xhat)
        return np.multiply(dx, gamma_over_std, out=dx)  # ... all times gamma / std
        # END EXERCISE 5
