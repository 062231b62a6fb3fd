"""Tests for Conv2D and Conv2DTranspose.

The vectorized layers are compared with deliberately naive loop references
written here from the definitions (no im2col, no shared code), with numerical
gradients, and with each other (the transposed convolution is the adjoint of
the convolution). The tests of the maths run on both paths (``path``): the
reference code, which Exercise 4 completes, and the fast path that training
runs (aigc_np.layers.backend; tests/test_fast_paths.py holds the two equal).
"""
import contextlib
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

# The loop references are cheap at these sizes, so search wider than the
# profile's default (but never narrower, e.g. under HYPOTHESIS_PROFILE=explore).
MANY = settings(max_examples=max(150, settings.default.max_examples))
SOME = settings(max_examples=max(40, settings.default.max_examples))

from aigc_np.layers import backend
from aigc_np.gradcheck import check_layer
from aigc_np.layers.conv import Conv2D, Conv2DTranspose, col2im, im2col

PADDINGS = ["valid", "same", 0, 1, 2, (1, 0), (0, 2)]
BOTH_PATHS = pytest.mark.parametrize("path", ["reference", "fast"])


def running(path: str):
    """The context that runs ``path``: the reference code, or the fast paths (the default)."""
    return backend.reference() if path == "reference" else contextlib.nullcontext()


# ---------------------------------------------------------------------------
# Naive references: loops straight from the definitions
# ---------------------------------------------------------------------------
def ref_conv_pads(size, k, s, padding):
    """(before, after) zero padding of one axis of a convolution."""
    if padding == "valid":
        return 0, 0
    if padding == "same":  # TensorFlow: output ceil(size/s), extra pad row at the end
        out = math.ceil(size / s)
        total = max((out - 1) * s + k - size, 0)
        return total // 2, total - total // 2
    return padding, padding


def per_axis(padding):
    return tuple(padding) if isinstance(padding, tuple) else (padding, padding)


def ref_conv_padded(x, kernel, strides, padding):
    (kh, kw), (sh, sw) = kernel, strides
    ph, pw = per_axis(padding)
    t, btm = ref_conv_pads(x.shape[2], kh, sh, ph)
    lft, r = ref_conv_pads(x.shape[3], kw, sw, pw)
    xp = np.zeros((x.shape[0], x.shape[1], x.shape[2] + t + btm, x.shape[3] + lft + r))
    xp[:, :, t:t + x.shape[2], lft:lft + x.shape[3]] = x
    ho = (xp.shape[2] - kh) // sh + 1
    wo = (xp.shape[3] - kw) // sw + 1
    return xp, (t, lft), (ho, wo)


