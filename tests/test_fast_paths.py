"""Every fast path equals its reference (aigc_np.layers.backend), and training runs the fast paths.

The references are the exercises' code (Conv2D's NCHW im2col/col2im, Adam
as Algorithm 1, BatchNormalization's, GroupNormalization's and attention's backward); the fast paths are
layers/fast_conv.py, layers/fast_norm.py (GroupNorm, LayerNorm, BatchNorm), layers/fast_upconv.py, layers/fast_attention.py,
optimizers/fast.py and the fast halves of a backward (layers/fast_dense.py, the conv layers'
``fast_input_gradient``). On drawn shapes, in float64, each result agrees
with the reference's to a relative error of 1e-12 (the largest difference
over the largest reference entry): the same sums, added in another order.
"""
import contextlib

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from aigc_np.layers import backend
from aigc_np.optimizers import fast as fast_optimizers
from aigc_np.gradcheck import check_layer
from aigc_np.layers import (BatchNormalization, CausalSelfAttention, Conv2D, Conv2DTranspose, Dense,
                            GroupNormalization, LayerNormalization, Upsample2x)
from aigc_np.layers import fast_conv, fast_upconv
from aigc_np.models.dcgan import DCGAN
from aigc_np.models.unet import UNet
from aigc_np.optimizers import Adam, AdamW

TOL = 1e-12


def rel_error(fast, reference) -> float:
    """max |fast - reference| / max |reference| (0 when both are 0)."""
    assert fast.shape == reference.shape and fast.dtype == reference.dtype
    scale = np.abs(reference).max(initial=0.0)
    diff = np.abs(fast - reference).max(initial=0.0)
    return diff / scale if scale else diff


def assert_paths_agree(layer, x, dy, grads: set):
    """``both_paths``: y, dx, input_gradient's dx and every grad (named ``grads``) within TOL."""
    ref, fast = (paths := both_paths(layer, x, dy))["reference"], paths["fast"]
    for i in (0, 1, 3):
        assert rel_error(fast[i], ref[i]) <= TOL, i
    assert fast[2].keys() == ref[2].keys() == grads
    for key in ref[2]:
        assert rel_error(fast[2][key], ref[2][key]) <= TOL, key


def both_paths(layer, x, dy):
    """{path: (y, dx, grads, dx of input_gradient)} for the reference and the fast path."""
    out = {}
    for path in ("reference", "fast"):
        with backend.reference() if path == "reference" else contextlib.nullcontext():
            y = layer.forward(x)
            dx = layer.backward(dy)
            grads = {k: g.copy() for k, g in layer.grads.items()}
            dx_only = layer.input_gradient(dy)
        out[path] = (y, dx, grads, dx_only)
    return out


# ------------------------------------------------------------------- convolutions
@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["conv", "conv_transpose"]), n=st.integers(1, 3), c=st.integers(1, 4),
       f=st.integers(1, 4), h=st.integers(2, 9), w=st.integers(2, 9), k=st.integers(1, 5), s=st.integers(1, 3),
       padding=st.sampled_from(["same", "valid", 0, 1, 2]), use_bias=st.booleans(), seed=st.integers(0, 2**16))
def test_conv_layers_fast_equal_reference(kind, n, c, f, h, w, k, s, padding, use_bias, seed):
    rng = np.random.default_rng(seed)
    k = min(k, h, w)
    cls = Conv2D if kind == "conv" else Conv2DTranspose
    layer = cls(f, k, strides=s, padding=padding, use_bias=use_bias)
    try:
        layer.build((c, h, w), rng, np.float64)
    except ValueError:               # a padding that crops away the whole output: no layer to compare
        return
    if use_bias:
        layer.params["b"][...] = rng.standard_normal(f)
    x = rng.standard_normal((n, c, h, w))
    dy = rng.standard_normal((n,) + layer.output_shape)
    ref, fast = (paths := both_paths(layer, x, dy))["reference"], paths["fast"]
    assert rel_error(fast[0], ref[0]) <= TOL and rel_error(fast[1], ref[1]) <= TOL
    assert fast[2].keys() == ref[2].keys() == set(layer.params)
    for key in ref[2]:
        assert rel_error(fast[2][key], ref[2][key]) <= TOL, key
    assert rel_error(fast[3], ref[1]) <= TOL and np.array_equal(ref[3], ref[1])


