"""The count baselines: the bigram from counts of the pairs that occur equals the dense V x V
computation, and a vocabulary of thousands of characters never allocates V x V."""
import math
import tracemalloc
from collections import Counter

import numpy as np
import pytest

from aigc_np.text import evaluation
from aigc_np.text.data import load_names, load_shakespeare
from aigc_np.text.evaluation import baselines, bigram_counts


def _dense_bigram(train, heldout, v):
    """The add-one bigram through a full V x V table (the reference; fine for small V)."""
    train, heldout = np.asarray(train, np.int64), np.asarray(heldout, np.int64)
    pairs = np.bincount(train[:-1] * v + train[1:], minlength=v * v).reshape(v, v) + 1.0
    table = pairs / pairs.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(table[heldout[:-1], heldout[1:]])))


@pytest.mark.parametrize("table", ["flat", "sorted"])
@pytest.mark.parametrize("v, n_train, n_heldout, seed", [(2, 50, 30, 0), (7, 1000, 200, 1), (40, 300, 500, 2),
                                                        (100, 20_000, 3_000, 3)])
def test_bigram_from_observed_pairs_equals_the_dense_table(v, n_train, n_heldout, seed, table, monkeypatch):
    if table == "sorted":                                # the path a large vocabulary takes
        monkeypatch.setattr(evaluation, "_DENSE_PAIRS", 0)
    rng = np.random.default_rng(seed)
    # Skewed draws: many pairs unseen in training, some held-out pairs never seen.
    p = rng.dirichlet(np.full(v, 0.3))
    train = rng.choice(v, n_train, p=p).astype(np.uint16)
    heldout = rng.integers(0, v, n_heldout).astype(np.uint16)
    got = baselines(train, heldout, v)
    assert got["bigram"] == pytest.approx(_dense_bigram(train, heldout, v), rel=1e-12, abs=1e-12)
    assert got["uniform"] == math.log(v)


def test_bundled_corpora_baselines_are_the_dense_ones():
    for data, heldout in ((load_shakespeare(), "val"), (load_names(), "test")):
        got = baselines(data.train, getattr(data, heldout), data.vocab.size)
        assert abs(got["bigram"] - _dense_bigram(data.train, getattr(data, heldout), data.vocab.size)) <= 1e-12


@pytest.mark.parametrize("dense_pairs", [1 << 22, 0])
def test_pair_counts_merge_across_chunks(monkeypatch, dense_pairs):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 30, 10_001).astype(np.uint16)
    monkeypatch.setattr(evaluation, "_DENSE_PAIRS", dense_pairs)
    monkeypatch.setattr(evaluation, "_CHUNK", 997)        # many chunks, pairs crossing their borders
    codes, counts = bigram_counts(train, 30)
    expected = Counter(int(a) * 30 + int(c) for a, c in zip(train[:-1], train[1:]))
    assert codes.tolist() == sorted(expected) and counts.tolist() == [expected[k] for k in sorted(expected)]
    assert counts.sum() == len(train) - 1
    small = baselines(train, train[:5000], 30)
    monkeypatch.undo()
    assert small == baselines(train, train[:5000], 30)
    assert small["bigram"] == pytest.approx(_dense_bigram(train, train[:5000], 30), rel=1e-12)


def test_a_5000_character_vocabulary_never_allocates_v_by_v():
    v = 5000                                   # V x V float64 would be 200 MB
    rng = np.random.default_rng(0)
    train = rng.integers(0, v, 200_000).astype(np.uint16)
    heldout = rng.integers(0, v, 20_000).astype(np.uint16)
    tracemalloc.start()
    try:
        got = baselines(train, heldout, v)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 24 << 20, f"{peak / 2**20:.0f} MiB"
    # The same number by plain counting.
    pairs = Counter(zip(train[:-1].tolist(), train[1:].tolist()))
    rows = Counter(train[:-1].tolist())
    held = list(zip(heldout[:-1].tolist(), heldout[1:].tolist()))
    logp = [math.log((pairs[(a, c)] + 1) / (rows[a] + v)) for a, c in held]
    assert got["bigram"] == pytest.approx(-sum(logp) / len(logp), rel=1e-12)
