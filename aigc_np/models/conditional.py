"""Class-conditional models: "draw the digit I ask for" (Mirza & Osindero 2014; Sohn et al. 2015).

The whole idea is one extra input. The label k is written as a one-hot
vector y (10 numbers, a 1 in place k) and *joined* (concatenated) to what
each network already reads:

    ConditionalGAN:  G([z, y]) -> image          D([image, y]) -> logit
    ConditionalVAE:  encoder([x, y]) -> mu, logvar      decoder([z, y]) -> logits

So D no longer asks "is this a real digit?" but "is this a real digit *k*?",
and G must draw a k to fool it; the decoder learns "a k in the style z", so
z is free to hold the style (slant, thickness) and y the identity.

Joining is a layer of its own with a forward and a backward pass:

    forward:  v = [a, b]                       (concatenate on the last axis)
    backward: dL/dv = [dL/da, dL/db]           (split the gradient at the same column)

Everything else -- every layer's backward, the BCE and KL gradients, the
reparameterization, the GAN's Adam steps and weight average -- is reused
from the unconditional models; nothing is written twice. The label is an
input, not a parameter: its part of the split gradient is simply dropped.

Batches for the shared training loop. ``aigc_np.training.train`` hands each
model one array per step, so a labelled batch travels as one array too:
each row is an image (flattened) with its one-hot label joined on the right,
``join_labels(x, labels)`` -- for a real image that is exactly what D (or
the encoder) reads. ``train_step(batch)`` splits it again; ``train_step(x,
labels)`` takes the two apart directly.
"""
from __future__ import annotations

import numpy as np

from ..layers import Sequential, sigmoid
from ..losses import BinaryCrossentropy, GaussianKL
from ..optimizers import Adam
from .base import Model
from .gan import GAN
from .vae import _mlp, _was_training, reparameterize, reparameterize_backward

__all__ = ["ConditionalGAN", "ConditionalVAE", "one_hot", "join", "join_backward", "join_labels",
           "split_labels", "cycle_labels", "check_labels"]


# ------------------------------------------------------ the conditioning
def check_labels(labels, n: int | None, n_classes: int, who: str) -> np.ndarray:
    """Labels as an int64 array (N,) with values in 0..n_classes-1, or a ValueError/TypeError naming ``who``."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        if labels.dtype.kind == "f" and labels.size and np.all(labels == np.round(labels)):
            labels = labels.astype(np.int64)  # 3.0 is a fine label; 3.5 is not
        elif labels.size:
            raise TypeError(f"{who}: expected integer labels 0..{n_classes - 1}, got dtype {labels.dtype}")
        else:
            labels = labels.astype(np.int64)
    if labels.ndim != 1 or (n is not None and len(labels) != n):
        expected = f"({n},)" if n is not None else "(N,)"
        raise ValueError(f"{who}: expected labels of shape {expected}, got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"{who}: expected labels in 0..{n_classes - 1}, got values in "
                         f"{labels.min()}..{labels.max()}")
    return labels.astype(np.int64)


def one_hot(labels, n_classes: int = 10, dtype=np.float32) -> np.ndarray:
    """Labels (N,) -> (N, n_classes) with row i all 0 except a 1 at column labels[i]."""
    labels = check_labels(labels, None, n_classes, "one_hot")
    return np.eye(n_classes, dtype=dtype)[labels]


def join(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Forward of the join: [a, b] on the last axis, (N, A) and (N, B) -> (N, A + B)."""
    if a.ndim != 2 or b.ndim != 2 or len(a) != len(b):
        raise ValueError(f"join: expected (N, A) and (N, B) with the same N, got {a.shape} and {b.shape}")
    return np.concatenate([a, b], axis=1)


def join_backward(dv: np.ndarray, width_a: int) -> tuple[np.ndarray, np.ndarray]:
    """Backward of the join: each input gets its own columns of the gradient.

    v = [a, b] copies a and b unchanged, so dL/da = dL/dv[:, :A] and dL/db = dL/dv[:, A:].
    """
    return dv[:, :width_a], dv[:, width_a:]