def ref_conv_forward(x, W, b, strides, padding):
    """y[n,f,i,j] = b[f] + sum over the window at (i*sh, j*sw) of xpad * W[f]."""
    F, _, kh, kw = W.shape
    sh, sw = strides
    xp, _, (ho, wo) = ref_conv_padded(x, (kh, kw), strides, padding)
    y = np.zeros((x.shape[0], F, ho, wo))
    for n in range(x.shape[0]):
        for f in range(F):
            for i in range(ho):
                for j in range(wo):
                    window = xp[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    y[n, f, i, j] = np.sum(window * W[f]) + b[f]
    return y


def ref_conv_backward(x, W, dy, strides, padding):
    """(dx, dW, db): every output pixel sends dy back to its window."""
    F, _, kh, kw = W.shape
    sh, sw = strides
    xp, (t, lft), (ho, wo) = ref_conv_padded(x, (kh, kw), strides, padding)
    dxp = np.zeros_like(xp)
    dW = np.zeros_like(W)
    db = np.zeros(F)
    for n in range(x.shape[0]):
        for f in range(F):
            for i in range(ho):
                for j in range(wo):
                    g = dy[n, f, i, j]
                    dxp[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += g * W[f]
                    dW[f] += g * xp[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    db[f] += g
    dx = dxp[:, :, t:t + x.shape[2], lft:lft + x.shape[3]]
    return dx, dW, db


def ref_tconv_axis(size, k, s, padding, op):
    """(output length, rows cropped from the top) of a transposed conv axis."""
    full = (size - 1) * s + k
    if padding == "valid":
        return full + (op or 0), 0
    if padding == "same":  # Keras: size*s, or its formula when output_padding is given
        out = size * s if op is None else full - 2 * (k // 2) + op
        return out, max(full - out, 0) // 2
    return full - 2 * padding + (op or 0), padding


def ref_tconv_geometry(x_shape, kernel, strides, padding, output_padding):
    (kh, kw), (sh, sw) = kernel, strides
    ph, pw = per_axis(padding)
    oph, opw = output_padding if output_padding is not None else (None, None)
    ho, top = ref_tconv_axis(x_shape[2], kh, sh, ph, oph)
    wo, left = ref_tconv_axis(x_shape[3], kw, sw, pw, opw)
    full_h = (x_shape[2] - 1) * sh + kh
    full_w = (x_shape[3] - 1) * sw + kw
    # Room for the full stamp and for any output rows beyond it (output_padding).
    big = (max(full_h, top + ho), max(full_w, left + wo))
    return (ho, wo), (top, left), big


def ref_tconv_forward(x, W, b, strides, padding, output_padding):
    """Scatter every input pixel times its kernel into the full output, then crop."""
    C, F, kh, kw = W.shape
    sh, sw = strides
    (ho, wo), (top, left), big = ref_tconv_geometry(x.shape, (kh, kw), strides, padding, output_padding)
    full = np.zeros((x.shape[0], F) + big)
    for n in range(x.shape[0]):
        for c in range(C):
            for i in range(x.shape[2]):
                for j in range(x.shape[3]):
                    full[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += x[n, c, i, j] * W[c]
    return full[:, :, top:top + ho, left:left + wo] + b[None, :, None, None]


def ref_tconv_backward(x, W, dy, strides, padding, output_padding):
    """(dx, dW, db): each input pixel reads dy back from the stamp it made."""
    C, F, kh, kw = W.shape
    sh, sw = strides
    (ho, wo), (top, left), big = ref_tconv_geometry(x.shape, (kh, kw), strides, padding, output_padding)
    dfull = np.zeros((x.shape[0], F) + big)
    dfull[:, :, top:top + ho, left:left + wo] = dy
    dx = np.zeros_like(x)
    dW = np.zeros_like(W)
    for n in range(x.shape[0]):
        for c in range(C):
            for i in range(x.shape[2]):
                for j in range(x.shape[3]):
                    patch = dfull[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    dx[n, c, i, j] = np.sum(patch * W[c])
                    dW[c] += x[n, c, i, j] * patch
    return dx, dW, dy.sum(axis=(0, 2, 3))


def assert_close(got, ref, tol=1e-10):
    """Agreement to tol relative to the scale of the reference."""
    scale = max(1.0, float(np.max(np.abs(ref), initial=0.0)))
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * scale)


# ---------------------------------------------------------------------------
# Hypothesis strategies: valid configurations only
# ---------------------------------------------------------------------------
@st.composite
def conv_configs(draw, max_size=9, max_kernel=5, max_stride=3, max_ch=3):
    cfg = dict(
        n=draw(st.integers(1, 3)), c=draw(st.integers(1, max_ch)), f=draw(st.integers(1, max_ch)),
        h=draw(st.integers(1, max_size)), w=draw(st.integers(1, max_size)),
        kernel=(draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel))),
        strides=(draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride))),
        padding=draw(st.sampled_from(PADDINGS)),
    )
    ph, pw = per_axis(cfg["padding"])
    for size, k, s, p in zip((cfg["h"], cfg["w"]), cfg["kernel"], cfg["strides"], (ph, pw)):
        before, after = ref_conv_pads(size, k, s, p)
        assume(size + before + after >= k)  # kernel fits in the padded input
    return cfg


@st.composite
def tconv_configs(draw, max_size=9, max_kernel=5, max_stride=3, max_ch=3):
    cfg = dict(
        n=draw(st.integers(1, 3)), c=draw(st.integers(1, max_ch)), f=draw(st.integers(1, max_ch)),
        h=draw(st.integers(1, max_size)), w=draw(st.integers(1, max_size)),
        kernel=(draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel))),
        strides=(draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride))),
        padding=draw(st.sampled_from(PADDINGS)),
    )
    if draw(st.booleans()):
        cfg["output_padding"] = None
    else:
        cfg["output_padding"] = tuple(draw(st.integers(0, s - 1)) for s in cfg["strides"])
    ph, pw = per_axis(cfg["padding"])
    ops = cfg["output_padding"] or (None, None)
    for size, k, s, p, op in zip((cfg["h"], cfg["w"]), cfg["kernel"], cfg["strides"], (ph, pw), ops):
        out, _ = ref_tconv_axis(size, k, s, p, op)
        assume(out >= 1)  # padding must not crop everything
        if p == "same" and op is not None:
            assume(math.ceil(out / s) == size)  # Keras's formula is not always consistent
    return cfg