@pytest.mark.parametrize("cls", [Conv2D, Conv2DTranspose])
def test_conv_blocks_of_one_row_change_nothing(cls, monkeypatch):
    """The fast path builds its window columns a block of rows at a time (at most
    fast_conv.BLOCK_BYTES) and transposes (C*H*W, N) matrices TRANSPOSE_ROWS rows at a
    time; with one row per block and 5 rows per transposed block it still equals the reference."""
    rng = np.random.default_rng(2)
    layer = cls(3, 3, 2, "same")
    layer.build((2, 7, 6), rng, np.float64)
    x = rng.standard_normal((2, 2, 7, 6))
    dy = rng.standard_normal((2,) + layer.output_shape)
    monkeypatch.setattr(fast_conv, "BLOCK_BYTES", 1)
    monkeypatch.setattr(fast_conv, "TRANSPOSE_ROWS", 5)
    paths = both_paths(layer, x, dy)
    for i in (0, 1, 3):
        assert rel_error(paths["fast"][i], paths["reference"][i]) <= TOL
    for key in layer.params:
        assert rel_error(paths["fast"][2][key], paths["reference"][2][key]) <= TOL


def test_conv_layers_share_one_workspace_and_interleaving_them_changes_nothing():
    """One block buffer serves every conv layer: a layer uses it only inside a call, so running
    another layer between a layer's forward and its backward gives the same gradients."""
    rng = np.random.default_rng(0)
    a, b = Conv2D(3, 3, padding="same"), Conv2DTranspose(2, 3, strides=2, padding="same")
    a.build((2, 6, 6), rng, np.float64)
    b.build((3, 4, 4), rng, np.float64)
    x, xb = rng.standard_normal((2, 2, 6, 6)), rng.standard_normal((2, 3, 4, 4))
    dy, dyb = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((2, 2, 8, 8))
    a.forward(x)
    alone = a.backward(dy), a.grads["W"].copy()
    a.forward(x)
    b.forward(xb)
    b.backward(dyb)          # b fills the shared buffer between a's forward and backward
    assert len([key for key in fast_conv.WORKSPACE if key[1] == np.dtype(np.float64).str]) == 1
    np.testing.assert_array_equal(a.backward(dy), alone[0])
    np.testing.assert_array_equal(a.grads["W"], alone[1])


def test_a_layer_backpropagates_through_the_path_its_forward_took():
    rng = np.random.default_rng(3)
    layer = Conv2D(2, 3, padding="same")
    layer.build((1, 5, 5), rng, np.float64)
    x, dy = rng.standard_normal((2, 1, 5, 5)), rng.standard_normal((2, 2, 5, 5))
    with backend.reference():
        layer.forward(x)
        dx_ref = layer.backward(dy)
    layer.forward(x)                                    # fast
    with backend.reference():
        dx = layer.backward(dy)                         # the fast forward's cache, the fast backward
    assert layer._cache[0] is Conv2D._fast and rel_error(dx, dx_ref) <= TOL


# ------------------------------------------------------------- GroupNormalization
@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3), groups=st.integers(1, 3), per_group=st.integers(1, 3),
       pixels=st.lists(st.integers(1, 4), max_size=2), seed=st.integers(0, 2**16))
def test_groupnorm_fast_equals_reference(n, groups, per_group, pixels, seed):
    """(N, C), (N, C, L) and (N, C, H, W) inputs with an offset, so the means are not 0. Groups
    of at least 3 numbers: two numbers normalize to about (-1, 1) whatever they are, so dx is
    epsilon-small, the difference of O(1) terms, and its relative error is the terms' rounding."""
    shape = (groups * per_group, *pixels)
    assume(per_group * int(np.prod(pixels)) >= 3)
    rng = np.random.default_rng(seed)
    layer = GroupNormalization(groups)
    layer.build(shape, rng, np.float64)
    layer.params["gamma"][...] = rng.standard_normal(shape[0])
    layer.params["beta"][...] = rng.standard_normal(shape[0])
    x = 3 + 2 * rng.standard_normal((n, *shape))
    dy = rng.standard_normal((n, *shape))
    assert_paths_agree(layer, x, dy, {"gamma", "beta"})


# ------------------------------------------------------------- BatchNormalization
@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 4), c=st.integers(1, 4), pixels=st.sampled_from([(), (1, 1), (2, 3), (3, 3)]),
       training=st.booleans(), momentum=st.floats(0.0, 0.99), seed=st.integers(0, 2**16))
