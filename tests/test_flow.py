"""Flow matching: the straight path, its loss and gradient, the time distributions, the ODE samplers."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aigc_np.gradcheck import numerical_gradient, rel_error
from aigc_np.models.diffusion import NoiseSchedule
from aigc_np.models.flow import (TIME_SCALE, FlowMatching, draw_times, flow_path, flow_times, guided_velocity,
                                 min_snr_weights)
from aigc_np.models.unet import MLPDenoiser

TOL = 1e-6


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 4), d=st.integers(1, 3), seed=st.integers(0, 100))
def test_path_goes_from_data_to_noise_and_v_is_its_time_derivative(n, d, seed):
    rng = np.random.default_rng(seed)
    x0, eps, t = rng.standard_normal((n, d)), rng.standard_normal((n, d)), rng.random(n)
    x_t, v = flow_path(x0, eps, t)
    np.testing.assert_allclose(flow_path(x0, eps, np.zeros(n))[0], x0)
    np.testing.assert_allclose(flow_path(x0, eps, np.ones(n))[0], eps)
    h = 1e-6
    derivative = (flow_path(x0, eps, t + h)[0] - flow_path(x0, eps, t - h)[0]) / (2 * h)
    np.testing.assert_allclose(derivative, v, atol=1e-8)
    np.testing.assert_allclose(x_t, x0 + t[:, None] * v, atol=1e-12)   # a straight line


def test_time_distributions():
    rng = np.random.default_rng(0)
    u, ln = draw_times(20000, rng, "uniform"), draw_times(20000, rng, "logit-normal")
    assert 0 < u.min() and u.max() < 1 and 0 < ln.min() and ln.max() < 1
    assert abs(np.median(ln) - 0.5) < 0.02 and abs(u.mean() - 0.5) < 0.02
    # the logit-normal puts more of its mass in the middle of the path
    assert np.mean(np.abs(ln - 0.5) < 0.25) > np.mean(np.abs(u - 0.5) < 0.25) + 0.1
    with pytest.raises(ValueError, match="distribution must be one of"):
        draw_times(3, rng, "beta")


def test_loss_is_the_mean_squared_velocity_error_and_its_gradient_is_checked():
    rng = np.random.default_rng(0)
    net = MLPDenoiser(hidden=5, depth=2, emb_dim=4, rng=rng, dtype=np.float64)
    model = FlowMatching(net, (2,), ema=0, rng=rng)
    x0, eps, t = rng.standard_normal((3, 2)), rng.standard_normal((3, 2)), np.array([0.1, 0.5, 0.93])
    f = lambda: model.loss(x0, t=t, eps=eps)  # noqa: E731
    x_t, v = flow_path(x0, eps, t)
    assert f() == pytest.approx(np.mean((net.forward(x_t, TIME_SCALE * t) - (eps - x0)) ** 2), rel=1e-12)
    f()
    analytic = {k: g.copy() for k, g in net.grads.items()}
    for k, p in net.params.items():
        assert rel_error(analytic[k], numerical_gradient(f, p)) <= TOL, k


def test_velocity_error_is_an_x0_error_over_t_and_the_v_ddpm_weight():
    """Knowing x_t, a velocity error dv is an x_0 error of -t dv (x_0 = x_t - t v): the loss weighs
    x_0 errors by 1/t^2 = (1 + sqrt(SNR))^2; the v-DDPM by 1/(1 - alpha_bar) = 1 + SNR."""
    t = np.linspace(0.05, 0.95, 7)
    snr = ((1 - t) / t) ** 2
    np.testing.assert_allclose(1 / t ** 2, (1 + np.sqrt(snr)) ** 2)
    s = NoiseSchedule("cosine", 1000)
    ab = s.alpha_bar[[10, 300, 600, 900]]
    snr_vp = ab / (1 - ab)
    # v = sqrt(ab) eps - sqrt(1 - ab) x0 and x_t fixed: dv = -dx0 / sqrt(1 - ab)
    x0, eps = np.array([0.3]), np.array([-1.2])
    for a, r in zip(ab, snr_vp):
        x_t = np.sqrt(a) * x0 + np.sqrt(1 - a) * eps
        dx0 = 1e-3
        eps2 = (x_t - np.sqrt(a) * (x0 + dx0)) / np.sqrt(1 - a)          # the same x_t
        dv = (np.sqrt(a) * eps2 - np.sqrt(1 - a) * (x0 + dx0)) - (np.sqrt(a) * eps - np.sqrt(1 - a) * x0)
        assert (dv / dx0) ** 2 == pytest.approx(1 + r, rel=1e-9)
    ratio = (1 + np.sqrt(snr)) ** 2 / (1 + snr)
    assert ratio.max() <= 2 + 1e-12 and ratio.min() >= 1


def test_min_snr_loss_is_the_x0_error_weighted_by_the_capped_snr_and_its_gradient_is_checked():
    """With min_snr = gamma the loss is mean min(SNR, gamma) ||x0_hat - x0||^2 (x0_hat = x_t - t v_theta,
    SNR = (1 - t)^2 / t^2): the velocity MSE with its x_0 weight 1 / t^2 replaced by the capped SNR."""
    rng = np.random.default_rng(3)
    net = MLPDenoiser(hidden=5, depth=2, emb_dim=4, rng=rng, dtype=np.float64)
    model = FlowMatching(net, (2,), ema=0, min_snr=5.0, rng=rng)
    x0, eps, t = rng.standard_normal((4, 2)), rng.standard_normal((4, 2)), np.array([0.05, 0.3, 0.6, 0.97])
    f = lambda: model.loss(x0, t=t, eps=eps)  # noqa: E731
    x_t, _ = flow_path(x0, eps, t)
    x0_hat = x_t - t[:, None] * net.forward(x_t, TIME_SCALE * t)
    snr = ((1 - t) / t) ** 2
    assert f() == pytest.approx(np.mean(np.minimum(snr, 5.0)[:, None] * (x0_hat - x0) ** 2), rel=1e-10)
    w = min_snr_weights(t, 5.0)
    assert w[0] == pytest.approx(5.0 * 0.05 ** 2) and w[3] == pytest.approx(0.03 ** 2)   # both ends capped
    f()
    analytic = {k: g.copy() for k, g in net.grads.items()}
    for k, p in net.params.items():
        assert rel_error(analytic[k], numerical_gradient(f, p)) <= TOL, k
    with pytest.raises(ValueError, match="min_snr must be >= 0"):
        FlowMatching(net, (2,), min_snr=-1.0)


def test_autoguidance_takes_the_guide_at_its_step_and_steps_away_from_it():
    """The guide is the sampling network (the EMA) as it was after guide_step steps, frozen after;
    guided sampling uses (1 + w) v - w v_guide, and is refused until the guide exists."""
    rng = np.random.default_rng(4)
    net = MLPDenoiser(hidden=6, depth=1, emb_dim=4, rng=rng)
    model = FlowMatching(net, (2,), ema=0.9, guide_step=2, rng=rng)
    x0 = rng.standard_normal((8, 2)).astype(np.float32)
    model.train_step(x0)
    with pytest.raises(ValueError, match="taken at step 2, but the model has trained 1 steps"):
        model.sample(3, np.random.default_rng(0), steps=2, guidance=1.0)
    model.train_step(x0)
    taken = {k: v.copy() for k, v in model.net_ema.params.items()}
    model.train_step(x0)
    assert model.has_guide and set(model.parts) == {"velocity", "velocity_train", "velocity_guide"}
    for k, v in model.net_guide.params.items():
        np.testing.assert_array_equal(v, taken[k])
        assert not np.array_equal(v, model.net_ema.params[k])     # the EMA moved on; the guide did not
    x, t = rng.standard_normal((5, 2)).astype(np.float32), 0.4
    times = np.full(5, TIME_SCALE * t, dtype=np.float32)
    model.net_ema.eval(), model.net_guide.eval()
    expected = 3.0 * model.net_ema.forward(x, times) - 2.0 * model.net_guide.forward(x, times)
    np.testing.assert_allclose(model.velocity(x, t, guidance=2.0), expected, rtol=1e-5, atol=1e-6)
    guided = model.sample(4, np.random.default_rng(0), steps=3, guidance=2.0)
    assert guided.shape == (4, 2) and not np.allclose(guided, model.sample(4, np.random.default_rng(0), steps=3))
    with pytest.raises(ValueError, match="this model has none"):
        FlowMatching(net, (2,), ema=0, rng=rng).sample(2, rng, steps=2, guidance=1.0)
    with pytest.raises(ValueError, match="guide_step must be 0"):
        FlowMatching(net, (2,), n_classes=3, guide_step=2)


class _ExactVelocity:
    """The exact velocity field of data concentrated on one point c: v(x, t) = (x - c) / t."""

    def __init__(self, c):
        self.c, self.training, self.dtype, self.calls = c, False, np.float64, 0

    def forward(self, x, t, labels=None):
        self.calls += 1
        return (x - self.c) / (t[:, None] / TIME_SCALE)

    def eval(self):
        return self

    def train(self):
        return self

    params, grads = {}, {}


@pytest.mark.parametrize("sampler,calls", [("euler", 4), ("heun", 7)])
def test_samplers_follow_straight_lines_exactly_and_count_their_calls(sampler, calls):
    c = np.array([0.7, -1.5])
    net = _ExactVelocity(c)
    model = FlowMatching.__new__(FlowMatching)   # a FlowMatching around a fake network
    model.net, model.net_ema, model.net_guide, model.data_shape, model.n_classes = net, None, None, (2,), 0
    out = model.sample(5, np.random.default_rng(0), sampler=sampler, steps=4)
    np.testing.assert_allclose(out, np.tile(c, (5, 1)), atol=1e-12)
    assert net.calls == calls
    np.testing.assert_allclose(flow_times(4), [1.0, 0.75, 0.5, 0.25, 0.0])


def test_guidance_formula_and_sampling_is_reproducible():
    a, b = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    np.testing.assert_allclose(guided_velocity(a, b, 2.0), 3 * a - 2 * b)
    assert guided_velocity(a, b, 0.0) is a
    rng = np.random.default_rng(0)
    model = FlowMatching(MLPDenoiser(hidden=8, depth=1, emb_dim=4, rng=rng), (2,), rng=rng)
    one = model.sample(7, np.random.default_rng(3), steps=3, batch_size=3)
    np.testing.assert_array_equal(one, model.sample(7, np.random.default_rng(3), steps=3, batch_size=3))
    np.testing.assert_allclose(one, model.sample(7, np.random.default_rng(3), steps=3), atol=1e-5)   # batching
    for kwargs, message in (({"sampler": "rk4"}, "sampler must be one of"), ({"steps": 0}, "steps must be"),
                            ({"labels": np.zeros(7, int)}, "unconditional"), ({"guidance": 1.0}, "conditional")):
        with pytest.raises(ValueError, match=message):
            model.sample(7, rng, **kwargs)
    with pytest.raises(ValueError, match="time_distribution"):
        FlowMatching(model.net, (2,), time_distribution="beta")


def test_training_on_the_ring_lowers_the_loss_and_is_reproducible():
    from aigc_np.course.toy import ring_of_gaussians

    def run():
        rng = np.random.default_rng(0)
        model = FlowMatching(MLPDenoiser(hidden=32, depth=2, emb_dim=8, rng=rng), (2,), lr=3e-3, rng=rng,
                             time_distribution="uniform")
        data = np.random.default_rng(1)
        return [model.train_step(ring_of_gaussians(128, data) / 2)["loss"] for _ in range(150)]
    a, b = run(), run()
    assert a == b
    assert np.mean(a[-20:]) < 0.9 * np.mean(a[:20])
