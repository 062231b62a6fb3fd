"""Tests for the DCGAN: both players' gradients, the article's architecture, training.

* Gradients: at a tiny width (G channels 4, 2, 1; D channels 1, 2), float64,
  the analytic gradients of L_D (w.r.t. every D parameter, Dropout masks
  replayed) and of L_G (w.r.t. every G parameter, *through* D, BatchNorm in
  train mode) must match numerical ones to a relative error <= 1e-6, element
  by element, over every element of every tensor.
* Architecture: at width=1 the networks are the article's Keras models, with
  the same layer shapes and the same parameter counts, computed by hand below.
* Width scales the channels; float32 stays float32; a train step moves both
  players and is reproducible by seed.
"""
import numpy as np
import pytest

from aigc_np.gradcheck import numerical_gradient, rel_error, rng_replayer, smooth_numerical_gradient
from aigc_np.layers import (BatchNormalization, Conv2D, Conv2DTranspose, Dense, Dropout, Flatten, LeakyReLU,
                            Reshape, Tanh)
from aigc_np.models.dcgan import DCGAN, dcgan_discriminator, dcgan_generator

TOL = 1e-6
# Tiny sizes: the numerical gradient costs 4 loss evaluations per parameter
# element (~1,300 elements in G). Batch 4, not 2: with N examples the
# gradient that BatchNorm passes back to the first Dense layer lies in an
# (N - 2)-dimensional subspace, so with N = 2 it would be ~0 and the check of
# that layer vacuous.
SEED, BATCH, LATENT, WIDTH = 0, 4, 3, 1 / 64


def tiny_dcgan(seed=SEED, **options):
    return DCGAN(latent_dim=LATENT, width=WIDTH, rng=np.random.default_rng(seed), dtype=np.float64, **options)


def leaky_relu_branches(model) -> list:
    """Which side of 0 every LeakyReLU input was on in the last forward pass
    (LeakyReLU caches exactly this mask, x > 0, for its backward pass)."""
    return [layer._cache.copy() for net in (model.G, model.D) for layer in net.layers
            if isinstance(layer, LeakyReLU)]


def gradient_errors(model, loss, net, names=None, smooth=True):
    """{param: (analytic gradient, max relative error)} of ``loss()`` w.r.t. ``net``'s parameters.

    Every evaluation first rewinds the Dropout generators, so the analytic
    pass and all numerical ones use the same masks. ``smooth=False`` uses
    plain central differences instead of the fourth-order rule.
    """
    rewind = rng_replayer(model)

    def f():
        rewind()
        return loss()  # also fills net.grads: wasted work, but it is *the* model's loss

    f()
    analytic = {name: g.copy() for name, g in net.grads.items()}
    names = list(net.params) if names is None else names
    def numerical(p):
        if not smooth:
            return numerical_gradient(f, p)
        return smooth_numerical_gradient(f, p, branches=lambda: leaky_relu_branches(model))

    return {name: (analytic[name], rel_error(analytic[name], numerical(net.params[name]))) for name in names}


def assert_all_match(results, expected_names):
    assert sorted(results) == sorted(expected_names)
    for name, (analytic, error) in results.items():
        assert np.any(analytic != 0), f"{name}: gradient is identically zero"
        assert error <= TOL, f"{name}: max relative error {error:.2e} > {TOL}"


# ---------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------
def test_tiny_model_has_the_intended_channels():
    model = tiny_dcgan()
    assert model.G.layers[3].output_shape == (4, 7, 7)  # Reshape(256/64, 7, 7)
    assert [model.G.layers[i].output_shape for i in (4, 7, 10)] == [(2, 7, 7), (1, 14, 14), (1, 28, 28)]
    assert [model.D.layers[i].output_shape for i in (0, 3)] == [(1, 14, 14), (2, 7, 7)]
    assert model.G.dtype == model.D.dtype == np.float64


def test_dropout_is_active_so_masks_must_be_replayed():
    model = tiny_dcgan()
    rng = np.random.default_rng(1)
    x, z = rng.uniform(-1, 1, (BATCH, 1, 28, 28)), rng.standard_normal((BATCH, LATENT))
    rewind = rng_replayer(model)
    rewind()
    first = model.discriminator_loss(x, z)
    assert model.discriminator_loss(x, z) != first  # new masks, new loss
    rewind()
    assert model.discriminator_loss(x, z) == first  # replayed masks, same loss