def join_labels(x: np.ndarray, labels, n_classes: int = 10) -> np.ndarray:
    """Images (N, ...) and labels (N,) -> one labelled batch (N, pixels + n_classes), in x's dtype."""
    x = np.asarray(x)
    labels = check_labels(labels, len(x), n_classes, "join_labels")
    return join(x.reshape(len(x), -1), one_hot(labels, n_classes, x.dtype))


def split_labels(batch: np.ndarray, n_classes: int, who: str) -> tuple[np.ndarray, np.ndarray]:
    """A labelled batch (N, pixels + n_classes) -> (flat images (N, pixels), one-hot labels (N, n_classes)).

    Checks that the last n_classes columns really are one-hot rows.
    """
    if not isinstance(batch, np.ndarray) or batch.ndim != 2 or batch.shape[1] <= n_classes:
        raise ValueError(f"{who}: expected a labelled batch (N, pixels + {n_classes}) from join_labels, "
                         f"got {getattr(batch, 'shape', type(batch).__name__)}")
    x, y = join_backward(batch, batch.shape[1] - n_classes)  # the same column split
    if not (np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1)):
        raise ValueError(f"{who}: the last {n_classes} columns of a labelled batch must be one-hot rows")
    return x, y


def cycle_labels(n: int, n_classes: int = 10) -> np.ndarray:
    """0, 1, ..., n_classes-1, 0, 1, ...: n labels; in a grid with n_classes per row, column k is digit k."""
    return np.arange(n) % n_classes


# ------------------------------------------------------------ conditional GAN
class _WithLabels:
    """G seen as a network of z alone, with cycling labels joined on: lets
    ``GAN.calibrate_batchnorm`` (which feeds random z) calibrate a conditional G."""

    def __init__(self, net: Sequential, n_classes: int):
        self.net, self.n_classes = net, n_classes
        self.layers, self.dtype = net.layers, net.dtype

    @property
    def training(self):
        return self.net.training

    def train(self):
        self.net.train()

    def eval(self):
        self.net.eval()

    def forward(self, z):
        return self.net.forward(join(z, one_hot(cycle_labels(len(z), self.n_classes), self.n_classes, z.dtype)))