def test_batchnorm_fast_equals_reference(n, c, pixels, training, momentum, seed):
    """(N, F) and (N, C, H, W) inputs with an offset, in train mode (batch statistics, and the
    running estimates they update) and in eval mode (the running estimates)."""
    assume(n * int(np.prod(pixels)) >= 3)        # two values per feature normalize to about +-1: dx is round-off
    rng = np.random.default_rng(seed)
    layer = BatchNormalization(momentum=momentum)
    layer.build((c, *pixels), rng, np.float64)
    layer.params["gamma"][...] = rng.uniform(0.5, 2.0, c)
    layer.params["beta"][...] = rng.standard_normal(c)
    layer.buffers["moving_mean"][...] = rng.standard_normal(c)
    layer.buffers["moving_variance"][...] = rng.uniform(0.5, 2.0, c)
    layer.train() if training else layer.eval()
    x = 3 + 2 * rng.standard_normal((n, c, *pixels))
    dy = rng.standard_normal((n, c, *pixels))
    buffers = {k: v.copy() for k, v in layer.buffers.items()}
    out = {}
    for path in ("reference", "fast"):
        layer.buffers.update({k: v.copy() for k, v in buffers.items()})
        with backend.reference() if path == "reference" else contextlib.nullcontext():
            y = layer.forward(x)
            dx = layer.backward(dy)
        out[path] = (y, dx, {k: g.copy() for k, g in layer.grads.items()},
                     {k: b.copy() for k, b in layer.buffers.items()})
    (y, dx, grads, bufs), (y_fast, dx_fast, grads_fast, bufs_fast) = out["reference"], out["fast"]
    assert rel_error(y_fast, y) <= TOL and rel_error(dx_fast, dx) <= TOL
    assert grads_fast.keys() == grads.keys() == {"gamma", "beta"}
    for key in grads:
        assert rel_error(grads_fast[key], grads[key]) <= TOL, key
    for key in bufs:
        assert rel_error(bufs_fast[key], bufs[key]) <= TOL, key


# ------------------------------------------------------------- LayerNormalization
@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3), middle=st.lists(st.integers(1, 3), max_size=2), d=st.integers(3, 8),
       seed=st.integers(0, 2**16))
def test_layernorm_fast_equals_reference_and_both_pass_the_gradient_check(n, middle, d, seed):
    """(N, D), (N, T, D) and (N, T, U, D) inputs with an offset; rows of at least 3 numbers (two
    normalize to about (-1, 1) whatever they are, so dx is round-off). The reference is the
    worked example of docs/design.md, so it is gradient-checked here as well as the fast path."""
    rng = np.random.default_rng(seed)
    layer = LayerNormalization(epsilon=1e-5)
    layer.build(tuple(middle) + (d,), rng, np.float64)
    layer.params["gamma"][...] = rng.standard_normal(d)
    layer.params["beta"][...] = rng.standard_normal(d)
    x = 3 + 2 * rng.standard_normal((n, *middle, d))
    dy = rng.standard_normal((n, *middle, d))
    assert_paths_agree(layer, x, dy, {"gamma", "beta"})
    for path in ("reference", "fast"):
        with backend.reference() if path == "reference" else contextlib.nullcontext():
            assert max(check_layer(layer, x, rng=rng).values()) <= 1e-6, path


# ------------------------------------------------- Conv2D(Upsample2x(x)), the U-Net's way up
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 3), f=st.integers(1, 3), h=st.integers(1, 5),
       w=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_upsample_conv_fast_equals_the_two_layers(n, c, f, h, w, seed):
    rng = np.random.default_rng(seed)
    up, conv = Upsample2x(), Conv2D(f, 3, padding="same")
    up.build((c, h, w), rng, np.float64)
    conv.build((c, 2 * h, 2 * w), rng, np.float64)
    conv.params["b"][...] = rng.standard_normal(f)
    x, dy = rng.standard_normal((n, c, h, w)), rng.standard_normal((n, f, 2 * h, 2 * w))
    with backend.reference():
        y = conv.forward(up.forward(x))
        dx = up.backward(conv.backward(dy))
    y_fast, cache = fast_upconv.upsample_conv_forward(x, conv.params["W"], conv.params["b"])
    dx_fast, dw_fast, db_fast = fast_upconv.upsample_conv_backward(dy, cache)
    assert rel_error(y_fast, y) <= TOL and rel_error(dx_fast, dx) <= TOL
    assert rel_error(dw_fast, conv.grads["W"]) <= TOL and rel_error(db_fast, conv.grads["b"]) <= TOL