def make_conv(cfg, dtype=np.float64, seed=0):
    layer = Conv2D(cfg["f"], cfg["kernel"], cfg["strides"], cfg["padding"])
    return _built(layer, cfg, dtype, seed)


def make_tconv(cfg, dtype=np.float64, seed=0):
    layer = Conv2DTranspose(cfg["f"], cfg["kernel"], cfg["strides"], cfg["padding"],
                            output_padding=cfg["output_padding"])
    return _built(layer, cfg, dtype, seed)


def _built(layer, cfg, dtype, seed):
    rng = np.random.default_rng(seed)
    layer.build((cfg["c"], cfg["h"], cfg["w"]), rng, dtype)
    layer.params["b"][...] = rng.standard_normal(cfg["f"])  # a nonzero bias is tested too
    x = rng.standard_normal((cfg["n"], cfg["c"], cfg["h"], cfg["w"])).astype(dtype)
    return layer, x, rng


# ---------------------------------------------------------------------------
# Against the loop references (float64, 1e-10)
# ---------------------------------------------------------------------------
@BOTH_PATHS
@MANY
@given(conv_configs())
def test_conv2d_matches_loop_reference(path, cfg):
    with running(path):
        _conv2d_matches_loop_reference(cfg)


def _conv2d_matches_loop_reference(cfg):
    layer, x, rng = make_conv(cfg)
    W, b = layer.params["W"], layer.params["b"]
    y = layer.forward(x)
    y_ref = ref_conv_forward(x, W, b, cfg["strides"], cfg["padding"])
    assert y.shape == y_ref.shape == (cfg["n"],) + layer.output_shape
    assert_close(y, y_ref)

    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    dx_ref, dW_ref, db_ref = ref_conv_backward(x, W, dy, cfg["strides"], cfg["padding"])
    assert dx.shape == x.shape
    assert_close(dx, dx_ref)
    assert_close(layer.grads["W"], dW_ref)
    assert_close(layer.grads["b"], db_ref)


@BOTH_PATHS
@MANY
@given(tconv_configs())
def test_conv2d_transpose_matches_loop_reference(path, cfg):
    with running(path):
        _conv2d_transpose_matches_loop_reference(cfg)


def _conv2d_transpose_matches_loop_reference(cfg):
    layer, x, rng = make_tconv(cfg)
    W, b = layer.params["W"], layer.params["b"]
    y = layer.forward(x)
    y_ref = ref_tconv_forward(x, W, b, cfg["strides"], cfg["padding"], cfg["output_padding"])
    assert y.shape == y_ref.shape == (cfg["n"],) + layer.output_shape
    assert_close(y, y_ref)

    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    dx_ref, dW_ref, db_ref = ref_tconv_backward(x, W, dy, cfg["strides"], cfg["padding"],
                                                cfg["output_padding"])
    assert dx.shape == x.shape
    assert_close(dx, dx_ref)
    assert_close(layer.grads["W"], dW_ref)
    assert_close(layer.grads["b"], db_ref)


@MANY
@given(tconv_configs())
def test_transpose_is_adjoint_of_conv(cfg):
    """<conv(u), v> == <u, conv_transpose(v)> with the same kernel and geometry."""
    tconv, v, rng = make_tconv(cfg)
    tconv.params["b"][...] = 0.0
    u_shape = (cfg["n"],) + tconv.output_shape       # the conv's input = the transpose's output
    conv = Conv2D(cfg["c"], cfg["kernel"], cfg["strides"], cfg["padding"], use_bias=False)
    assert conv.build(u_shape[1:], rng, np.float64) == (cfg["c"], cfg["h"], cfg["w"])
    conv.params["W"][...] = tconv.params["W"]        # (C_T, F_T, kh, kw) read as (out, in, kh, kw)
    u = rng.standard_normal(u_shape)
    lhs = np.sum(conv.forward(u) * v)
    rhs = np.sum(u * tconv.forward(v))
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))


@MANY
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 8), st.integers(1, 8),
       st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3))
