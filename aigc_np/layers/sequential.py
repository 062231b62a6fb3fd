"""Sequential: a stack of layers that is itself a layer.

Forward runs the layers in order; backward runs their backward passes in
reverse order (the chain rule). Parameters and gradients of the children are
exposed as flat dicts with keys ``"<index>.<name>"``, e.g. ``"0.W"``, so an
optimizer can treat a whole network like a single layer.
"""
from __future__ import annotations

import numpy as np

from .base import Layer, as_shape


class Sequential(Layer):
    """Compose layers: y = layer_k(... layer_1(x)).

    Args:
        layers: the layers, in order.
        input_shape: per-example input shape; if given, the model is built now.
        rng: generator for parameter initialization (needed if input_shape is given).
        dtype: float32 for training, float64 for gradient checks.
    """

    def __init__(self, layers, input_shape=None, rng: np.random.Generator | None = None,
                 dtype=np.float32, name: str | None = None):
        super().__init__(name)
        self.layers = list(layers)
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"{self.name}: item {i} is a {type(layer).__name__}, not a Layer")
        if input_shape is not None:
            self.build(input_shape, rng, dtype)

    @classmethod
    def example(cls, rng):
        from .activations import Tanh
        from .dense import Dense
        model = cls([Dense(3), Tanh(), Dense(2)], input_shape=(4,), rng=rng, dtype=np.float64)
        return model, rng.standard_normal((3, 4))

    # Children own the arrays; these views are rebuilt on each access so that
    # they always point at the children's current arrays.
    @property
    def params(self) -> dict[str, np.ndarray]:
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.params.items()}

    @params.setter
    def params(self, value):
        if value:
            raise AttributeError("Sequential.params is derived from its layers")

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.grads.items()}

    @grads.setter
    def grads(self, value):
        if value:
            raise AttributeError("Sequential.grads is derived from its layers")

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.buffers.items()}

    @buffers.setter
    def buffers(self, value):
        if value:
            raise AttributeError("Sequential.buffers is derived from its layers")

    def build(self, input_shape, rng=None, dtype=np.float32):
        self.dtype = np.dtype(dtype)
        self.input_shape = shape = as_shape(input_shape)
        for layer in self.layers:
            shape = layer.build(shape, rng, dtype)
        self.output_shape = shape
        return shape

    def train(self):
        self.training = True
        for layer in self.layers:
            layer.train()
        return self

    def eval(self):
        self.training = False
        for layer in self.layers:
            layer.eval()
        return self

    def astype(self, dtype):
        self.dtype = np.dtype(dtype)
        for layer in self.layers:
            layer.astype(dtype)
        return self

    def rngs(self) -> list:
        return [g for layer in self.layers for g in layer.rngs()]

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def num_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def summary(self) -> str:
        """A Keras-style table of layers, output shapes and parameter counts."""
        rows = [f"{'layer':<28}{'output shape':<22}{'params':>10}"]
        for i, layer in enumerate(self.layers):
            n = sum(p.size for p in layer.params.values())
            shape = "(N, " + ", ".join(map(str, layer.output_shape or ())) + ")"
            rows.append(f"{f'{i}: {layer.name}':<28}{shape:<22}{n:>10,}")
        rows.append(f"{'total':<50}{self.num_params():>10,}")
        return "\n".join(rows)

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential(\n  {inner}\n)"
