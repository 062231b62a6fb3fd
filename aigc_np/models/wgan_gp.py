"""Wasserstein GAN with gradient penalty (Gulrajani et al. 2017, "Improved
Training of Wasserstein GANs").

A plain GAN's discriminator outputs a probability; when it wins, its
gradient for G vanishes, and G can chase D's weak spot from mode to mode
(lesson 06). WGAN-GP replaces D by a *critic* D with a linear output and
no sigmoid, trained to estimate the Wasserstein-1 distance between the data
and G's samples, E[D(x)] - E[D(G(z))], which is only meaningful if D is
1-Lipschitz. Instead of clipping weights, the *gradient penalty* asks for
gradient norm 1 on points x_hat between real and fake samples:

    x_hat = eps x + (1 - eps) G(z),   eps ~ U[0, 1) per example (from the model's rng)
    P     = lambda * mean_i (||dD/dx_hat_i||_2 - 1)^2,   lambda = 10
    L_D   = mean D(G(z)) - mean D(x) + P              critic: n_critic = 5 steps per G step
    L_G   = -mean D(G(z))                             generator: backprop through D into G

P is a loss on a *gradient*, so its gradient needs a backward pass over the
backward pass: ``Sequential.backward_backward`` (built from each layer's
``backward_backward``, next to its ``backward``). The critic must therefore
be made of layers that have one: Dense, Conv2D, Flatten, Reshape and the
element-wise activations; no BatchNorm (it would mix the examples of a batch,
so the per-example gradient norm would not be defined; the paper drops it).

Adam: lr 1e-4, beta1 0.0, beta2 0.9 for both players (the paper's values;
beta1 = 0.5 also works). Keras's default beta2 0.999 reacts too slowly to a
critic whose landscape changes at every step.

One ``train_step(x)`` is one round: ``n_critic`` critic steps, each with fresh
z and eps on the same real batch x (as Keras's WGAN-GP example does; the
paper draws a fresh real batch for each), then one generator step.
"""
from __future__ import annotations

import numpy as np

from ..layers import Dense, LeakyReLU, Sequential
from ..optimizers import Adam
from .base import Model
from .gan import GAN, mlp_generator, require_double_backward

__all__ = ["WGANGP", "mlp_critic", "mlp_generator"]


def mlp_critic(hidden=(512, 256), in_dim: int = 784, alpha: float = 0.2,
               rng: np.random.Generator | None = None, dtype=np.float32) -> Sequential:
    """An MLP critic: x -> [Dense, LeakyReLU(alpha)]... -> Dense(1), a linear score.

    No sigmoid (the score is not a probability), no BatchNorm, no Dropout.
    """
    layers = []
    for units in hidden:
        layers += [Dense(units), LeakyReLU(alpha)]
    layers.append(Dense(1))
    return Sequential(layers, input_shape=(in_dim,), rng=rng, dtype=dtype, name="critic")