def test_discriminator_loss_gradient_wrt_every_d_parameter():
    model = tiny_dcgan()
    rng = np.random.default_rng(SEED + 100)
    x = rng.uniform(-1, 1, (BATCH, 1, 28, 28))
    z = rng.standard_normal((BATCH, LATENT))
    results = gradient_errors(model, lambda: model.discriminator_loss(x, z), model.D)
    assert_all_match(results, ["0.W", "0.b", "3.W", "3.b", "7.W", "7.b"])


def test_r1_gradient_through_the_convolutional_discriminator():
    """L_D + R1 differentiates D's input gradient through Conv2D's double backward.

    Plain central differences here: R1 contains LeakyReLU's slope, a step, and
    the fourth-order rule's +-2h points cross one of its steps on this data.
    """
    model = tiny_dcgan(dropout=0.0, r1_weight=2.0)
    rng = np.random.default_rng(SEED + 101)
    x = rng.uniform(-1, 1, (BATCH, 1, 28, 28))
    z = rng.standard_normal((BATCH, LATENT))
    plain = tiny_dcgan(dropout=0.0)
    plain.discriminator_loss(x, z)
    results = gradient_errors(model, lambda: model.discriminator_loss(x, z), model.D, smooth=False)
    assert_all_match(results, ["0.W", "0.b", "2.W", "2.b", "5.W", "5.b"])
    assert any(not np.allclose(results[k][0], plain.D.grads[k]) for k in results)  # R1 is in there


def test_discriminator_loss_gradient_with_label_smoothing():
    model = tiny_dcgan(label_smoothing=0.1)
    rng = np.random.default_rng(SEED + 100)
    x = rng.uniform(-1, 1, (BATCH, 1, 28, 28))
    z = rng.standard_normal((BATCH, LATENT))
    # only the last layer: the targets enter the loss there, the rest is the chain rule above
    results = gradient_errors(model, lambda: model.discriminator_loss(x, z), model.D, names=["7.W", "7.b"])
    assert_all_match(results, ["7.W", "7.b"])


def test_generator_loss_gradient_wrt_every_g_parameter_through_d():
    model = tiny_dcgan()
    assert model.G.training and model.D.training  # BatchNorm uses batch statistics, Dropout is on
    z = np.random.default_rng(SEED + 100).standard_normal((BATCH, LATENT))
    results = gradient_errors(model, lambda: model.generator_loss(z), model.G)
    assert_all_match(results, ["0.W", "1.gamma", "1.beta", "4.W", "5.gamma", "5.beta",
                               "7.W", "8.gamma", "8.beta", "10.W"])


# ---------------------------------------------------------------------------
# The article's architecture at width=1
# ---------------------------------------------------------------------------
# Parameter counts of the article's Keras models, by hand. BatchNormalization
# has 4 numbers per feature: gamma and beta (trainable) and the moving mean
# and variance (non-trainable: aigc_np keeps those as *buffers*, not params).
G_DENSE = 100 * 7 * 7 * 256              # Dense(12544, use_bias=False)         1,254,400
G_BN0 = 2 * 12544                        # BN over 12,544 features: gamma, beta    25,088
G_CT1 = 5 * 5 * 256 * 128                # Conv2DTranspose(128, 5), no bias       819,200
G_BN1 = 2 * 128                          #                                            256
G_CT2 = 5 * 5 * 128 * 64                 # Conv2DTranspose(64, 5, 2), no bias     204,800
G_BN2 = 2 * 64                           #                                            128
G_CT3 = 5 * 5 * 64 * 1                   # Conv2DTranspose(1, 5, 2), no bias        1,600
G_TRAINABLE = G_DENSE + G_BN0 + G_CT1 + G_BN1 + G_CT2 + G_BN2 + G_CT3            # 2,305,472
G_BUFFERS = 2 * (12544 + 128 + 64)       # moving mean and variance                25,472
D_CONV1 = 5 * 5 * 1 * 64 + 64            # Conv2D(64, 5, 2) with bias               1,664
D_CONV2 = 5 * 5 * 64 * 128 + 128         # Conv2D(128, 5, 2) with bias            204,928
D_DENSE = 7 * 7 * 128 + 1                # Dense(1) on the 6,272 flattened features  6,273
D_TOTAL = D_CONV1 + D_CONV2 + D_DENSE                                            # 212,865


