"""``input_gradient`` and ``param_gradients``: each half of a backward, alone.

``input_gradient(dy)`` is dL/dx with the grads left as they were (a GAN's
generator step backpropagates through D without updating it);
``param_gradients(dy)`` assigns the grads and returns no dL/dx (D's step on
data and detached fakes). Each must change nothing but the work done: its
half is bit-identical to a full backward's, the other half is untouched,
and whole GAN runs give bit-identical parameters whether the fast halves run
or full backwards do.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aigc_np.layers import backend
from aigc_np.layers import Conv2D, Conv2DTranspose, Dense, Flatten, LeakyReLU, Sequential, base
from aigc_np.layers.conv import _ConvBase
from aigc_np.models.conditional import ConditionalGAN
from aigc_np.models.dcgan import DCGAN
from aigc_np.models.gan import GAN, mlp_discriminator, mlp_generator
from aigc_np.models.wgan_gp import WGANGP, mlp_critic
from test_every_layer import LAYERS


def _has_params(cls) -> bool:
    layer, _ = cls.example(np.random.default_rng(0))
    return bool(layer.params)


PARAM_LAYERS = [cls for cls in LAYERS if _has_params(cls)]


def _check_halves(layer, x, rng):
    """A full backward, then each half alone (backward is a pure function of the forward's
    cache): input_gradient's dx equal bit for bit, grads untouched; param_gradients' grads
    equal bit for bit, None returned."""
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape).astype(y.dtype)
    dx_full = layer.backward(dy)
    full = {k: g.copy() for k, g in layer.grads.items()}
    for g in layer.grads.values():
        g[...] = 7.0                                          # so an overwrite would show
    before = {k: (g, g.copy()) for k, g in layer.grads.items()}
    dx = layer.input_gradient(dy)
    assert dx.dtype == dx_full.dtype and np.array_equal(dx, dx_full)
    for k, g in layer.grads.items():
        assert g is before[k][0] and np.array_equal(g, before[k][1]), f"{layer.name}: grad {k} changed"
    assert layer.param_gradients(dy) is None
    for k, g in layer.grads.items():
        assert np.array_equal(g, full[k]), f"{layer.name}: grad {k} differs from backward's"


@pytest.mark.parametrize("cls", PARAM_LAYERS, ids=[cls.__name__ for cls in PARAM_LAYERS])
def test_each_half_equals_backward_bit_for_bit_and_leaves_the_other_alone(cls):
    rng = np.random.default_rng(0)
    for mode in ("train", "eval"):
        layer, x = cls.example(rng)
        getattr(layer, mode)()
        _check_halves(layer, x, rng)


@pytest.mark.parametrize("kind", ["dense", "conv", "conv_transpose"])
@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 4), c=st.integers(1, 3), f=st.integers(1, 3), size=st.integers(3, 7),
       k=st.integers(1, 4), s=st.integers(1, 2), padding=st.sampled_from(["same", "valid"]),
       seed=st.integers(0, 2**16))
def test_drawn_shapes(kind, n, c, f, size, k, s, padding, seed):
    rng = np.random.default_rng(seed)
    if kind == "dense":
        layer, shape = Dense(f), (size, c)
    else:
        layer = (Conv2D if kind == "conv" else Conv2DTranspose)(f, min(k, size), strides=s, padding=padding)
        shape = (c, size, size)
    layer.build(shape, rng, np.float64)
    _check_halves(layer, rng.standard_normal((n,) + shape), rng)


def test_a_stack_passes_each_half_to_its_layers_nested_ones_too(monkeypatch):
    """Sequential.input_gradient runs every layer's input_gradient (so each Dense's fast
    half), and Sequential.param_gradients runs the first layer's param_gradients (a
    nested stack: its first layer's), the others' full backward."""
    rng = np.random.default_rng(0)
    first, last = Dense(6, name="first"), Dense(1, name="last")
    net = Sequential([Sequential([first, LeakyReLU(0.2)]), last], input_shape=(5,), rng=rng, dtype=np.float64)
    net.forward(rng.standard_normal((4, 5)))
    calls = []
    for name in ("fast_input_gradient", "fast_param_gradients", "backward"):
        real = getattr(Dense, name)
        monkeypatch.setattr(Dense, name, lambda self, dy, real=real, name=name:
                            calls.append((name, self.name)) or real(self, dy))
    net.input_gradient(np.ones((4, 1)))
    assert calls == [("fast_input_gradient", "last"), ("fast_input_gradient", "first")]
    calls.clear()
    net.param_gradients(np.ones((4, 1)))
    assert calls == [("backward", "last"), ("fast_param_gradients", "first")]


def test_a_stack_skips_the_parameter_free_layers_before_its_first_learning_one(monkeypatch):
    """A classifier or a VAE encoder starts with Flatten: param_gradients gives its first Dense
    the param_gradients and runs nothing before it; the grads equal backward's bit for bit."""
    rng = np.random.default_rng(2)
    net = Sequential([Flatten(), Dense(4), LeakyReLU(0.2), Dense(2)], input_shape=(3, 2), rng=rng, dtype=np.float64)
    x, dy = rng.standard_normal((5, 3, 2)), rng.standard_normal((5, 2))
    net.forward(x)
    net.backward(dy)
    full = {k: g.copy() for k, g in net.grads.items()}
    ran = []
    monkeypatch.setattr(Flatten, "backward", lambda self, d: ran.append("flatten") or d)
    assert net.param_gradients(dy) is None and ran == []
    assert net.grads.keys() == full.keys()
    for k, g in net.grads.items():
        assert np.array_equal(g, full[k]), k
    empty = Sequential([Flatten(), LeakyReLU(0.2)], input_shape=(3, 2), rng=rng, dtype=np.float64)
    empty.forward(x)
    assert empty.param_gradients(rng.standard_normal((5, 6))) is None and ran == []