class ConditionalGAN(GAN):
    """A GAN whose G and D both read the label: G([z, y]) -> image, D([image, y]) -> logit.

    Args:
        generator: Sequential (N, latent_dim + n_classes) -> images (N, pixels), e.g.
            ``mlp_generator(latent_dim + n_classes, ...)``.
        discriminator: Sequential (N, pixels + n_classes) -> logits (N, 1), e.g.
            ``mlp_discriminator(in_dim=784 + n_classes, ...)``.
        latent_dim, n_classes: sizes of z and of the one-hot label.
        rng, lr, beta1, lr_d, label_smoothing: as for :class:`GAN`; ``rng``
            also draws the labels of the fakes during training (uniform over the classes).
        mismatch: if True, D also learns that a *real* image with a *wrong*
            label is fake (the "matching-aware" discriminator of Reed et al.
            2016): D must read the label from the first step on, instead of
            only once G's digits look real.

    The losses are the GAN's, with every D input labelled:

        L_D = -[log D(x, y) + log(1 - D(G(z, y'), y'))]     (y from the data, y' drawn)
              - log(1 - D(x, y_wrong))                       (only with mismatch)
        L_G = -log D(G(z, y'), y')

    so a digit with the wrong label is "fake" to D. The weight average
    (``enable_ema``) and BatchNorm calibration are inherited from GAN.
    """

    kind = "cgan"

    def __init__(self, generator: Sequential, discriminator: Sequential, latent_dim: int = 100,
                 n_classes: int = 10, rng: np.random.Generator | None = None, lr: float = 2e-4,
                 beta1: float = 0.5, lr_d: float | None = None, label_smoothing: float = 0.0,
                 mismatch: bool = False):
        if generator.input_shape != (latent_dim + n_classes,):
            raise ValueError(f"ConditionalGAN: expected a generator of input shape ({latent_dim + n_classes},) "
                             f"(latent_dim {latent_dim} + n_classes {n_classes}), got {generator.input_shape}")
        if len(discriminator.input_shape) != 1 or discriminator.input_shape[0] <= n_classes:
            raise ValueError(f"ConditionalGAN: expected a discriminator of input shape (pixels + {n_classes},), "
                             f"got {discriminator.input_shape}")
        super().__init__(generator, discriminator, latent_dim, rng=rng, lr=lr, beta1=beta1, lr_d=lr_d,
                         label_smoothing=label_smoothing)
        self.n_classes, self.mismatch = n_classes, bool(mismatch)
        self.image_dim = discriminator.input_shape[0] - n_classes

    def _one_hot(self, labels, n) -> np.ndarray:
        return one_hot(check_labels(labels, n, self.n_classes, "ConditionalGAN"), self.n_classes, self.dtype)

    def sample_labels(self, n: int) -> np.ndarray:
        """n labels drawn uniformly from 0..n_classes-1 with the model's Generator."""
        return self.rng.integers(0, self.n_classes, n)

    # ------------------------------------------------------------ the game
    def discriminator_loss(self, x_real, labels_real, z, labels_fake, labels_wrong=None) -> float:
        """L_D on real (x, y) and fake (G(z, y'), y') -- and, with ``mismatch``,
        real images with wrong labels (x, y_wrong) -- backward fills D's gradients only.

        As in GAN, all groups pass D as one batch (the BCE mean is multiplied
        by the number of groups, so each group's mean loss counts once).
        G's output is a constant to D, and G's BatchNorm statistics are restored.
        ``labels_wrong`` (N,) must differ from labels_real; drawn if None.
        """
        n = len(x_real)
        y_real, y_fake = self._one_hot(labels_real, n), self._one_hot(labels_fake, len(z))
        fake = self._fakes_for_d(join(z, y_fake))
        inputs = [join(x_real, y_real), join(fake, y_fake)]
        targets = [np.full((n, 1), 1.0 - self.label_smoothing), np.zeros((len(fake), 1))]
        if self.mismatch:
            if labels_wrong is None:  # a shift by 1..K-1 classes is never the true label
                labels_wrong = (np.asarray(labels_real) + self.rng.integers(1, self.n_classes, n)) % self.n_classes
            if np.any(np.asarray(labels_wrong) == np.asarray(labels_real)):
                raise ValueError("ConditionalGAN: labels_wrong must differ from labels_real in every row")
            inputs.append(join(x_real, self._one_hot(labels_wrong, n)))
            targets.append(np.zeros((n, 1)))
        logits = self.D.forward(np.concatenate(inputs))
        groups = float(len(inputs))
        loss = groups * self.bce.forward(logits, np.concatenate(targets).astype(logits.dtype))
        self.D.param_gradients(self.bce.backward(groups))  # D's grads; nothing before D learns here
        return loss

    def generator_loss(self, z, labels) -> float:
        """L_G = -log D(G(z, y), y); backward through D, split at the join, into G.

        D's input is [fake, y]: of its gradient, the first columns belong to
        the fake image (they continue into G), the last n_classes to the
        label (a given input: dropped).
        """
        y = self._one_hot(labels, len(z))
        fake = self.G.forward(join(z, y))
        logits = self.D.forward(join(fake, y))
        loss = self.bce.forward(logits, np.ones_like(logits))  # fakes labelled "real"
        d_input = self.D.input_gradient(self.bce.backward())   # D is not updated here: no D grads
        d_fake, _d_label = join_backward(d_input, fake.shape[1])
        self.G.backward(d_fake)  # G's input gradient (w.r.t. [z, y]) is not needed either
        return loss

    def train_step(self, x_real, labels=None) -> dict:
        """One D step and one G step. ``x_real`` is a labelled batch (join_labels),
        or images (N, pixels) with ``labels`` (N,) given separately."""
        if labels is None:
            x_real, y = split_labels(x_real, self.n_classes, "ConditionalGAN.train_step")
            labels = y.argmax(axis=1)
        n = len(x_real)
        d_loss = self.discriminator_loss(x_real, labels, self.sample_z(n), self.sample_labels(n))
        self.opt_d.step()
        g_loss = self.generator_loss(self.sample_z(n), self.sample_labels(n))
        self.opt_g.step()
        if self.G_ema is not None:
            self.update_ema()
        return {"d_loss": d_loss, "g_loss": g_loss}

    # ------------------------------------------------------------- sampling
    def calibrate_batchnorm(self, net=None, n: int = 2048, batch_size: int = 256, seed: int = 0) -> None:
        """GAN.calibrate_batchnorm, with labels cycling 0..n_classes-1 joined to its random z."""
        net = self.sampler if net is None else net
        super().calibrate_batchnorm(_WithLabels(net, self.n_classes), n=n, batch_size=batch_size, seed=seed)

    def generate(self, z, labels=None) -> np.ndarray:
        """Images of the requested labels (N,) from z (N, latent_dim), in eval mode;
        labels cycle 0..n_classes-1 if None."""
        labels = cycle_labels(len(z), self.n_classes) if labels is None else labels
        return super().generate(join(z, self._one_hot(labels, len(z))))

    def sample(self, n: int | None = None, labels=None, z=None) -> np.ndarray:
        """Images in [-1, 1] of the requested labels, from z (or fresh draws).

        ``n`` defaults to len(labels) or len(z); labels cycle 0..n_classes-1 if None.
        """
        if n is None:
            n = len(z) if z is not None else len(np.asarray(labels))
        z = self.sample_z(n) if z is None else z
        return self.generate(z, labels)


