"""The conditional GAN and VAE: the join and its split backward, every loss
gradient checked numerically in float64 (the cGAN's D loss, its G loss through
D, the CVAE's -ELBO with eps held fixed), which player a step moves, samples
that follow the requested labels, label checks, and checkpoints that rebuild
the model through the registry."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from aigc_np.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from aigc_np.gradcheck import numerical_gradient, rel_error, rng_replayer
from aigc_np.layers import LeakyReLU, ReLU
from aigc_np.models import (ConditionalGAN, ConditionalVAE, join, join_backward, join_labels, mlp_discriminator,
                            mlp_generator, one_hot, reparameterize)
from aigc_np.kinds import build_model
from aigc_np.kinds.image import generate_images, prepare_images

TOL = 1e-6
K = 4  # classes in the small test models
seeds = st.integers(0, 2**32 - 1)


def tiny_cgan(seed=0, latent=3, hidden_g=(5, 4), hidden_d=(5, 4), dim=6, dropout=0.3, dtype=np.float64,
              **options):
    """G: [z (3), y (4)] -> 5 -> 4 (BatchNorm) -> 6 (tanh); D: [x (6), y (4)] -> 5 -> 4 -> 1, Dropout."""
    rng = np.random.default_rng(seed)
    G = mlp_generator(latent + K, hidden_g, dim, rng=rng, dtype=dtype)
    D = mlp_discriminator(hidden_d, dim + K, dropout=dropout, rng=rng, dtype=dtype)
    for name, b in {**G.params, **D.params}.items():
        if name.endswith(".b"):  # generic biases: no pre-activation sits on a kink by construction
            b[...] = 0.1 * rng.standard_normal(b.shape)
    return ConditionalGAN(G, D, latent, n_classes=K, rng=rng, **options)


def tiny_cvae(seed=0, latent=2, hidden=(5,), shape=(6,), dtype=np.float64):
    model = ConditionalVAE(latent, hidden, shape, n_classes=K, rng=np.random.default_rng(seed), dtype=dtype)
    rng = np.random.default_rng(seed + 1)
    for name, p in model.params.items():
        if name.endswith(".b"):
            p[...] = rng.normal(0.0, 0.1, p.shape)
    return model


def kink_margin(net, x, kinds=(LeakyReLU, ReLU)):
    """Smallest |input| of any (Leaky)ReLU in ``net`` on x: a finite difference must not straddle a kink."""
    margin = np.inf
    for layer in net.layers:
        if isinstance(layer, kinds):
            margin = min(margin, float(np.abs(x).min()))
        x = layer.forward(x)
    return margin


def assert_gradient_matches(what, analytic, numerical):
    """Relative error <= 1e-6; entries whose true value is ~0 must agree to 1e-10 absolute
    (central differences carry ~1e-11 of round-off; see tests/test_gan.py)."""
    if rel_error(analytic, numerical) <= TOL:
        return
    diff = np.abs(analytic - numerical)
    bad = diff / np.maximum(1e-8, np.abs(analytic) + np.abs(numerical)) > TOL
    assert diff[bad].max() <= 1e-10, f"{what}: relative error {rel_error(analytic, numerical):.2e}"


def snapshot(arrays):
    return {k: v.copy() for k, v in arrays.items()}


def changed(before, after):
    return {k for k in before if not np.array_equal(before[k], after[k])}


# -------------------------------------------------------------- the join
def test_join_and_its_backward():
    rng = np.random.default_rng(0)
    a, b, dv = rng.standard_normal((3, 4)), rng.standard_normal((3, 2)), rng.standard_normal((3, 6))
    v = join(a, b)
    np.testing.assert_array_equal(v, np.hstack([a, b]))
    da, db = join_backward(dv, 4)
    assert rel_error(da, numerical_gradient(lambda: join(a, b), a, dv)) <= TOL
    assert rel_error(db, numerical_gradient(lambda: join(a, b), b, dv)) <= TOL
    with pytest.raises(ValueError, match=r"join: expected .*\(3, 4\) and \(2, 2\)"):
        join(a, b[:2])


def test_one_hot_and_labelled_batches():
    np.testing.assert_array_equal(one_hot([2, 0], 3), [[0, 0, 1], [1, 0, 0]])
    assert one_hot([1], 3, np.float64).dtype == np.float64
    x = np.arange(2 * 2 * 3, dtype=np.float32).reshape(2, 2, 3)
    batch = join_labels(x, [3, 1], n_classes=4)
    assert batch.shape == (2, 6 + 4) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[:, :6], x.reshape(2, 6))
    np.testing.assert_array_equal(batch[:, 6:], one_hot([3, 1], 4))


@pytest.mark.parametrize("labels, error, message", [
    ([0, 4, 1], ValueError, r"labels in 0\.\.3, got values in 0\.\.4"),
    ([0, -1, 1], ValueError, r"labels in 0\.\.3"),
    ([[0, 1, 2]], ValueError, r"shape \(3,\), got \(1, 3\)"),
    ([0, 1], ValueError, r"shape \(3,\), got \(2,\)"),
    ([0.5, 1, 2], TypeError, "integer labels"),
])
def test_bad_labels_name_the_model_expected_and_received(labels, error, message):
    gan, vae = tiny_cgan(), tiny_cvae()
    x = np.random.default_rng(0).uniform(0.1, 0.9, (3, 6))
    with pytest.raises(error, match="ConditionalGAN: .*" + message):
        gan.train_step(x, labels)
    with pytest.raises(error, match="ConditionalVAE: .*" + message):
        vae.loss(x, labels)
    with pytest.raises(error, match="ConditionalGAN"):
        gan.sample(3, labels=labels)


def test_a_labelled_batch_must_carry_one_hot_rows():
    batch = join_labels(np.zeros((2, 6)), [1, 2], n_classes=K)
    batch[0, -1] = 1.0  # two ones in row 0
    with pytest.raises(ValueError, match="ConditionalGAN.train_step: .*one-hot"):
        tiny_cgan().train_step(batch)
    with pytest.raises(ValueError, match=r"ConditionalVAE.train_step: expected a labelled batch \(N, pixels \+ 4\)"):
        tiny_cvae().train_step(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"ConditionalGAN: expected a generator of input shape \(7,\)"):
        rng = np.random.default_rng(0)
        ConditionalGAN(mlp_generator(3, (4,), 6, rng=rng), mlp_discriminator((4,), 10, rng=rng), 3, n_classes=K)


# ------------------------------------------------- cGAN: gradient checks
@settings(max_examples=15)
@given(n=st.integers(2, 5), dropout=st.sampled_from([0.0, 0.3]), smoothing=st.sampled_from([0.0, 0.1]),
       mismatch=st.booleans(), seed=seeds)
def test_cgan_discriminator_loss_gradients(n, dropout, smoothing, mismatch, seed):
    gan = tiny_cgan(seed, dropout=dropout, label_smoothing=smoothing, mismatch=mismatch)
    rng = np.random.default_rng(seed + 1)
    x_real, z = np.tanh(rng.standard_normal((n, 6))), rng.standard_normal((n, 3))
    y_real, y_fake = rng.integers(0, K, n), rng.integers(0, K, n)
    y_wrong = (y_real + rng.integers(1, K, n)) % K  # held fixed, like the Dropout masks
    rewind = rng_replayer(gan.D)  # the same Dropout masks in every evaluation
    rewind()
    fake = gan.G.forward(join(z, one_hot(y_fake, K, np.float64)))
    d_in = np.concatenate([join(x_real, one_hot(y_real, K, np.float64)), join(fake, one_hot(y_fake, K, np.float64)),
                           join(x_real, one_hot(y_wrong, K, np.float64))])
    assume(min(kink_margin(gan.G, join(z, one_hot(y_fake, K, np.float64))), kink_margin(gan.D, d_in)) > 1e-4)

    def loss():  # the model's own L_D
        rewind()
        return gan.discriminator_loss(x_real, y_real, z, y_fake, y_wrong)

    loss()
    analytic = snapshot(gan.D.grads)
    for name, p in gan.D.params.items():
        assert_gradient_matches(f"dL_D/d{name}", analytic[name], numerical_gradient(loss, p))


# n >= 4: with 2 examples BatchNorm's output is +-1 whatever its input.
@settings(max_examples=15)
@given(n=st.integers(4, 7), dropout=st.sampled_from([0.0, 0.3]), seed=seeds)
def test_cgan_generator_loss_gradients_through_d(n, dropout, seed):
    gan = tiny_cgan(seed, dropout=dropout)
    rng = np.random.default_rng(seed + 1)
    z, labels = rng.standard_normal((n, 3)), rng.integers(0, K, n)
    y = one_hot(labels, K, np.float64)
    rewind = rng_replayer(gan.D)
    rewind()
    fake = gan.G.forward(join(z, y))
    assume(min(kink_margin(gan.G, join(z, y)), kink_margin(gan.D, join(fake, y))) > 1e-4)

    def loss():
        rewind()
        return gan.generator_loss(z, labels)

    loss()
    analytic = snapshot(gan.G.grads)
    norm = np.sqrt(sum(np.sum(g ** 2) for g in analytic.values()))
    assert norm > 1e-3, f"G's gradient is (almost) zero: norm {norm:.2e}"
    for name, p in gan.G.params.items():
        assert_gradient_matches(f"dL_G/d{name}", analytic[name], numerical_gradient(loss, p))


# ------------------------------------------------- CVAE: gradient check
H = 5e-4  # Richardson-extrapolated differences, as for the VAE (tests/test_vae.py explains why)


@settings(max_examples=10)
@given(n=st.integers(1, 4), latent=st.integers(1, 3), shape=st.sampled_from([(6,), (2, 3)]), seed=seeds)
def test_cvae_loss_gradients_all_params(n, latent, shape, seed):
    model = tiny_cvae(seed, latent, (5,), shape)
    rng = np.random.default_rng(seed + 2)
    x = rng.uniform(0.05, 0.95, (n,) + shape)
    labels, eps = rng.integers(0, K, n), rng.standard_normal((n, latent))
    y = one_hot(labels, K, np.float64)
    mu, logvar = model.encode(x, labels)
    z_in = join(reparameterize(mu, logvar, eps), y)
    assume(min(kink_margin(model.encoder, join(x.reshape(n, -1), y)), kink_margin(model.decoder, z_in)) > 1e-2)

    def loss():  # -ELBO with this eps held fixed: a deterministic function of the parameters
        return model.loss(x, labels, eps)["loss"]

    loss()
    analytic = snapshot(model.grads)
    assert any(k.startswith("encoder.") for k in analytic) and any(k.startswith("decoder.") for k in analytic)
    for name, p in model.params.items():
        numerical = (4 * numerical_gradient(loss, p, h=H) - numerical_gradient(loss, p, h=2 * H)) / 3
        assert_gradient_matches(f"d(-ELBO)/d{name}", analytic[name], numerical)


def test_cvae_loss_is_recon_plus_kl_and_the_label_matters():
    model = tiny_cvae(3)
    rng = np.random.default_rng(0)
    x, eps = rng.uniform(0.05, 0.95, (4, 6)), rng.standard_normal((4, 2))
    a, b = model.loss(x, [0, 1, 2, 3], eps), model.loss(x, [3, 3, 0, 1], eps)
    assert a["loss"] == pytest.approx(a["recon"] + a["kl"], rel=1e-15) and a["kl"] > 0
    assert a["recon"] != b["recon"] and a["kl"] != b["kl"]  # both networks read the label
    np.testing.assert_array_equal(model.loss(x, [0, 1, 2, 3], eps)["loss"], a["loss"])


# ----------------------------------------------------- what a step moves
def test_one_cgan_step_changes_only_what_it_should():
    gan = tiny_cgan(7, mismatch=True)
    rng = np.random.default_rng(0)
    x_real, labels, z = rng.standard_normal((8, 6)), rng.integers(0, K, 8), rng.standard_normal((8, 3))
    g0, gb0, d0 = snapshot(gan.G.params), snapshot(gan.G.buffers), snapshot(gan.D.params)

    gan.discriminator_loss(x_real, labels, z, labels)
    gan.opt_d.step()  # D's step: all of D moves; G's parameters and BatchNorm statistics do not
    g1, gb1, d1 = snapshot(gan.G.params), snapshot(gan.G.buffers), snapshot(gan.D.params)
    assert changed(g0, g1) == set() and changed(gb0, gb1) == set() and changed(d0, d1) == set(d0)

    gan.generator_loss(z, labels)
    gan.opt_g.step()  # G's step: all of G moves, D does not
    g2, d2 = snapshot(gan.G.params), snapshot(gan.D.params)
    assert changed(d1, d2) == set() and changed(g1, g2) == set(g1)

    losses = gan.train_step(join_labels(x_real, labels, K))  # a labelled batch: one step of each
    assert set(losses) == {"d_loss", "g_loss"} and all(np.isfinite(v) for v in losses.values())
    assert changed(d2, snapshot(gan.D.params)) == set(d2) and changed(g2, snapshot(gan.G.params)) == set(g2)
    assert (gan.opt_d.t, gan.opt_g.t) == (2, 2)


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def test_cgan_losses_equal_their_formulas_and_mismatch_adds_a_term():
    """L_D reads the label; with mismatch, a real image under a wrong label is one more "fake" term."""
    gan = tiny_cgan(2, dropout=0.0, label_smoothing=0.1)
    rng = np.random.default_rng(1)
    x, z, y, y_fake, y_wrong = (rng.standard_normal((5, 6)), rng.standard_normal((5, 3)), np.array([0, 1, 2, 3, 0]),
                                rng.integers(0, K, 5), np.array([1, 2, 3, 0, 1]))

    def logits(images, labels):
        return gan.D.forward(join(images, one_hot(labels, K, np.float64)))[:, 0]

    fake = gan.G.forward(join(z, one_hot(y_fake, K, np.float64)))  # BatchNorm train mode, as in the step
    a_real, a_fake, a_wrong = logits(x, y), logits(fake, y_fake), logits(x, y_wrong)
    plain = -(np.mean(0.9 * np.log(sigmoid(a_real)) + 0.1 * np.log(1 - sigmoid(a_real)))
              + np.mean(np.log(1 - sigmoid(a_fake))))
    assert gan.discriminator_loss(x, y, z, y_fake) == pytest.approx(plain, rel=1e-12)
    assert gan.discriminator_loss(x, y_wrong, z, y_fake) != pytest.approx(plain, rel=1e-6)  # the label matters
    gan.mismatch = True
    assert gan.discriminator_loss(x, y, z, y_fake, y_wrong) == pytest.approx(
        plain - np.mean(np.log(1 - sigmoid(a_wrong))), rel=1e-12)
    assert gan.generator_loss(z, y_fake) == pytest.approx(-np.mean(np.log(sigmoid(a_fake))), rel=1e-12)
    with pytest.raises(ValueError, match="ConditionalGAN: labels_wrong must differ"):
        gan.discriminator_loss(x, y, z, y_fake, y)


# --------------------------------------------- samples and reproducibility
def test_samples_follow_the_requested_labels():
    gan, vae = tiny_cgan(1, dtype=np.float32), tiny_cvae(1, dtype=np.float32)
    for model in (gan, vae):
        model.train_step(join_labels(np.random.default_rng(0).uniform(0.1, 0.9, (8, 6)).astype(np.float32),
                                     np.arange(8) % K, K))
        a = model.sample(labels=[2] * 5)
        assert a.shape == (5, 6) and a.dtype == np.float32
        assert model.sample(7).shape == (7, 6)                  # labels cycle 0..K-1
        z = np.random.default_rng(3).standard_normal((4, model.latent_dim)).astype(np.float32)
        same = model.sample(labels=[1, 1, 1, 1], z=z)
        np.testing.assert_array_equal(model.sample(labels=np.array([1, 1, 1, 1]), z=z), same)
        assert not np.allclose(model.sample(labels=[3, 3, 3, 3], z=z), same)  # the label changes the image
        # Cycling labels are 0, 1, 2, 3, 0, ...: sample i is drawn as digit i % K.
        np.testing.assert_array_equal(model.sample(z=z), model.sample(labels=[0, 1, 2, 3], z=z))


def test_same_seed_same_cgan_run_and_float32_stays_float32():
    x = join_labels(np.random.default_rng(0).standard_normal((16, 6)).astype(np.float32), np.arange(16) % K, K)

    def run(seed):
        gan = tiny_cgan(seed, dtype=np.float32).enable_ema(0.9)
        for _ in range(3):
            gan.train_step(x)
        return gan

    a, b = run(5), run(5)
    assert all(np.array_equal(v, b.params[k]) for k, v in a.params.items())
    for store in (a.params, a.grads, a.buffers):
        assert {v.dtype for v in store.values()} == {np.dtype(np.float32)}


# ----------------------------------------------------------- checkpoints
@pytest.mark.parametrize("kind, config", [
    ("cgan", {"latent_dim": 4, "g_hidden": [8, 16], "d_hidden": [16, 8], "ema": 0.9}),
    ("cvae", {"latent_dim": 2, "hidden": [16]}),
])
def test_checkpoint_round_trip_through_the_table_of_kinds(tmp_path, kind, config):
    rng = np.random.default_rng(0)
    model = build_model(kind, config, rng=np.random.default_rng(1))
    images, labels = rng.integers(0, 256, (32, 28, 28)).astype(np.uint8), rng.integers(0, 10, 32)
    x, y = prepare_images(kind, images, labels)
    assert x.shape == {"cgan": (32, 784), "cvae": (32, 28, 28)}[kind] and x.dtype == np.float32
    assert y.dtype.kind == "i"   # labels stay integers
    np.testing.assert_array_equal(y, labels)
    for i in range(0, 32, 16):
        model.train_step(x[i:i + 16], y[i:i + 16])
    expected = generate_images(model, 20, np.random.default_rng(5), labels=7)
    save_checkpoint(model, tmp_path / "m.npz", step=2)
    meta = read_metadata(tmp_path / "m.npz")
    assert meta["kind"] == kind
    rebuilt = build_model(meta["kind"], meta["config"], rng=np.random.default_rng(9))
    load_checkpoint(rebuilt, tmp_path / "m.npz")
    got = generate_images(rebuilt, 20, np.random.default_rng(5), labels=7)
    assert got.shape == (20, 28, 28) and 0 <= got.min() and got.max() <= 1
    np.testing.assert_array_equal(got, expected)
    for k, v in model.params.items():
        np.testing.assert_array_equal(rebuilt.params[k], v)
    with pytest.raises(ValueError, match="not conditional"):
        generate_images(build_model("vae", {"hidden": [8]}), 3, rng, labels=1)
    with pytest.raises(ValueError, match="labelled images"):
        prepare_images(kind, images)
