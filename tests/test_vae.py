"""The autoencoder and the VAE: every gradient checked in float64, the
reparameterization checked statistically, the ELBO checked against a direct
computation, float32 training, and the shared training loop end to end."""
import csv

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from aigc_np.checkpoint import read_metadata
from aigc_np.gradcheck import numerical_gradient, rel_error
from aigc_np.layers import ReLU
from aigc_np.models import VAE, Autoencoder, reparameterize, reparameterize_backward
from aigc_np.checkpoint import load_checkpoint
from aigc_np.plan import Plan
from aigc_np.training import train

TOL = 1e-6
# Whole-model checks use a fourth-order difference. The loss is a sum over
# pixels of several nats, so each evaluation carries ~1e-15 of round-off,
# ~1e-10 after dividing by 2h at h = 1e-5: too much for the smallest gradient
# entries (~1e-6). A larger h cuts round-off but the O(h^2) truncation error
# of a centred difference grows (exp(logvar) and the sigmoid curve).
# Richardson extrapolation cancels the h^2 term,
#     (4 D(h) - D(2h)) / 3 = f' + O(h^4),
# so h = 5e-4 leaves both errors near 1e-12.
H = 5e-4
MARGIN = 1e-2   # ReLU inputs this far from 0 cannot cross it when a parameter moves by 2H
seeds = st.integers(0, 2**32 - 1)
input_shapes = st.sampled_from([(6,), (3, 4)])          # (3, 4) exercises Flatten and Reshape
hiddens = st.lists(st.integers(1, 5), min_size=1, max_size=2).map(tuple)


# ------------------------------------------------------------------ helpers
def inputs(rng, n, shape, dtype=np.float64):
    """Pixels in (0.05, 0.95): valid Bernoulli targets, away from 0 and 1."""
    return rng.uniform(0.05, 0.95, (n,) + tuple(shape)).astype(dtype)


def relu_margin(seq, x) -> float:
    """Smallest |pre-activation| of any ReLU in ``seq`` on input x.

    A finite difference is only valid if no ReLU input crosses 0 while a
    parameter is nudged by up to 2H; with a margin of 10 * 2H none does."""
    margin, h = np.inf, x
    for layer in seq.layers:
        if isinstance(layer, ReLU) and h.size:
            margin = min(margin, float(np.abs(h).min()))
        h = layer.forward(h)
    return margin


def move_to_generic_point(model, rng):
    """Give every bias a random value instead of its initial zero.

    At the initial point, a network whose hidden units are all off has
    logvar = b = 0 exactly, where dKL/dlogvar is exactly 0 but its centred
    difference is h^2/12: a relative error of 100%. A random point has no
    such coincidences."""
    for name, p in model.params.items():
        if name.endswith(".b"):
            p[...] = rng.normal(0.0, 0.1, p.shape)


def richardson_gradient(f, x):
    """numerical_gradient at steps H and 2H, combined to cancel the h^2 error term."""
    return (4 * numerical_gradient(f, x, h=H) - numerical_gradient(f, x, h=2 * H)) / 3


def model_grad_errors(model, loss_value) -> dict:
    """Max relative error of model.grads against numerical gradients of loss_value().

    ``loss_value`` runs the model's own forward (and backward) pass and
    returns the scalar loss; the analytic gradients are those it leaves in
    ``model.grads``, copied before the numerical loop overwrites them."""
    loss_value()
    analytic = {k: g.copy() for k, g in model.grads.items()}
    params = model.params
    assert set(analytic) == set(params) and params
    assert any(k.startswith("encoder.") for k in params) and any(k.startswith("decoder.") for k in params)
    return {k: rel_error(analytic[k], richardson_gradient(loss_value, p)) for k, p in params.items()}


def assert_grads_ok(errors):
    worst = max(errors, key=errors.get)
    assert errors[worst] <= TOL, f"gradient check failed for {worst!r}: {errors}"


def small_vae(seed=0, latent_dim=2, hidden=(5,), input_shape=(6,), dtype=np.float64):
    return VAE(latent_dim=latent_dim, hidden=hidden, input_shape=input_shape,
               rng=np.random.default_rng(seed), dtype=dtype)


