"""Double backward (``backward_backward``): each layer's method against a
numerical derivative of its own backward pass, in float64 at <= 1e-6.

For a layer with dx = backward(dy) after forward(x), the scalar checked is
L = sum(v * backward(dy)) with a random v = d_dx: its numerical gradients with
respect to dy, x and every parameter must match the method's d_dy, d_x (None
meaning exactly zero) and the grads it assigns. Then the same for whole
Sequential stacks, where the x-terms flow back through the forward pass.
"""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from aigc_np.gradcheck import numerical_gradient, rel_error
from aigc_np.layers import (BatchNormalization, Conv2D, Dense, Dropout, Flatten, LeakyReLU, ReLU, Reshape,
                            Sequential, Sigmoid, Tanh)

TOL = 1e-6
seeds = st.integers(0, 2**32 - 1)


def assert_gradient_matches(what, analytic, numerical):
    """Max relative error <= 1e-6 (gradcheck.rel_error), element by element.

    As in tests/test_gan.py: central differences in float64 carry an absolute
    round-off of ~1e-11, so an element whose true gradient is itself tiny
    cannot agree to 1e-6 *relative*; those elements must agree to 1e-10
    *absolute* (a real bug is many orders larger).
    """
    err = rel_error(analytic, numerical)
    if err <= TOL:
        return
    diff = np.abs(analytic - numerical)
    bad = diff / np.maximum(1e-8, np.abs(analytic) + np.abs(numerical)) > TOL
    assert diff[bad].max() <= 1e-10, f"{what}: relative error {err:.2e} (absolute {diff[bad].max():.2e})"


def away_from_zero(a, margin=0.1):
    """Push values at least ``margin`` away from 0 (the kink of ReLU-like functions)."""
    return a + np.where(a >= 0, margin, -margin)


def check_double_backward(layer, x, rng):
    """Compare layer.backward_backward with numerical derivatives of sum(v * backward(dy))."""
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    v = rng.standard_normal(x.shape)
    params_before = {k: p.copy() for k, p in layer.params.items()}
    d_dy, d_x = layer.backward_backward(v, dy)
    grads = {k: g.copy() for k, g in layer.grads.items()}
    for k, p in layer.params.items():  # a double backward never changes a parameter
        np.testing.assert_array_equal(p, params_before[k])
    assert d_dy.shape == dy.shape and d_dy.dtype == np.float64
    d_x = np.zeros_like(x) if d_x is None else d_x
    assert d_x.shape == x.shape
    assert set(grads) == set(layer.params) and all(grads[k].shape == p.shape for k, p in layer.params.items())

    def backward_of():  # the layer's own backward pass, at the current x, dy and parameters
        layer.forward(x)
        return layer.backward(dy)

    assert_gradient_matches(f"{layer.name} d_dy", d_dy, numerical_gradient(backward_of, dy, v))
    assert_gradient_matches(f"{layer.name} d_x", d_x, numerical_gradient(backward_of, x, v))
    for k, p in layer.params.items():
        assert_gradient_matches(f"{layer.name} d{k}", grads[k], numerical_gradient(backward_of, p, v))
    # pure: calling it again gives the same result
    layer.forward(x)
    again, _ = layer.backward_backward(v, dy)
    np.testing.assert_array_equal(again, d_dy)


# ------------------------------------------------------------- single layers
@given(batch=st.integers(1, 4), middle=st.lists(st.integers(1, 3), max_size=2), n_in=st.integers(1, 5),
       units=st.integers(1, 5), use_bias=st.booleans(), seed=seeds)
def test_dense_double_backward_any_rank(batch, middle, n_in, units, use_bias, seed):
    rng = np.random.default_rng(seed)
    layer = Dense(units, use_bias=use_bias)
    layer.build(tuple(middle) + (n_in,), rng, np.float64)
    check_double_backward(layer, rng.standard_normal((batch, *middle, n_in)), rng)


@pytest.mark.parametrize("make", [ReLU, lambda: LeakyReLU(0.2), lambda: LeakyReLU(0.0), Tanh, Sigmoid],
                         ids=["relu", "leaky_relu", "leaky_relu_0", "tanh", "sigmoid"])
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), seed=seeds)
def test_activation_double_backward(make, shape, seed):
    rng = np.random.default_rng(seed)
    layer = make()
    layer.build(tuple(shape), rng, np.float64)
    x = away_from_zero(rng.standard_normal((3, *shape)))
    check_double_backward(layer, x, rng)


