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

from .data import window_error

__all__ = ["to_bits", "baselines", "model_loss", "sliding_loss", "fixed_batches"]

LN2 = math.log(2.0)


def to_bits(nats: float) -> float:
    return nats / LN2


def baselines(train: np.ndarray, heldout: np.ndarray, vocab_size: int) -> dict[str, float]:
    """Nats per character of the uniform, unigram and bigram (add-one) models on ``heldout``."""
    v = int(vocab_size)
    train, heldout = np.asarray(train, np.int64), np.asarray(heldout, np.int64)
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
        raise ValueError(f"model_loss: {window_error(t, 'held-out split', len(ids))}")
    starts = np.arange(n) * t
    model.eval()
    total = 0.0
    for i in range(0, n, batch_size):
        offsets = starts[i:i + batch_size, None] + np.arange(t)
        total += model.loss(_int64(ids, offsets), _int64(ids, offsets + 1)) * len(offsets)
    return total / n


def sliding_loss(model, ids: np.ndarray, batch_size: int = 64) -> float:
    """Mean nats per character with at least block_size / 2 characters of context each.

    Windows of T = block_size start every s = T / 2 ids; the first window
    scores all its T predictions, every later one only its last s (whose
    contexts are T - s .. T - 1 characters long), so each character is scored
    once. This is the protocol closest to scoring every name from its start
    (as makemore does), where ``model_loss``'s window starts cut names short.
    """
    t = model.block_size
    s = max(1, t // 2)
    if len(ids) < t + 1:
        raise ValueError(f"sliding_loss: {window_error(t, 'held-out split', len(ids))}")
    starts = np.arange(0, len(ids) - t, s)
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(starts), batch_size):
        offsets = starts[i:i + batch_size, None] + np.arange(t)
        logits = model.forward(_int64(ids, offsets)).astype(np.float64)
        z = logits - logits.max(axis=-1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        nll = -np.take_along_axis(logp, _int64(ids, offsets + 1)[..., None], axis=-1)[..., 0]     # (b, T)
        first = starts[i:i + batch_size] == 0
        scored = np.where(first[:, None], True, np.arange(t)[None, :] >= t - s)
        total += float(nll[scored].sum())
        count += int(scored.sum())
    return total / count


def fixed_batches(ids: np.ndarray, n_batches: int, batch_size: int, block_size: int, seed: int = 1234,
                  split: str = "val"):
    """The same n_batches random (x, y) int64 windows, each (batch_size, block_size), every call:
    a cheap, fixed validation estimate. ``split`` names the text in the error for a block too
    long for it."""
    if len(ids) < block_size + 1:
        raise window_error(block_size, f"{split} split", len(ids))
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(ids) - block_size, size=(n_batches, batch_size))
    offsets = starts[..., None] + np.arange(block_size)
    return list(zip(_int64(ids, offsets), _int64(ids, offsets + 1)))


def _int64(ids: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``ids[index]`` as int64: the corpus is stored compactly (uint16), models take int64 ids."""
    return ids[index].astype(np.int64)
