"""Diffusion: the schedules, q(x_t | x_0) in closed form, the samplers, guidance, and the denoisers' gradients."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aigc_np.gradcheck import rel_error
from aigc_np.models.diffusion import Diffusion, NoiseSchedule, ddim_timesteps, guided_eps
from aigc_np.models.unet import MLPDenoiser, UNet, mlp_param_count, unet_param_count
from aigc_np.course.toy import ring_of_gaussians

TOL = 1e-6


# ----------------------------------------------------------------- schedules
@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("T", [10, 1000])
def test_schedules_go_from_data_to_noise(kind, T):
    s = NoiseSchedule(kind, T)
    assert s.betas.shape == s.alpha_bar.shape == (T,)
    assert np.all(s.betas > 0) and np.all(s.betas < 1)
    assert np.all(np.diff(s.alpha_bar) < 0)                     # always noisier
    assert s.alpha_bar[0] > 0.97 and s.alpha_bar[-1] < 1e-3     # from ~data to ~pure noise
    np.testing.assert_allclose(s.alpha_bar, np.cumprod(1 - s.betas), rtol=1e-12)
    assert s.posterior_variance[0] == 0.0


def test_linear_schedule_is_ho_et_al_at_t_1000():
    s = NoiseSchedule("linear", 1000)
    assert s.betas[0] == pytest.approx(1e-4) and s.betas[-1] == pytest.approx(0.02)


def test_q_sample_closed_form_matches_t_one_step_applications():
    """Statistically: 40,000 chains of t steps x <- sqrt(1 - beta) x + sqrt(beta) z against
    N(sqrt(alpha_bar_t) x_0, 1 - alpha_bar_t), and the closed-form sampler against the same."""
    rng = np.random.default_rng(0)
    s = NoiseSchedule("linear", 20)
    x0 = np.array([[1.5, -0.5]])
    chains = np.repeat(x0, 40000, axis=0)
    for t in range(s.T):
        chains = np.sqrt(1 - s.betas[t]) * chains + np.sqrt(s.betas[t]) * rng.standard_normal(chains.shape)
        if t in (0, 4, 19):
            mean, var = np.sqrt(s.alpha_bar[t]) * x0[0], 1 - s.alpha_bar[t]
            direct, _ = s.q_sample(np.repeat(x0, 40000, axis=0), t, rng)
            for samples in (chains, direct):
                se_mean, se_var = np.sqrt(var / len(samples)), var * np.sqrt(2 / len(samples))
                assert np.all(np.abs(samples.mean(axis=0) - mean) < 5 * se_mean), (t, samples.mean(axis=0), mean)
                assert np.all(np.abs(samples.var(axis=0) - var) < 5 * se_var), (t, samples.var(axis=0), var)


def test_q_sample_takes_one_timestep_per_example_and_checks_them():
    s = NoiseSchedule("cosine", 50)
    x0, eps = np.ones((3, 2)), np.full((3, 2), 2.0)
    x_t, _ = s.q_sample(x0, np.array([0, 10, 49]), eps=eps)
    expected = np.sqrt(s.alpha_bar[[0, 10, 49]])[:, None] + 2 * np.sqrt(1 - s.alpha_bar[[0, 10, 49]])[:, None]
    np.testing.assert_allclose(x_t, np.repeat(expected, 2, axis=1))
    with pytest.raises(ValueError, match=r"timesteps must be in 0..49, got 0..50"):
        s.q_sample(x0, np.array([0, 1, 50]), eps=eps)


# ------------------------------------------------------------------ samplers
@pytest.mark.parametrize("clip", [False, True])
@given(seed=st.integers(0, 2**32 - 1), t=st.integers(1, 29))
@settings(max_examples=10)
def test_ddim_with_eta_1_and_s_t_minus_1_is_the_ddpm_step(clip, seed, t):
    rng = np.random.default_rng(seed)
    s = NoiseSchedule("linear", 30)
    x_t, eps, z = (rng.standard_normal((4, 3)) for _ in range(3))
    np.testing.assert_allclose(s.ddim_step(x_t, t, t - 1, eps, 1.0, z, clip), s.ddpm_step(x_t, t, eps, z, clip),
                               rtol=1e-10, atol=1e-12)
    # ... and the last step, to x_0, is the same too: both return the predicted x_0.
    np.testing.assert_allclose(s.ddim_step(x_t, 0, -1, eps, 1.0, z, clip), s.ddpm_step(x_t, 0, eps, z, clip),
                               rtol=1e-10, atol=1e-12)


def test_ddpm_step_is_ho_et_al_eps_form():
    rng = np.random.default_rng(0)
    s = NoiseSchedule("cosine", 30)
    x_t, eps, z = (rng.standard_normal((4, 3)) for _ in range(3))
    t = 12
    mean = (x_t - s.betas[t] / np.sqrt(1 - s.alpha_bar[t]) * eps) / np.sqrt(s.alphas[t])
    np.testing.assert_allclose(s.ddpm_step(x_t, t, eps, z), mean + np.sqrt(s.posterior_variance[t]) * z, rtol=1e-10)


def ring_model(T=30, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    net = MLPDenoiser(hidden=16, depth=2, emb_dim=8, rng=rng, dtype=dtype)
    return Diffusion(net, NoiseSchedule("linear", T), (2,), clip=False, lr=3e-3, ema=0.9, rng=rng)


def test_ddim_sampler_with_all_steps_and_eta_1_equals_the_ddpm_sampler():
    model = ring_model(dtype=np.float64)
    a = model.sample(7, np.random.default_rng(3), sampler="ddpm")
    b = model.sample(7, np.random.default_rng(3), sampler="ddim", steps=30, eta=1.0)
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_same_seed_same_samples_and_ddim_eta_0_is_deterministic_in_x_T():
    model = ring_model()
    for kwargs in ({"sampler": "ddpm"}, {"steps": 5}, {"steps": 5, "eta": 0.5}):
        a = model.sample(6, np.random.default_rng(1), **kwargs)
        b = model.sample(6, np.random.default_rng(1), **kwargs)
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, model.sample(6, np.random.default_rng(2), **kwargs))
    # eta = 0: x_T alone decides the sample, so the batching cannot change it.
    np.testing.assert_allclose(model.sample(6, np.random.default_rng(1), steps=5),
                               model.sample(6, np.random.default_rng(1), steps=5, batch_size=2), rtol=1e-6)
    samples, trajectory = model.sample(4, np.random.default_rng(1), steps=5, keep=(29, 0))
    assert samples.dtype == np.float32 and set(trajectory) == {29, 0, -1}
    np.testing.assert_array_equal(trajectory[-1], samples)


def test_ddim_timesteps_and_their_errors():
    np.testing.assert_array_equal(ddim_timesteps(10, 10), np.arange(9, -1, -1))
    np.testing.assert_array_equal(ddim_timesteps(1000, 4), [999, 666, 333, 0])
    for bad in (0, 11):
        with pytest.raises(ValueError, match=r"steps must be an int in 1..T=10"):
            ddim_timesteps(10, bad)


# ------------------------------------------------------------------ guidance
def test_guidance_formula_and_w_0_is_the_conditional_prediction():
    rng = np.random.default_rng(0)
    cond, uncond = rng.standard_normal((2, 5, 3))
    np.testing.assert_array_equal(guided_eps(cond, uncond, 0.0), cond)
    np.testing.assert_allclose(guided_eps(cond, uncond, 2.0), 3 * cond - 2 * uncond)
    net = UNet((1, 8, 8), width=4, groups=2, n_classes=3, rng=rng)
    model = Diffusion(net, NoiseSchedule("linear", 20), (1, 8, 8), n_classes=3, ema=0, rng=rng)
    x, labels = rng.standard_normal((4, 1, 8, 8)).astype(np.float32), np.array([0, 1, 2, 0])
    direct = net.forward(x, np.full(4, 7.0, np.float32), labels)
    np.testing.assert_allclose(model.predict_eps(x, 7, labels, guidance=0.0), direct, rtol=1e-6)
    null = net.forward(x, np.full(4, 7.0, np.float32), np.full(4, 3))
    np.testing.assert_allclose(model.predict_eps(x, 7, labels, guidance=1.5), 2.5 * direct - 1.5 * null,
                               rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- gradients
def fourth_order(f, p, idx, h=1e-4):
    """Richardson's centred difference of f() in the element p[idx] (error O(h^4))."""
    old, values = p[idx], {}
    for k in (1, -1, 2, -2):
        p[idx] = old + k * h
        values[k] = f()
    p[idx] = old
    return (8 * (values[1] - values[-1]) - (values[2] - values[-2])) / (12 * h)