def last_dense(seq):
    return [layer for layer in seq.layers if "W" in layer.params][-1]


# ---------------------------------------------------- VAE: gradient checks
@given(n=st.integers(1, 4), hidden=hiddens, latent=st.integers(1, 3), shape=input_shapes, seed=seeds)
def test_vae_loss_gradients_all_params(n, hidden, latent, shape, seed):
    rng = np.random.default_rng(seed)
    model = small_vae(seed, latent, hidden, shape)
    move_to_generic_point(model, rng)
    x = inputs(rng, n, shape)
    eps = rng.standard_normal((n, latent))
    mu, logvar = model.encode(x)
    assume(relu_margin(model.encoder, x) > MARGIN)
    assume(relu_margin(model.decoder, reparameterize(mu, logvar, eps)) > MARGIN)
    # The loss is -ELBO with this eps held fixed: a deterministic function of the params.
    assert_grads_ok(model_grad_errors(model, lambda: model.loss(x, eps)["loss"]))


@given(n=st.integers(1, 4), latent=st.integers(1, 4), seed=seeds)
def test_reparameterize_backward_matches_numerical(n, latent, seed):
    rng = np.random.default_rng(seed)
    mu = rng.standard_normal((n, latent))
    logvar = rng.uniform(-3, 3, (n, latent))
    eps = rng.standard_normal((n, latent))
    dz = rng.standard_normal((n, latent))
    dmu, dlogvar = reparameterize_backward(dz, logvar, eps)

    def z():
        return reparameterize(mu, logvar, eps)

    assert rel_error(dmu, numerical_gradient(z, mu, dz)) <= TOL
    assert rel_error(dlogvar, numerical_gradient(z, logvar, dz)) <= TOL


def test_reparameterize_values():
    # sigma = exp(0.5 * logvar): logvar = log 4 means sigma = 2, not 4.
    z = reparameterize(np.array([[1.0]]), np.array([[np.log(4.0)]]), np.array([[0.5]]))
    assert z[0, 0] == pytest.approx(1.0 + 2.0 * 0.5, rel=1e-15)


def test_sampled_z_has_mean_mu_and_variance_exp_logvar():
    """Over n draws, mean(z) ~ mu within a few standard errors sigma/sqrt(n),
    and var(z) ~ exp(logvar) within a few of its standard errors
    sigma^2 sqrt(2/(n-1)). The classic bug sigma = exp(logvar) gives a
    variance exp(2 logvar), off by tens to hundreds of standard errors here."""
    n = 200_000
    mu = np.array([0.5, -1.0, 2.0, 0.0])
    logvar = np.array([-1.0, 0.7, 1.5, -0.4])
    eps = np.random.default_rng(42).standard_normal((n, mu.size))
    z = reparameterize(mu[None], logvar[None], eps)
    var = np.exp(logvar)
    se_mean = np.sqrt(var / n)
    se_var = var * np.sqrt(2.0 / (n - 1))
    k = 5.0  # a false alarm at 5 standard errors has probability ~6e-7
    assert np.all(np.abs(z.mean(axis=0) - mu) < k * se_mean), (z.mean(axis=0), mu)
    assert np.all(np.abs(z.var(axis=0, ddof=1) - var) < k * se_var), (z.var(axis=0, ddof=1), var)
    wrong = np.exp(2 * logvar)  # what sigma = exp(logvar) would give
    assert np.all(np.abs(z.var(axis=0, ddof=1) - wrong) > 20 * se_var)


def test_model_noise_is_standard_normal():
    model = small_vae(latent_dim=3)
    eps = model.sample_eps(200_000)
    n = len(eps)
    assert eps.shape == (n, 3) and eps.dtype == np.float64
    assert np.all(np.abs(eps.mean(axis=0)) < 5 / np.sqrt(n))
    assert np.all(np.abs(eps.var(axis=0, ddof=1) - 1) < 5 * np.sqrt(2 / (n - 1)))


