"""Generative adversarial networks (Goodfellow et al. 2014).

A generator G maps noise z ~ N(0, I) to images; a discriminator D maps an
image to a logit, D(x) = sigmoid(logit) = "probability that x is real".
They play a game, each with its own Adam optimizer:

    L_D = -[log D(x) + log(1 - D(G(z)))]      D: tell real from fake
    L_G = -log D(G(z))                        G: fool D ("non-saturating" loss)

Both losses are binary cross-entropies on D's logits (computed with the
stable from-logits form). L_G's gradient reaches G *through* D: we backprop
through D's layers to get dL/d(fake image), then through G -- but only G's
optimizer steps, so D is untouched by G's update.

Optionally (``enable_ema``) the GAN also keeps an exponential moving average
of G's weights and samples from that averaged generator: the weights of the
live G wander from step to step as the game goes on, and their average draws
cleaner images (Yazici et al. 2019, "The unusual effectiveness of averaging
in GAN training").
"""
from __future__ import annotations

import copy

import numpy as np

from ..layers import BatchNormalization, Dense, Dropout, Layer, LeakyReLU, Sequential, Tanh
from ..losses import BinaryCrossentropy
from ..optimizers import Adam
from .base import Model

__all__ = ["GAN", "mlp_generator", "mlp_discriminator"]


def mlp_generator(latent_dim: int = 100, hidden=(128, 256, 512, 1024), out_dim: int = 784,
                  rng: np.random.Generator | None = None, dtype=np.float32) -> Sequential:
    """The article's MLP generator: z -> [Dense, LeakyReLU(0.2), BN(0.8)]... -> Dense(784) -> tanh.

    The first hidden layer has no BatchNorm (as in the article's Keras code).
    Output (N, 784) in [-1, 1].
    """
    layers = []
    for i, units in enumerate(hidden):
        layers += [Dense(units), LeakyReLU(0.2)]
        if i > 0:
            layers.append(BatchNormalization(momentum=0.8))
    layers += [Dense(out_dim), Tanh()]
    return Sequential(layers, input_shape=(latent_dim,), rng=rng, dtype=dtype, name="generator")


def mlp_discriminator(hidden=(1024, 512, 256), in_dim: int = 784, dropout: float = 0.0,
                      rng: np.random.Generator | None = None, dtype=np.float32) -> Sequential:
    """The article's MLP discriminator: x -> [Dense, LeakyReLU(0.2)]... -> Dense(1) logit.

    ``dropout`` > 0 adds Dropout after each hidden layer (a regularizer that
    helps D not to memorize a small training set).
    """
    layers = []
    for units in hidden:
        layers += [Dense(units), LeakyReLU(0.2)]
        if dropout:
            layers.append(Dropout(dropout))
    layers.append(Dense(1))
    return Sequential(layers, input_shape=(in_dim,), rng=rng, dtype=dtype, name="discriminator")


def require_double_backward(net, who: str, role: str, why: str) -> None:
    """A penalty on D's input gradient (R1, WGAN-GP) differentiates D's backward
    pass, so every layer of ``net`` (nested stacks included) needs a
    ``backward_backward``; raise a TypeError naming the first one that has none."""
    for i, layer in enumerate(getattr(net, "layers", [net])):
        if isinstance(layer, Sequential):
            require_double_backward(layer, who, role, why)
        elif type(layer).backward_backward is Layer.backward_backward:
            raise TypeError(f"{who}: {role} layer {i} ({layer.name}) has no backward_backward; {why}")