@pytest.mark.parametrize("n_classes", [0, 3], ids=["unconditional", "conditional"])
def test_unet_loss_gradient_wrt_every_parameter(n_classes):
    """The simple loss through the whole tiny U-Net, float64: every parameter tensor, element by
    element (all elements of the small ones, 3 drawn at random of each larger one), plus the
    directional derivative along a random direction in *all* parameters at once."""
    rng = np.random.default_rng(0)
    net = UNet((1, 8, 8), width=4, groups=2, n_classes=n_classes, rng=rng, dtype=np.float64)
    model = Diffusion(net, NoiseSchedule("linear", 50), (1, 8, 8), n_classes=n_classes, ema=0, rng=rng)
    x0, eps = rng.standard_normal((2, 2, 1, 8, 8))
    labels, drop = (np.array([0, 2]), np.array([False, True])) if n_classes else (None, None)
    t = np.array([3, 40])

    def f():
        return model.loss(x0, labels, t, eps, drop)

    f()
    analytic = {k: g.copy() for k, g in net.grads.items()}
    assert len(analytic) == len(net.params) == (73 if n_classes else 72)
    errors = {}
    for name, p in net.params.items():
        chosen = range(p.size) if p.size <= 4 else rng.choice(p.size, 3, replace=False)
        idxs = [np.unravel_index(i, p.shape) for i in chosen]
        errors[name] = rel_error(np.array([analytic[name][i] for i in idxs]),
                                 np.array([fourth_order(f, p, i) for i in idxs]))
    worst = max(errors, key=errors.get)
    assert errors[worst] <= TOL, (worst, errors[worst])
    direction = {k: rng.standard_normal(p.shape) for k, p in net.params.items()}
    saved = {k: p.copy() for k, p in net.params.items()}

    def along(h):
        for k, p in net.params.items():
            p[...] = saved[k] + h * direction[k]
        return f()

    h = 1e-4
    numeric = (8 * (along(h) - along(-h)) - (along(2 * h) - along(-2 * h))) / (12 * h)
    along(0.0)
    assert rel_error(sum(np.sum(analytic[k] * direction[k]) for k in analytic), numeric) <= TOL


