"""The GAN generator step on its own (Exercise 9), with test doubles that use no other exercise."""
import numpy as np

from aigc_np.gradcheck import numerical_gradient, rel_error
from aigc_np.layers import Layer, Sequential
from aigc_np.losses import MeanSquaredError
from aigc_np.models import GAN


class Affine(Layer):
    """y = x A + c, written here so this test needs no library backward pass."""

    def __init__(self, units):
        super().__init__()
        self.units = units

    def compute_output_shape(self, input_shape):
        return (self.units,)

    def _build(self, input_shape, rng):
        self.params["A"] = rng.standard_normal((input_shape[0], self.units))
        self.params["c"] = rng.standard_normal(self.units)

    def forward(self, x):
        self._cache = x
        return self._remember_output(np.tanh(x @ self.params["A"] + self.params["c"]))

    def backward(self, dy):
        inputs = self._cache
        dpre = dy * (1 - np.tanh(inputs @ self.params["A"] + self.params["c"]) ** 2)
        self.grads["A"] = inputs.T @ dpre
        self.grads["c"] = dpre.sum(axis=0)
        return dpre @ self.params["A"].T

    # keep the automatic every-layer check from collecting this test double
    __module__ = "tests.test_gan_step"


def test_generator_step_gradients_flow_through_d_into_g():
    rng = np.random.default_rng(0)
    g = Sequential([Affine(4)], input_shape=(3,), rng=rng, dtype=np.float64)
    d = Sequential([Affine(1)], input_shape=(4,), rng=rng, dtype=np.float64)
    gan = GAN(g, d, latent_dim=3, rng=rng)
    gan.bce = MeanSquaredError()  # a loss without an exercise region
    z = rng.standard_normal((5, 3))
    d_before = {k: v.copy() for k, v in d.params.items()}
    gan.generator_loss(z)
    analytic = {k: v.copy() for k, v in g.grads.items()}
    assert all(np.abs(v).max() > 1e-3 for v in analytic.values())
    for name, p in g.params.items():
        numeric = numerical_gradient(lambda: gan.generator_loss(z), p)
        assert rel_error(analytic[name], numeric) <= 1e-6, name
    for k, v in d.params.items():
        np.testing.assert_array_equal(v, d_before[k])
