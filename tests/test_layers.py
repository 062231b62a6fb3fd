"""Dense, activations, reshapes, Dropout, BatchNormalization and Sequential:
gradient checks in float64, modes, dtypes and error messages."""
import contextlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aigc_np.gradcheck import check_layer
from aigc_np.layers import backend
from aigc_np.layers import (BatchNormalization, Dense, Dropout, Flatten, LeakyReLU, ReLU, Reshape,
                            Sequential, Sigmoid, Tanh)

TOL = 1e-6
seeds = st.integers(0, 2**32 - 1)


def away_from_zero(x, margin=0.1):
    """Push values at least ``margin`` away from the kink of ReLU-like functions."""
    return np.where(x >= 0, x + margin, x - margin)


def assert_grads_ok(errors):
    worst = max(errors, key=errors.get)
    assert errors[worst] <= TOL, f"gradient check failed for {worst!r}: {errors}"


def built(layer, input_shape, dtype=np.float64, seed=0):
    layer.build(input_shape, np.random.default_rng(seed), dtype)
    return layer


# --------------------------------------------------------------------- Dense
@given(n=st.integers(1, 5), d_in=st.integers(1, 6), units=st.integers(1, 6),
       middle=st.sampled_from([(), (3,)]), use_bias=st.booleans(), seed=seeds)
def test_dense_gradients(n, d_in, units, middle, use_bias, seed):
    rng = np.random.default_rng(seed)
    layer = built(Dense(units, use_bias=use_bias), middle + (d_in,), seed=seed)
    assert_grads_ok(check_layer(layer, rng.standard_normal((n,) + middle + (d_in,)), rng=rng))


def test_dense_forward_is_affine_map():
    layer = built(Dense(2), (3,))
    layer.params["W"][:] = np.arange(6.0).reshape(3, 2)
    layer.params["b"][:] = [10.0, 20.0]
    y = layer.forward(np.array([[1.0, 0.0, -1.0]]))
    np.testing.assert_array_equal(y, [[10.0 - 4.0, 20.0 - 4.0]])


# --------------------------------------------------------------- activations
ACTIVATIONS = [ReLU, lambda: LeakyReLU(0.2), Tanh, Sigmoid]


@pytest.mark.parametrize("make", ACTIVATIONS, ids=["ReLU", "LeakyReLU", "Tanh", "Sigmoid"])
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), seed=seeds)
def test_activation_gradients(make, shape, seed):
    rng = np.random.default_rng(seed)
    x = away_from_zero(rng.standard_normal(shape))  # N(0,1): off the kink, short of saturation
    assert_grads_ok(check_layer(make(), x, rng=rng))


@given(alpha=st.floats(0.01, 0.5), seed=seeds)
def test_leaky_relu_gradients_over_alpha(alpha, seed):
    rng = np.random.default_rng(seed)
    assert_grads_ok(check_layer(LeakyReLU(alpha), away_from_zero(rng.standard_normal((3, 5))), rng=rng))


def test_activation_values():
    x = np.array([-2.0, -0.5, 0.5, 2.0])
    np.testing.assert_allclose(ReLU().forward(x), [0, 0, 0.5, 2.0])
    np.testing.assert_allclose(LeakyReLU(0.2).forward(x), [-0.4, -0.1, 0.5, 2.0])
    np.testing.assert_allclose(Tanh().forward(x), np.tanh(x))
    np.testing.assert_allclose(Sigmoid().forward(x), 1 / (1 + np.exp(-x)))


def test_sigmoid_is_stable_for_huge_inputs():
    y = Sigmoid().forward(np.array([-1e4, 1e4]))  # RuntimeWarnings are errors in the suite
    np.testing.assert_array_equal(y, [0.0, 1.0])


# ------------------------------------------------------------------ reshapes
@given(n=st.integers(1, 4), c=st.integers(1, 3), h=st.integers(1, 4), seed=seeds)
def test_flatten_and_reshape_gradients(n, c, h, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, h))
    flat = built(Flatten(), (c, h, h))
    assert flat.output_shape == (c * h * h,)
    assert_grads_ok(check_layer(flat, x, rng=rng))
    back = built(Reshape((c, h, h)), (c * h * h,))
    assert_grads_ok(check_layer(back, x.reshape(n, -1), rng=rng))
    np.testing.assert_array_equal(back.forward(flat.forward(x)), x)


def test_reshape_rejects_wrong_size():
    with pytest.raises(ValueError, match=r"Reshape.*\(6,\).*\(4, 2\)"):
        Reshape((4, 2)).build((6,))


# ------------------------------------------------------------------- Dropout
@given(rate=st.floats(0.1, 0.8), seed=seeds)
def test_dropout_gradients_in_train_mode(rate, seed):
    rng = np.random.default_rng(seed)
    layer = Dropout(rate, rng=np.random.default_rng(seed + 1))
    assert_grads_ok(check_layer(layer, rng.standard_normal((4, 6)), rng=rng))