def test_unet_fast_equals_reference_and_fills_the_same_grads():
    """The whole U-Net, conditional, forward and backward: the fused up-convolutions and
    every other fast path against the layers' reference code."""
    rng = np.random.default_rng(4)
    net = UNet((1, 8, 8), width=4, groups=2, n_classes=3, rng=rng, dtype=np.float64)
    x, t = rng.standard_normal((2, 1, 8, 8)), np.array([3.0, 70.0])
    labels, d_eps = np.array([0, 3]), rng.standard_normal((2, 1, 8, 8))
    out = {}
    for path in ("reference", "fast"):
        with backend.reference() if path == "reference" else contextlib.nullcontext():
            y = net.forward(x, t, labels)
            dx = net.backward(d_eps)
        out[path] = (y, dx, {k: g.copy() for k, g in net.grads.items()})
    (y, dx, grads), (y_fast, dx_fast, grads_fast) = out["reference"], out["fast"]
    assert rel_error(y_fast, y) <= TOL and rel_error(dx_fast, dx) <= TOL
    assert grads_fast.keys() == grads.keys()
    for key in grads:
        assert rel_error(grads_fast[key], grads[key]) <= TOL, key


# ------------------------------------------------------------ CausalSelfAttention
@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3), t=st.integers(1, 7), n_head=st.integers(1, 3), d=st.integers(1, 4),
       seed=st.integers(0, 2**16))
def test_attention_fast_equals_reference(n, t, n_head, d, seed):
    """Weights at unit scale, so every softmax row is far from uniform; the attention weights
    read back from either path's cache agree too."""
    rng = np.random.default_rng(seed)
    c = n_head * d
    layer = CausalSelfAttention(n_head)
    layer.build((t, c), rng, np.float64)
    for key in ("Wqkv", "Wo"):
        layer.params[key][...] = rng.standard_normal(layer.params[key].shape) / np.sqrt(c)
    layer.params["bo"][...] = rng.standard_normal(c)
    x, dy = rng.standard_normal((n, t, c)), rng.standard_normal((n, t, c))
    weights = {}
    for path in ("reference", "fast"):
        with backend.reference() if path == "reference" else contextlib.nullcontext():
            layer.forward(x)
            weights[path] = layer.attention_weights.copy()
    assert rel_error(weights["fast"], weights["reference"]) <= TOL
    assert_paths_agree(layer, x, dy, {"Wqkv", "Wo", "bo"})


def test_gpt_fast_equals_reference_and_fills_the_same_grads():
    """A whole GPT, loss and backward: every block's attention and the fused head on their fast paths."""
    from aigc_np.text.models import GPT
    rng = np.random.default_rng(5)
    model = GPT(n_layer=2, n_head=2, n_embd=8, block_size=6, vocab_size=7, rng=rng, dtype=np.float64)
    for key, value in model.params.items():
        if value.ndim == 2:                            # unit-scale weights: softmax rows far from uniform
            value[...] = rng.standard_normal(value.shape) / np.sqrt(value.shape[0])
    x, y = rng.integers(0, 7, (3, 6)), rng.integers(0, 7, (3, 6))
    out = {}
    for path in ("reference", "fast"):
        with backend.reference() if path == "reference" else contextlib.nullcontext():
            loss = model.loss(x, y)
            model.loss_backward()
        out[path] = (np.asarray(loss), {k: g.copy() for k, g in model.grads.items()})
    (loss, grads), (loss_fast, grads_fast) = out["reference"], out["fast"]
    assert rel_error(loss_fast, loss) <= TOL
    assert grads_fast.keys() == grads.keys()
    for key in grads:
        assert rel_error(grads_fast[key], grads[key]) <= TOL, key


# ---------------------------------------------------------------------- Dense
@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 4), middle=st.lists(st.integers(1, 3), max_size=2), d=st.integers(1, 6),
       units=st.integers(1, 6), use_bias=st.booleans(), seed=st.integers(0, 2**16))
def test_dense_fast_halves_equal_backward(n, middle, d, units, use_bias, seed):
    rng = np.random.default_rng(seed)
    layer = Dense(units, use_bias=use_bias)
    layer.build(tuple(middle) + (d,), rng, np.float64)
    x = rng.standard_normal((n, *middle, d))
    dy = rng.standard_normal((n, *middle, units))
    layer.forward(x)
    dx = layer.backward(dy)
    grads = {k: g.copy() for k, g in layer.grads.items()}
    assert np.array_equal(layer.fast_input_gradient(dy), dx)
    layer.fast_param_gradients(dy)
    assert all(np.array_equal(layer.grads[k], grads[k]) for k in grads)