def test_mlp_denoiser_gradients_wrt_every_parameter_and_x():
    rng = np.random.default_rng(0)
    net = MLPDenoiser(hidden=5, depth=2, emb_dim=4, rng=rng, dtype=np.float64)
    x, dy, t = rng.standard_normal((3, 2)), rng.standard_normal((3, 2)), np.array([1.0, 5.0, 9.0])
    f = lambda: np.sum(net.forward(x, t) * dy)  # noqa: E731
    f()
    dx = net.backward(dy)
    analytic = {k: g.copy() for k, g in net.grads.items()}
    from aigc_np.gradcheck import numerical_gradient
    assert rel_error(dx, numerical_gradient(f, x)) <= TOL
    for k, p in net.params.items():
        assert rel_error(analytic[k], numerical_gradient(f, p)) <= TOL, k


# ------------------------------------------------------------ v-prediction
@settings(max_examples=20, deadline=None)
@given(t=st.integers(0, 999), kind=st.sampled_from(["linear", "cosine"]), seed=st.integers(0, 2**16))
def test_v_holds_eps_and_x0_and_its_x0_error_is_never_amplified(t, kind, seed):
    """v = sqrt(ab) eps - sqrt(1 - ab) x_0 gives back eps (and x_0) exactly, and an error dv in v
    moves the x_0 it implies by sqrt(1 - ab) dv: never more than dv (eps: dv / sqrt(ab))."""
    s, rng = NoiseSchedule(kind, 1000), np.random.default_rng(seed)
    x0, eps, dv = rng.standard_normal((3, 4, 6))
    x_t, _ = s.q_sample(x0, t, eps=eps)
    v = s.v_target(x0, eps, np.full(4, t))
    np.testing.assert_allclose(s.eps_from_v(x_t, t, v), eps, rtol=1e-7, atol=1e-7)
    x0_from = lambda vv: s.predict_x0(x_t, t, s.eps_from_v(x_t, t, vv))  # noqa: E731
    if s.alpha_bar[t] > 1e-6:   # predict_x0 divides by sqrt(ab): exact enough away from ab = 0
        np.testing.assert_allclose(x0_from(v), x0, rtol=1e-6, atol=1e-6)
        moved = x0_from(v + 1e-3 * dv) - x0_from(v)
        np.testing.assert_allclose(moved, -np.sqrt(1 - s.alpha_bar[t]) * 1e-3 * dv, rtol=1e-4, atol=1e-9)