def test_im2col_col2im_are_adjoint(n, c, hp, wp, kh, kw, sh, sw):
    assume(kh <= hp and kw <= wp)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, c, hp, wp))
    cols = im2col(x, (kh, kw), (sh, sw))
    ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    assert cols.shape == (n * ho * wo, c * kh * kw)
    g = rng.standard_normal(cols.shape)
    back = col2im(g, x.shape, (kh, kw), (sh, sw))
    assert back.shape == x.shape
    assert abs(np.sum(cols * g) - np.sum(x * back)) <= 1e-10 * max(1.0, np.abs(cols * g).sum())


def test_small_hand_computed_examples():
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    conv = Conv2D(1, 2, strides=2, use_bias=False)
    conv.build((1, 4, 4), np.random.default_rng(0), np.float64)
    conv.params["W"][...] = 1.0
    # each output is the sum of one 2x2 block
    np.testing.assert_array_equal(conv.forward(x)[0, 0], [[10, 18], [42, 50]])

    tconv = Conv2DTranspose(1, 2, strides=2, use_bias=False)
    tconv.build((1, 2, 2), np.random.default_rng(0), np.float64)
    tconv.params["W"][...] = 1.0
    # each input pixel becomes a 2x2 block: nearest-neighbour upsampling
    y = tconv.forward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    np.testing.assert_array_equal(y[0, 0], [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])


# ---------------------------------------------------------------------------
# Numerical gradient checks
# ---------------------------------------------------------------------------
@BOTH_PATHS
@SOME
@given(conv_configs(max_size=5, max_kernel=3, max_stride=2, max_ch=2))
def test_conv2d_gradcheck(path, cfg):
    layer, x, rng = make_conv(cfg)
    with running(path):
        errors = check_layer(layer, x, rng=rng)
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) <= 1e-6, errors


@BOTH_PATHS
@SOME
@given(tconv_configs(max_size=4, max_kernel=3, max_stride=2, max_ch=2))
def test_conv2d_transpose_gradcheck(path, cfg):
    layer, x, rng = make_tconv(cfg)
    with running(path):
        errors = check_layer(layer, x, rng=rng)
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) <= 1e-6, errors


@BOTH_PATHS
def test_gradcheck_without_bias(path):
    rng = np.random.default_rng(5)
    for layer in (Conv2D(2, 3, 2, "same", use_bias=False), Conv2DTranspose(2, 3, 2, "same", use_bias=False)):
        layer.build((2, 4, 4), rng, np.float64)
        assert set(layer.params) == {"W"}
        with running(path):
            errors = check_layer(layer, rng.standard_normal((2, 2, 4, 4)), rng=rng)
        assert set(errors) == {"x", "W"} and max(errors.values()) <= 1e-6, errors


# ---------------------------------------------------------------------------
# dtype, purity of backward, initialization
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda: Conv2D(3, 3, 2, "same"),
                                  lambda: Conv2DTranspose(3, 3, 2, "same", output_padding=None)])
@BOTH_PATHS
def test_float32_in_float32_out(path, make):
    with running(path):
        _float32_in_float32_out(make)


def _float32_in_float32_out(make):
    rng = np.random.default_rng(0)
    layer = make()
    layer.build((2, 5, 5), rng, np.float32)
    x = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    y = layer.forward(x)
    assert y.dtype == np.float32
    dx = layer.backward(rng.standard_normal(y.shape))  # even a float64 dy keeps float32 grads
    assert dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.grads.values())
    # float64 in a float32 layer is an error, not a silent upcast
    with pytest.raises(TypeError, match=layer.name):
        layer.forward(x.astype(np.float64))


@pytest.mark.parametrize("make", [lambda: Conv2D(3, (3, 2), (2, 1), 1),
                                  lambda: Conv2DTranspose(3, (3, 3), (2, 1), "same", output_padding=(1, 0))])
@BOTH_PATHS
def test_backward_twice_is_identical(path, make):
    with running(path):
        _backward_twice_is_identical(make)


def _backward_twice_is_identical(make):
    rng = np.random.default_rng(1)
    layer = make()
    layer.build((2, 5, 6), rng, np.float32)
    y = layer.forward(rng.standard_normal((3, 2, 5, 6)).astype(np.float32))
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx1 = layer.backward(dy)
    grads1 = {k: v.copy() for k, v in layer.grads.items()}
    dx2 = layer.backward(dy)
    np.testing.assert_array_equal(dx1, dx2)
    for k in grads1:
        np.testing.assert_array_equal(grads1[k], layer.grads[k])