def test_smooth_activations_have_an_x_term_and_relu_like_ones_do_not(rng):
    x, dy, v = away_from_zero(rng.standard_normal((3, 4))), rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    for layer, smooth in [(Tanh(), True), (Sigmoid(), True), (ReLU(), False), (LeakyReLU(0.2), False)]:
        layer.build((4,), rng, np.float64)
        layer.forward(x)
        _, d_x = layer.backward_backward(v, dy)
        assert (d_x is not None and np.abs(d_x).min() > 0) if smooth else d_x is None, layer.name


@pytest.mark.parametrize("make,shape", [(Flatten, (2, 3, 2)), (lambda: Reshape((3, 2)), (6,)),
                                        (lambda: Reshape((2, 1, 3)), (3, 2))])
def test_reshape_layers_double_backward(make, shape, rng):
    layer = make()
    layer.build(shape, rng, np.float64)
    check_double_backward(layer, rng.standard_normal((2, *shape)), rng)


@given(c=st.integers(1, 3), f=st.integers(1, 3), h=st.integers(3, 7), w=st.integers(3, 7),
       k=st.integers(1, 3), s=st.integers(1, 2), padding=st.sampled_from(["valid", "same", 1]),
       use_bias=st.booleans(), seed=seeds)
def test_conv2d_double_backward(c, f, h, w, k, s, padding, use_bias, seed):
    rng = np.random.default_rng(seed)
    layer = Conv2D(f, k, strides=s, padding=padding, use_bias=use_bias)
    layer.build((c, h, w), rng, np.float64)
    check_double_backward(layer, rng.standard_normal((2, c, h, w)), rng)


# ------------------------------------------------------------ whole stacks
def stack_double_backward_check(model, x, rng):
    """Sequential.backward_backward against sum(v * model.backward(dy)), numerically."""
    y = model.forward(x)
    dy, v = rng.standard_normal(y.shape), rng.standard_normal(x.shape)
    d_dy, d_x = model.backward_backward(v, dy)
    grads = {k: g.copy() for k, g in model.grads.items()}
    d_x = np.zeros_like(x) if d_x is None else d_x

    def backward_of():
        model.forward(x)
        return model.backward(dy)

    assert_gradient_matches("d_dy", d_dy, numerical_gradient(backward_of, dy, v))
    assert_gradient_matches("d_x", d_x, numerical_gradient(backward_of, x, v))
    for k, p in model.params.items():
        assert_gradient_matches(f"d{k}", grads[k], numerical_gradient(backward_of, p, v))
    return d_x


def pre_activation_margin(model, x):
    """Smallest |input| of any ReLU-like layer on x (kinks must be farther than h)."""
    margin = np.inf
    for layer in model.layers:
        if isinstance(layer, (ReLU, LeakyReLU)):
            margin = min(margin, float(np.abs(x).min()))
        x = layer.forward(x)
    return margin


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "leaky_relu", "mixed"])
@given(n=st.integers(1, 4), d=st.integers(1, 4), h1=st.integers(1, 5), h2=st.integers(1, 5), seed=seeds)
def test_sequential_double_backward_mlp(act, n, d, h1, h2, seed):
    rng = np.random.default_rng(seed)
    make = {"tanh": [Tanh, Tanh], "sigmoid": [Sigmoid, Sigmoid], "leaky_relu": [lambda: LeakyReLU(0.2)] * 2,
            "mixed": [Tanh, lambda: LeakyReLU(0.2)]}[act]
    model = Sequential([Dense(h1), make[0](), Dense(h2), make[1](), Dense(2)], input_shape=(d,), rng=rng,
                       dtype=np.float64)
    for k, b in model.params.items():
        if k.endswith(".b"):
            b[...] = 0.3 * rng.standard_normal(b.shape)
    x = rng.standard_normal((n, d))
    assume(pre_activation_margin(model, x) > 1e-4)
    d_x = stack_double_backward_check(model, x, rng)
    if act == "leaky_relu":  # piecewise linear: the backward pass does not depend on x
        assert not d_x.any()


