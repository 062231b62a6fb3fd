"""The GAN game: both losses' gradients checked numerically in float64, the
losses against their formulas, which player each step updates, dtypes and
reproducibility; and the ring-of-Gaussians toy data with its mode coverage."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from aigc_np.gradcheck import rng_replayer, numerical_gradient, rel_error
from aigc_np.layers import LeakyReLU
from aigc_np.models import GAN, mlp_discriminator, mlp_generator
from aigc_np.course.toy import mode_coverage, ring_centres, ring_of_gaussians

TOL = 1e-6
seeds = st.integers(0, 2**32 - 1)


def tiny_gan(seed=0, latent=3, hidden_g=(5, 4), hidden_d=(5, 4), dim=6, dropout=0.3,
             label_smoothing=0.0, dtype=np.float64, **options):
    """An MLP GAN small enough for numerical gradients: G has BatchNorm (its
    second hidden layer), D has Dropout after each hidden layer."""
    rng = np.random.default_rng(seed)
    G = mlp_generator(latent, hidden_g, dim, rng=rng, dtype=dtype)
    D = mlp_discriminator(hidden_d, dim, dropout=dropout, rng=rng, dtype=dtype)
    for name, b in {**G.params, **D.params}.items():
        if name.endswith(".b"):  # biases start at 0: make them generic, so that no
            b[...] = 0.1 * rng.standard_normal(b.shape)  # pre-activation sits on LeakyReLU's kink
    return GAN(G, D, latent, rng=rng, label_smoothing=label_smoothing, **options)


def assert_gradient_matches(what, analytic, numerical):
    """Max relative error <= 1e-6 (gradcheck.rel_error), element by element.

    Central differences in float64 carry an absolute round-off of ~1e-11
    (one ulp of the loss divided by 2h). An element whose true gradient is
    itself tiny -- exactly 0 by structure, or ~1e-7 by chance among values
    ~1e-2 -- therefore cannot agree to 1e-6 *relative*; such elements must
    agree to 1e-10 *absolute* instead (a real bug is many orders larger).
    """
    err = rel_error(analytic, numerical)
    if err <= TOL:
        return
    diff = np.abs(analytic - numerical)
    bad = diff / np.maximum(1e-8, np.abs(analytic) + np.abs(numerical)) > TOL
    assert diff[bad].max() <= 1e-10, (f"{what}: relative error {err:.2e} "
                                      f"(absolute {diff[bad].max():.2e})")


def kink_margin(net, x):
    """(smallest |input| of any LeakyReLU in ``net`` on ``x``, net's output).

    A finite difference with step h straddles LeakyReLU's kink at 0 when an
    input is within ~h of it, and then measures neither slope; the gradient
    tests skip such (rare) examples.
    """
    margin = np.inf
    for layer in net.layers:
        if isinstance(layer, LeakyReLU):
            margin = min(margin, float(np.abs(x).min()))
        x = layer.forward(x)
    return margin, x


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def snapshot(arrays):
    return {k: v.copy() for k, v in arrays.items()}


def changed(before, after):
    """Names of the arrays that differ between two snapshots."""
    return {k for k in before if not np.array_equal(before[k], after[k])}


# ------------------------------------------------------- gradient checks
@given(n=st.integers(2, 5), dropout=st.sampled_from([0.0, 0.3, 0.5]),
       label_smoothing=st.floats(0.0, 0.45), seed=seeds)
def test_discriminator_loss_gradients(n, dropout, label_smoothing, seed):
    gan = tiny_gan(seed, dropout=dropout, label_smoothing=label_smoothing)
    data_rng = np.random.default_rng(seed + 1)
    x_real = np.tanh(data_rng.standard_normal((n, 6)))
    z = data_rng.standard_normal((n, 3))
    rewind = rng_replayer(gan.D)  # the same Dropout masks in every evaluation
    rewind()
    margin_g, fake = kink_margin(gan.G, z)
    margin_d, _ = kink_margin(gan.D, np.concatenate([x_real, fake]))
    assume(min(margin_g, margin_d) > 1e-4)

    rewind()
    gan.discriminator_loss(x_real, z)
    analytic = snapshot(gan.D.grads)

    def loss():  # the model's own L_D value
        rewind()
        return gan.discriminator_loss(x_real, z)

    for name, p in gan.D.params.items():
        assert_gradient_matches(f"dL_D/d{name}", analytic[name], numerical_gradient(loss, p))


# n >= 4: with 2 examples BatchNorm's output is +-1 whatever its input, and the
# layers below it get (almost) no gradient.
@given(n=st.integers(4, 8), latent=st.integers(1, 4), h1=st.integers(2, 6), h2=st.integers(2, 6),
       dim=st.integers(1, 6), dropout=st.sampled_from([0.0, 0.3]), seed=seeds)
def test_generator_loss_gradients_through_d(n, latent, h1, h2, dim, dropout, seed):
    gan = tiny_gan(seed, latent=latent, hidden_g=(h1, h2), dim=dim, dropout=dropout)
    assert any(type(layer).__name__ == "BatchNormalization" for layer in gan.G.layers)
    assert gan.G.training  # BatchNorm uses the batch statistics
    z = np.random.default_rng(seed + 1).standard_normal((n, latent))
    rewind = rng_replayer(gan.D)
    rewind()
    margin_g, fake = kink_margin(gan.G, z)
    margin_d, _ = kink_margin(gan.D, fake)
    assume(min(margin_g, margin_d) > 1e-4)

    rewind()
    gan.generator_loss(z)
    analytic = snapshot(gan.G.grads)
    norm = np.sqrt(sum(np.sum(g ** 2) for g in analytic.values()))
    assert norm > 1e-3, f"G's gradient is (almost) zero: norm {norm:.2e}"

    def loss():
        rewind()
        return gan.generator_loss(z)

    for name, p in gan.G.params.items():
        assert_gradient_matches(f"dL_G/d{name}", analytic[name], numerical_gradient(loss, p))


# ------------------------------------------------------- the losses' values
@given(n=st.integers(2, 6), seed=seeds)
def test_losses_equal_their_formulas(n, seed):
    gan = tiny_gan(seed, dropout=0.0)
    data_rng = np.random.default_rng(seed + 1)
    x_real, z = np.tanh(data_rng.standard_normal((n, 6))), data_rng.standard_normal((n, 3))
    a_real = gan.D.forward(x_real)[:, 0]
    a_fake = gan.D.forward(gan.G.forward(z))[:, 0]  # BN train mode: G(z) depends only on z

    # Non-saturating generator loss: -mean log D(G(z)).
    assert gan.generator_loss(z) == pytest.approx(-np.mean(np.log(sigmoid(a_fake))), rel=1e-12)
    # L_D = -[mean log D(x) + mean log(1 - D(G(z)))]
    expected = -(np.mean(np.log(sigmoid(a_real))) + np.mean(np.log(1.0 - sigmoid(a_fake))))
    assert gan.discriminator_loss(x_real, z) == pytest.approx(expected, rel=1e-12)

    # One-sided label smoothing s: real targets 1 - s, fake targets still 0.
    # With BCE-from-logits l(a, y) = softplus(a) - a y, only the real term moves,
    # by exactly s * mean(a_real).
    s = 0.2
    gan.label_smoothing = s
    smoothed = -(np.mean((1 - s) * np.log(sigmoid(a_real)) + s * np.log(1.0 - sigmoid(a_real)))
                 + np.mean(np.log(1.0 - sigmoid(a_fake))))
    assert gan.discriminator_loss(x_real, z) == pytest.approx(smoothed, rel=1e-12)
    assert gan.discriminator_loss(x_real, z) - expected == pytest.approx(s * np.mean(a_real), rel=1e-9, abs=1e-12)
    # ... and G's loss ignores smoothing (its targets are "real" = 1 for fakes).
    assert gan.generator_loss(z) == pytest.approx(-np.mean(np.log(sigmoid(a_fake))), rel=1e-12)


def test_label_smoothing_does_not_touch_the_fake_gradient():
    plain, smooth = tiny_gan(3, dropout=0.0), tiny_gan(3, dropout=0.0, label_smoothing=0.2)
    rng = np.random.default_rng(0)
    x_real, z = rng.standard_normal((4, 6)), rng.standard_normal((4, 3))
    # Fakes only (an empty real batch): both models see the same loss and gradient.
    empty = np.zeros((0, 6))
    assert plain.discriminator_loss(empty, z) == smooth.discriminator_loss(empty, z)
    for k, g in plain.D.grads.items():
        np.testing.assert_array_equal(g, smooth.D.grads[k])
    # With real images, smoothing changes the loss.
    assert plain.discriminator_loss(x_real, z) != smooth.discriminator_loss(x_real, z)


def test_label_smoothing_range_is_checked():
    with pytest.raises(ValueError, match="label_smoothing"):
        tiny_gan(label_smoothing=0.5)
    with pytest.raises(ValueError, match="label_smoothing"):
        tiny_gan(label_smoothing=-0.1)


# ------------------------------------------------- who is updated by what
def test_each_step_updates_only_its_player():
    gan = tiny_gan(7)
    rng = np.random.default_rng(0)
    x_real, z = rng.standard_normal((8, 6)), rng.standard_normal((8, 3))
    g0, gb0, d0 = snapshot(gan.G.params), snapshot(gan.G.buffers), snapshot(gan.D.params)

    # D's step: every D parameter moves; G (parameters and BN statistics) is untouched.
    gan.discriminator_loss(x_real, z)
    gan.opt_d.step()
    g1, gb1, d1 = snapshot(gan.G.params), snapshot(gan.G.buffers), snapshot(gan.D.params)
    assert changed(g0, g1) == set() and changed(gb0, gb1) == set()
    assert changed(d0, d1) == set(d0)

    # G's step: D's backward ran (it filled D's gradients) but D does not move.
    gan.generator_loss(z)
    assert any(np.any(g != 0) for g in gan.D.grads.values())
    gan.opt_g.step()
    g2, gb2, d2 = snapshot(gan.G.params), snapshot(gan.G.buffers), snapshot(gan.D.params)
    assert changed(d1, d2) == set()
    assert changed(g1, g2) == set(g1)
    assert changed(gb1, gb2) == set(gb1)  # G's own forward pass updates its BN statistics
    assert (gan.opt_d.t, gan.opt_g.t) == (1, 1)

    # train_step = both of the above, once each.
    losses = gan.train_step(x_real)
    assert set(losses) == {"d_loss", "g_loss"} and all(np.isfinite(v) for v in losses.values())
    assert changed(d2, snapshot(gan.D.params)) == set(d2)
    assert changed(g2, snapshot(gan.G.params)) == set(g2)
    assert (gan.opt_d.t, gan.opt_g.t) == (2, 2)


def test_lr_d_overrides_only_the_discriminator():
    gan = tiny_gan(lr=1e-3, lr_d=4e-4, beta1=0.6)
    assert (gan.opt_g.lr, gan.opt_d.lr) == (1e-3, 4e-4)
    assert gan.opt_g.beta1 == gan.opt_d.beta1 == 0.6


# ---------------------------------------------------- dtypes, reproducibility
def test_float32_training_keeps_float32():
    gan = tiny_gan(1, dtype=np.float32)
    x = np.random.default_rng(0).standard_normal((8, 6)).astype(np.float32)
    for _ in range(2):
        losses = gan.train_step(x)
    assert all(isinstance(v, float) and np.isfinite(v) for v in losses.values())
    for store in (gan.params, gan.grads, gan.buffers):
        assert {v.dtype for v in store.values()} == {np.dtype(np.float32)}
    for opt in (gan.opt_g, gan.opt_d):
        assert {s.dtype for state in opt.state.values() for s in state.values()} == {np.dtype(np.float32)}
    assert gan.sample_z(5).dtype == np.float32
    samples = gan.sample(5)
    assert samples.dtype == np.float32 and samples.shape == (5, 6)
    assert np.all(np.abs(samples) <= 1)  # tanh output
    assert gan.G.training  # sample() switches to eval and back


def test_same_seed_same_parameters():
    x = np.random.default_rng(0).standard_normal((16, 6)).astype(np.float32)

    def run(seed):
        gan = tiny_gan(seed, dtype=np.float32)  # D has Dropout: its masks are seeded too
        for _ in range(3):
            gan.train_step(x)
        return gan.params

    a, b, c = run(5), run(5), run(6)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a)


def test_generate_uses_running_statistics():
    gan = tiny_gan(2, dropout=0.0)
    z = np.random.default_rng(0).standard_normal((4, 3))
    # Eval mode: each sample depends only on its own z, not on the batch.
    np.testing.assert_allclose(gan.generate(z)[:2], gan.generate(z[:2]), rtol=1e-12)
    assert gan.G.training


# ------------------------------------------------- the averaged generator
def test_ema_is_an_average_of_g_and_makes_the_samples():
    gan = tiny_gan(4, dropout=0.0).enable_ema(0.9)
    assert set(gan.parts) == {"generator", "discriminator", "generator_train"}
    assert gan.sampler is gan.G_ema and gan.opt_g.model is gan.G
    for k, w in gan.G.params.items():
        np.testing.assert_array_equal(gan.G_ema.params[k], w)
        assert gan.G_ema.params[k] is not w and gan.params[f"generator.{k}"] is gan.G_ema.params[k]
    x = np.random.default_rng(0).standard_normal((8, 6))
    for _ in range(3):
        ema_before = snapshot(gan.G_ema.params)
        gan.train_step(x)
        for k, w in gan.G.params.items():  # ema <- 0.9 ema + 0.1 w, after G's step
            np.testing.assert_allclose(gan.G_ema.params[k], 0.9 * ema_before[k] + 0.1 * w, rtol=1e-12)
    assert any(not np.array_equal(gan.G_ema.params[k], w) for k, w in gan.G.params.items())

    # Samples come from G_ema in eval mode, with BatchNorm statistics calibrated for its weights.
    z = np.random.default_rng(1).standard_normal((5, 3))
    samples = gan.sample(z=z)
    reference = tiny_gan(4, dropout=0.0)
    for k, v in reference.G.params.items():
        v[...] = gan.G_ema.params[k]
    reference.calibrate_batchnorm()
    np.testing.assert_allclose(samples, reference.generate(z), rtol=1e-12)
    assert gan.G.training and gan.G_ema.training
    with pytest.raises(ValueError, match="decay"):
        tiny_gan().enable_ema(1.0)


def test_calibrate_batchnorm_averages_batch_statistics():
    gan = tiny_gan(5, dropout=0.0)
    bn_index = next(i for i, layer in enumerate(gan.G.layers) if type(layer).__name__ == "BatchNormalization")
    bn = gan.G.layers[bn_index]
    rng_state = gan.rng.bit_generator.state
    gan.calibrate_batchnorm(n=64, batch_size=16, seed=3)
    # The same 4 batches of z, by hand: the mean of their batch means and variances.
    z_rng, means, variances = np.random.default_rng(3), [], []
    for _ in range(4):
        h = z_rng.standard_normal((16, 3))
        for layer in gan.G.layers[:bn_index]:
            h = layer.forward(h)
        means.append(h.mean(axis=0))
        variances.append(h.var(axis=0))
    np.testing.assert_allclose(bn.buffers["moving_mean"], np.mean(means, axis=0), rtol=1e-10)
    np.testing.assert_allclose(bn.buffers["moving_variance"], np.mean(variances, axis=0), rtol=1e-10)
    assert bn.momentum == 0.8 and gan.G.training
    assert gan.rng.bit_generator.state == rng_state  # the GAN's own random stream is untouched


def test_ema_checkpoint_samples_the_same_in_a_gan_without_ema(tmp_path):
    from aigc_np.checkpoint import load_checkpoint, save_checkpoint

    gan = tiny_gan(6, dtype=np.float32).enable_ema(0.95)
    x = np.random.default_rng(0).standard_normal((8, 6)).astype(np.float32)
    for _ in range(3):
        gan.train_step(x)
    z = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    expected = gan.sample(z=z)  # calibrates G_ema's statistics first
    save_checkpoint(gan, tmp_path / "ema.npz", epoch=1)
    plain = tiny_gan(7, dtype=np.float32)
    load_checkpoint(plain, tmp_path / "ema.npz")
    np.testing.assert_array_equal(plain.sample(z=z), expected)
    # ... and a GAN with EMA resumes with both generators.
    resumed = tiny_gan(8, dtype=np.float32).enable_ema(0.95)
    load_checkpoint(resumed, tmp_path / "ema.npz")
    for k, w in gan.G.params.items():
        np.testing.assert_array_equal(resumed.G.params[k], w)
        np.testing.assert_array_equal(resumed.G_ema.params[k], gan.G_ema.params[k])


# ----------------------------------------------------------- toy data
def test_ring_of_gaussians_shape_and_statistics():
    rng = np.random.default_rng(0)
    x, labels = ring_of_gaussians(8000, rng, std=0.05, return_labels=True)
    assert x.shape == (8000, 2) and x.dtype == np.float32 and labels.shape == (8000,)
    centres = ring_centres(8, 2.0)
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 2.0)
    offsets = x - centres[labels]
    assert abs(offsets.std() - 0.05) < 0.003 and np.abs(offsets.mean(axis=0)).max() < 0.003
    np.testing.assert_allclose(np.bincount(labels) / 8000, 1 / 8, atol=0.015)
    np.testing.assert_array_equal(ring_of_gaussians(10, np.random.default_rng(3)),
                                  ring_of_gaussians(10, np.random.default_rng(3)))


def test_mode_coverage_of_real_data_and_of_a_collapse():
    rng = np.random.default_rng(1)
    real = ring_of_gaussians(10000, rng, std=0.05)
    cov = mode_coverage(real, std=0.05)
    assert cov["modes_covered"] == 8
    # P(within 3 std) = 1 - exp(-4.5) for a 2-D Gaussian.
    assert cov["fractions"].sum() == pytest.approx(1 - np.exp(-4.5), abs=0.005)
    assert cov["off_mode"] == pytest.approx(np.exp(-4.5), abs=0.005)

    # A collapsed generator: everything in modes 0 and 3, plus points in between.
    centres = ring_centres()
    fake = np.concatenate([centres[[0] * 60 + [3] * 30], np.zeros((10, 2))])
    cov = mode_coverage(fake, std=0.05)
    np.testing.assert_allclose(cov["fractions"], [0.6, 0, 0, 0.3, 0, 0, 0, 0])
    assert cov["off_mode"] == pytest.approx(0.1) and cov["modes_covered"] == 2
    np.testing.assert_array_equal(cov["assignment"][[0, 60, 95]], [0, 3, -1])
    # The radius of a mode is n_std * std.
    near = centres[[1]] + [[0.14, 0.0]]
    assert mode_coverage(near, std=0.05)["fractions"][1] == 1.0
    assert mode_coverage(near, std=0.04)["fractions"][1] == 0.0


def test_toy_argument_checks():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        mode_coverage(np.zeros((3, 3)))
    with pytest.raises(TypeError, match="Generator"):
        ring_of_gaussians(3, 0)
    with pytest.raises(ValueError, match="std"):
        ring_of_gaussians(3, np.random.default_rng(0), std=0.0)


# ------------------------------------------------------- the R1 penalty
@given(n=st.integers(2, 5), gamma=st.sampled_from([0.1, 1.0, 10.0]),
       label_smoothing=st.sampled_from([0.0, 0.1]), seed=seeds)
def test_r1_penalty_value_and_d_gradients(n, gamma, label_smoothing, seed):
    gan = tiny_gan(seed, dropout=0.0, label_smoothing=label_smoothing, r1_weight=gamma)
    data_rng = np.random.default_rng(seed + 1)
    x_real = np.tanh(data_rng.standard_normal((n, 6)))
    z = data_rng.standard_normal((n, 3))
    margin_g, fake = kink_margin(gan.G, z)
    margin_d, _ = kink_margin(gan.D, np.concatenate([x_real, fake]))
    assume(min(margin_g, margin_d) > 1e-4)

    # The value: (gamma / 2) mean_i ||d logit_i / d x_i||^2, with the input gradient taken numerically.
    x_nudged = x_real.copy()  # numerical_gradient nudges it in place
    grad_x = numerical_gradient(lambda: gan.D.forward(x_nudged), x_nudged, np.ones((n, 1)))
    expected = 0.5 * gamma * np.mean(np.sum(grad_x ** 2, axis=1))
    assert abs(gan.r1_penalty(x_real, backward=False) - expected) <= TOL * expected

    # Its gradient, through D's double backward, inside the model's own L_D.
    gan.discriminator_loss(x_real, z)
    analytic = snapshot(gan.D.grads)
    plain = tiny_gan(seed, dropout=0.0, label_smoothing=label_smoothing)
    plain.discriminator_loss(x_real, z)
    assert any(not np.allclose(analytic[k], plain.D.grads[k]) for k in analytic)  # R1 is in there

    def loss():  # the model's own L_D value, R1 included
        return gan.discriminator_loss(x_real, z)

    for name, p in gan.D.params.items():
        assert_gradient_matches(f"d(L_D + R1)/d{name}", analytic[name], numerical_gradient(loss, p))


def test_r1_needs_a_discriminator_with_a_double_backward():
    with pytest.raises(TypeError, match=r"discriminator layer 2 \(.*\) has no backward_backward"):
        tiny_gan(0, dropout=0.3, r1_weight=1.0)
    with pytest.raises(ValueError, match="r1_weight"):
        tiny_gan(0, dropout=0.0, r1_weight=-1.0)
    assert tiny_gan(0, dropout=0.3).r1_weight == 0.0  # off by default: Dropout is fine then


def test_lazy_r1_applies_every_kth_d_step_with_k_times_the_weight():
    gan = tiny_gan(3, dropout=0.0, r1_weight=0.5, r1_every=3)
    plain = tiny_gan(3, dropout=0.0)
    same_gamma = tiny_gan(3, dropout=0.0, r1_weight=1.5)
    data_rng = np.random.default_rng(4)
    x_real, z = np.tanh(data_rng.standard_normal((4, 6))), data_rng.standard_normal((4, 3))
    r1 = gan.r1_penalty(x_real, backward=False)
    assert r1 > 0 and r1 == pytest.approx(same_gamma.r1_penalty(x_real, backward=False), rel=1e-12)
    for t, applied in ((0, True), (1, False), (2, False), (3, True)):
        gan.opt_d.t = t  # D steps taken so far
        expected = plain.discriminator_loss(x_real, z) + (r1 if applied else 0.0)
        assert gan.discriminator_loss(x_real, z) == pytest.approx(expected, rel=1e-12)
        grads_equal = all(np.allclose(gan.D.grads[k], plain.D.grads[k]) for k in gan.D.grads)
        assert grads_equal != applied
    with pytest.raises(ValueError, match="r1_every"):
        tiny_gan(0, dropout=0.0, r1_weight=1.0, r1_every=0)
