"""How well a language model predicts held-out text, in nats and bits per character, next to
baselines counted exactly from the training split.

    loss = -(1/N) sum_i ln p(x_i | context)   nats per character;   bits = nats / ln 2

Baselines, each fitted on the training split only and scored on the same held-out ids:

* uniform: every character equally likely, exactly ln V;
* unigram: p(c) = (count(c) + 1) / (N + V)  (add-one smoothing, so no unseen character has p = 0);
* bigram:  p(c | a) = (count(a, c) + 1) / (count(a, .) + V)  (add-one smoothing), the first
  held-out character is not scored (it has no predecessor). Counts are kept for the pairs
  that occur (a sorted table of pair codes a * V + c), not in a V x V matrix: Chinese text
  has thousands of characters, and 5,000 of them would make a 200 MB matrix.
"""
from __future__ import annotations

import math

import numpy as np

from .data import window_error

__all__ = ["to_bits", "baselines", "bigram_counts", "model_loss", "sliding_loss", "framed_loss", "fixed_batches"]

LN2 = math.log(2.0)
_CHUNK = 1 << 20      # pairs counted or scored at a time: bounds the int64 temporaries
_DENSE_PAIRS = 1 << 22   # up to V = 2,048 every pair code gets a counter (32 MB at most)


def to_bits(nats: float) -> float:
    return nats / LN2


def _counts(ids: np.ndarray, v: int) -> np.ndarray:
    """np.bincount(ids, minlength=v), counted chunk by chunk (bincount copies its input to int64)."""
    total = np.zeros(v, dtype=np.int64)
    for start in range(0, len(ids), _CHUNK):
        total += np.bincount(ids[start:start + _CHUNK], minlength=v)
    return total


def _pair_chunks(ids: np.ndarray, v: int):
    """The pair codes a * V + c of consecutive ids, as int64 arrays of at most ``_CHUNK`` pairs."""
    for start in range(0, len(ids) - 1, _CHUNK):
        a = np.asarray(ids[start:start + _CHUNK], dtype=np.int64)
        c = np.asarray(ids[start + 1:start + _CHUNK + 1], dtype=np.int64)
        yield start, a[:len(c)] * v + c