class WGANGP(GAN):
    """A generator and a critic trained with the Wasserstein loss and the gradient penalty.

    Args:
        generator: Sequential z (N, latent_dim) -> samples (e.g. ``mlp_generator``).
        critic: Sequential samples -> scores (N, 1), linear output (e.g. ``mlp_critic``).
        latent_dim: size of z.
        rng: Generator for z and eps (the layers hold their own).
        lr, beta1, beta2: Adam settings of both players (paper: 1e-4, 0.0, 0.9).
        n_critic: critic steps per generator step (paper: 5).
        gp_weight: lambda, the weight of the penalty (paper: 10).

    Sampling (``sample_z``, ``generate``, ``sample``), the optional weight
    average of G (``enable_ema``) and the handling of G's BatchNorm during
    critic steps are the plain GAN's. ``parts`` are "generator" and "critic".
    """

    def __init__(self, generator: Sequential, critic: Sequential, latent_dim: int = 100,
                 rng: np.random.Generator | None = None, lr: float = 1e-4, beta1: float = 0.0,
                 beta2: float = 0.9, n_critic: int = 5, gp_weight: float = 10.0):
        Model.__init__(self, generator=generator, critic=critic)
        require_double_backward(critic, "WGANGP", "critic",
                                "the gradient penalty cannot be differentiated through it; a WGAN-GP critic "
                                "uses Dense, Conv2D, Flatten, Reshape, ReLU, LeakyReLU, Tanh or Sigmoid "
                                "(no BatchNormalization, no Dropout)")
        if int(n_critic) < 1 or int(n_critic) != n_critic:
            raise ValueError(f"WGANGP: n_critic must be a positive int, got {n_critic!r}")
        if not float(gp_weight) >= 0.0:
            raise ValueError(f"WGANGP: gp_weight must be >= 0, got {gp_weight!r}")
        self.G, self.D = generator, critic
        self.critic = critic
        self.latent_dim = latent_dim
        self.rng = np.random.default_rng(0) if rng is None else rng
        self.n_critic, self.gp_weight = int(n_critic), float(gp_weight)
        self.label_smoothing = 0.0
        self.opt_g = Adam(generator, lr=lr, beta1=beta1, beta2=beta2)
        self.opt_d = Adam(critic, lr=lr, beta1=beta1, beta2=beta2)
        self.G_ema, self.ema_decay, self._ema_calibrated = None, None, False
        self.penalty_grad_x_hat = None

    def enable_ema(self, decay: float = 0.999) -> "WGANGP":
        """As ``GAN.enable_ema``; the parts are "generator" (G_ema), "critic", "generator_train"."""
        super().enable_ema(decay)
        self.parts = {"generator": self.G_ema, "critic": self.D, "generator_train": self.G}
        return self

    # ------------------------------------------------------- the penalty
    def sample_eps(self, n: int, ndim: int) -> np.ndarray:
        """eps ~ U[0, 1), one per example, shaped (n, 1, ..., 1) to broadcast over a sample."""
        return self.rng.random((n,) + (1,) * (ndim - 1)).astype(self.D.dtype)

    def penalty(self, x_hat: np.ndarray, backward: bool = True) -> float:
        """P = gp_weight * mean_i (||dD/dx_hat_i||_2 - 1)^2 on the points ``x_hat``.

        1. forward, then backward with dy = 1: g_i = dD(x_hat_i)/dx_hat_i (D
           treats examples independently, so this is each example's own gradient);
        2. dP/dg_i = gp_weight * (2/N) (||g_i|| - 1) g_i / ||g_i||;
        3. ``D.backward_backward(dP/dg, 1)``: *assigns* dP/dtheta to the
           critic's grads and returns dP/dx_hat, kept in ``penalty_grad_x_hat``.

        With ``backward=False`` only P is computed (steps 1 and the formula).
        """
        scores = self.D.forward(x_hat)
        ones = np.ones_like(scores)
        g = self.D.input_gradient(ones)          # g only; backward_backward assigns the critic's grads
        g_rows = g.reshape(len(g), -1)
        norms = np.sqrt(np.sum(g_rows * g_rows, axis=1))
        value = self.gp_weight * float(np.mean((norms - 1.0) ** 2))
        if backward:
            scale = (2.0 * self.gp_weight / len(g)) * (norms - 1.0) / np.maximum(norms, np.finfo(g.dtype).tiny)
            d_g = (scale[:, None] * g_rows).reshape(g.shape).astype(g.dtype, copy=False)
            _, d_x_hat = self.D.backward_backward(d_g, ones)
            self.penalty_grad_x_hat = np.zeros_like(x_hat) if d_x_hat is None else d_x_hat
        return value

    # ------------------------------------------------------------ the game
    def critic_loss(self, x_real: np.ndarray, x_fake: np.ndarray, eps: np.ndarray) -> dict:
        """L_D = mean D(x_fake) - mean D(x_real) + P(eps x_real + (1 - eps) x_fake).

        Fills the critic's grads with dL_D/dtheta, the sum of two passes: the
        Wasserstein term's backward, saved, plus the penalty's (which assigns
        its own), added explicitly. x_fake and eps are constants here.

        Returns floats: ``critic_loss`` (L_D), ``w_dist`` (the Wasserstein
        estimate mean D(x_real) - mean D(x_fake)) and ``gp`` (P).
        """
        n_real = len(x_real)
        scores = self.D.forward(np.concatenate([x_real, x_fake]))
        w_dist = float(np.mean(scores[:n_real]) - np.mean(scores[n_real:]))
        d_scores = np.concatenate([np.full((n_real,) + scores.shape[1:], -1.0 / n_real),
                                   np.full((len(x_fake),) + scores.shape[1:], 1.0 / len(x_fake))])
        self.D.param_gradients(d_scores.astype(scores.dtype))   # no dL/d(input): data and detached fakes
        wasserstein_grads = {k: g.copy() for k, g in self.D.grads.items()}
        gp = self.penalty(eps * x_real + (1 - eps) * x_fake)   # assigns the penalty's gradients
        for k, g in self.D.grads.items():
            g += wasserstein_grads[k]                           # ... and the sum is explicit
        return {"critic_loss": gp - w_dist, "w_dist": w_dist, "gp": gp}

    def discriminator_loss(self, x_real, z) -> float:
        """One critic loss on x_real and G(z) (G untouched), with eps from the model's rng."""
        return self.critic_loss(x_real, self._fakes_for_d(z), self.sample_eps(len(x_real), x_real.ndim))[
            "critic_loss"]

    def generator_loss(self, z) -> float:
        """L_G = -mean D(G(z)); backward through the critic into G's grads.

        Only G's gradients are applied after this, so the critic's part is
        ``input_gradient``: dL_G/d(samples) without the critic's weight gradients.
        """
        samples = self.G.forward(z)
        scores = self.D.forward(samples)
        d_samples = self.D.input_gradient(np.full_like(scores, -1.0 / len(scores)))  # dL_G/d(samples)
        self.G.backward(d_samples)
        return -float(np.mean(scores))

    def train_step(self, x_real) -> dict:
        """n_critic critic steps (fresh z and eps each), then one generator step.

        Returns the critic's losses averaged over its steps (``d_loss`` = L_D,
        ``w_dist``, ``gp``) and the generator's ``g_loss``.
        """
        n = len(x_real)
        totals = {"d_loss": 0.0, "w_dist": 0.0, "gp": 0.0}
        for _ in range(self.n_critic):
            fake = self._fakes_for_d(self.sample_z(n))
            terms = self.critic_loss(x_real, fake, self.sample_eps(n, x_real.ndim))
            self.opt_d.step()
            totals["d_loss"] += terms["critic_loss"]
            totals["w_dist"] += terms["w_dist"]
            totals["gp"] += terms["gp"]
        g_loss = self.generator_loss(self.sample_z(n))
        self.opt_g.step()
        if self.G_ema is not None:
            self.update_ema()
        return {**{k: v / self.n_critic for k, v in totals.items()}, "g_loss": g_loss}
