"""A container for models made of several named networks (encoder/decoder, G/D)."""
from __future__ import annotations

import numpy as np


class Model:
    """Named parts, each a Layer (usually a Sequential), seen as one parameter set.

    ``params``, ``grads`` and ``buffers`` merge the parts' dicts with keys
    ``"<part>.<name>"`` (e.g. ``"encoder.0.W"``), so one optimizer, one
    checkpoint file or one gradient check covers the whole model.
    """

    def __init__(self, **parts):
        self.parts = parts

    def _merged(self, attribute: str) -> dict[str, np.ndarray]:
        return {f"{part}.{k}": v for part, layer in self.parts.items()
                for k, v in getattr(layer, attribute).items()}

    @property
    def params(self) -> dict[str, np.ndarray]:
        return self._merged("params")

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return self._merged("grads")

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        return self._merged("buffers")

    @property
    def dtype(self):
        return next(iter(self.parts.values())).dtype

    def train(self):
        for layer in self.parts.values():
            layer.train()
        return self

    def eval(self):
        for layer in self.parts.values():
            layer.eval()
        return self

    def astype(self, dtype):
        for layer in self.parts.values():
            layer.astype(dtype)
        return self

    def rngs(self) -> list:
        return [g for layer in self.parts.values() for g in layer.rngs()]

    def num_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def summary(self) -> str:
        return "\n\n".join(f"{name}:\n{layer.summary()}" for name, layer in self.parts.items())
