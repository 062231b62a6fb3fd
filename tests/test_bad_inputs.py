"""Bad constructor arguments and empty batches: clear errors naming the layer or loss."""
import numpy as np
import pytest

from aigc_np.layers import BatchNormalization, Dense
from aigc_np.losses import BinaryCrossentropy, GaussianKL, MeanSquaredError, SparseCategoricalCrossentropy


@pytest.mark.parametrize("units, error, message", [
    (2.7, TypeError, r"Dense: expected units as a positive int, got 2.7 \(float\)"),
    (None, TypeError, r"Dense: expected units as a positive int, got None \(NoneType\)"),
    (True, TypeError, r"Dense: expected units as a positive int, got True \(bool\)"),
    ("3", TypeError, r"Dense: expected units as a positive int, got '3' \(str\)"),
    (0, ValueError, r"Dense: expected units >= 1, got 0"),
    (-4, ValueError, r"Dense: expected units >= 1, got -4"),
])
def test_dense_refuses_bad_units(units, error, message):
    with pytest.raises(error, match=message):
        Dense(units)


def test_dense_accepts_numpy_integer_units():
    assert Dense(np.int64(3)).units == 3


@pytest.mark.parametrize("shape", [(0,), (-2,), (3, 0)])
def test_dense_refuses_empty_feature_sizes_at_build(shape):
    with pytest.raises(ValueError, match=rf"Dense: expected every input size >= 1, got input shape \({shape[0]}"):
        Dense(2).build(shape, np.random.default_rng(0))


@pytest.mark.parametrize("shape", [(0,), (-3,), (0, 4, 4), (2, 0, 4)])
def test_batchnorm_refuses_empty_feature_sizes_at_build(shape):
    with pytest.raises(ValueError, match=r"BatchNormalization: expected every input size >= 1, got input shape"):
        BatchNormalization().build(shape)


@pytest.mark.parametrize("epsilon", [float("nan"), float("inf"), 0.0, -1e-3])
def test_batchnorm_refuses_bad_epsilon(epsilon):
    with pytest.raises(ValueError, match=rf"BatchNormalization: expected epsilon finite and > 0, got {epsilon}"):
        BatchNormalization(epsilon=epsilon)


@pytest.mark.parametrize("epsilon", [None, "small"])
def test_batchnorm_refuses_non_numeric_epsilon_and_momentum(epsilon):
    with pytest.raises(TypeError, match=r"BatchNormalization: expected epsilon as a number"):
        BatchNormalization(epsilon=epsilon)
    with pytest.raises(TypeError, match=r"BatchNormalization: expected momentum as a number"):
        BatchNormalization(momentum=epsilon)


@pytest.mark.parametrize("loss, args", [
    (BinaryCrossentropy(), (np.zeros((0, 4)), np.zeros((0, 4)))),
    (BinaryCrossentropy(from_logits=True, reduction="batch"), (np.zeros((0, 784)), np.zeros((0, 784)))),
    (MeanSquaredError(), (np.zeros((0, 3)), np.zeros((0, 3)))),
    (MeanSquaredError(), (np.zeros((4, 0)), np.zeros((4, 0)))),
    (SparseCategoricalCrossentropy(), (np.zeros((0, 10)), np.zeros(0, dtype=np.int64))),
    (GaussianKL(), (np.zeros((0, 2)), np.zeros((0, 2)))),
], ids=["bce", "bce-logits", "mse", "mse-no-features", "sparse-cce", "kl"])
def test_losses_refuse_an_empty_batch(loss, args):
    with np.errstate(all="raise"):  # no NaN from 0 / 0 may slip through either
        expected = rf"{loss.name}: expected a non-empty .*, got shape \({args[0].shape[0]}, "
        with pytest.raises(ValueError, match=expected):
            loss.forward(*args)