def bigram_counts(train: np.ndarray, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (a, c) that occur in ``train`` and how often: sorted pair codes a * V + c and
    their counts, both int64 (P,), P <= min(len - 1, V^2).

    A small vocabulary (V^2 <= ``_DENSE_PAIRS``) counts every pair code in a flat table; a
    larger one merges each chunk's ``np.unique`` into the sorted table of pairs seen so far, so
    memory follows the pairs that occur, never V^2.
    """
    v = int(vocab_size)
    if v * v <= _DENSE_PAIRS:
        table = np.zeros(v * v, dtype=np.int64)
        for _, pairs in _pair_chunks(train, v):
            table += np.bincount(pairs, minlength=v * v)
        codes = np.flatnonzero(table)
        return codes, table[codes]
    codes, counts = np.zeros(0, np.int64), np.zeros(0, np.int64)
    for _, pairs in _pair_chunks(train, v):
        chunk, n = np.unique(pairs, return_counts=True)
        at = np.searchsorted(codes, chunk)
        known = at < len(codes)
        known[known] = codes[at[known]] == chunk[known]
        counts[at[known]] += n[known]                  # chunk codes are unique: no repeated index
        # The rest are new pairs, inserted in order (np.insert keeps ties in the given order).
        codes, counts = np.insert(codes, at[~known], chunk[~known]), np.insert(counts, at[~known], n[~known])
    return codes, counts


def baselines(train: np.ndarray, heldout: np.ndarray, vocab_size: int) -> dict[str, float]:
    """Nats per character of the uniform, unigram and bigram (add-one) models on ``heldout``."""
    v = int(vocab_size)
    unigram = (_counts(train, v) + 1.0) / (len(train) + v)
    codes, counts = bigram_counts(train, v)
    # A sentinel above every pair code: searchsorted then always lands inside the table.
    codes, counts = np.append(codes, np.iinfo(np.int64).max), np.append(counts, 0)
    row_totals = _counts(train[:-1], v)                                  # count(a, .)
    logp = np.empty(max(len(heldout) - 1, 0))
    for start, pairs in _pair_chunks(heldout, v):
        at = np.searchsorted(codes, pairs)
        seen = np.where(codes[at] == pairs, counts[at], 0)               # count(a, c), 0 if never seen
        a = np.asarray(heldout[start:start + len(pairs)], dtype=np.int64)
        logp[start:start + len(pairs)] = np.log((seen + 1.0) / (row_totals[a] + float(v)))
    return {"uniform": math.log(v),
            "unigram": float(-np.mean(np.log(unigram[heldout]))),
            "bigram": float(-np.mean(logp))}


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
        logits = model.forward(_int64(ids, offsets))
        first = starts[i:i + batch_size] == 0
        scored = np.where(first[:, None], True, np.arange(t)[None, :] >= t - s)
        total += _nll_sum(logits, _int64(ids, offsets + 1), scored)
        count += int(scored.sum())
    return total / count


def _nll_sum(logits: np.ndarray, targets: np.ndarray, scored: np.ndarray) -> float:
    """sum of -ln p(target) over the ``scored`` positions of logits (b, T, V), targets (b, T).

    Only the scored rows, in the model's dtype (a 5,000-character float64 copy costs more than
    the forward); sums of the exps are taken in float64: -ln p = ln sum_j e^(z_j - m) - (z_y - m).
    """
    z = logits[scored]
    z -= z.max(axis=-1, keepdims=True)
    picked = z[np.arange(len(z)), targets[scored]].astype(np.float64)
    np.exp(z, out=z)
    return float(np.sum(np.log(np.sum(z, axis=-1, dtype=np.float64)) - picked))


def framed_loss(model, ids: np.ndarray, boundary: int, batch_size: int = 64) -> float:
    """Mean nats per character with every poem (or name) scored once, from its opening boundary.

    The split is boundary, poem, boundary, poem, ..., boundary (a newline for
    poems, "." for names); the window of a poem starts at its opening boundary
    and scores the poem's characters and its closing boundary, each with the
    whole poem before it as context, as when a poem is sampled (and as
    makemore scores names).
    """
    t = model.block_size
    marks = np.flatnonzero(ids == boundary)
    opens, lengths = marks[:-1], np.diff(marks)           # each poem's characters + its closing boundary
    if not len(opens) or lengths.max() > t:
        raise ValueError(f"framed_loss: every poem or name must fit in block_size {t}; the longest holds "
                         f"{lengths.max(initial=0)} characters with its closing boundary")
    model.eval()
    total = 0.0
    for i in range(0, len(opens), batch_size):
        offsets = np.minimum(opens[i:i + batch_size, None] + np.arange(t), len(ids) - 2)   # past the end: unscored
        logits = model.forward(_int64(ids, offsets))
        total += _nll_sum(logits, _int64(ids, offsets + 1), np.arange(t)[None, :] < lengths[i:i + batch_size, None])
    return total / int(lengths.sum())


def fixed_batches(ids: np.ndarray, n_batches: int, batch_size: int, block_size: int, seed: int = 1234,
                  split: str = "val", starts=None):
    """The same n_batches random (x, y) int64 windows, each (batch_size, block_size), every call:
    a cheap, fixed validation estimate. ``split`` names the text in the error for a block too
    long for it; ``starts``: where windows may start (poems and names: where each opens)."""
    if len(ids) < block_size + 1 or (starts is not None and not len(starts)):
        raise window_error(block_size, f"{split} split", len(ids))
    rng = np.random.default_rng(seed)
    if starts is not None:
        starts = np.asarray(starts)[rng.integers(0, len(starts), size=(n_batches, batch_size))]
    else:
        starts = rng.integers(0, len(ids) - block_size, size=(n_batches, batch_size))
    offsets = starts[..., None] + np.arange(block_size)
    return list(zip(_int64(ids, offsets), _int64(ids, offsets + 1)))


def _int64(ids: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``ids[index]`` as int64: the corpus is stored compactly (uint16), models take int64 ids."""
    return ids[index].astype(np.int64)
