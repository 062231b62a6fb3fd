"""How well a language model predicts held-out text, in nats and bits per character, next to
baselines counted exactly from the training split.

    loss = -(1/N) sum_i ln p(x_i | context)   nats per character;   bits = nats / ln 2

Baselines, each fitted on the training split only and scored on the same held-out ids:

* uniform: every character equally likely, exactly ln V;
* unigram: p(c) = (count(c) + 1) / (N + V)  (add-one smoothing, so no unseen character has p = 0);
* bigram:  p(c | a) = (count(a, c) + 1) / (count(a, .) + V)  (add-one smoothing), the first
  held-out character is not scored (it has no predecessor).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["to_bits", "baselines", "model_loss", "fixed_batches"]

LN2 = math.log(2.0)


def to_bits(nats: float) -> float:
    return nats / LN2


def baselines(train: np.ndarray, heldout: np.ndarray, vocab_size: int) -> dict[str, float]:
    """Nats per character of the uniform, unigram and bigram (add-one) models on ``heldout``."""
    v = int(vocab_size)
    unigram = (np.bincount(train, minlength=v) + 1.0) / (len(train) + v)
    pairs = np.bincount(train[:-1] * v + train[1:], minlength=v * v).reshape(v, v) + 1.0
    bigram = pairs / pairs.sum(axis=1, keepdims=True)
    return {"uniform": math.log(v),
            "unigram": float(-np.mean(np.log(unigram[heldout]))),
            "bigram": float(-np.mean(np.log(bigram[heldout[:-1], heldout[1:]])))}


def model_loss(model, ids: np.ndarray, batch_size: int = 64) -> float:
    """Mean nats per character over every non-overlapping window of block_size ids (eval mode).

    The split is cut into windows x = ids[s : s + T], y = ids[s + 1 : s + T + 1],
    s = 0, T, 2T, ...: every character but the first (and a short tail) is
    predicted exactly once, from the 1..T characters before it in its window,
    as in training.
    """
    t = model.block_size
    n = (len(ids) - 1) // t
    if n < 1:
        raise ValueError(f"model_loss: {len(ids)} ids are too few for one window of {t} (+1)")
    starts = np.arange(n) * t
    model.eval()
    total = 0.0
    for i in range(0, n, batch_size):
        offsets = starts[i:i + batch_size, None] + np.arange(t)
        total += model.loss(ids[offsets], ids[offsets + 1]) * len(offsets)
    return total / n


def fixed_batches(ids: np.ndarray, n_batches: int, batch_size: int, block_size: int, seed: int = 1234):
    """The same n_batches random (x, y) windows every call: a cheap, fixed validation estimate."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(ids) - block_size, size=(n_batches, batch_size))
    offsets = starts[..., None] + np.arange(block_size)
    return list(zip(ids[offsets], ids[offsets + 1]))