def test_v_loss_is_the_mean_squared_v_error_and_its_gradient_is_checked():
    rng = np.random.default_rng(0)
    net = MLPDenoiser(hidden=5, depth=2, emb_dim=4, rng=rng, dtype=np.float64)
    model = Diffusion(net, NoiseSchedule("cosine", 50), (2,), ema=0, prediction="v", rng=rng)
    x0, eps, t = rng.standard_normal((3, 2)), rng.standard_normal((3, 2)), np.array([2, 25, 49])
    f = lambda: model.loss(x0, t=t, eps=eps)  # noqa: E731
    x_t, _ = model.schedule.q_sample(x0, t, eps=eps)
    pred = net.forward(x_t, t.astype(float))
    assert f() == pytest.approx(np.mean((pred - model.schedule.v_target(x0, eps, t)) ** 2), rel=1e-12)
    analytic = {k: g.copy() for k, g in net.grads.items()}
    from aigc_np.gradcheck import numerical_gradient
    for k, p in net.params.items():
        assert rel_error(analytic[k], numerical_gradient(f, p)) <= TOL, k
    # Sampling turns the network's v into eps: predict_eps = eps_from_v(x_t, t, v_theta).
    np.testing.assert_allclose(model.predict_eps(x_t[:1], 25), model.schedule.eps_from_v(
        x_t[:1], 25, net.forward(x_t[:1], np.array([25.0]))), rtol=1e-12)
    with pytest.raises(ValueError, match="prediction must be one of"):
        Diffusion(net, NoiseSchedule("cosine", 50), (2,), prediction="x0")


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_min_snr_loss_is_the_x0_error_weighted_by_the_capped_snr_and_its_gradient_is_checked(prediction):
    """With min_snr = gamma the loss is mean min(SNR_t, gamma) ||x0_hat - x0||^2 whatever the network
    predicts (Hang et al. 2023): eps's weight SNR and v's SNR + 1 on the x_0 error are capped at gamma."""
    rng = np.random.default_rng(1)
    net = MLPDenoiser(hidden=5, depth=2, emb_dim=4, rng=rng, dtype=np.float64)
    model = Diffusion(net, NoiseSchedule("cosine", 50), (2,), ema=0, prediction=prediction, min_snr=5.0, rng=rng)
    x0, eps, t = rng.standard_normal((4, 2)), rng.standard_normal((4, 2)), np.array([1, 10, 30, 49])
    f = lambda: model.loss(x0, t=t, eps=eps)  # noqa: E731
    x_t, _ = model.schedule.q_sample(x0, t, eps=eps)
    out = net.forward(x_t, t.astype(float))
    ab = model.schedule.alpha_bar[t][:, None]
    x0_hat = (x_t - np.sqrt(1 - ab) * out) / np.sqrt(ab) if prediction == "eps" else (
        np.sqrt(ab) * x_t - np.sqrt(1 - ab) * out)
    snr = (ab / (1 - ab))
    assert f() == pytest.approx(np.mean(np.minimum(snr, 5.0) * (x0_hat - x0) ** 2), rel=1e-10)
    analytic = {k: g.copy() for k, g in net.grads.items()}
    from aigc_np.gradcheck import numerical_gradient
    for k, p in net.params.items():
        assert rel_error(analytic[k], numerical_gradient(f, p)) <= TOL, k


def test_param_counts_from_the_arguments_match_the_built_networks():
    for width, n_classes in ((4, 0), (6, 10), (32, 0)):
        net = UNet((1, 28, 28), width=width, groups=2, n_classes=n_classes)
        assert net.num_params() == unet_param_count(1, width, n_classes)
    assert MLPDenoiser(hidden=7, depth=3, emb_dim=6).num_params() == mlp_param_count(2, 7, 3, 6)


