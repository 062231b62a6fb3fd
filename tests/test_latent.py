"""Latent diffusion: the convolutional autoencoder with its KL term, the latent MLP denoiser, and the
two-phase model, each gradient-checked in float64."""
import numpy as np
import pytest

from aigc_np.gradcheck import numerical_gradient, rel_error
from aigc_np.models.flow import FlowMatching
from aigc_np.models.latent import (ConvAutoencoder, LatentDiffusion, LatentMLP, ResidualMLPBlock,
                                   autoencoder_param_count, latent_mlp_param_count)
from aigc_np.plan import EpochBatches, LatentBatches, batches_for

TOL = 1e-6


def _sampled(p, rng, k=3):
    """k random element indices of p (all of them if p is small)."""
    chosen = range(p.size) if p.size <= k else rng.choice(p.size, k, replace=False)
    return [np.unravel_index(i, p.shape) for i in chosen]


def _check_params(f, params, analytic, rng):
    for name, p in params.items():
        idxs = _sampled(p, rng)
        numeric = []
        for i in idxs:
            old = p[i]
            p[i] = old + 1e-5
            up = f()
            p[i] = old - 1e-5
            down = f()
            p[i] = old
            numeric.append((up - down) / 2e-5)
        assert rel_error(np.array([analytic[name][i] for i in idxs]), np.array(numeric)) <= TOL, name


def test_autoencoder_loss_gradient_wrt_every_parameter():
    """BCE of the decoded draw plus the weighted KL, through encoder and decoder, float64."""
    rng = np.random.default_rng(0)
    ae = ConvAutoencoder(latent_channels=2, width=4, kl=0.3, image_shape=(1, 8, 8), rng=rng, dtype=np.float64)
    x, eps = rng.random((2, 1, 8, 8)), rng.standard_normal((2, 2, 2, 2))
    f = lambda: ae.loss(x, eps)  # noqa: E731
    f()
    analytic = {k: g.copy() for k, g in ae.grads.items()}
    assert len(analytic) == 14
    _check_params(f, ae.params, analytic, rng)
    assert ae.num_params() == autoencoder_param_count(2, 4)
    assert ae.decode(ae.encode(x)).shape == x.shape and set(ae.buffers) == {"latent_scale"}


def test_autoencoder_kl_term_is_the_gaussian_kl_and_the_draw_uses_sigma():
    rng = np.random.default_rng(1)
    ae = ConvAutoencoder(latent_channels=2, width=4, kl=1.0, image_shape=(1, 8, 8), rng=rng, dtype=np.float64)
    x, eps = rng.random((3, 1, 8, 8)), rng.standard_normal((3, 2, 2, 2))
    mu, logvar = ae.moments(x)
    logits = ae.parts["decoder"].forward(mu + np.exp(0.5 * logvar) * eps)
    bce = np.mean(np.maximum(logits, 0) - logits * x + np.log1p(np.exp(-np.abs(logits))))
    kl = 0.5 * np.mean(mu ** 2 + np.exp(logvar) - logvar - 1)
    assert ae.loss(x, eps) == pytest.approx(bce + kl, rel=1e-10)
    with pytest.raises(ValueError, match="expected images of shape"):
        ae.encode(np.zeros((2, 1, 9, 9)))


def test_residual_block_and_latent_mlp_gradients_wrt_input_and_every_parameter():
    rng = np.random.default_rng(2)
    block = ResidualMLPBlock(5, 3, rng, np.float64)
    h, e, dy = rng.standard_normal((4, 5)), rng.standard_normal((4, 3)), rng.standard_normal((4, 5))
    f = lambda: np.sum(block.forward(h, e) * dy)  # noqa: E731
    f()
    dh, de = block.backward(dy)
    assert rel_error(dh, numerical_gradient(f, h)) <= TOL and rel_error(de, numerical_gradient(f, e)) <= TOL
    for n_classes in (0, 3):
        net = LatentMLP((2, 2, 2), width=6, depth=2, emb_dim=4, n_classes=n_classes, rng=rng, dtype=np.float64)
        z, dv, t = rng.standard_normal((3, 2, 2, 2)), rng.standard_normal((3, 2, 2, 2)), np.array([10., 500., 990.])
        labels = np.array([0, 2, 3]) if n_classes else None
        f = lambda: np.sum(net.forward(z, t, labels) * dv)  # noqa: E731
        f()
        dz = net.backward(dv)
        analytic = {k: g.copy() for k, g in net.grads.items()}
        assert rel_error(dz, numerical_gradient(f, z)) <= TOL
        _check_params(f, net.params, analytic, rng)
        assert net.num_params() == latent_mlp_param_count(8, 6, 2, 4, n_classes)