def test_sequential_double_backward_conv_stack(rng):
    model = Sequential([Conv2D(3, 3, strides=2, padding="same"), Tanh(), Conv2D(2, 3, padding="valid"),
                        Sigmoid(), Flatten(), Dense(3), Tanh(), Dense(1)],
                       input_shape=(2, 7, 7), rng=rng, dtype=np.float64)
    stack_double_backward_check(model, rng.standard_normal((2, 2, 7, 7)), rng)


def test_nested_sequential_double_backward(rng):
    inner = Sequential([Dense(4), Tanh()], input_shape=(3,), rng=rng, dtype=np.float64)
    model = Sequential([inner, Dense(3), Sigmoid(), Dense(1)], input_shape=(3,), rng=rng, dtype=np.float64)
    stack_double_backward_check(model, rng.standard_normal((3, 3)), rng)


# ---------------------------------------------------------------- contract
def test_float32_stays_float32(rng):
    model = Sequential([Conv2D(2, 3, padding="same"), Tanh(), Flatten(), Dense(3), Sigmoid(), Dense(1)],
                       input_shape=(1, 4, 4), rng=rng)
    x = rng.standard_normal((2, 1, 4, 4)).astype(np.float32)
    y = model.forward(x)
    d_dy, d_x = model.backward_backward(np.ones_like(x), np.ones_like(y))
    assert d_dy.dtype == d_x.dtype == np.float32
    assert {g.dtype for g in model.grads.values()} == {np.dtype(np.float32)}


@pytest.mark.parametrize("layer,shape", [(BatchNormalization(), (3,)), (Dropout(0.5, rng=np.random.default_rng(0)), (3,))],
                         ids=["batchnorm", "dropout"])
def test_layers_without_double_backward_say_so(layer, shape, rng):
    layer.build(shape, rng, np.float64)
    y = layer.forward(rng.standard_normal((4, *shape)))
    with pytest.raises(NotImplementedError, match=f"{type(layer).__name__}: backward_backward"):
        layer.backward_backward(np.ones_like(y), np.ones_like(y))
    model = Sequential([Dense(3), layer, Dense(1)], input_shape=shape, rng=rng, dtype=np.float64)
    y = model.forward(rng.standard_normal((4, *shape)))
    # backward_backward starts with an ordinary backward sweep: run it here, outside pytest.raises, so that
    # in the student edition an unfinished exercise reports itself instead of failing the match below.
    model.backward(np.ones_like(y))
    with pytest.raises(NotImplementedError, match=f"is not implemented for {type(layer).__name__};"):
        model.backward_backward(np.ones((4, *shape)), np.ones_like(y))


def test_bad_arguments_name_the_layer(rng):
    dense = Dense(2, name="critic_dense")
    dense.build((3,), rng, np.float64)
    with pytest.raises(ValueError, match="critic_dense: backward called before forward"):
        dense.backward_backward(np.ones((4, 3)), np.ones((4, 2)))
    dense.forward(rng.standard_normal((4, 3)))
    with pytest.raises(ValueError, match=r"critic_dense: expected d_dx of shape \(4, 3\).*got \(4, 2\)"):
        dense.backward_backward(np.ones((4, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"critic_dense: expected dy of shape \(4, 2\)"):
        dense.backward_backward(np.ones((4, 3)), np.ones((4, 3)))
    with pytest.raises(TypeError, match="critic_dense: expected d_dx of dtype float64"):
        dense.backward_backward(np.ones((4, 3), np.float32), np.ones((4, 2)))
    with pytest.raises(TypeError, match="critic_dense: expected d_dx as a numpy.ndarray"):
        dense.backward_backward([[1.0] * 3] * 4, np.ones((4, 2)))
    conv = Conv2D(2, 3, name="critic_conv")
    conv.build((1, 5, 5), rng, np.float64)
    conv.forward(rng.standard_normal((2, 1, 5, 5)))
    with pytest.raises(ValueError, match=r"critic_conv: expected d_dx of shape \(2, 1, 5, 5\)"):
        conv.backward_backward(np.ones((2, 1, 4, 4)), np.ones((2, 2, 3, 3)))
