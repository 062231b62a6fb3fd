"""Losses: gradient checks, numerical stability, known values, dtypes, errors."""
import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st

from aigc_np.gradcheck import check_loss
from aigc_np.losses import (BinaryCrossentropy, GaussianKL, MeanSquaredError,
                            SparseCategoricalCrossentropy, log_softmax, softmax)

TOL = 1e-6
REDUCTIONS = ["mean", "batch"]

# (batch, features, seed): batch 1-6, features 1-8; values come from a seeded rng.
shapes = st.tuples(st.integers(1, 6), st.integers(1, 8), st.integers(0, 2**16))

# A relative error is only meaningful where the gradient is not ~0: there the
# numerical gradient is pure round-off (~1e-11). So the inputs below keep every
# gradient entry away from zero, as well as away from the clip's kinks.


def away_from_zero(rng, shape, low=0.1, high=2.0):
    """Random values with |x| in [low, high] and random sign."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(low, high, shape)


def soft_targets_away_from(rng, p):
    """Soft targets in [0, 1], except that any within 0.05 of the probability
    p are replaced by the opposite hard label (so p - y is never ~0)."""
    y = rng.uniform(0, 1, p.shape)
    return np.where(np.abs(p - y) < 0.05, (p < 0.5).astype(float), y)


def assert_no_fp_warnings(fn, *args):
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        return fn(*args)


# ------------------------------------------------------------- grad checks
@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(shapes)
def test_bce_probabilities_gradcheck(reduction, shape):
    n, d, seed = shape
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, (n, d))  # away from the clip, where the loss is smooth
    y = soft_targets_away_from(rng, p)
    errs = check_loss(BinaryCrossentropy(reduction=reduction), (p,), y)
    assert max(errs) <= TOL, errs


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(shapes)
def test_bce_logits_gradcheck(reduction, shape):
    n, d, seed = shape
    rng = np.random.default_rng(seed)
    z = 3 * rng.standard_normal((n, d))
    y = soft_targets_away_from(rng, 1 / (1 + np.exp(-z)))
    errs = check_loss(BinaryCrossentropy(from_logits=True, reduction=reduction), (z,), y)
    assert max(errs) <= TOL, errs


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(shapes)
def test_mse_gradcheck(reduction, shape):
    n, d, seed = shape
    rng = np.random.default_rng(seed)
    target = rng.standard_normal((n, d))
    pred = target + away_from_zero(rng, (n, d))
    errs = check_loss(MeanSquaredError(reduction=reduction), (pred,), target)
    assert max(errs) <= TOL, errs


@given(shapes)
def test_sparse_cce_logits_gradcheck(shape):
    n, k, seed = shape
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, k))  # moderate, so no softmax entry is ~0
    labels = rng.integers(0, k, n)
    errs = check_loss(SparseCategoricalCrossentropy(), (logits,), labels)
    assert max(errs) <= TOL, errs


@given(shapes)
def test_sparse_cce_probabilities_gradcheck(shape):
    n, k, seed = shape
    rng = np.random.default_rng(seed)
    probs = rng.uniform(0.05, 0.95, (n, k))  # the loss only reads p[n, y_n]; no need to normalize
    labels = rng.integers(0, k, n)
    errs = check_loss(SparseCategoricalCrossentropy(from_logits=False), (probs,), labels)
    assert max(errs) <= TOL, errs


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(shapes)
def test_gaussian_kl_gradcheck(reduction, shape):
    n, d, seed = shape
    rng = np.random.default_rng(seed)
    mu, logvar = away_from_zero(rng, (2, n, d))  # dmu = mu, dlogvar ~ exp(logvar) - 1
    errs = check_loss(GaussianKL(reduction=reduction), (mu, logvar))
    assert len(errs) == 2 and max(errs) <= TOL, errs


# ------------------------------------------------------------- reductions
def test_reductions_differ_by_the_number_of_features():
    rng = np.random.default_rng(0)
    pred, target = rng.standard_normal((2, 4, 3, 5, 5))  # N=4 "images" of 3x5x5
    per_element = np.mean((pred - target) ** 2)
    assert MeanSquaredError("mean")(pred, target) == pytest.approx(per_element)
    assert MeanSquaredError("batch")(pred, target) == pytest.approx(per_element * 75)


# --------------------------------------------------- BCE on probabilities
def test_bce_probabilities_known_value():
    # -(1 * log 0.8) = 0.22314355;  -(1 - 0) * log(1 - 0.4) = 0.51082562;  mean = 0.36698459
    loss = BinaryCrossentropy()
    value = loss(np.array([[0.8], [0.4]]), np.array([[1.0], [0.0]]))
    assert isinstance(value, float)
    assert value == pytest.approx(0.36698459, abs=1e-8)


def test_bce_clip_is_active_at_0_and_1():
    # p = 0 with y = 1 and p = 1 with y = 0 are the worst possible predictions;
    # clipping to [1e-7, 1 - 1e-7] makes each cost -log(1e-7) = 16.11809565.
    p = np.array([[0.0, 1e-9, 1.0, 1 - 1e-9, 0.5]])  # one example with 5 outputs
    y = np.array([[1.0, 1.0, 0.0, 0.0, 1.0]])
    loss = BinaryCrossentropy(reduction="batch")
    value = assert_no_fp_warnings(loss.forward, p, y)
    assert np.isfinite(value)
    # batch reduction of a single example = sum: 4 clipped terms + (-log 0.5 = 0.69314718)
    assert value == pytest.approx(4 * 16.11809565 + 0.69314718, rel=1e-8)
    grad = loss.backward()
    assert np.all(grad[0, :4] == 0)           # the clip is active: no gradient
    assert grad[0, 4] == pytest.approx(-2.0)  # (p - y) / (p (1 - p)) = -0.5 / 0.25
    # ... and that is the true derivative of the clipped expression:
    for i in (1, 3):
        bumped = p.copy()
        bumped[0, i] += 1e-12
        assert loss.forward(bumped, y) == value


# --------------------------------------------------------- BCE on logits
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_logits_stable_at_huge_logits(dtype):
    z = np.array([1e4, -1e4, 1e4, -1e4], dtype=dtype)
    y = np.array([1, 1, 0, 0], dtype=dtype)
    loss = BinaryCrossentropy(from_logits=True)
    # Limits: right and confident -> 0; wrong and confident -> |z| = 1e4.
    value = assert_no_fp_warnings(loss.forward, z, y)
    assert value == (0 + 1e4 + 1e4 + 0) / 4
    grad = assert_no_fp_warnings(loss.backward)
    # sigmoid(z) - y = [1-1, 0-1, 1-0, 0-0], over 4 elements
    np.testing.assert_array_equal(grad, np.array([0, -0.25, 0.25, 0], dtype=dtype))
    assert grad.dtype == dtype


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_logits_equals_probabilities_at_moderate_z(reduction):
    rng = np.random.default_rng(1)
    z = rng.uniform(-4, 4, (5, 3))
    y = rng.uniform(0, 1, (5, 3))
    p = 1 / (1 + np.exp(-z))  # in [0.018, 0.982]: the clip is not active
    with_logits = BinaryCrossentropy(from_logits=True, reduction=reduction)
    with_probs = BinaryCrossentropy(reduction=reduction)
    assert with_logits(z, y) == pytest.approx(with_probs(p, y), rel=1e-12)
    # chain rule: dL/dz = dL/dp * dp/dz = dL/dp * p (1 - p)
    np.testing.assert_allclose(with_logits.backward(), with_probs.backward() * p * (1 - p), rtol=1e-10)


# ------------------------------------------- softmax and sparse crossentropy
def test_softmax_helpers():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 6))
    naive = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax(x), naive, rtol=1e-12)
    np.testing.assert_allclose(log_softmax(x), np.log(naive), rtol=1e-12)
    np.testing.assert_allclose(softmax(x, axis=0).sum(axis=0), 1.0, rtol=1e-12)
    big = np.array([[1e4, 0.0, -1e4]])
    assert_no_fp_warnings(softmax, big)
    np.testing.assert_array_equal(softmax(big), [[1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(log_softmax(big), [[0.0, -1e4, -2e4]])


def test_sparse_cce_equals_direct_formula():
    rng = np.random.default_rng(3)
    logits = rng.uniform(-3, 3, (6, 5))
    labels = np.array([0, 4, 2, 2, 1, 3])
    direct = -np.mean(np.log(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True))[np.arange(6), labels])
    assert SparseCategoricalCrossentropy()(logits, labels) == pytest.approx(direct, rel=1e-12)
    probs = softmax(logits)
    assert SparseCategoricalCrossentropy(from_logits=False)(probs, labels) == pytest.approx(direct, rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_cce_stable_at_huge_logits(dtype):
    logits = np.array([[1e4, 0, -1e4], [0, 1e4, 0]], dtype=dtype)
    labels = np.array([0, 0])
    loss = SparseCategoricalCrossentropy()
    # row 0: label has the huge logit -> -log 1 = 0;  row 1: -log softmax = 1e4 - 0
    assert assert_no_fp_warnings(loss.forward, logits, labels) == pytest.approx(5000.0)
    grad = assert_no_fp_warnings(loss.backward)
    # (softmax - onehot) / N: row 0 [1,0,0]-[1,0,0];  row 1 [0,1,0]-[1,0,0]
    np.testing.assert_array_equal(grad, np.array([[0, 0, 0], [-0.5, 0.5, 0]], dtype=dtype))


# --------------------------------------------------------------- Gaussian KL
def test_gaussian_kl_zero_at_the_prior():
    loss = GaussianKL()
    assert loss(np.zeros((3, 4)), np.zeros((3, 4))) == 0.0
    dmu, dlogvar = loss.backward()
    assert not dmu.any() and not dlogvar.any()


def test_gaussian_kl_known_values():
    # Row A: mu = (1, 0), sigma^2 = (2, 1):  0.5 * (1 + 2 - ln 2 - 1) + 0 = 1 - 0.5 ln 2 = 0.65342641
    # Row B: mu = (0, 2), sigma^2 = (1, 1):  0 + 0.5 * (4 + 1 - 0 - 1) = 2
    mu = np.array([[1.0, 0.0], [0.0, 2.0]])
    logvar = np.array([[np.log(2.0), 0.0], [0.0, 0.0]])
    batch = GaussianKL()
    assert batch(mu, logvar) == pytest.approx((0.65342641 + 2) / 2, abs=1e-8)  # 1.32671320
    dmu, dlogvar = batch.backward()
    # dmu = mu / N;  dlogvar = 0.5 (sigma^2 - 1) / N  -> 0.5 * (2 - 1) / 2 = 0.25 for the first entry
    np.testing.assert_allclose(dmu, [[0.5, 0.0], [0.0, 1.0]], atol=1e-15)
    np.testing.assert_allclose(dlogvar, [[0.25, 0.0], [0.0, 0.0]], atol=1e-15)
    assert GaussianKL("mean")(mu, logvar) == pytest.approx((0.65342641 + 2) / 4, abs=1e-8)


# --------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("make, args", [
    (lambda: BinaryCrossentropy(), (np.full((2, 3), 0.3), np.ones((2, 3)))),
    (lambda: BinaryCrossentropy(from_logits=True, reduction="batch"), (np.ones((2, 3)), np.ones((2, 3)))),
    (lambda: MeanSquaredError(), (np.ones((2, 3)), np.zeros((2, 3)))),
    (lambda: SparseCategoricalCrossentropy(), (np.ones((2, 3)), np.array([0, 2]))),
    (lambda: SparseCategoricalCrossentropy(from_logits=False), (np.full((2, 3), 0.3), np.array([0, 2]))),
    (lambda: GaussianKL(), (np.ones((2, 3)), np.ones((2, 3)))),
])
def test_float32_in_float32_out(make, args):
    loss = make()
    first = args[0].astype(np.float32)
    second = args[1].astype(np.float32) if args[1].dtype.kind == "f" else args[1]
    value = loss.forward(first, second)
    assert type(value) is float
    grads = loss.backward(2.0)
    for g in grads if isinstance(grads, tuple) else (grads,):
        assert g.dtype == np.float32 and g.shape == first.shape


def test_integer_hard_targets_are_accepted():
    loss = BinaryCrossentropy(from_logits=True)
    z = np.array([[0.0], [0.0]], dtype=np.float32)
    assert loss(z, np.array([[1], [0]])) == pytest.approx(np.log(2))


# --------------------------------------------------------------------- errors
def test_bad_inputs_raise_naming_the_class():
    bce = BinaryCrossentropy()
    with pytest.raises(ValueError, match=r"BinaryCrossentropy.*\(4,\).*\(4, 1\)"):
        bce(np.full((4, 1), 0.5), np.ones(4))  # would silently broadcast to (4, 4)
    with pytest.raises(TypeError, match="BinaryCrossentropy.*float"):
        bce(np.ones((2, 2), dtype=int), np.ones((2, 2)))
    with pytest.raises(TypeError, match="BinaryCrossentropy.*ndarray"):
        bce([[0.5]], np.ones((1, 1)))
    with pytest.raises(ValueError, match="BinaryCrossentropy.*NaN"):
        bce(np.array([[np.nan]]), np.ones((1, 1)))
    with pytest.raises(ValueError, match="BinaryCrossentropy.*NaN"):
        bce(np.array([[0.5]]), np.array([[np.nan]]))
    with pytest.raises(ValueError, match="BinaryCrossentropy.*from_logits"):
        bce(np.array([[2.5]]), np.ones((1, 1)))  # logits passed as probabilities
    with pytest.raises(ValueError, match=r"BinaryCrossentropy.*\[0, 1\]"):
        bce(np.array([[0.5]]), np.array([[2.0]]))
    with pytest.raises(ValueError, match="BinaryCrossentropy.*reduction"):
        BinaryCrossentropy(reduction="sum")
    with pytest.raises(ValueError, match="MeanSquaredError.*before forward"):
        MeanSquaredError().backward()
    with pytest.raises(ValueError, match="MeanSquaredError.*shape"):
        MeanSquaredError()(np.ones((2, 3)), np.ones((3, 2)))

    scce = SparseCategoricalCrossentropy()
    with pytest.raises(ValueError, match=r"SparseCategoricalCrossentropy.*\[0, 3\)"):
        scce(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"SparseCategoricalCrossentropy.*\[0, 3\)"):
        scce(np.zeros((2, 3)), np.array([-1, 0]))
    with pytest.raises(TypeError, match="SparseCategoricalCrossentropy.*integer"):
        scce(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"SparseCategoricalCrossentropy.*\(2,\)"):
        scce(np.zeros((2, 3)), np.array([[0], [1]]))
    with pytest.raises(ValueError, match=r"SparseCategoricalCrossentropy.*\(N, K\)"):
        scce(np.zeros((2, 3, 1)), np.array([0, 1]))

    kl = GaussianKL()
    with pytest.raises(ValueError, match="GaussianKL.*same shape"):
        kl(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(TypeError, match="GaussianKL.*logvar"):
        kl(np.zeros((2, 3)), np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="GaussianKL.*reduction"):
        GaussianKL(reduction="sum")