# ----------------------------------------------------------------------- Adam
class Params:
    def __init__(self, shapes, rng):
        self.params = {f"p{i}": rng.standard_normal(shape) for i, shape in enumerate(shapes)}
        self.grads = {k: np.zeros_like(p) for k, p in self.params.items()}


@pytest.mark.parametrize("block", [fast_optimizers.BLOCK, 7])
@settings(max_examples=25, deadline=None)
@given(shapes=st.lists(st.lists(st.integers(1, 6), min_size=1, max_size=3), min_size=1, max_size=3),
       which=st.sampled_from(["adam", "adamw"]), lr=st.floats(1e-4, 1e-1), beta1=st.floats(0.0, 0.95),
       beta2=st.floats(0.5, 0.9999), seed=st.integers(0, 2**16))
def test_adam_fast_equals_algorithm_1(block, shapes, which, lr, beta1, beta2, seed):
    """Five steps of the fused, blocked update (block=7: parameters split into several
    blocks) against the reference, with fresh gradients each step."""
    models, opts = [], []
    for path in ("reference", "fast"):
        model = Params([tuple(s) for s in shapes], np.random.default_rng(seed))
        models.append(model)
        make = Adam if which == "adam" else AdamW
        opts.append(make(model, lr=lr, beta1=beta1, beta2=beta2))
    grad_rng = np.random.default_rng(seed + 1)
    old_block = fast_optimizers.BLOCK
    fast_optimizers.BLOCK = block
    try:
        for _ in range(5):
            grads = {k: grad_rng.standard_normal(p.shape) for k, p in models[0].params.items()}
            for model in models:
                for k, g in grads.items():
                    model.grads[k][...] = g
            with backend.reference():
                opts[0].step()
            opts[1].step()
    finally:
        fast_optimizers.BLOCK = old_block
    for k in models[0].params:
        assert rel_error(models[1].params[k], models[0].params[k]) <= TOL, k
        for slot in ("m", "v"):
            assert rel_error(opts[1].state[k][slot], opts[0].state[k][slot]) <= TOL, (k, slot)
    assert opts[0].t == opts[1].t == 5


def test_adam_in_blocks_is_bit_identical_to_one_block(monkeypatch):
    """The fused update works on flat blocks of at most fast_optimizers.BLOCK elements;
    with blocks of 7 the parameters and the state are bit-identical to one block."""
    rng = np.random.default_rng(0)
    start = rng.standard_normal((5, 9)).astype(np.float32)
    whole, blocked = Params([(5, 9)], rng), Params([(5, 9)], rng)
    whole.params["p0"][...] = blocked.params["p0"][...] = start
    whole.params["p0"] = whole.params["p0"].astype(np.float32)
    blocked.params["p0"] = blocked.params["p0"].astype(np.float32)
    for model in (whole, blocked):
        model.grads["p0"] = np.zeros((5, 9), np.float32)
    opt_whole, opt_blocked = Adam(whole), Adam(blocked)
    for _ in range(3):
        g = rng.standard_normal((5, 9)).astype(np.float32)
        whole.grads["p0"][...] = blocked.grads["p0"][...] = g
        opt_whole.step()
        with monkeypatch.context() as patch:
            patch.setattr(fast_optimizers, "BLOCK", 7)
            opt_blocked.step()
    np.testing.assert_array_equal(blocked.params["p0"], whole.params["p0"])
    for key, value in opt_whole.state_dict().items():
        np.testing.assert_array_equal(opt_blocked.state_dict()[key], value)


# ------------------------------------------------------------ what training runs
def test_training_runs_the_fast_paths_by_default(monkeypatch):
    assert backend.fast()
    adam_calls = []
    real = fast_optimizers.adam_update
    monkeypatch.setattr(fast_optimizers, "adam_update", lambda *a: adam_calls.append(1) or real(*a))
    model = DCGAN(latent_dim=8, width=1 / 16, rng=np.random.default_rng(0))
    model.train_step(np.zeros((4, 1, 28, 28), np.float32))
    convs = [layer for net in (model.G, model.D) for layer in net.layers if isinstance(layer, (Conv2D, Conv2DTranspose))]
    assert convs and all(layer._cache[0] is type(layer)._fast for layer in convs)
    assert len(adam_calls) == len(model.params)


def test_the_switch_is_restored_and_checks_its_argument():
    with backend.reference():
        assert not backend.fast()
        with pytest.raises(RuntimeError):
            with backend.reference():
                raise RuntimeError
        assert not backend.fast()
    assert backend.fast()
    with pytest.raises(TypeError, match="use_fast.*'yes'"):
        backend.use_fast("yes")
