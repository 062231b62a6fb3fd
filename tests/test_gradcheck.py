"""The checker itself: it must accept right gradients and reject wrong ones."""
import numpy as np
import pytest

from aigc_np.gradcheck import check_layer, numerical_gradient, rel_error
from aigc_np.layers import Dense, Tanh


def test_rel_error_definition():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    assert rel_error(np.array([0.0]), np.array([1e-12])) == pytest.approx(1e-4)  # floor 1e-8
    with pytest.raises(ValueError, match="shapes differ"):
        rel_error(np.zeros(2), np.zeros(3))


def test_numerical_gradient_of_known_functions():
    x = np.array([[0.5, -1.0], [2.0, 3.0]])
    g = numerical_gradient(lambda: np.sum(x ** 3), x)
    assert rel_error(3 * x ** 2, g) < 1e-9
    df = np.array([[1.0, -2.0], [0.5, 4.0]])
    g = numerical_gradient(lambda: np.sin(x), x, df)
    assert rel_error(np.cos(x) * df, g) < 1e-9
    np.testing.assert_array_equal(x, [[0.5, -1.0], [2.0, 3.0]])  # restored


def test_numerical_gradient_refuses_float32():
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda: 0.0, np.zeros(2, dtype=np.float32))


class WrongTanh(Tanh):
    """A plausible bug: derivative 1 - y instead of 1 - y^2."""

    def backward(self, dy):
        return dy * (1 - self._cache)


class WrongDense(Dense):
    """A subtle bug: dW off by 1%."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["W"] = self.grads["W"] * 1.01  # 1% off: still must be caught
        return dx


def test_check_layer_catches_wrong_input_gradient():
    x = np.random.default_rng(0).standard_normal((3, 4))
    assert check_layer(WrongTanh(), x)["x"] > 1e-2


def test_check_layer_catches_wrong_parameter_gradient():
    layer = WrongDense(3)
    layer.build((4,), np.random.default_rng(0), np.float64)
    errors = check_layer(layer, np.random.default_rng(1).standard_normal((2, 4)))
    assert errors["x"] < 1e-6 and errors["W"] > 1e-3
    without_x = check_layer(layer, np.random.default_rng(1).standard_normal((2, 4)), check_x=False)
    assert "x" not in without_x and without_x["W"] > 1e-3 and set(without_x) == set(layer.params)


def test_check_layer_requires_float64():
    layer = Dense(2)
    layer.build((3,), np.random.default_rng(0), np.float32)
    with pytest.raises(TypeError, match="float64"):
        check_layer(layer, np.ones((2, 3)))


def test_smooth_numerical_gradient_is_fourth_order_and_steps_around_kinks():
    from aigc_np.gradcheck import kink_branches, smooth_numerical_gradient
    from aigc_np.layers import ReLU, Sequential

    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.5, size=(3, 4))
    df = rng.standard_normal((3, 4))
    # x^5: the plain centred difference at h = 1e-2 is off by O(h^2), the fourth-order one by O(h^4).
    exact = 5 * x ** 4 * df
    fourth = smooth_numerical_gradient(lambda: x ** 5, x, df=df, h=1e-2)
    assert np.max(np.abs(fourth - exact)) < 1e-6 < np.max(np.abs(numerical_gradient(lambda: x ** 5, x, df, h=1e-2) - exact))
    # A ReLU input 1e-5 from its kink: h = 1e-4 would straddle it; the branch check halves h until it does not.
    net = Sequential([ReLU()], input_shape=(2,), dtype=np.float64)
    z = np.array([[1e-5, -0.3]])
    g = smooth_numerical_gradient(lambda: net.forward(z), z, df=np.ones((1, 2)), branches=lambda: kink_branches(net))
    np.testing.assert_allclose(g, [[1.0, 0.0]], atol=1e-9)
    assert len(kink_branches(net)) == 1