def test_weight_shapes_and_glorot_fans():
    rng = np.random.default_rng(2)
    conv = Conv2D(64, 5, 2, "same")
    conv.build((32, 28, 28), rng)
    assert conv.params["W"].shape == (64, 32, 5, 5) and conv.params["b"].shape == (64,)
    tconv = Conv2DTranspose(16, 5, 2, "same")
    tconv.build((128, 7, 7), rng)
    assert tconv.params["W"].shape == (128, 16, 5, 5) and tconv.params["b"].shape == (16,)
    for layer, fan_sum in ((conv, (32 + 64) * 25), (tconv, (16 + 128) * 25)):
        limit = np.sqrt(6.0 / fan_sum)
        W = layer.params["W"]
        assert np.abs(W).max() <= limit and np.abs(W).max() > 0.95 * limit
        assert not layer.params["b"].any()

    seen = {}

    def spy(shape, rng, fans=None):
        seen["fans"] = fans
        return np.zeros(shape)

    Conv2DTranspose(16, (5, 3), kernel_initializer=spy).build((8, 4, 4), rng)
    assert seen["fans"] == (16 * 15, 8 * 15)  # Keras: fan_in counts the layer's filters
    Conv2D(16, (5, 3), kernel_initializer=spy).build((8, 9, 9), rng)
    assert seen["fans"] == (8 * 15, 16 * 15)


# ---------------------------------------------------------------------------
# The article's DCGAN shapes
# ---------------------------------------------------------------------------
def test_dcgan_shape_chain_at_article_sizes():
    rng = np.random.default_rng(0)
    gen = [Conv2DTranspose(128, 5, 1, "same", use_bias=False),
           Conv2DTranspose(64, 5, 2, "same", use_bias=False),
           Conv2DTranspose(1, 5, 2, "same", use_bias=False)]
    shape = (256, 7, 7)  # Dense(7*7*256) reshaped
    expected = [(128, 7, 7), (64, 14, 14), (1, 28, 28)]
    for layer, want in zip(gen, expected):
        assert layer.compute_output_shape(shape) == want
        shape = layer.build(shape, rng, np.float32)
        assert shape == want
    disc = [Conv2D(64, 5, 2, "same"), Conv2D(128, 5, 2, "same")]
    for layer, want in zip(disc, [(64, 14, 14), (128, 7, 7)]):
        shape = layer.build(shape, rng, np.float32)
        assert shape == want

    # and it runs, forward and backward, at full size
    z = rng.standard_normal((2, 7 * 7 * 256)).astype(np.float32)
    h = z.reshape(2, 256, 7, 7)
    for layer in gen + disc:
        h = layer.forward(h)
    assert h.shape == (2, 128, 7, 7) and h.dtype == np.float32
    g = np.ones_like(h)
    for layer in reversed(gen + disc):
        g = layer.backward(g)
    assert g.shape == (2, 256, 7, 7) and g.dtype == np.float32


@pytest.mark.parametrize("k,s,h,want", [(5, 2, 7, 14), (4, 2, 7, 14), (3, 1, 5, 5), (1, 3, 4, 12), (2, 3, 3, 9)])
def test_transpose_same_gives_h_times_s(k, s, h, want):
    assert Conv2DTranspose(1, k, s, "same").compute_output_shape((1, h, h)) == (1, want, want)


@pytest.mark.parametrize("padding,op,want", [("valid", None, 17), ("valid", 1, 18), (2, None, 13), (2, 1, 14),
                                             ("same", 1, 14), ("same", 0, 13)])
def test_transpose_output_lengths(padding, op, want):
    # H=7, k=5, s=2: full output (7-1)*2 + 5 = 17
    layer = Conv2DTranspose(1, 5, 2, padding, output_padding=op)
    assert layer.compute_output_shape((1, 7, 7)) == (1, want, want)


