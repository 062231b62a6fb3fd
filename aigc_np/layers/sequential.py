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
        """dL/dx through the stack, every layer assigning its grads on the way."""
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def input_gradient(self, dy: np.ndarray) -> np.ndarray:
        """dL/dx through the stack, each layer's ``input_gradient``: no grad changes."""
        for layer in reversed(self.layers):
            dy = layer.input_gradient(dy)
        return dy

    def param_gradients(self, dy: np.ndarray) -> None:
        """Every layer's grads, as ``backward`` assigns them, without dL/dx: the layers
        after the first one with parameters run ``backward`` (their dx feeds the layers
        before), that one its ``param_gradients``, which may skip the input-gradient
        product, and the parameter-free layers before it (a Flatten) do nothing."""
        learning = [i for i, layer in enumerate(self.layers) if layer.params]
        if not learning:
            return
        first = learning[0]
        for layer in reversed(self.layers[first + 1:]):
            dy = layer.backward(dy)
        self.layers[first].param_gradients(dy)

    def backward_backward(self, d_dx: np.ndarray, dy: np.ndarray):
        """Double backward through the stack (see ``Layer.backward_backward``).

        The backward pass is a chain too. With h_0 = x, h_k = layer_k(h_{k-1})
        and B_k layer k's backward: g_K = dy, g_{k-1} = B_k(h_{k-1}, g_k, theta_k),
        and dx = g_0. Differentiating L = sum(d_dx * g_0) takes two sweeps:

        1. forward (k = 1..K), each layer's ``backward_backward``: it turns
           v_{k-1} = dL/dg_{k-1} into v_k = dL/dg_k (passed to the next layer),
           and gives its direct x-term u_{k-1} = dL/dh_{k-1} and assigns its
           direct parameter terms to its grads;
        2. reverse (k = K..1), ordinary ``backward``: the x-terms reach x and the
           earlier layers' parameters through the forward pass, so
           a_{k-1} = B_k(h_{k-1}, a_k, theta_k) + u_{k-1}, from a_K = 0. Each
           backward *assigns* its layer's forward-path parameter terms; the
           direct terms from sweep 1 are then *added* to them -- the one place
           where two gradient contributions are summed, explicitly.

        Returns (dL/d(dy), dL/dx) and assigns the total dL/dtheta to every
        layer's grads. An x-term that is exactly zero stays None: a stack of
        only Dense/Conv2D/Flatten/ReLU-like layers has no x-terms, and sweep 2
        costs nothing. Needs a ``forward`` first; it reruns the backward sweep
        once, input gradients only, to recover each layer's upstream gradient g_k. No parameter changes.
        """
        if not isinstance(d_dx, np.ndarray):
            raise TypeError(f"{self.name}: expected d_dx as a numpy.ndarray, got {type(d_dx).__name__}")
        upstream = []                                  # upstream[k] = g_k, the dy layer k's backward got
        g = dy
        for layer in reversed(self.layers):            # the sweeps below assign every weight gradient
            upstream.append(g)
            g = layer.input_gradient(g)
        upstream.reverse()
        if d_dx.shape != g.shape:
            raise ValueError(f"{self.name}: expected d_dx of shape {g.shape} (the input shape), got {d_dx.shape}")

        v, x_terms = d_dx, []                          # sweep 1: forward through the layers
        for layer, g in zip(self.layers, upstream):
            v, u = layer.backward_backward(v, g)
            x_terms.append(u)

        a = None                                       # sweep 2: dL/dh_k through the forward path
        for layer, u in zip(reversed(self.layers), reversed(x_terms)):
            if a is not None:
                direct = {k: grad.copy() for k, grad in layer.grads.items()}  # sweep 1's terms
                a = layer.backward(a)                  # assigns the forward-path terms ...
                for k, grad in layer.grads.items():
                    grad += direct[k]                  # ... and adds the direct ones
            if u is not None:
                a = u if a is None else a + u
        return v, a

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
