"""The fused output layer + softmax cross-entropy (text/fast_head.py): its gradient by central
differences, and a GPT's loss and gradients equal on the fast and the reference path."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aigc_np.gradcheck import numerical_gradient, rel_error
from aigc_np.layers import backend
from aigc_np.text.fast_head import head_crossentropy, head_crossentropy_backward
from aigc_np.text.models import GPT


def test_fused_head_gradient_matches_central_differences_with_a_random_upstream_gradient():
    rng = np.random.default_rng(0)
    h, w, b = rng.standard_normal((6, 4)), rng.standard_normal((4, 9)), rng.standard_normal(9)
    labels, dloss = rng.integers(0, 9, 6), rng.uniform(0.5, 2.0)
    dh, dw, db = head_crossentropy_backward(head_crossentropy(h, w, b, labels)[1], w, dloss)
    for analytic, x in ((dh, h), (dw, w), (db, b)):
        numeric = numerical_gradient(lambda: dloss * head_crossentropy(h, w, b, labels)[0], x)
        assert rel_error(analytic, numeric) <= 1e-6


def relative(fast, reference) -> float:
    return float(np.abs(fast - reference).max() / np.abs(reference).max())


@settings(max_examples=8, deadline=None)
@given(b=st.integers(1, 3), t=st.integers(1, 5), v=st.integers(2, 40), seed=st.integers(0, 2 ** 16))
def test_gpt_loss_and_gradients_are_equal_on_the_fused_and_the_reference_path(b, t, v, seed):
    rng = np.random.default_rng(seed)
    model = GPT(n_layer=1, n_head=2, n_embd=8, block_size=5, vocab_size=v, rng=rng, dtype=np.float64)
    for p in model.params.values():
        p[...] = rng.standard_normal(p.shape) / np.sqrt(p.shape[0])
    x, y = rng.integers(0, v, (b, t)), rng.integers(0, v, (b, t))
    results = {}
    for path in ("reference", "fast"):
        backend.use_fast(path == "fast")
        try:
            model.train()
            loss = model.loss(x, y)
            model.loss_backward()
        finally:
            backend.use_fast(True)
        results[path] = (loss, {k: g.copy() for k, g in model.grads.items()})
    (ref_loss, ref), (fast_loss, fast) = results["reference"], results["fast"]
    assert abs(fast_loss - ref_loss) <= 1e-12 * abs(ref_loss)
    assert sorted(fast) == sorted(ref) and max(relative(fast[k], ref[k]) for k in ref) <= 1e-12


def test_the_fused_loss_refuses_labels_out_of_range_and_the_wrong_target_shape():
    model = GPT(n_layer=1, n_head=1, n_embd=4, block_size=4, vocab_size=5)
    x = np.zeros((2, 3), dtype=np.int64)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 5\), got \[5, 5\]"):
        model.loss(x, np.full((2, 3), 5))
    with pytest.raises(ValueError, match=r"GPT.loss: expected targets of shape \(2, 3\), got \(2, 2\)"):
        model.loss(x, np.zeros((2, 2), np.int64))