# ------------------------------------------------ VAE: KL and sampling exist
def test_vae_is_not_a_plain_autoencoder():
    rng = np.random.default_rng(0)
    model = small_vae(latent_dim=3)
    x = inputs(rng, 5, (6,))
    a = model.loss(x, rng.standard_normal((5, 3)))
    b = model.loss(x, rng.standard_normal((5, 3)))
    assert a["kl"] > 0 and b["kl"] == a["kl"]      # the KL depends on mu, logvar only
    assert a["recon"] != b["recon"]                 # the reconstruction sees the noise
    assert a["loss"] == pytest.approx(a["recon"] + a["kl"], rel=1e-15)
    c, d = model.loss(x), model.loss(x)             # noise drawn from the model's generator
    assert c["recon"] != d["recon"]


def test_kl_is_exactly_zero_at_the_prior():
    model = small_vae(latent_dim=3)
    head = last_dense(model.encoder)                 # outputs [mu, logvar]
    head.params["W"][...] = 0
    head.params["b"][...] = 0
    x = inputs(np.random.default_rng(1), 4, (6,))
    mu, logvar = model.encode(x)
    assert np.all(mu == 0) and np.all(logvar == 0)
    out = model.loss(x)
    assert out["kl"] == 0.0 and out["recon"] > 0
    assert model.elbo(x)["kl"] == 0.0


# ---------------------------------------------------------------- VAE: ELBO
def test_elbo_matches_direct_computation():
    """The ELBO, written out with plain NumPy from the weights: one eps per
    image, Bernoulli log-likelihood summed over pixels, closed-form KL summed
    over latent dims, both averaged over images (nats per image)."""
    model = small_vae(seed=3, latent_dim=2, hidden=(5,), input_shape=(6,))
    p = model.params
    x = inputs(np.random.default_rng(4), 7, (6,))

    h = np.maximum(x @ p["encoder.0.W"] + p["encoder.0.b"], 0)
    out = h @ p["encoder.2.W"] + p["encoder.2.b"]
    mu, logvar = out[:, :2], out[:, 2:]
    eps = np.random.default_rng(5).standard_normal(mu.shape)
    z = mu + np.exp(0.5 * logvar) * eps
    logits = np.maximum(z @ p["decoder.0.W"] + p["decoder.0.b"], 0) @ p["decoder.2.W"] + p["decoder.2.b"]
    prob = 1 / (1 + np.exp(-logits))
    recon = -np.sum(x * np.log(prob) + (1 - x) * np.log(1 - prob)) / len(x)
    kl = 0.5 * np.sum(mu**2 + np.exp(logvar) - logvar - 1) / len(x)

    got = model.elbo(x, rng=np.random.default_rng(5))
    assert got["recon"] == pytest.approx(recon, rel=1e-12)
    assert got["kl"] == pytest.approx(kl, rel=1e-12)
    assert got["elbo"] == pytest.approx(-(recon + kl), rel=1e-12)
    assert got["elbo"] == -(got["recon"] + got["kl"])
    # Uneven batches (3 + 3 + 1) are weighted by their size: same per-image average.
    in_threes = model.elbo(x, batch_size=3, rng=np.random.default_rng(5))
    assert in_threes["elbo"] == pytest.approx(got["elbo"], rel=1e-12)


def test_elbo_is_deterministic_and_leaves_training_noise_alone():
    model = small_vae(latent_dim=3)
    x = inputs(np.random.default_rng(0), 6, (6,))
    state = model.rng.bit_generator.state
    a = model.elbo(x, rng=np.random.default_rng(11))
    assert model.elbo(x, rng=np.random.default_rng(11)) == a
    assert model.elbo(x) == model.elbo(x)            # default generator: seeded, so repeatable
    assert model.elbo(x, rng=np.random.default_rng(12))["recon"] != a["recon"]
    assert model.rng.bit_generator.state == state   # evaluating draws no training noise
    assert model.encoder.training and model.decoder.training
    model.eval()
    model.elbo(x)
    assert not model.encoder.training and not model.decoder.training  # mode restored, not forced