class GAN(Model):
    """A generator and a discriminator trained against each other.

    Args:
        generator: Sequential z (N, latent_dim) -> images.
        discriminator: Sequential images -> logits (N, 1).
        latent_dim: size of z.
        rng: Generator for z (and nothing else: the layers hold their own).
        lr, beta1: Adam settings for both players (DCGAN paper: 2e-4, 0.5);
            lr_d overrides the discriminator's learning rate.
        label_smoothing: one-sided smoothing s: real targets are 1 - s
            (Salimans et al. 2016), fake targets stay 0.
        r1_weight: gamma of the R1 penalty on real images (0: off; see
            ``r1_penalty``). It differentiates D's input gradient, so every
            layer of D needs a ``backward_backward`` (no Dropout).
        r1_every: "lazy" R1 (Karras et al. 2020): apply it on every k-th D
            step only, with weight gamma * k, so that it costs 1/k as much
            and weighs the same on average.

    ``G_ema`` is None unless ``enable_ema`` was called; ``sampler`` is the
    generator that ``generate``/``sample`` use (G_ema if enabled, else G).
    """

    def __init__(self, generator: Sequential, discriminator: Sequential, latent_dim: int = 100,
                 rng: np.random.Generator | None = None, lr: float = 2e-4, beta1: float = 0.5,
                 lr_d: float | None = None, label_smoothing: float = 0.0, r1_weight: float = 0.0,
                 r1_every: int = 1):
        super().__init__(generator=generator, discriminator=discriminator)
        self.G, self.D = generator, discriminator
        self.latent_dim = latent_dim
        self.rng = np.random.default_rng(0) if rng is None else rng
        if not 0.0 <= label_smoothing < 0.5:
            raise ValueError(f"GAN: label_smoothing must be in [0, 0.5), got {label_smoothing}")
        self.label_smoothing = label_smoothing
        if not float(r1_weight) >= 0.0:
            raise ValueError(f"GAN: r1_weight must be >= 0, got {r1_weight!r}")
        self.r1_weight = float(r1_weight)
        if int(r1_every) != r1_every or r1_every < 1:
            raise ValueError(f"GAN: r1_every must be a positive int, got {r1_every!r}")
        self.r1_every = int(r1_every)
        if self.r1_weight:
            require_double_backward(discriminator, "GAN", "discriminator",
                                    "r1_weight > 0 differentiates D's input gradient; use a D without "
                                    "Dropout or BatchNormalization")
        self.opt_g = Adam(generator, lr=lr, beta1=beta1)
        self.opt_d = Adam(discriminator, lr=lr if lr_d is None else lr_d, beta1=beta1)
        self.bce = BinaryCrossentropy(from_logits=True)
        self.G_ema, self.ema_decay, self._ema_calibrated = None, None, False

    def sample_z(self, n: int) -> np.ndarray:
        return self.rng.standard_normal((n, self.latent_dim)).astype(self.dtype)

    # ------------------------------------------------------------ the game
    def discriminator_loss(self, x_real, z) -> float:
        """L_D on a real batch and G(z); backward fills D's gradients only.

        Real and fake go through D as one batch of 2N, so the BCE mean is
        (L_real + L_fake) / 2; doubling it gives L_D exactly as written above.
        With ``r1_weight`` > 0 the returned loss and D's gradients include R1.
        """
        fake = self._fakes_for_d(z)
        logits = self.D.forward(np.concatenate([x_real, fake]))
        targets = np.concatenate([np.full((len(x_real), 1), 1.0 - self.label_smoothing),
                                  np.zeros((len(fake), 1))]).astype(logits.dtype)
        loss = 2.0 * self.bce.forward(logits, targets)
        self.D.param_gradients(self.bce.backward(2.0))   # D's grads; nothing upstream learns from D's input here
        if self.r1_weight and self.opt_d.t % self.r1_every == 0:   # t: D steps taken so far
            bce_grads = {k: g.copy() for k, g in self.D.grads.items()}
            loss += self.r1_penalty(x_real)                 # assigns R1's gradients ...
            for k, g in self.D.grads.items():
                g += bce_grads[k]                           # ... and the sum is explicit
        return loss

    def r1_penalty(self, x_real, backward: bool = True) -> float:
        """R1 = (gamma / 2) mean_i ||d logit(x_i) / d x_i||^2 on real images (Mescheder et al. 2018),
        with gamma = r1_weight * r1_every.

        It keeps D's logit flat around the real data, so D cannot build the
        steep walls around 4,500 memorized images that make G's gradient
        useless. The value needs D's input gradient g (a backward with dy = 1);
        its gradient, dR1/dg = gamma g / N, goes through D's double backward
        (the machinery of WGAN-GP), which *assigns* dR1/dtheta to D's grads.
        """
        gamma = self.r1_weight * self.r1_every            # lazy R1: k times the weight, 1/k as often
        logits = self.D.forward(x_real)
        ones = np.ones_like(logits)
        g = self.D.input_gradient(ones)                   # g only; backward_backward assigns D's grads
        rows = g.reshape(len(g), -1)
        value = 0.5 * gamma * float(np.mean(np.sum(rows * rows, axis=1)))
        if backward:
            self.D.backward_backward(np.asarray(gamma / len(g), dtype=g.dtype) * g, ones)
        return value

    def _fakes_for_d(self, z) -> np.ndarray:
        """G(z) for D's step: a constant to D, and G is left exactly as it was.

        G runs in its current (train) mode, but its BatchNorm running
        statistics are restored afterwards: only G's own step (generator_loss)
        updates G's state, so D's step leaves G's parameters *and* buffers untouched.
        """
        saved = {k: v.copy() for k, v in self.G.buffers.items()}
        images = self.G.forward(z)  # no G backward: G's output is a constant here
        for k, v in self.G.buffers.items():
            v[...] = saved[k]
        return images

    def generator_loss(self, z) -> float:
        """Non-saturating L_G = -log D(G(z)); backward through D into G's gradients.

        Only G's gradients are applied after this (opt_g steps), so D's part
        is ``D.input_gradient``: dL/d(fake) without D's weight gradients, which
        the fast path skips computing (D's grads keep their values).
        """
        # BEGIN EXERCISE 9: the GAN generator step
        # Hint: z -> G -> D -> BCE with target 1 ("real") for the fakes; D.input_gradient gives dL/d(fake images), which G.backward takes.
        fake = self.G.forward(z)
        fake_logits = self.D.forward(fake)
        g_loss = self.bce.forward(fake_logits, np.ones_like(fake_logits))
        d_fake = self.D.input_gradient(self.bce.backward())  # dL_G / d(fake images)
        self.G.backward(d_fake)
        return g_loss
        # END EXERCISE 9

    def train_step(self, x_real) -> dict:
        """One round of the game: a D update, then a G update (fresh z for each)."""
        n = len(x_real)
        d_loss = self.discriminator_loss(x_real, self.sample_z(n))
        self.opt_d.step()
        g_loss = self.generator_loss(self.sample_z(n))
        self.opt_g.step()
        if self.G_ema is not None:
            self.update_ema()
        return {"d_loss": d_loss, "g_loss": g_loss}

    # ---------------------------------------------- averaged generator (EMA)
    def enable_ema(self, decay: float = 0.999) -> "GAN":
        """Keep G_ema, an exponential moving average of G's weights, and sample from it.

        After every G step: ema <- decay * ema + (1 - decay) * w, for every
        weight w of G (decay 0.999: an average over the last ~1,000 steps).
        G_ema is never trained; its BatchNorm statistics are recomputed for
        its own weights (``calibrate_batchnorm``) before it generates.

        In ``params`` and in checkpoints, "generator" is then G_ema (the
        network that makes the samples) and "generator_train" is G, so a
        checkpoint loaded into a GAN without EMA samples like this one.
        """
        if not 0.0 < decay < 1.0:
            raise ValueError(f"GAN.enable_ema: decay must be in (0, 1), got {decay}")
        self.ema_decay = float(decay)
        if self.G_ema is None:
            self.G_ema = copy.deepcopy(self.G)
            self.G_ema.name = "generator_ema"
            self.parts = {"generator": self.G_ema, "discriminator": self.D, "generator_train": self.G}
        self._ema_calibrated = False
        return self

    def update_ema(self) -> None:
        """One EMA step of G_ema's weights towards G's (in place)."""
        rate = 1.0 - self.ema_decay
        for name, w in self.G.params.items():
            ema = self.G_ema.params[name]
            ema += rate * (w - ema)
        self._ema_calibrated = False

    @property
    def sampler(self):
        """The generator that makes the samples: G_ema if enabled, else G."""
        return self.G if self.G_ema is None else self.G_ema

    def calibrate_batchnorm(self, net=None, n: int = 2048, batch_size: int = 256, seed: int = 0) -> None:
        """Set the BatchNorm running statistics of ``net`` (default: ``sampler``) to their
        average over ``n`` fresh z, fed in train-mode batches of ``batch_size``.

        Running statistics with momentum 0.8 mostly remember the last few
        batches; this replaces them by the exact average for the current
        weights (needed for G_ema, whose weights no BatchNorm has seen). The
        z come from a generator seeded with ``seed``, so the result is
        deterministic and the GAN's own random stream is untouched.
        """
        net = self.sampler if net is None else net
        norms = [layer for layer in getattr(net, "layers", [net]) if isinstance(layer, BatchNormalization)]
        if not norms:
            return
        momenta, was_training = [bn.momentum for bn in norms], net.training
        rng = np.random.default_rng(seed)
        net.train()
        for i in range(max(1, n // batch_size)):
            for bn in norms:
                bn.momentum = i / (i + 1)  # running = mean of the batch statistics so far
            net.forward(rng.standard_normal((batch_size, self.latent_dim)).astype(net.dtype))
        for bn, m in zip(norms, momenta):
            bn.momentum = m
        if not was_training:
            net.eval()

    # ------------------------------------------------------------- sampling
    def generate(self, z) -> np.ndarray:
        """``sampler``(z) in eval mode (BatchNorm uses its running statistics)."""
        net = self.sampler
        if self.G_ema is not None and not self._ema_calibrated:
            self.calibrate_batchnorm(net)
            self._ema_calibrated = True
        was_training = net.training
        net.eval()
        images = net.forward(z)
        if was_training:
            net.train()
        return images

    def sample(self, n: int | None = None, z=None) -> np.ndarray:
        """Images in [-1, 1] from z (or n fresh draws)."""
        return self.generate(self.sample_z(n) if z is None else z)
