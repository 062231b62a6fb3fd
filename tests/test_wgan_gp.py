"""WGAN-GP: the gradient penalty's gradients (w.r.t. every critic parameter
and x_hat) for a LeakyReLU, a Tanh and a Conv2D critic, the full critic loss
and the generator loss, all against numerical gradients of the model's own
functions in float64 at <= 1e-6; which player each step updates; dtypes,
reproducibility and checkpoints."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from aigc_np.gradcheck import numerical_gradient
from aigc_np.layers import (BatchNormalization, Conv2D, Dense, Dropout, Flatten, LeakyReLU, Reshape, Sequential,
                            Tanh)
from aigc_np.models import WGANGP, mlp_critic, mlp_generator
from test_double_backward import assert_gradient_matches

seeds = st.integers(0, 2**32 - 1)
LATENT, DIM = 3, 6


def make_critic(kind, rng, dtype=np.float64):
    if kind == "conv":
        layers = [Conv2D(2, 3, strides=2, padding="same"), Tanh(), Flatten(), Dense(4), LeakyReLU(0.2), Dense(1)]
        return Sequential(layers, input_shape=(1, 5, 5), rng=rng, dtype=dtype, name="critic")
    if kind == "tanh":
        return Sequential([Dense(5), Tanh(), Dense(4), Tanh(), Dense(1)], input_shape=(DIM,), rng=rng,
                          dtype=dtype, name="critic")
    return mlp_critic((5, 4), DIM, rng=rng, dtype=dtype)


def tiny_wgan(seed=0, kind="leaky_relu", dtype=np.float64, **options):
    """A WGAN-GP small enough for numerical gradients. G is the MLP generator
    (BatchNorm in its second hidden layer, tanh output); for the conv critic
    its output is reshaped to (1, 5, 5) images."""
    rng = np.random.default_rng(seed)
    if kind == "conv":
        G = Sequential([mlp_generator(LATENT, (5, 4), 25, rng=rng, dtype=dtype), Reshape((1, 5, 5))],
                       input_shape=(LATENT,), rng=rng, dtype=dtype, name="generator")
    else:
        G = mlp_generator(LATENT, (5, 4), DIM, rng=rng, dtype=dtype)
    D = make_critic(kind, rng, dtype)
    for name, b in {**G.params, **D.params}.items():
        if name.endswith(".b"):  # generic biases: no pre-activation sits on a kink
            b[...] = 0.1 * rng.standard_normal(b.shape)
    return WGANGP(G, D, LATENT, rng=rng, **options)


def relu_margin(net, x):
    """(smallest |input| of any LeakyReLU in ``net`` on ``x``, net's output); nested stacks too."""
    margin = np.inf
    for layer in net.layers:
        if isinstance(layer, Sequential):
            inner, x = relu_margin(layer, x)
            margin = min(margin, inner)
            continue
        if isinstance(layer, LeakyReLU):
            margin = min(margin, float(np.abs(x).min()))
        x = layer.forward(x)
    return margin, x


def data(wgan, n, seed):
    shape = (n, 1, 5, 5) if wgan.D.input_shape == (1, 5, 5) else (n, DIM)
    r = np.random.default_rng(seed)
    return np.tanh(r.standard_normal(shape)), r.standard_normal((n, LATENT)), r.random((n,) + (1,) * (len(shape) - 1))


def snapshot(arrays):
    return {k: v.copy() for k, v in arrays.items()}


# ------------------------------------------------------- gradient checks
@pytest.mark.parametrize("kind", ["leaky_relu", "tanh", "conv"])
@given(n=st.integers(1, 4), seed=seeds)
def test_penalty_gradients_wrt_critic_parameters_and_x_hat(kind, n, seed):
    wgan = tiny_wgan(seed, kind)
    x_real, _, _ = data(wgan, n, seed + 1)
    x_hat = x_real + 0.3 * np.random.default_rng(seed + 2).standard_normal(x_real.shape)
    assume(relu_margin(wgan.D, x_hat)[0] > 1e-4)

    value = wgan.penalty(x_hat)
    analytic, analytic_x = snapshot(wgan.D.grads), wgan.penalty_grad_x_hat.copy()

    def penalty():  # the model's own P
        return wgan.penalty(x_hat, backward=False)

    assert value == penalty() > 0
    for name, p in wgan.D.params.items():
        assert_gradient_matches(f"dP/d{name}", analytic[name], numerical_gradient(penalty, p))
    assert_gradient_matches("dP/dx_hat", analytic_x, numerical_gradient(penalty, x_hat))
    if kind == "leaky_relu":  # piecewise linear critic: its input gradient is locally constant in x_hat
        assert not analytic_x.any()
    else:
        assert np.abs(analytic_x).max() > 0


def test_penalty_of_a_linear_critic_by_hand(rng):
    """D(x) = x w + b has gradient w everywhere: P = lambda (||w|| - 1)^2, dP/dw = 2 lambda (||w|| - 1) w/||w||."""
    G = mlp_generator(LATENT, (4, 4), DIM, rng=rng, dtype=np.float64)
    D = Sequential([Dense(1)], input_shape=(DIM,), rng=rng, dtype=np.float64)
    wgan = WGANGP(G, D, LATENT, rng=rng, gp_weight=7.0)
    w = D.params["0.W"][:, 0]
    norm = np.linalg.norm(w)
    assert wgan.penalty(rng.standard_normal((5, DIM))) == pytest.approx(7.0 * (norm - 1) ** 2, rel=1e-12)
    np.testing.assert_allclose(D.grads["0.W"][:, 0], 14.0 * (norm - 1) * w / norm, rtol=1e-12)
    np.testing.assert_array_equal(D.grads["0.b"], 0.0)


@pytest.mark.parametrize("kind", ["leaky_relu", "tanh", "conv"])
@given(n=st.integers(2, 4), seed=seeds)  # G's BatchNorm needs a batch of >= 2
def test_critic_loss_gradients(kind, n, seed):
    wgan = tiny_wgan(seed, kind)
    x_real, z, eps = data(wgan, n, seed + 1)
    x_fake = wgan.G.forward(z)
    x_hat = eps * x_real + (1 - eps) * x_fake
    assume(min(relu_margin(wgan.D, x)[0] for x in (x_real, x_fake, x_hat)) > 1e-4)

    terms = wgan.critic_loss(x_real, x_fake, eps)
    analytic = snapshot(wgan.D.grads)
    assert terms["critic_loss"] == pytest.approx(terms["gp"] - terms["w_dist"], rel=1e-12)

    def loss():  # the model's own L_D
        return wgan.critic_loss(x_real, x_fake, eps)["critic_loss"]

    for name, p in wgan.D.params.items():
        assert_gradient_matches(f"dL_D/d{name}", analytic[name], numerical_gradient(loss, p))


# n >= 4: with 2 examples BatchNorm's output is +-1 whatever its input.
@pytest.mark.parametrize("kind", ["leaky_relu", "tanh", "conv"])
@given(n=st.integers(4, 6), seed=seeds)
def test_generator_loss_gradients_through_the_critic(kind, n, seed):
    wgan = tiny_wgan(seed, kind)
    _, z, _ = data(wgan, n, seed + 1)
    margin_g, fake = relu_margin(wgan.G, z)
    assume(min(margin_g, relu_margin(wgan.D, fake)[0]) > 1e-4)

    wgan.generator_loss(z)
    analytic = snapshot(wgan.G.grads)

    def loss():  # the model's own L_G
        return wgan.generator_loss(z)

    for name, p in wgan.G.params.items():
        assert np.abs(analytic[name]).max() > 0, f"dL_G/d{name} is all zeros"
        assert_gradient_matches(f"dL_G/d{name}", analytic[name], numerical_gradient(loss, p))


# ------------------------------------------------------- the game's steps
def test_critic_step_changes_only_the_critic_and_generator_step_only_g():
    wgan = tiny_wgan(3)
    x_real, z, _ = data(wgan, 8, 4)
    before = snapshot(wgan.params), snapshot(wgan.buffers)
    wgan.discriminator_loss(x_real, z)
    wgan.opt_d.step()
    params, buffers = snapshot(wgan.params), snapshot(wgan.buffers)
    changed = {k for k in params if not np.array_equal(params[k], before[0][k])}
    # every critic parameter but the output bias: it shifts D(real) and D(fake) alike,
    # so neither the Wasserstein term nor the penalty depends on it (its gradient is 0)
    assert changed == {k for k in params if k.startswith("critic.")} - {"critic.4.b"}
    np.testing.assert_allclose(wgan.D.grads["4.b"], 0.0, atol=1e-15)
    assert all(np.array_equal(buffers[k], before[1][k]) for k in buffers)  # G's BatchNorm statistics too

    wgan.generator_loss(z)
    wgan.opt_g.step()
    after = snapshot(wgan.params)
    assert {k for k in after if not np.array_equal(after[k], params[k])} == \
        {k for k in after if k.startswith("generator.")}


def test_train_step_is_n_critic_critic_steps_then_one_generator_step():
    wgan = tiny_wgan(5, dtype=np.float32, n_critic=3)
    x = data(wgan, 8, 1)[0].astype(np.float32)
    losses = wgan.train_step(x)
    assert set(losses) == {"d_loss", "w_dist", "gp", "g_loss"}
    assert all(isinstance(v, float) and np.isfinite(v) for v in losses.values())
    assert (wgan.opt_d.t, wgan.opt_g.t) == (3, 1)
    for store in (wgan.params, wgan.grads, wgan.buffers):
        assert {v.dtype for v in store.values()} == {np.dtype(np.float32)}
    assert wgan.sample(4).dtype == np.float32 and wgan.sample_eps(4, 2).dtype == np.float32


def test_defaults_follow_the_paper():
    wgan = tiny_wgan()
    assert (wgan.n_critic, wgan.gp_weight) == (5, 10.0)
    for opt in (wgan.opt_g, wgan.opt_d):
        assert (opt.lr, opt.beta1, opt.beta2) == (1e-4, 0.0, 0.9)
    assert set(wgan.parts) == {"generator", "critic"} and wgan.critic is wgan.D


def test_same_seed_same_run_and_eps_from_the_model_rng():
    def run(seed):
        wgan = tiny_wgan(seed, dtype=np.float32)
        x = data(wgan, 8, 0)[0].astype(np.float32)
        for _ in range(2):
            wgan.train_step(x)
        return wgan.params

    a, b, c = run(1), run(1), run(2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a)
    wgan = tiny_wgan(0)
    state = wgan.rng.bit_generator.state
    eps = wgan.sample_eps(4, 4)
    assert eps.shape == (4, 1, 1, 1) and np.all((0 <= eps) & (eps < 1))
    wgan.rng.bit_generator.state = state
    np.testing.assert_array_equal(wgan.sample_eps(4, 4), eps)


def test_critic_must_have_a_double_backward(rng):
    G = mlp_generator(LATENT, (4, 4), DIM, rng=rng)
    for bad in (BatchNormalization(), Dropout(0.3, rng=rng)):
        D = Sequential([Dense(4), bad, Dense(1)], input_shape=(DIM,), rng=rng)
        with pytest.raises(TypeError, match=f"critic layer 1 \\({type(bad).__name__}\\)"):
            WGANGP(G, D, LATENT, rng=rng)
    with pytest.raises(ValueError, match="n_critic"):
        WGANGP(G, mlp_critic((4,), DIM, rng=rng), LATENT, n_critic=0)


def test_trains_and_checkpoints_through_the_shared_loop(tmp_path):
    from aigc_np.checkpoint import load_checkpoint
    from aigc_np.plan import Plan
    from aigc_np.training import train

    wgan = tiny_wgan(6, dtype=np.float32, n_critic=2)
    x = np.tanh(np.random.default_rng(0).standard_normal((32, DIM))).astype(np.float32)
    history = train(wgan, (x,), Plan.epochs(1, 8, len(x)), rng=np.random.default_rng(1), out_dir=str(tmp_path))
    assert {"d_loss", "w_dist", "gp", "g_loss"} <= set(history[0])
    assert (wgan.opt_d.t, wgan.opt_g.t) == (8, 4)
    other = tiny_wgan(7, dtype=np.float32, n_critic=2)
    load_checkpoint(other, tmp_path / "last.npz")
    for k, v in wgan.params.items():
        np.testing.assert_array_equal(other.params[k], v)
    assert other.opt_d.t == 8 and other.opt_g.t == 4
    z = wgan.sample_z(3)
    np.testing.assert_array_equal(other.generate(z), wgan.generate(z))
