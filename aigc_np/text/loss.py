"""Cross-entropy for language models: (B, T, V) logits against (B, T) next-character ids."""
from __future__ import annotations

import numpy as np

from ..losses import SparseCategoricalCrossentropy

__all__ = ["SequenceCrossentropy"]


class SequenceCrossentropy(SparseCategoricalCrossentropy):
    """Mean cross-entropy over every position of every sequence, in nats per character.

        L = -(1/(B T)) sum_{b,t} log softmax(z[b, t])[y_bt]
        dL/dz[b, t] = (softmax(z[b, t]) - onehot(y_bt)) / (B T)

    It is SparseCategoricalCrossentropy over the B*T rows: logits (B, T, V)
    are seen as (B*T, V) and the labels (B, T) as (B*T,).
    """

    def __init__(self):
        super().__init__(from_logits=True)
        self._shape = None

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        """logits: (B, T, V); labels: (B, T) ints in [0, V). Returns the mean loss (nats)."""
        logits = self._check_pred(logits, "logits", min_rank=3)
        if logits.ndim != 3:
            raise ValueError(f"{self.name}: expected logits (B, T, V), got shape {logits.shape}")
        if not isinstance(labels, np.ndarray) or labels.shape != logits.shape[:2]:
            got = labels.shape if isinstance(labels, np.ndarray) else type(labels).__name__
            raise ValueError(f"{self.name}: expected labels of shape {logits.shape[:2]} for logits of shape "
                             f"{logits.shape}, got {got}")
        self._shape = logits.shape
        return super().forward(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))

    def backward(self, dloss: float = 1.0) -> np.ndarray:
        """dL/dlogits, shape (B, T, V) and the logits' dtype."""
        return super().backward(dloss).reshape(self._shape)