def test_elbo_recon_is_summed_over_pixels():
    """With all-zero logits every pixel has p = 1/2 and costs log 2 nats,
    whatever its value: the reconstruction term is D log 2 per image."""
    model = small_vae(latent_dim=2, input_shape=(3, 4))
    head = last_dense(model.decoder)
    head.params["W"][...] = 0
    head.params["b"][...] = 0
    x = inputs(np.random.default_rng(0), 5, (3, 4))
    assert model.elbo(x)["recon"] == pytest.approx(12 * np.log(2), rel=1e-14)
    assert model.loss(x)["recon"] == pytest.approx(12 * np.log(2), rel=1e-14)


def test_vae_shapes_and_ranges():
    model = small_vae(latent_dim=3, input_shape=(3, 4))
    x = inputs(np.random.default_rng(0), 5, (3, 4))
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, 3)
    assert model.reconstruct(x).shape == x.shape
    np.testing.assert_array_equal(model.reconstruct(x), model.decode(mu))  # the posterior mean, no noise
    samples = model.sample(8)
    assert samples.shape == (8, 3, 4) and samples.min() >= 0 and samples.max() <= 1
    far = model.sample(z=np.full((2, 3), 1e3))
    assert np.all(np.isfinite(far)) and far.min() >= 0 and far.max() <= 1


# ------------------------------------------------------------- Autoencoder
@given(n=st.integers(1, 4), hidden=hiddens, latent=st.integers(1, 3), shape=input_shapes, seed=seeds)
def test_autoencoder_loss_gradients_all_params(n, hidden, latent, shape, seed):
    rng = np.random.default_rng(seed)
    model = Autoencoder(latent_dim=latent, hidden=hidden, input_shape=shape,
                        rng=np.random.default_rng(seed), dtype=np.float64)
    move_to_generic_point(model, rng)
    x = inputs(rng, n, shape)
    assume(relu_margin(model.encoder, x) > MARGIN)
    assume(relu_margin(model.decoder, model.encode(x)) > MARGIN)
    assert_grads_ok(model_grad_errors(model, lambda: model.loss(x)["loss"]))


def test_autoencoder_shapes_ranges_and_determinism():
    model = Autoencoder(latent_dim=2, hidden=(6, 4), input_shape=(3, 4), rng=np.random.default_rng(0),
                        dtype=np.float64)
    x = inputs(np.random.default_rng(1), 5, (3, 4))
    assert model.encode(x).shape == (5, 2)
    assert model.reconstruct(x).shape == x.shape
    images = model.decode(np.random.default_rng(2).standard_normal((50, 2)) * 100)
    assert images.shape == (50, 3, 4) and images.min() >= 0 and images.max() <= 1
    assert model.loss(x) == model.loss(x)           # no sampling anywhere
    assert set(model.loss(x)) == {"loss"}
    # The evaluation helper gives the same nats/image as the training loss, in
    # uneven batches too, and leaves the model in the mode it found it in.
    assert model.reconstruction_loss(x, batch_size=2) == pytest.approx(model.loss(x)["loss"], rel=1e-12)
    model.eval()
    model.reconstruction_loss(x)
    assert not model.encoder.training


# ---------------------------------------------------------- float32 training
def _float32_batch():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 1, (32, 4, 4)).astype(np.float32) ** 3  # mostly dark, like digits


def _train_vae(seed, steps, x):
    model = VAE(latent_dim=3, hidden=(16,), input_shape=(4, 4), rng=np.random.default_rng(seed))
    for _ in range(steps):
        model.train_step(x)
    return model


def test_vae_float32_training_reduces_loss():
    x = _float32_batch()
    eps = np.random.default_rng(1).standard_normal((32, 3)).astype(np.float32)
    before = _train_vae(7, 0, x).loss(x, eps)["loss"]
    model = _train_vae(7, 40, x)
    after = model.loss(x, eps)["loss"]
    assert after < before - 0.5, (before, after)
    for name, p in model.params.items():
        assert p.dtype == np.float32, name
        assert model.grads[name].dtype == np.float32, name
    for state in model.optimizer.state.values():
        assert all(s.dtype == np.float32 for s in state.values())
    assert model.sample(4).dtype == np.float32


def test_vae_training_is_reproducible():
    x = _float32_batch()
    a, b, c = _train_vae(7, 5, x), _train_vae(7, 5, x), _train_vae(8, 5, x)
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])
    assert any(not np.array_equal(a.params[k], c.params[k]) for k in a.params)