# ---------------------------------------------------------------------------
# Bad inputs: clear errors that name the layer
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [Conv2D, Conv2DTranspose])
def test_bad_forward_inputs(cls):
    rng = np.random.default_rng(0)
    layer = cls(4, 3, name="my_conv")
    layer.build((3, 8, 8), rng, np.float64)
    with pytest.raises(ValueError, match=r"my_conv.*\(N, 3, 8, 8\).*\(3, 8, 8\)"):
        layer.forward(np.zeros((3, 8, 8)))                 # rank 3
    with pytest.raises(ValueError, match=r"my_conv.*3 input channels.*\(N, 3, 8, 8\).*\(2, 2, 8, 8\)"):
        layer.forward(np.zeros((2, 2, 8, 8)))              # channels
    with pytest.raises(ValueError, match=r"my_conv.*\(N, 3, 8, 8\).*\(2, 3, 8, 9\)"):
        layer.forward(np.zeros((2, 3, 8, 9)))              # spatial size
    with pytest.raises(TypeError, match="my_conv"):
        layer.forward(np.zeros((2, 3, 8, 8), dtype=np.int64))
    with pytest.raises(TypeError, match="my_conv"):
        layer.forward([[0.0]])
    with pytest.raises(ValueError, match="my_conv.*before forward"):
        layer.backward(np.zeros((2,) + layer.output_shape))
    y = layer.forward(np.zeros((2, 3, 8, 8)))
    with pytest.raises(ValueError, match=r"my_conv.*\(2, 4, .*\).*\(2, 4, 1, 1\)"):
        layer.backward(np.zeros((2, 4, 1, 1)))
    assert y.shape[1] == 4


@pytest.mark.parametrize("cls", [Conv2D, Conv2DTranspose])
def test_bad_constructor_arguments(cls):
    with pytest.raises(ValueError, match=cls.__name__):
        cls(0, 3)
    with pytest.raises(TypeError, match=cls.__name__):
        cls(2.5, 3)
    with pytest.raises(ValueError, match=f"{cls.__name__}.*kernel_size"):
        cls(2, 0)
    with pytest.raises(TypeError, match=f"{cls.__name__}.*kernel_size"):
        cls(2, (1, 2, 3))
    with pytest.raises(ValueError, match=f"{cls.__name__}.*strides"):
        cls(2, 3, strides=(1, 0))
    with pytest.raises(ValueError, match=f"{cls.__name__}.*padding"):
        cls(2, 3, padding="full")
    with pytest.raises(ValueError, match=f"{cls.__name__}.*padding"):
        cls(2, 3, padding=-1)
    with pytest.raises(TypeError, match=f"{cls.__name__}.*padding"):
        cls(2, 3, padding=1.5)
    with pytest.raises(ValueError, match="initializer"):
        cls(2, 3, kernel_initializer="nope")


def test_bad_output_padding():
    with pytest.raises(ValueError, match="Conv2DTranspose.*output_padding"):
        Conv2DTranspose(2, 3, strides=2, output_padding=2)   # must be < stride
    with pytest.raises(ValueError, match="Conv2DTranspose.*output_padding"):
        Conv2DTranspose(2, 3, strides=1, output_padding=1)
    with pytest.raises(ValueError, match="Conv2DTranspose.*output_padding"):
        Conv2DTranspose(2, 3, strides=2, output_padding=(0, -1))
    with pytest.raises(TypeError, match="Conv2DTranspose.*output_padding"):
        Conv2DTranspose(2, 3, strides=2, output_padding="1")
    # Keras's 'same' + output_padding formula is inconsistent for an even kernel and 0
    with pytest.raises(ValueError, match="Conv2DTranspose.*output_padding"):
        Conv2DTranspose(2, 4, strides=2, padding="same", output_padding=0).build((1, 5, 5), np.random.default_rng(0))


def test_bad_build_shapes():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"Conv2D.*kernel height 5.*padded input height 4"):
        Conv2D(2, 5).build((1, 4, 9), rng)
    with pytest.raises(ValueError, match=r"Conv2D.*kernel width 5"):
        Conv2D(2, 5, padding=(2, 0)).build((1, 4, 4), rng)
    for cls in (Conv2D, Conv2DTranspose):
        with pytest.raises(ValueError, match=rf"{cls.__name__}.*\(C, H, W\).*\(8, 8\)"):
            cls(2, 3).build((8, 8), rng)
        with pytest.raises(ValueError, match=f"{cls.__name__}.*rng"):
            cls(2, 3).build((1, 8, 8))
        with pytest.raises(ValueError, match=f"{cls.__name__}.*build"):
            cls(2, 3).forward(np.zeros((1, 1, 8, 8)))
    with pytest.raises(ValueError, match="Conv2DTranspose.*crops the whole output"):
        Conv2DTranspose(2, 3, padding=2).build((1, 1, 1), rng)
