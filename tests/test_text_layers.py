"""The language-model layers: gradients over drawn shapes, causality, BPTT with an initial state,
batch independence, the KV cache (and inference's helpers held equal to the layers), and AdamW,
clipping and the schedule against hand-worked values."""
import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aigc_np.layers import backend
from aigc_np.gradcheck import check_layer, numerical_gradient, rel_error
from aigc_np.layers import GELU, LSTM, Block, CausalSelfAttention, Embedding, LayerNormalization, PositionalEmbedding
from aigc_np.layers.transformer import gelu, layer_norm
from aigc_np.optimizers import AdamW, clip_grad_norm, global_norm, warmup_cosine
from aigc_np.text.loss import SequenceCrossentropy


def away_from_zero(x):
    return x + np.where(x >= 0, 0.1, -0.1)


def on(path):
    """The attention's reference (Exercise 10's backward) or its fast path (layers/fast_attention.py)."""
    return backend.reference() if path == "reference" else contextlib.nullcontext()


# ------------------------------------------------------------ drawn shapes
@pytest.mark.parametrize("path", ["reference", "fast"])
@settings(max_examples=6)
@given(n=st.integers(1, 3), t=st.integers(1, 5), heads=st.integers(1, 2), d=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_attention_gradients_over_drawn_shapes(path, n, t, heads, d, seed):
    rng = np.random.default_rng(seed)
    layer = CausalSelfAttention(heads)
    layer.build((t, heads * d), rng, np.float64)
    layer.params["Wqkv"][...] = 0.5 * rng.standard_normal(layer.params["Wqkv"].shape)
    with on(path):
        errors = check_layer(layer, rng.standard_normal((n, t, heads * d)), rng=rng)
    assert max(errors.values()) <= 1e-6, errors


@settings(max_examples=6)
@given(n=st.integers(1, 3), t=st.integers(1, 7), d=st.integers(1, 3), units=st.integers(1, 4),
       seed=st.integers(0, 2**16))
def test_lstm_gradients_over_drawn_shapes(n, t, d, units, seed):
    rng = np.random.default_rng(seed)
    layer = LSTM(units)
    layer.build((t, d), rng, np.float64)
    errors = check_layer(layer, rng.standard_normal((n, t, d)), rng=rng)
    assert max(errors.values()) <= 1e-6, errors


@settings(max_examples=6)
@given(n=st.integers(1, 3), t=st.integers(1, 4), vocab=st.integers(1, 6), dim=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_embedding_and_positions_over_drawn_shapes(n, t, vocab, dim, seed):
    rng = np.random.default_rng(seed)
    emb = Embedding(vocab, dim)
    emb.build((t,), rng, np.float64)
    ids = rng.integers(0, vocab, (n, t))
    assert max(check_layer(emb, ids.astype(np.float64), rng=rng).values()) <= 1e-6
    # the one-hot matmul sums rows exactly as np.add.at does
    dy = rng.standard_normal((n, t, dim))
    emb.forward(ids)
    emb.backward(dy)
    expected = np.zeros((vocab, dim))
    np.add.at(expected, ids.reshape(-1), dy.reshape(-1, dim))
    np.testing.assert_allclose(emb.grads["table"], expected, rtol=1e-12, atol=1e-12)
    pos = PositionalEmbedding(t + 2)
    pos.build((t, dim), rng, np.float64)
    assert max(check_layer(pos, rng.standard_normal((n, t, dim)), rng=rng).values()) <= 1e-6


@pytest.mark.parametrize("path", ["reference", "fast"])
@settings(max_examples=4)
@given(n=st.integers(1, 2), t=st.integers(2, 4), heads=st.integers(1, 2), seed=st.integers(0, 2**16))
def test_block_gradients_over_drawn_shapes(path, n, t, heads, seed):
    # C = 3 per head: LayerNorm over 2 features maps every row to +-(1, -1), a degenerate input
    rng = np.random.default_rng(seed)
    block = Block(heads)
    block.build((t, 3 * heads), rng, np.float64)
    for p in block.params.values():
        if p.ndim == 2:
            p[...] = rng.standard_normal(p.shape) / np.sqrt(p.shape[0])
    block.eval()
    with on(path):
        errors = check_layer(block, rng.standard_normal((n, t, 3 * heads)), rng=rng)
    assert max(errors.values()) <= 1e-6, errors


def test_gelu_matches_its_formula_and_is_smooth():
    x = np.linspace(-4, 4, 9)
    y = GELU().forward(x[None])[0]
    # The formula in long double: in float64, 1 + tanh(u) near u = -5 loses about 12 digits to
    # cancellation (relative error ~2e-12 at x = -4), more than the layer's own error.
    xl = x.astype(np.longdouble)
    u = np.sqrt(np.longdouble(2) / np.pi) * (xl + np.longdouble(0.044715) * xl ** 3)
    expected = (0.5 * xl * (1 + np.tanh(u))).astype(np.float64)
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    assert y[4] == 0 and abs(y[-1] - 4) < 1e-3 and abs(y[0]) < 1e-3


# ------------------------------------------------------------- causality
@pytest.mark.parametrize("path", ["reference", "fast"])
def test_attention_at_position_t_ignores_every_later_input(path):
    rng = np.random.default_rng(0)
    for layer in (CausalSelfAttention(2), Block(2)):
        layer.build((6, 4), rng, np.float64)
        layer.eval()
        x = rng.standard_normal((2, 6, 4))
        with on(path):
            y = layer.forward(x)
        for t in range(5):
            changed = x.copy()
            changed[:, t + 1:] = rng.standard_normal(changed[:, t + 1:].shape)
            with on(path):
                y2 = layer.forward(changed)
            np.testing.assert_array_equal(y2[:, :t + 1], y[:, :t + 1])
            assert not np.allclose(y2[:, t + 1:], y[:, t + 1:])


@pytest.mark.parametrize("path", ["reference", "fast"])
def test_attention_gradient_never_reaches_the_future(path):
    rng = np.random.default_rng(1)
    layer = CausalSelfAttention(2)
    layer.build((5, 4), rng, np.float64)
    dy = np.zeros((1, 5, 4))
    dy[0, 2] = 1.0                                     # only the output at t = 2 matters
    with on(path):
        layer.forward(rng.standard_normal((1, 5, 4)))
        dx = layer.backward(dy)
    assert np.all(dx[0, 3:] == 0) and np.all(np.abs(dx[0, :3]).sum(axis=1) > 0)


# ------------------------------------------------------------------- LSTM
def test_lstm_bptt_over_six_steps_including_the_initial_state():
    rng = np.random.default_rng(2)
    layer = LSTM(3)
    layer.build((6, 2), rng, np.float64)
    x = away_from_zero(rng.standard_normal((2, 6, 2)))
    h0, c0 = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    y = layer.forward(x, (h0, c0))
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    dh0, dc0 = layer.d_initial_state
    grads = {k: g.copy() for k, g in layer.grads.items()}

    def f():
        return layer.forward(x, (h0, c0))

    assert rel_error(dx, numerical_gradient(f, x, dy)) <= 1e-6
    assert rel_error(dh0, numerical_gradient(f, h0, dy)) <= 1e-6
    assert rel_error(dc0, numerical_gradient(f, c0, dy)) <= 1e-6
    for key, p in layer.params.items():
        assert rel_error(grads[key], numerical_gradient(f, p, dy)) <= 1e-6, key


def test_lstm_state_carries_across_chunks():
    rng = np.random.default_rng(3)
    layer = LSTM(4)
    layer.build((8, 3), rng, np.float64)
    x = rng.standard_normal((2, 8, 3))
    whole = layer.forward(x)
    first = layer.forward(x[:, :5])
    second = layer.forward(x[:, 5:], layer.state)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match=r"LSTM: initial state h0 must be \(2, 4\)"):
        layer.forward(x, (np.zeros((3, 4)), np.zeros((2, 4))))


def test_a_batch_equals_its_sequences_one_at_a_time():
    rng = np.random.default_rng(4)
    for layer in (LSTM(3), CausalSelfAttention(2), Block(2)):
        layer.build((5, 4), rng, np.float64)
        layer.eval()
        x = rng.standard_normal((3, 5, 4))
        batch = layer.forward(x)
        single = np.concatenate([layer.forward(x[i:i + 1]) for i in range(3)])
        np.testing.assert_allclose(batch, single, rtol=1e-12, atol=1e-14)


def test_cached_attention_equals_the_full_forward():
    rng = np.random.default_rng(5)
    for layer in (CausalSelfAttention(2), Block(2)):
        layer.build((7, 4), rng, np.float64)
        layer.eval()
        x = rng.standard_normal((2, 7, 4))
        full = layer.forward(x)
        cache = {}
        parts = [layer.infer(x[:, :3], cache)] + [layer.infer(x[:, t:t + 1], cache) for t in range(3, 7)]
        np.testing.assert_allclose(np.concatenate(parts, axis=1), full, rtol=1e-10, atol=1e-12)


@settings(max_examples=20)
@given(shape=st.lists(st.integers(1, 5), min_size=2, max_size=3), train=st.booleans(), seed=st.integers(0, 2**16))
def test_inference_helpers_equal_the_layers_forward(shape, train, seed):
    """``layer_norm`` and ``gelu`` (Block.infer's copies of the maths, without checks or
    caches) give the layers' forward to 1e-12 relative, whatever mode the layers are in."""
    rng = np.random.default_rng(seed)
    x = 3 * rng.standard_normal(shape)
    ln = LayerNormalization(epsilon=1e-5)
    ln.build((shape[-1],), rng, np.float64)
    ln.params["gamma"][...] = rng.standard_normal(shape[-1])
    ln.params["beta"][...] = rng.standard_normal(shape[-1])
    act = GELU()
    act.build(tuple(shape[1:]), rng, np.float64)
    for layer in (ln, act):
        layer.train() if train else layer.eval()
    rows = x.reshape(-1, shape[-1])
    for fast, slow in ((layer_norm(x, ln), ln.forward(rows).reshape(x.shape)), (gelu(x), act.forward(x))):
        assert np.abs(fast - slow).max() <= 1e-12 * np.abs(slow).max()


def test_float32_in_float32_out_and_backward_twice_is_identical():
    rng = np.random.default_rng(6)
    for layer, x in ((LSTM(3), rng.standard_normal((2, 4, 3))), (CausalSelfAttention(2), rng.standard_normal((2, 4, 4))),
                     (Block(2, dropout=0.2), rng.standard_normal((2, 4, 4))), (GELU(), rng.standard_normal((2, 4))),
                     (Embedding(5, 3), rng.integers(0, 5, (2, 4)))):
        layer.build(x.shape[1:], rng, np.float32)
        y = layer.forward(x.astype(np.float32) if x.dtype.kind == "f" else x)
        assert y.dtype == np.float32
        dy = rng.standard_normal(y.shape).astype(np.float32)
        first = layer.backward(dy)
        assert first.dtype == np.float32
        np.testing.assert_array_equal(layer.backward(dy), first)


def test_bad_inputs_name_the_layer():
    rng = np.random.default_rng(7)
    emb = Embedding(5, 2)
    emb.build((3,), rng)
    with pytest.raises(ValueError, match=r"Embedding: ids must lie in \[0, 5\)"):
        emb.forward(np.array([[0, 5, 1]]))
    with pytest.raises(ValueError, match="Embedding: expected integer ids"):
        emb.forward(np.array([[0.5, 1.0, 2.0]]))
    with pytest.raises(ValueError, match="CausalSelfAttention.*divisible by n_head=3"):
        CausalSelfAttention(3).build((4, 4), rng)
    pos = PositionalEmbedding(4)
    pos.build((4, 2), rng)
    with pytest.raises(ValueError, match="PositionalEmbedding.*block_size 4"):
        pos.forward(np.zeros((1, 5, 2), np.float32))


# ------------------------------------------------------------------- loss
def test_sequence_crossentropy_is_the_mean_over_every_position():
    rng = np.random.default_rng(8)
    logits, labels = rng.standard_normal((2, 3, 4)), rng.integers(0, 4, (2, 3))
    loss = SequenceCrossentropy()
    value = loss.forward(logits, labels)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    direct = -np.mean([logp[b, t, labels[b, t]] for b in range(2) for t in range(3)])
    assert value == pytest.approx(direct, rel=1e-12)
    grad = loss.backward(1.7)

    def f():
        return 1.7 * loss.forward(logits, labels)

    assert grad.shape == logits.shape and rel_error(grad, numerical_gradient(f, logits)) <= 1e-6
    with pytest.raises(ValueError, match=r"SequenceCrossentropy: expected labels of shape \(2, 3\)"):
        loss.forward(logits, labels[:, :2])


# ------------------------------------------------- optimizer and schedule
class _Params:
    def __init__(self, **arrays):
        self.params = arrays
        self.grads = {k: np.zeros_like(v) for k, v in arrays.items()}


@pytest.mark.parametrize("path", ["reference", "fast"])
def test_adamw_two_steps_against_hand_worked_values(path):
    """lr 0.1, wd 0.5, betas 0.9 / 0.999, eps 1e-8; W a matrix (decayed), b and pos not.

    Step 1, g = 0.5 for W = 1: shrink W to 1 - 0.1 * 0.5 = 0.95; m = 0.05, v = 0.00025,
    m_hat = 0.5, v_hat = 0.25, so W = 0.95 - 0.1 * 0.5 / 0.5 = 0.85 (up to eps).
    Step 2, g = -1: shrink to 0.85 * 0.95 = 0.8075; m = 0.045 - 0.1 = -0.055, v = 0.00024975 + 0.001
    = 0.00124975; m_hat = -0.055 / 0.19 = -0.289474, v_hat = 0.00124975 / 0.001999 = 0.625188,
    W = 0.8075 + 0.1 * 0.289474 / 0.790688 = 0.844110. b takes the same Adam steps, no shrink:
    1 - 0.1 = 0.9, then 0.9 + 0.036610 = 0.936610.
    """
    model = _Params(W=np.ones((1, 1)), b=np.ones(1), **{"0.pos": np.ones((1, 1))})
    opt = AdamW(model, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.5)
    assert [opt.decays(k, p) for k, p in model.params.items()] == [True, False, False]
    for g in (0.5, -1.0):
        for grad in model.grads.values():
            grad[...] = g
        with backend.reference() if path == "reference" else contextlib.nullcontext():
            opt.step()
    assert model.params["W"][0, 0] == pytest.approx(0.844110, abs=1e-6)
    assert model.params["b"][0] == pytest.approx(0.936610, abs=1e-6)
    assert model.params["0.pos"][0, 0] == pytest.approx(0.936610, abs=1e-6)


def test_adamw_leaves_weights_untouched_on_a_bad_gradient():
    model = _Params(W=np.ones((2, 2)), b=np.ones(2))
    model.grads["b"][0] = np.nan
    opt = AdamW(model, lr=0.1, weight_decay=0.5)
    with pytest.raises(ValueError, match="AdamW: gradient 'b' contains NaN"):
        opt.step()
    assert np.all(model.params["W"] == 1)


def test_clipping_caps_the_global_norm_and_keeps_the_direction():
    model = _Params(a=np.zeros(2), b=np.zeros((1, 1)))
    model.grads["a"][...] = [3.0, 0.0]
    model.grads["b"][...] = 4.0
    assert clip_grad_norm(model, 10.0) == pytest.approx(5.0) and model.grads["a"][0] == 3.0
    assert clip_grad_norm(model, 1.0) == pytest.approx(5.0)
    assert global_norm(model) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose([model.grads["a"][0], model.grads["b"][0, 0]], [0.6, 0.8], rtol=1e-5)


def test_warmup_then_cosine():
    lrs = [warmup_cosine(s, 1.0, 4, 12, 0.1) for s in range(14)]
    assert lrs[:4] == [0.25, 0.5, 0.75, 1.0]
    assert lrs[4] == 1.0 and lrs[8] == pytest.approx(0.55) and lrs[12] == lrs[13] == 0.1
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:]))
    with pytest.raises(ValueError, match="warmup_cosine"):
        warmup_cosine(0, 1.0, 5, 4)
