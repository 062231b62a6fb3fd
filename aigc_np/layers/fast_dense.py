"""Dense's fast paths: half a backward, when a step needs only one half.

``backward`` (layers/dense.py) computes both dW = X^T dY (with db) and
dx = dY W^T. A GAN's generator step backpropagates *through* D and needs
only dx; D's own step needs D's grads but not the gradient into its input
images. Each half is one product, so each of these skips about a third of a
backward's work. They are methods of Dense (``Dense.fast_input_gradient``,
``Dense.fast_param_gradients``), called by ``Layer.input_gradient`` and
``Layer.param_gradients`` when the fast paths are on (aigc_np.layers.backend), and
tests/test_fast_paths.py holds their results equal to ``backward``'s.
"""
from __future__ import annotations

import numpy as np


def input_gradient(layer, dy: np.ndarray) -> np.ndarray:
    """dL/dx = dY W^T; the layer's grads are not touched."""
    dy = layer._check_grad(dy)
    return np.matmul(dy, layer.params["W"].T)


def param_gradients(layer, dy: np.ndarray) -> None:
    """Assign dW (and db) as ``backward`` does, in the same operations, and skip dx."""
    dy = layer._check_grad(dy)
    x_rows = layer._cache.reshape(-1, layer.input_shape[-1])
    dy_rows = dy.reshape(-1, layer.units)
    layer.grads["W"] = np.matmul(x_rows.T, dy_rows)
    if "b" in layer.grads:
        layer.grads["b"] = np.add.reduce(dy_rows, axis=0)