@pytest.fixture(scope="module")
def article_model():
    return DCGAN(latent_dim=100, width=1, rng=np.random.default_rng(0))


def test_article_parameter_counts(article_model):
    assert G_TRAINABLE == 2_305_472 and G_TRAINABLE + G_BUFFERS == 2_330_944  # Keras: "Total params: 2,330,944"
    assert D_TOTAL == 212_865                                                # Keras: "Total params: 212,865"
    G, D = article_model.G, article_model.D
    assert G.num_params() == G_TRAINABLE
    assert sum(b.size for b in G.buffers.values()) == G_BUFFERS
    assert D.num_params() == D_TOTAL
    assert not D.buffers
    assert [p.size for p in G.params.values()] == [G_DENSE, 12544, 12544, G_CT1, 128, 128, G_CT2, 64, 64, G_CT3]
    assert [p.size for p in D.params.values()] == [D_CONV1 - 64, 64, D_CONV2 - 128, 128, D_DENSE - 1, 1]


def test_article_generator_layers_and_shapes(article_model):
    G = article_model.G
    expected = [  # (type, per-example output shape), Keras's listing in NCHW
        (Dense, (12544,)), (BatchNormalization, (12544,)), (LeakyReLU, (12544,)),
        (Reshape, (256, 7, 7)),
        (Conv2DTranspose, (128, 7, 7)), (BatchNormalization, (128, 7, 7)), (LeakyReLU, (128, 7, 7)),
        (Conv2DTranspose, (64, 14, 14)), (BatchNormalization, (64, 14, 14)), (LeakyReLU, (64, 14, 14)),
        (Conv2DTranspose, (1, 28, 28)), (Tanh, (1, 28, 28)),
    ]
    assert [(type(layer), layer.output_shape) for layer in G.layers] == expected
    assert G.input_shape == (100,)
    dense, ct = G.layers[0], [G.layers[i] for i in (4, 7, 10)]
    assert not dense.use_bias and not any(c.use_bias for c in ct)
    assert [c.strides for c in ct] == [(1, 1), (2, 2), (2, 2)]
    assert all(c.kernel_size == (5, 5) and c.padding == "same" for c in ct)
    assert all(layer.alpha == 0.3 for layer in G.layers if isinstance(layer, LeakyReLU))  # Keras default
    assert all((layer.momentum, layer.epsilon) == (0.99, 1e-3)  # Keras defaults
               for layer in G.layers if isinstance(layer, BatchNormalization))
    z = np.random.default_rng(1).standard_normal((3, 100)).astype(np.float32)
    images = G.forward(z)
    assert images.shape == (3, 1, 28, 28) and images.dtype == np.float32
    assert np.all(np.abs(images) <= 1)


def test_article_discriminator_layers_and_shapes(article_model):
    D = article_model.D
    expected = [
        (Conv2D, (64, 14, 14)), (LeakyReLU, (64, 14, 14)), (Dropout, (64, 14, 14)),
        (Conv2D, (128, 7, 7)), (LeakyReLU, (128, 7, 7)), (Dropout, (128, 7, 7)),
        (Flatten, (6272,)), (Dense, (1,)),
    ]
    assert [(type(layer), layer.output_shape) for layer in D.layers] == expected
    assert D.input_shape == (1, 28, 28)
    convs = [D.layers[0], D.layers[3]]
    assert all(c.use_bias and c.strides == (2, 2) and c.kernel_size == (5, 5) and c.padding == "same"
               for c in convs)
    assert all(layer.rate == 0.3 for layer in D.layers if isinstance(layer, Dropout))
    assert all(layer.alpha == 0.3 for layer in D.layers if isinstance(layer, LeakyReLU))
    x = np.random.default_rng(2).uniform(-1, 1, (3, 1, 28, 28)).astype(np.float32)
    logits = D.forward(x)
    assert logits.shape == (3, 1) and logits.dtype == np.float32