def test_dropout_train_statistics():
    layer = Dropout(0.3, rng=np.random.default_rng(0))
    x = np.ones((200, 500))
    y = layer.forward(x)
    dropped = np.mean(y == 0)
    assert abs(dropped - 0.3) < 0.01
    np.testing.assert_allclose(y[y != 0], 1 / 0.7)  # inverted scaling
    assert abs(y.mean() - 1.0) < 0.01  # expectation preserved


def test_dropout_eval_is_identity_and_seed_reproduces_mask():
    x = np.random.default_rng(1).standard_normal((8, 8))
    layer = Dropout(0.5, rng=np.random.default_rng(7)).eval()
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(x), x)
    a = Dropout(0.5, rng=np.random.default_rng(7)).forward(x)
    b = Dropout(0.5, rng=np.random.default_rng(7)).forward(x)
    np.testing.assert_array_equal(a, b)


def test_dropout_without_generator_errors():
    with pytest.raises(ValueError, match="Dropout.*Generator"):
        Dropout(0.5).forward(np.ones((2, 2)))


# -------------------------------------------------------- BatchNormalization
def on(path):
    """BatchNormalization's reference (Exercise 5's backward) or its fast path (layers/fast_norm.py)."""
    return backend.reference() if path == "reference" else contextlib.nullcontext()


@pytest.mark.parametrize("path", ["reference", "fast"])
@given(n=st.integers(3, 6), f=st.integers(1, 5), momentum=st.floats(0.0, 0.99),
       training=st.booleans(), seed=seeds)
def test_batchnorm_dense_gradients(path, n, f, momentum, training, seed):
    rng = np.random.default_rng(seed)
    layer = built(BatchNormalization(momentum=momentum), (f,))
    layer.params["gamma"][:] = rng.uniform(0.5, 2.0, f)
    layer.params["beta"][:] = rng.standard_normal(f)
    layer.buffers["moving_variance"][:] = rng.uniform(0.5, 2.0, f)
    layer.train() if training else layer.eval()
    with on(path):
        assert_grads_ok(check_layer(layer, rng.standard_normal((n, f)) * 2 + 1, rng=rng))


@pytest.mark.parametrize("path", ["reference", "fast"])
@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(2, 4), training=st.booleans(), seed=seeds)
def test_batchnorm_image_gradients(path, n, c, h, training, seed):
    rng = np.random.default_rng(seed)
    layer = built(BatchNormalization(), (c, h, h))
    layer.params["gamma"][:] = rng.uniform(0.5, 2.0, c)
    layer.train() if training else layer.eval()
    with on(path):
        assert_grads_ok(check_layer(layer, rng.standard_normal((n, c, h, h)), rng=rng))


def test_batchnorm_train_normalizes_per_channel():
    x = np.random.default_rng(0).normal(5.0, 3.0, size=(16, 3, 4, 4))
    y = built(BatchNormalization(epsilon=1e-8), (3, 4, 4)).forward(x)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-6)


def test_batchnorm_momentum_keeps_that_fraction_of_running_value():
    layer = built(BatchNormalization(momentum=0.8), (2,))
    x = np.array([[1.0, 10.0], [3.0, 14.0]])  # batch mean (2, 12), biased var (1, 4)
    layer.forward(x)
    np.testing.assert_allclose(layer.buffers["moving_mean"], [0.2 * 2, 0.2 * 12])
    np.testing.assert_allclose(layer.buffers["moving_variance"], [0.8 + 0.2 * 1, 0.8 + 0.2 * 4])


def test_batchnorm_eval_uses_running_statistics_and_does_not_update_them():
    layer = built(BatchNormalization(epsilon=1e-3), (2,))
    layer.buffers["moving_mean"][:] = [1.0, -1.0]
    layer.buffers["moving_variance"][:] = [4.0, 9.0]
    layer.eval()
    y = layer.forward(np.array([[3.0, 2.0]]))  # a batch of one is fine in eval mode
    np.testing.assert_allclose(y, [[2 / np.sqrt(4.001), 3 / np.sqrt(9.001)]])
    np.testing.assert_array_equal(layer.buffers["moving_mean"], [1.0, -1.0])


def test_batchnorm_train_mode_rejects_single_value_batches():
    with pytest.raises(ValueError, match="BatchNormalization.*more than one value"):
        built(BatchNormalization(), (3,)).forward(np.ones((1, 3)))


# ---------------------------------------------------------------- Sequential
def small_mlp(dtype=np.float64, seed=0):
    return Sequential([Dense(6, use_bias=False), BatchNormalization(momentum=0.8), LeakyReLU(0.2),
                       Dropout(0.3), Dense(4), Tanh(), Dense(2), Sigmoid()],
                      input_shape=(5,), rng=np.random.default_rng(seed), dtype=dtype)