def test_the_fast_halves_run_only_when_the_fast_paths_are_on(monkeypatch):
    rng = np.random.default_rng(1)
    layer = Dense(3)
    layer.build((2,), rng, np.float64)
    layer.forward(rng.standard_normal((4, 2)))
    ran = []
    monkeypatch.setattr(Dense, "fast_input_gradient", lambda self, dy: ran.append("input") or dy @ self.params["W"].T)
    monkeypatch.setattr(Dense, "fast_param_gradients", lambda self, dy: ran.append("params"))
    layer.input_gradient(np.ones((4, 3)))
    layer.param_gradients(np.ones((4, 3)))
    assert ran == ["input", "params"]
    with backend.reference():
        layer.input_gradient(np.ones((4, 3)))
        layer.param_gradients(np.ones((4, 3)))
    assert ran == ["input", "params"]


def test_the_default_input_gradient_keeps_the_grads_of_any_layer():
    class Scale(base.Layer):  # a layer (or a student's) with no fast half: backward assigns grads
        def _build(self, input_shape, rng):
            self.params["w"] = np.ones(input_shape)

        def forward(self, x):
            self._cache = x
            return self._remember_output(x * self.params["w"])

        def backward(self, dy):
            self._check_grad(dy)
            self.grads["w"] = np.sum(dy * self._cache, axis=0)
            return dy * self.params["w"]

    layer = Scale()
    layer.build((3,), None, np.float64)
    layer.forward(np.arange(6.0).reshape(2, 3))
    real = layer.grads["w"]
    dx = layer.input_gradient(np.ones((2, 3)))
    assert np.array_equal(dx, np.ones((2, 3))) and layer.grads["w"] is real and not real.any()
    assert layer.param_gradients(np.ones((2, 3))) is None and np.array_equal(layer.grads["w"], [3.0, 5.0, 7.0])


# ------------------------------------------------------------- whole runs
def _mlp_gan(seed, **options):
    rng = np.random.default_rng(seed)
    dropout = 0.0 if options.get("r1_weight") else 0.2
    return GAN(mlp_generator(4, hidden=(8, 16), out_dim=12, rng=rng),
               mlp_discriminator(hidden=(16, 8), in_dim=12, dropout=dropout, rng=rng),
               latent_dim=4, rng=rng, **options)


def _wgan(seed):
    rng = np.random.default_rng(seed)
    return WGANGP(mlp_generator(4, hidden=(8, 16), out_dim=12, rng=rng),
                  mlp_critic(hidden=(16, 8), in_dim=12, rng=rng), latent_dim=4, rng=rng, n_critic=2)


def _cgan(seed):
    rng = np.random.default_rng(seed)
    return ConditionalGAN(mlp_generator(4 + 3, hidden=(8, 16), out_dim=12, rng=rng),
                          mlp_discriminator(hidden=(16, 8), in_dim=12 + 3, dropout=0.2, rng=rng),
                          latent_dim=4, n_classes=3, rng=rng, mismatch=True)


RUNS = {
    "mlp_gan": (lambda seed: _mlp_gan(seed), (12,)),
    "mlp_gan_r1": (lambda seed: _mlp_gan(seed, r1_weight=1.0, r1_every=2), (12,)),
    "dcgan": (lambda seed: DCGAN(latent_dim=8, width=1 / 16, rng=np.random.default_rng(seed)), (1, 28, 28)),
    "dcgan_r1": (lambda seed: DCGAN(latent_dim=8, width=1 / 16, dropout=0.0, r1_weight=1.0,
                                    rng=np.random.default_rng(seed)), (1, 28, 28)),
    "wgan_gp": (_wgan, (12,)),
    "cgan": (_cgan, (12,)),
}


def _train(name, halves: bool, monkeypatch, steps: int = 30):
    make, shape = RUNS[name]
    with monkeypatch.context() as patch:
        if not halves:                   # every input_gradient / param_gradients a full backward
            for cls in (Dense, _ConvBase):
                patch.setattr(cls, "fast_input_gradient", None)
            patch.setattr(Dense, "fast_param_gradients", None)
        model = make(3)
        data = np.tanh(np.random.default_rng(1).standard_normal((4, 8) + shape)).astype(np.float32)
        labels = np.arange(8) % 3
        for step in range(steps):
            if name == "cgan":
                model.train_step(data[step % 4], labels)
            else:
                model.train_step(data[step % 4])
    return model


@pytest.mark.parametrize("name", list(RUNS))
def test_a_training_run_is_bit_identical_with_and_without_the_fast_halves(name, monkeypatch):
    full, halves = _train(name, False, monkeypatch), _train(name, True, monkeypatch)
    for attribute in ("params", "buffers"):
        a, b = getattr(full, attribute), getattr(halves, attribute)
        assert a.keys() == b.keys() and a
        for k in a:
            assert np.array_equal(a[k], b[k]), f"{name}: {attribute} {k} differ after 30 steps"
    for opt in ("opt_g", "opt_d"):
        a, b = getattr(full, opt).state_dict(), getattr(halves, opt).state_dict()
        assert all(np.array_equal(a[k], b[k]) for k in a)
