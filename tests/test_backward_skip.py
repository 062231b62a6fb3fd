"""``input_grad_only``: a backward that computes dL/dx and skips the weight gradients.

The skip must change nothing but the work done: the input gradient is
bit-identical, the skipped grads keep their values and are marked stale (an
optimizer refuses them), and whole GAN runs give bit-identical parameters
with the skip on and off (``SKIP_PARAM_GRADS = False`` is the old code path).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aigc_np.layers import Conv2D, Conv2DTranspose, Dense, base
from aigc_np.models.conditional import ConditionalGAN
from aigc_np.models.dcgan import DCGAN
from aigc_np.models.gan import GAN, mlp_discriminator, mlp_generator
from aigc_np.models.wgan_gp import WGANGP, mlp_critic
from aigc_np.optimizers import Adam
from test_every_layer import LAYERS


def _has_params(cls) -> bool:
    layer, _ = cls.example(np.random.default_rng(0))
    return bool(layer.params)


PARAM_LAYERS = [cls for cls in LAYERS if _has_params(cls)]


def _check_skip(layer, x, rng):
    """Full backward, then the same backward inside input_grad_only (backward is a pure
    function of the forward's cache): dx equal bit for bit, grads untouched and stale."""
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape).astype(y.dtype)
    dx_full = layer.backward(dy)
    assert layer.stale_layers() == []
    before = {k: (g, g.copy()) for k, g in layer.grads.items()}
    with layer.input_grad_only():
        dx_skip = layer.backward(dy)
    assert layer.param_grads  # restored on leaving the block
    if dx_full is None:
        assert dx_skip is None
    else:
        assert dx_skip.dtype == dx_full.dtype and np.array_equal(dx_skip, dx_full)
    for k, g in layer.grads.items():
        assert g is before[k][0] and np.array_equal(g, before[k][1]), f"{layer.name}: grad {k} changed"
    assert layer.stale_layers()
    with pytest.raises(ValueError, match="stale.*input_grad_only"):
        Adam(layer).step()
    layer.backward(dy)  # a full backward makes the grads current again
    assert layer.stale_layers() == []
    Adam(layer).step()


@pytest.mark.parametrize("cls", PARAM_LAYERS, ids=[cls.__name__ for cls in PARAM_LAYERS])
def test_input_gradient_is_bit_identical_and_skipped_grads_are_untouched_and_stale(cls):
    rng = np.random.default_rng(0)
    for mode in ("train", "eval"):
        layer, x = cls.example(rng)
        getattr(layer, mode)()
        _check_skip(layer, x, rng)


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
    _check_skip(layer, rng.standard_normal((n,) + shape), rng)


def test_the_flag_reaches_nested_layers_and_the_switch_turns_it_off(monkeypatch):
    gan = _mlp_gan(0)
    with gan.D.input_grad_only():
        assert not any(layer.param_grads for layer in gan.D.layers) and gan.G.layers[0].param_grads
    assert all(layer.param_grads for layer in gan.D.layers)
    with gan.input_grad_only():   # a Model: every part
        assert not gan.G.layers[0].param_grads and not gan.D.layers[0].param_grads
    monkeypatch.setattr(base, "SKIP_PARAM_GRADS", False)
    with gan.D.input_grad_only():
        assert all(layer.param_grads for layer in gan.D.layers)


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


def _train(name, skip: bool, monkeypatch, steps: int = 30):
    make, shape = RUNS[name]
    monkeypatch.setattr(base, "SKIP_PARAM_GRADS", skip)
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
def test_a_training_run_is_bit_identical_with_and_without_the_skip(name, monkeypatch):
    old, new = _train(name, False, monkeypatch), _train(name, True, monkeypatch)
    for attribute in ("params", "buffers"):
        a, b = getattr(old, attribute), getattr(new, attribute)
        assert a.keys() == b.keys() and a
        for k in a:
            assert np.array_equal(a[k], b[k]), f"{name}: {attribute} {k} differ after 30 steps"
    for opt in ("opt_g", "opt_d"):
        a, b = getattr(old, opt).state_dict(), getattr(new, opt).state_dict()
        assert all(np.array_equal(a[k], b[k]) for k in a)
    # The skipped path left D's grads stale: stepping D on them is refused ...
    assert new.D.stale_layers() and not old.D.stale_layers()
    with pytest.raises(ValueError, match="stale"):
        new.opt_d.step()
    # ... and the next round's D step computes them in full again (its opt_d.step would raise).
    if name == "cgan":
        new.train_step(np.zeros((8,) + RUNS[name][1], np.float32), np.arange(8) % 3)
    else:
        new.train_step(np.zeros((8,) + RUNS[name][1], np.float32))


def test_a_backward_that_ignores_the_flag_still_leaves_the_real_grads_untouched():
    class Scale(base.Layer):  # a layer (or a student's backward) that never reads param_grads
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
    x = np.arange(6.0).reshape(2, 3)
    layer.forward(x)
    real = layer.grads["w"]
    with layer.input_grad_only():
        dx = layer.backward(np.ones((2, 3)))
    assert np.array_equal(dx, np.ones((2, 3))) and layer.grads["w"] is real and not real.any()
    assert layer.stale_layers() == ["Scale"]


# ------------------------------------------------ no input gradient at all
@pytest.mark.parametrize("first", ["dense", "nested"])
def test_backward_without_input_grad_assigns_the_same_grads_and_returns_none(first):
    """Sequential.backward(dy, input_grad=False): D's step on data and detached fakes needs
    D's weight gradients but not dL/dx, so the first Dense skips dY W^T. Every grad is
    bit-identical to a full backward's, and the flag is restored afterwards."""
    from aigc_np.layers import LeakyReLU, Sequential
    rng = np.random.default_rng(0)
    inner = [Dense(6), LeakyReLU(0.2)]
    layers = [Sequential(inner), Dense(1)] if first == "nested" else inner + [Dense(1)]
    net = Sequential(layers, input_shape=(5,), rng=rng, dtype=np.float64)
    x = rng.standard_normal((4, 5))
    dy = rng.standard_normal((4, 1))
    net.forward(x)
    dx = net.backward(dy)
    full = {k: g.copy() for k, g in net.grads.items()}
    assert dx is not None and net.backward(dy, input_grad=False) is None
    for k, g in net.grads.items():
        assert np.array_equal(g, full[k]), k
    assert all(layer.input_grad for layer in [net, *net.sublayers()])
    assert np.array_equal(net.backward(dy), dx)


def test_without_the_skip_switch_backward_still_returns_none_but_computes_dx(monkeypatch):
    from aigc_np.layers import Sequential
    rng = np.random.default_rng(1)
    net = Sequential([Dense(3)], input_shape=(2,), rng=rng, dtype=np.float64)
    net.forward(rng.standard_normal((2, 2)))
    monkeypatch.setattr(base, "SKIP_PARAM_GRADS", False)
    calls = []
    real = Dense.backward
    monkeypatch.setattr(Dense, "backward", lambda self, dy: calls.append(self.input_grad) or real(self, dy))
    assert net.backward(np.ones((2, 3)), input_grad=False) is None and calls == [True]