@given(n=st.integers(3, 6), seed=seeds)
def test_sequential_gradients_through_every_layer(n, seed):
    rng = np.random.default_rng(seed)
    model = small_mlp(seed=seed)
    errors = check_layer(model, rng.standard_normal((n, 5)), rng=rng)
    assert set(errors) == {"x", "0.W", "1.gamma", "1.beta", "4.W", "4.b", "6.W", "6.b"}
    assert_grads_ok(errors)


def test_sequential_modes_propagate_and_params_are_the_layers_arrays():
    model = small_mlp()
    model.eval()
    assert not any(layer.training for layer in model.layers)
    model.train()
    assert all(layer.training for layer in model.layers)
    assert model.params["4.W"] is model.layers[4].params["W"]
    assert model.num_params() == 5 * 6 + 2 * 6 + 6 * 4 + 4 + 4 * 2 + 2


def test_sequential_same_seed_same_model_and_output():
    x = np.random.default_rng(3).standard_normal((4, 5)).astype(np.float32)
    a, b = small_mlp(np.float32, seed=11), small_mlp(np.float32, seed=11)
    np.testing.assert_array_equal(a.forward(x), b.forward(x))


# ----------------------------------------------- contract: dtype and purity
def every_layer_case():
    """(name, layer, x) for each layer, float32, built where needed."""
    rng = np.random.default_rng(0)
    img = rng.standard_normal((3, 2, 4, 4))
    vec = rng.standard_normal((3, 5))
    return [
        ("Dense", built(Dense(3), (5,), np.float32), vec),
        ("ReLU", ReLU(), vec), ("LeakyReLU", LeakyReLU(0.2), vec), ("Tanh", Tanh(), vec),
        ("Sigmoid", Sigmoid(), vec), ("Flatten", Flatten(), img), ("Reshape", Reshape((4, 8)), img),
        ("Dropout", Dropout(0.5, rng=np.random.default_rng(0)), vec),
        ("BatchNormalization", built(BatchNormalization(), (2, 4, 4), np.float32), img),
        ("Sequential", small_mlp(np.float32), vec),
    ]


@pytest.mark.parametrize("name,layer,x", every_layer_case(), ids=[c[0] for c in every_layer_case()])
def test_float32_in_float32_out_and_backward_is_repeatable(name, layer, x):
    x = x.astype(np.float32)
    y = layer.forward(x)
    assert y.dtype == np.float32, name
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    dx1 = layer.backward(dy)
    grads1 = {k: g.copy() for k, g in layer.grads.items()}
    dx2 = layer.backward(dy)
    assert dx1.dtype == np.float32
    np.testing.assert_array_equal(dx1, dx2)
    for k, g in layer.grads.items():
        assert g.dtype == np.float32, (name, k)
        np.testing.assert_array_equal(g, grads1[k])


def test_backward_does_not_change_parameters():
    model = small_mlp()
    before = {k: v.copy() for k, v in model.params.items()}
    x = np.random.default_rng(0).standard_normal((4, 5))
    model.backward(np.ones_like(model.forward(x)))
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


# ---------------------------------------------------------- clear errors
@pytest.mark.parametrize("layer,x,error,pattern", [
    (built(Dense(3), (5,)), np.ones((2, 4)), ValueError, r"Dense: expected input shape \(N, \.\.\., 5\), got \(2, 4\)"),
    (built(Dense(3), (5,)), np.ones(5), ValueError, r"Dense.*\(N, \.\.\., 5\).*\(5,\)"),
    (built(Dense(3), (5,)), np.ones((2, 5), dtype=np.int64), TypeError, r"Dense.*float.*int64"),
    (built(Dense(3), (5,)), np.ones((2, 5), dtype=np.float32), TypeError, r"Dense.*float64.*float32"),
    (built(Dense(3), (5,)), np.array([[1.0, np.nan, 0, 0, 0]]), ValueError, r"Dense.*NaN"),
    (built(BatchNormalization(), (3, 4, 4)), np.ones((2, 2, 4, 4)), ValueError,
     r"BatchNormalization: expected input shape \(N, 3, 4, 4\), got \(2, 2, 4, 4\)"),
    (ReLU(), [1.0, 2.0], TypeError, r"ReLU.*numpy.ndarray.*list"),
    (built(Flatten(), (2, 3)), np.ones((4, 3, 2)), ValueError, r"Flatten.*\(N, 2, 3\).*\(4, 3, 2\)"),
])
def test_bad_input_raises_clear_error(layer, x, error, pattern):
    with pytest.raises(error, match=pattern):
        layer.forward(x)


def test_backward_errors_name_layer_and_shapes():
    layer = built(Dense(3), (5,))
    with pytest.raises(ValueError, match="Dense: backward called before forward"):
        layer.backward(np.ones((2, 3)))
    layer.forward(np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"Dense: expected dy of shape \(2, 3\).*got \(2, 4\)"):
        layer.backward(np.ones((2, 4)))


def test_unbuilt_dense_explains_how_to_build():
    with pytest.raises(ValueError, match="Dense: call build"):
        Dense(3).forward(np.ones((2, 5)))