def test_unet_skips_split_the_gradient_by_channels_and_shapes_are_kept():
    net = UNet((1, 8, 8), width=4, groups=2, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((3, 1, 8, 8)).astype(np.float32)
    y = net.forward(x, np.array([0.0, 5.0, 9.0], np.float32))
    assert y.shape == x.shape and y.dtype == np.float32
    assert net.backward(np.ones_like(y)).dtype == np.float32
    with pytest.raises(ValueError, match=r"UNet: expected images x of shape \(N, 1, 8, 8\)"):
        net.forward(x[:, :, :4], np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="UNet: this U-Net is unconditional"):
        net.forward(x, np.zeros(3, np.float32), np.zeros(3, int))


# ----------------------------------------------------------------- training
def test_training_on_the_ring_lowers_the_loss_and_is_reproducible():
    def run():
        model = ring_model(T=100)
        data = ring_of_gaussians(64 * 150, np.random.default_rng(5), std=0.05)
        losses = [model.train_step(xb)["loss"] for xb in data.reshape(150, 64, 2)]
        return model, losses

    model, losses = run()
    assert np.mean(losses[-20:]) < 0.6 * np.mean(losses[:20])
    again, losses_again = run()
    assert losses == losses_again
    for k, p in model.net.params.items():
        np.testing.assert_array_equal(p, again.net.params[k])
        assert p.dtype == np.float32
    # The EMA copy samples, and it is a real average: it differs from the trained weights.
    assert model.sampler is model.net_ema
    assert any(not np.array_equal(p, model.net_ema.params[k]) for k, p in model.net.params.items())


def test_conditional_train_step_drops_labels_to_null_with_p_uncond():
    rng = np.random.default_rng(0)
    net = UNet((1, 8, 8), width=4, groups=2, n_classes=3, rng=rng)
    model = Diffusion(net, NoiseSchedule("linear", 20), (1, 8, 8), n_classes=3, p_uncond=0.25, ema=0, rng=rng)
    seen = []
    forward = net.forward
    net.forward = lambda x, t, labels: (seen.append(labels.copy()), forward(x, t, labels))[1]
    images = rng.uniform(-1, 1, (400, 64)).astype(np.float32)
    model.train_step(images, np.arange(400) % 3)
    null = seen[0] == 3
    assert 0.18 < null.mean() < 0.32                                   # p_uncond = 0.25
    np.testing.assert_array_equal(seen[0][~null], (np.arange(400) % 3)[~null])


def test_sampling_errors_name_the_problem():
    model = ring_model()
    with pytest.raises(ValueError, match="ddpm sampler takes all T=30 steps"):
        model.sample(2, np.random.default_rng(0), sampler="ddpm", steps=5)
    with pytest.raises(ValueError, match="steps must be an int in 1..T=30"):
        model.sample(2, np.random.default_rng(0), steps=31)
    with pytest.raises(ValueError, match="guidance needs a conditional model"):
        model.sample(2, np.random.default_rng(0), guidance=1.0)
    with pytest.raises(ValueError, match="unconditional; it takes no labels"):
        model.sample(2, np.random.default_rng(0), labels=[1, 2])


def test_resume_through_the_shared_loop_is_bit_identical(tmp_path):
    """Weights, EMA, Adam state and every generator live in the checkpoint: 1 + 1 epochs == 2 epochs."""
    from aigc_np.plan import Plan
    from aigc_np.training import train
    data = ring_of_gaussians(640, np.random.default_rng(5), std=0.05)

    def fresh():
        return ring_model(T=50)

    straight = fresh()
    train(straight, (data,), Plan.epochs(2, 64, len(data)), rng=np.random.default_rng(0), out_dir=str(tmp_path / "a"))
    half = fresh()
    train(half, (data,), Plan.epochs(1, 64, len(data)), rng=np.random.default_rng(0), out_dir=str(tmp_path / "b"))
    resumed = fresh()
    train(resumed, (data,), Plan.epochs(2, 64, len(data)), rng=np.random.default_rng(99), out_dir=str(tmp_path / "b"),
          resume=True)
    for k, p in straight.params.items():
        np.testing.assert_array_equal(p, resumed.params[k], err_msg=k)
    assert set(straight.params) == {f"{part}.{k}" for part in ("denoiser", "denoiser_train")
                                    for k in straight.net.params}