def test_conditional_flow_loss_through_the_latent_mlp_is_checked():
    rng = np.random.default_rng(3)
    net = LatentMLP((2, 2, 2), width=6, depth=1, emb_dim=4, n_classes=3, rng=rng, dtype=np.float64)
    model = FlowMatching(net, (2, 2, 2), n_classes=3, ema=0, rng=rng)
    x0, eps = rng.standard_normal((2, 2, 2, 2, 2))
    f = lambda: model.loss(x0, np.array([1, 2]), np.array([0.2, 0.7]), eps, np.array([False, True]))  # noqa: E731
    f()
    _check_params(f, net.params, {k: g.copy() for k, g in net.grads.items()}, rng)


def _tiny(ae_steps=3, n_classes=0):
    rng = np.random.default_rng(0)
    ae = ConvAutoencoder(latent_channels=2, width=4, image_shape=(1, 8, 8), rng=rng)
    flow = FlowMatching(LatentMLP((2, 2, 2), width=8, depth=1, emb_dim=4, n_classes=n_classes, rng=rng), (2, 2, 2),
                        n_classes=n_classes, rng=rng)
    return LatentDiffusion(ae, flow, ae_steps=ae_steps)


def test_two_phases_autoencoder_first_then_the_denoiser_on_unit_variance_latents():
    model = _tiny(ae_steps=3)
    x = np.random.default_rng(1).random((6, 1, 8, 8)).astype(np.float32)
    ae_before = {k: v.copy() for k, v in model.ae.params.items()}
    den_before = {k: v.copy() for k, v in model.flow.net.params.items()}
    with pytest.raises(ValueError, match="not been trained"):
        model.sample(2, np.random.default_rng(0))
    for _ in range(3):
        model.train_step(x)
    assert model.opt_ae.t == 3 and model.optimizer.t == 0 and model.ae.latent_scale[0] == 0
    assert all(np.array_equal(den_before[k], v) for k, v in model.flow.net.params.items())
    ae_after = {k: v.copy() for k, v in model.ae.params.items()}
    assert not all(np.array_equal(ae_before[k], v) for k, v in ae_after.items())
    model.train_step(x)
    assert model.opt_ae.t == 3 and model.optimizer.t == 1
    assert all(np.array_equal(ae_after[k], v) for k, v in model.ae.params.items())   # the AE is frozen
    assert np.std(model.to_latent(x)) == pytest.approx(1.0, rel=1e-5)
    images = model.sample(3, np.random.default_rng(0), steps=2)
    assert images.shape == (3, 1, 8, 8) and images.min() >= 0 and images.max() <= 1
    assert set(model.parts) == {"autoencoder", "velocity", "velocity_train"}
    assert "autoencoder.latent_scale" in model.buffers


def test_latent_batches_encode_the_training_set_once_and_train_as_images_would():
    """The denoiser's steps on latents encoded once equal its steps on images encoded batch by batch;
    the autoencoder's steps see the same images in both; the set is encoded once, not per step."""
    x = np.random.default_rng(1).random((12, 1, 8, 8)).astype(np.float32)
    cached, plain = _tiny(ae_steps=3), _tiny(ae_steps=3)
    batches, rows = batches_for(cached, (x,), 4, 3), EpochBatches((x,), 4, 3)
    assert isinstance(batches, LatentBatches)
    encoded = []
    encode = cached.encode_training_set
    cached.encode_training_set = lambda images: encoded.append(len(images)) or encode(images)
    rng_a, rng_b = np.random.default_rng(2), np.random.default_rng(2)
    for step in range(7):
        a, (b,) = batches.batch(step, rng_a), rows.batch(step, rng_b)
        assert a[0].shape == ((4, 1, 8, 8) if step < 3 else (4, 2, 2, 2))
        if step == 3:                  # the plain model would take its scale from one batch: give it the set's
            plain.fix_latent_scale(x)
        assert cached.train_step(*a)["loss"] == pytest.approx(plain.train_step(b)["loss"], rel=1e-5)
    assert encoded == [12]
    for k, v in plain.flow.net.params.items():
        np.testing.assert_allclose(cached.flow.net.params[k], v, rtol=1e-4, atol=1e-6)


def test_encoding_the_training_set_while_the_autoencoder_trains_is_refused():
    model = _tiny(ae_steps=3)
    with pytest.raises(ValueError, match="still training"):
        model.encode_training_set(np.zeros((2, 1, 8, 8), np.float32))