# ------------------------------------------------------------ conditional VAE
class ConditionalVAE(Model):
    """A VAE whose encoder and decoder both read the label (Sohn et al. 2015, "CVAE").

        encoder:  [x, y] -> [mu, logvar]          q(z | x, y)
        sample:   z = mu + exp(0.5 logvar) * eps  (lesson 05's reparameterization)
        decoder:  [z, y] -> logits                p(x | z, y) = Bernoulli(sigmoid(logits))
        loss   = BCE summed over pixels + KL(q(z | x, y) || N(0, I))   (-ELBO of x given y)

    Because the decoder is told the digit, the code z need not encode it: z
    keeps the style, and ``sample(labels=[7] * 10)`` draws ten 7s in ten styles.
    Images are (N, *input_shape) in [0, 1]; they are flattened before the join.
    """

    kind = "cvae"

    def __init__(self, latent_dim: int = 20, hidden=(400,), input_shape=(28, 28), n_classes: int = 10,
                 rng: np.random.Generator | None = None, lr: float = 1e-3, dtype=np.float32):
        self.rng = np.random.default_rng(0) if rng is None else rng
        self.latent_dim, self.n_classes = latent_dim, n_classes
        self.input_shape = tuple(input_shape)
        self.image_dim = int(np.prod(self.input_shape))
        self.config = {"latent_dim": int(latent_dim), "hidden": [int(h) for h in hidden], "lr": float(lr),
                       "n_classes": int(n_classes)}
        encoder = _mlp(hidden, 2 * latent_dim, (self.image_dim + n_classes,), self.rng, dtype)
        decoder = _mlp(hidden[::-1], self.image_dim, (latent_dim + n_classes,), self.rng, dtype,
                       output_shape=self.input_shape)
        super().__init__(encoder=encoder, decoder=decoder)
        self.encoder, self.decoder = encoder, decoder
        self.recon_loss = BinaryCrossentropy(from_logits=True, reduction="batch")
        self.kl_loss = GaussianKL()
        self.optimizer = Adam(self, lr=lr)

    def _one_hot(self, labels, n) -> np.ndarray:
        return one_hot(check_labels(labels, n, self.n_classes, "ConditionalVAE"), self.n_classes, self.dtype)

    def _flat(self, x) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.shape[1:] != self.input_shape:
            raise ValueError(f"ConditionalVAE: expected images (N, {', '.join(map(str, self.input_shape))}), "
                             f"got {getattr(x, 'shape', type(x).__name__)}")
        return x.reshape(len(x), -1)

    # ---------------------------------------------------------------- parts
    def encode(self, x, labels):
        """x (N, ...) and labels (N,) -> (mu, logvar), each (N, latent_dim)."""
        h = self.encoder.forward(join(self._flat(x), self._one_hot(labels, len(x))))
        return h[:, : self.latent_dim], h[:, self.latent_dim:]

    def decode(self, z, labels):
        """z (N, latent_dim) and labels (N,) -> images in [0, 1] (the Bernoulli means)."""
        return sigmoid(self.decoder.forward(join(z, self._one_hot(labels, len(z)))))

    def sample_eps(self, n: int):
        return self.rng.standard_normal((n, self.latent_dim)).astype(self.dtype)

    def sample(self, n: int | None = None, labels=None, z=None):
        """Decode z (or n draws from N(0, I)) with the requested labels (cycling 0..n_classes-1 if None)."""
        if n is None:
            n = len(z) if z is not None else len(np.asarray(labels))
        z = self.sample_eps(n) if z is None else z
        return self.decode(z, cycle_labels(n, self.n_classes) if labels is None else labels)

    def reconstruct(self, x, labels):
        mu, _ = self.encode(x, labels)
        return self.decode(mu, labels)

    # ------------------------------------------------------ loss: the ELBO
    def loss(self, x, labels, eps=None) -> dict:
        """-ELBO of x in [0, 1] given its labels; forward and backward (fills every gradient).

        ``eps`` (N, latent_dim) is the reparameterization noise (drawn if None).
        Returns {'loss', 'recon', 'kl'} in nats per image.
        """
        y = self._one_hot(labels, len(x))
        h = self.encoder.forward(join(self._flat(x), y))
        mu, logvar = h[:, : self.latent_dim], h[:, self.latent_dim:]
        eps = self.sample_eps(len(x)) if eps is None else eps
        z = reparameterize(mu, logvar, eps)
        recon = self.recon_loss.forward(self.decoder.forward(join(z, y)), x)
        kl = self.kl_loss.forward(mu, logvar)

        # Backward: the decoder's input gradient is [dL/dz, dL/dy]; only dL/dz
        # goes on, through the reparameterization (plus the KL's own gradient).
        dz, _dy = join_backward(self.decoder.backward(self.recon_loss.backward()), self.latent_dim)
        dmu, dlogvar = reparameterize_backward(dz, logvar, eps)
        dmu_kl, dlogvar_kl = self.kl_loss.backward()
        # the encoder's grads; its input [x, y] does not learn, so its dL/dx is skipped (as in the VAE)
        self.encoder.param_gradients(np.concatenate([dmu + dmu_kl, dlogvar + dlogvar_kl], axis=1))
        return {"loss": recon + kl, "recon": recon, "kl": kl}

    def train_step(self, x, labels=None) -> dict:
        """One Adam step on a labelled batch (join_labels), or on images x with ``labels``."""
        if labels is None:
            flat, y = split_labels(x, self.n_classes, "ConditionalVAE.train_step")
            x, labels = flat.reshape((len(flat),) + self.input_shape), y.argmax(axis=1)
        out = self.loss(x, labels)
        self.optimizer.step()
        return out

    def elbo(self, x, labels, batch_size: int = 500, rng: np.random.Generator | None = None) -> dict:
        """ELBO of x given labels, nats per image (one z per image), eval mode, no gradients."""
        rng = np.random.default_rng(0) if rng is None else rng
        labels = check_labels(labels, len(x), self.n_classes, "ConditionalVAE.elbo")
        was_training = _was_training(self)
        self.eval()
        recon = kl = 0.0
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size], labels[i:i + batch_size]
            mu, logvar = self.encode(xb, yb)
            eps = rng.standard_normal(mu.shape).astype(mu.dtype)
            z = reparameterize(mu, logvar, eps)
            recon += self.recon_loss.forward(self.decoder.forward(join(z, self._one_hot(yb, len(yb)))), xb) * len(xb)
            kl += self.kl_loss.forward(mu, logvar) * len(xb)
        if was_training:
            self.train()
        recon, kl = recon / len(x), kl / len(x)
        return {"elbo": -(recon + kl), "recon": recon, "kl": kl}