def test_autoencoder_float32_training_reduces_loss():
    x = _float32_batch()
    model = Autoencoder(latent_dim=2, hidden=(16,), input_shape=(4, 4), rng=np.random.default_rng(0))
    before = model.loss(x)["loss"]
    for _ in range(40):
        model.train_step(x)
    assert model.loss(x)["loss"] < before - 0.5
    assert all(p.dtype == np.float32 for p in model.params.values())


# ------------------------------------------------------ the training loop
def test_train_loop_with_vae_writes_history_grids_and_checkpoints(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (64, 8, 8)).astype(np.float32) ** 3
    x_val = rng.uniform(0, 1, (20, 8, 8)).astype(np.float32) ** 3
    fixed_z = rng.standard_normal((100, 2)).astype(np.float32)

    def make(seed):
        return VAE(latent_dim=2, hidden=(8,), input_shape=(8, 8), rng=np.random.default_rng(seed))

    model = make(0)
    history = train(model, (x,), Plan.epochs(2, 16, len(x)), rng=np.random.default_rng(1), out_dir=str(tmp_path),
                    grid=lambda m: m.sample(z=fixed_z), score=lambda m: {"val_elbo": m.elbo(x_val)["elbo"]},
                    select=("val_elbo", True))

    with open(tmp_path / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"epoch", "loss", "recon", "kl", "val_elbo"} <= set(rows[0])
    for row, h in zip(rows, history):
        assert float(row["loss"]) == pytest.approx(float(row["recon"]) + float(row["kl"]), rel=1e-9)
        assert float(row["val_elbo"]) == h["val_elbo"] < 0
    for name in ("samples_epoch_001.png", "samples_epoch_002.png", "last.npz", "best.npz"):
        assert (tmp_path / name).is_file(), name

    # A fresh model (different initial weights) restored from the checkpoint
    # has the same weights, the same Adam state (step counter and moments)
    # and the same noise generator.
    fresh = make(123)
    assert not np.array_equal(fresh.params["encoder.1.W"], model.params["encoder.1.W"])
    meta = load_checkpoint(fresh, tmp_path / "last.npz")
    assert meta["step"] == 8
    assert fresh.optimizer.t == model.optimizer.t == 2 * (64 // 16)
    for name, p in model.params.items():
        np.testing.assert_array_equal(fresh.params[name], p)
        assert fresh.params[name].dtype == np.float32
        for slot in ("m", "v"):
            np.testing.assert_array_equal(fresh.optimizer.state[name][slot], model.optimizer.state[name][slot])
    # ... so one more training step keeps them bit-identical (Adam's bias
    # correction depends on t, so a lost step counter would show here).
    for m in (model, fresh):
        m.train_step(x[:16])
    for name, p in model.params.items():
        np.testing.assert_array_equal(fresh.params[name], p)

    # best.npz holds the epoch with the highest validation ELBO, and its score.
    best = max(history, key=lambda h: h["val_elbo"])
    assert read_metadata(tmp_path / "best.npz")["step"] == best["step"]
    with np.load(tmp_path / "best.npz", allow_pickle=False) as saved:
        assert float(saved["extra/val_elbo"]) == best["val_elbo"]
    assert load_checkpoint(make(5), tmp_path / "best.npz")["step"] == best["step"]
    # The metadata names the model and its architecture: enough to rebuild it.
    meta = read_metadata(tmp_path / "last.npz")
    assert meta["kind"] == "vae"
    assert meta["config"] == {"latent_dim": 2, "hidden": [8], "lr": 1e-3}


def test_config_rebuilds_the_model_through_the_table_of_kinds():
    from aigc_np.kinds import build_model
    for model in (VAE(latent_dim=2, hidden=(64,)), Autoencoder(latent_dim=3, hidden=(32, 16))):
        twin = build_model(model.kind, model.config, rng=np.random.default_rng(1))
        assert type(twin) is type(model)
        assert {k: p.shape for k, p in twin.params.items()} == {k: p.shape for k, p in model.params.items()}