# ---------------------------------------------------------------------------
# Width, dtype, options
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("width, g_channels, d_channels", [
    (1, (256, 128, 64), (64, 128)),
    (0.5, (128, 64, 32), (32, 64)),
    (0.25, (64, 32, 16), (16, 32)),
    (1 / 64, (4, 2, 1), (1, 2)),
    (1 / 1000, (1, 1, 1), (1, 1)),  # never fewer than one channel
])
def test_width_scales_the_channels(width, g_channels, d_channels):
    rng = np.random.default_rng(0)
    G = dcgan_generator(10, width, rng)
    D = dcgan_discriminator(width, rng)
    c1, c2, c3 = g_channels
    assert [G.layers[i].output_shape[0] for i in (3, 4, 7, 10)] == [c1, c2, c3, 1]
    assert G.layers[0].output_shape == (49 * c1,)
    assert [D.layers[i].output_shape[0] for i in (0, 3)] == list(d_channels)
    assert D.layers[6].output_shape == (49 * d_channels[1],)
    assert G.num_params() == 10 * 49 * c1 + 2 * 49 * c1 + 25 * c1 * c2 + 2 * c2 + 25 * c2 * c3 + 2 * c3 + 25 * c3
    e1, e2 = d_channels
    assert D.num_params() == 25 * e1 + e1 + 25 * e1 * e2 + e2 + 49 * e2 + 1


def test_d_width_option():
    model = DCGAN(10, 0.5, rng=np.random.default_rng(0), d_width=0.25)
    assert model.G.layers[3].output_shape == (128, 7, 7)
    assert [model.D.layers[i].output_shape[0] for i in (0, 3)] == [16, 32]
    assert (model.width, model.d_width) == (0.5, 0.25)
    assert DCGAN(10, 0.5, rng=np.random.default_rng(0)).d_width == 0.5


def test_alpha_and_dropout_options():
    rng = np.random.default_rng(0)
    G = dcgan_generator(10, 0.25, rng, alpha=0.2)
    D = dcgan_discriminator(0.25, rng, alpha=0.2, dropout=0.0)
    model = DCGAN(10, 0.25, rng=rng, alpha=0.2, dropout=0.1)
    for net in (G, D, model.G, model.D):
        assert all(layer.alpha == 0.2 for layer in net.layers if isinstance(layer, LeakyReLU))
    assert not any(isinstance(layer, Dropout) for layer in D.layers)  # rate 0: no layer at all
    assert [layer.rate for layer in model.D.layers if isinstance(layer, Dropout)] == [0.1, 0.1]


def test_float32_in_float32_out():
    model = DCGAN(latent_dim=8, width=1 / 16, rng=np.random.default_rng(0))
    z = model.sample_z(4)
    assert z.dtype == np.float32
    images = model.sample(z=z)
    assert images.shape == (4, 1, 28, 28) and images.dtype == np.float32
    assert model.D.forward(images).dtype == np.float32
    x = np.random.default_rng(1).uniform(-1, 1, (4, 1, 28, 28)).astype(np.float32)
    losses = model.train_step(x)
    assert all(np.isfinite(v) for v in losses.values())
    assert all(p.dtype == np.float32 for p in model.params.values())
    assert all(g.dtype == np.float32 for g in model.grads.values())
    assert all(b.dtype == np.float32 for b in model.buffers.values())


def test_gan_options_reach_the_game():
    model = DCGAN(latent_dim=8, width=1 / 16, rng=np.random.default_rng(0), lr=1e-4, beta1=0.6,
                  lr_d=3e-4, label_smoothing=0.1)
    assert (model.opt_g.lr, model.opt_d.lr, model.opt_g.beta1, model.opt_d.beta1) == (1e-4, 3e-4, 0.6, 0.6)
    assert model.label_smoothing == 0.1 and model.latent_dim == 8 and model.width == 1 / 16


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------
def _two_steps(seed):
    model = DCGAN(latent_dim=8, width=1 / 16, rng=np.random.default_rng(seed))
    x = np.random.default_rng(99).uniform(-1, 1, (6, 1, 28, 28)).astype(np.float32)
    before = {k: v.copy() for k, v in model.params.items()}
    losses = [model.train_step(x), model.train_step(x)]
    return model, before, losses


def test_train_step_moves_both_players():
    model, before, losses = _two_steps(0)
    assert set(losses[0]) == {"d_loss", "g_loss"}
    for part in ("generator", "discriminator"):
        names = [k for k in before if k.startswith(part + ".")]
        assert names
        assert all(not np.array_equal(before[k], model.params[k]) for k in names), part


def test_train_step_is_reproducible_by_seed():
    a, _, losses_a = _two_steps(0)
    b, _, losses_b = _two_steps(0)
    c, _, losses_c = _two_steps(1)
    assert losses_a == losses_b
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    for k in a.buffers:
        np.testing.assert_array_equal(a.buffers[k], b.buffers[k])
    assert losses_a != losses_c
