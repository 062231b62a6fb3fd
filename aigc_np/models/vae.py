"""The variational autoencoder (Kingma & Welling 2014) and the plain autoencoder."""
from __future__ import annotations

import numpy as np

from ..layers import Dense, Flatten, ReLU, Reshape, Sequential, sigmoid
from ..losses import BinaryCrossentropy, GaussianKL
from ..optimizers import Adam
from .base import Model

__all__ = ["Autoencoder", "VAE", "reparameterize", "reparameterize_backward"]


def _mlp(sizes, out_units, input_shape, rng, dtype, output_shape=None) -> Sequential:
    """Flatten (if needed) -> [Dense, ReLU] per hidden size -> Dense(out_units) -> Reshape (if needed)."""
    layers = [Flatten()] if len(input_shape) > 1 else []
    for units in sizes:
        layers += [Dense(units), ReLU()]
    layers.append(Dense(out_units))
    if output_shape is not None and len(output_shape) > 1:
        layers.append(Reshape(output_shape))
    return Sequential(layers, input_shape=input_shape, rng=rng, dtype=dtype)


def _config(latent_dim, hidden, lr) -> dict:
    """The architecture as plain JSON values, stored in checkpoints; the keys
    of ``models.registry.DEFAULT_CONFIGS`` so ``build_model(kind, config)``
    rebuilds the model (28x28 inputs, float32)."""
    return {"latent_dim": int(latent_dim), "hidden": [int(h) for h in hidden], "lr": float(lr)}


def _was_training(model) -> bool:
    return all(getattr(part, "training", True) for part in model.parts.values())


class Autoencoder(Model):
    """x -> encoder -> code (latent_dim) -> decoder -> logits -> sigmoid -> reconstruction.

    Trained to reproduce its input: loss = binary cross-entropy between x in
    [0, 1] and sigmoid(logits), summed over pixels and averaged over the batch.
    There is no noise and no KL term: the codes need not fill any particular
    region, so decoding a random code gives no digit (the VAE fixes that).
    """

    kind = "ae"  # the checkpoint / registry name

    def __init__(self, latent_dim: int = 2, hidden=(512, 256), input_shape=(28, 28),
                 rng: np.random.Generator | None = None, lr: float = 1e-3, dtype=np.float32):
        rng = np.random.default_rng(0) if rng is None else rng
        self.latent_dim = latent_dim
        self.input_shape = tuple(input_shape)
        self.config = _config(latent_dim, hidden, lr)
        n_in = int(np.prod(input_shape))
        encoder = _mlp(hidden, latent_dim, self.input_shape, rng, dtype)
        decoder = _mlp(hidden[::-1], n_in, (latent_dim,), rng, dtype, output_shape=self.input_shape)
        super().__init__(encoder=encoder, decoder=decoder)
        self.encoder, self.decoder = encoder, decoder
        self.recon_loss = BinaryCrossentropy(from_logits=True, reduction="batch")
        self.optimizer = Adam(self, lr=lr)

    def encode(self, x):
        return self.encoder.forward(x)

    def decode(self, code):
        """Codes (N, latent_dim) -> images in [0, 1]."""
        return sigmoid(self.decoder.forward(code))

    def reconstruct(self, x):
        return self.decode(self.encode(x))

    def loss(self, x) -> dict:
        """Forward and backward on a batch x in [0, 1]; fills every gradient. Returns {'loss': nats/image}."""
        logits = self.decoder.forward(self.encoder.forward(x))
        loss = self.recon_loss.forward(logits, x)
        self.encoder.param_gradients(self.decoder.backward(self.recon_loss.backward()))   # no dL/d(images)
        return {"loss": loss}

    def train_step(self, x) -> dict:
        out = self.loss(x)
        self.optimizer.step()
        return out

    def reconstruction_loss(self, x, batch_size: int = 500) -> float:
        """Mean BCE of x against its reconstruction, in nats per image; no gradients.

        The same number ``loss`` reports, for a whole (validation) set.
        """
        was_training = _was_training(self)
        self.eval()
        total = 0.0
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            total += self.recon_loss.forward(self.decoder.forward(self.encoder.forward(xb)), xb) * len(xb)
        if was_training:
            self.train()
        return total / len(x)


def reparameterize(mu, logvar, eps):
    """z = mu + sigma * eps with sigma = exp(0.5 * logvar) (logvar = log sigma^2), eps ~ N(0, I)."""
    return mu + np.exp(0.5 * logvar) * eps


def reparameterize_backward(dz, logvar, eps):
    """Gradients of the reparameterization: dz/dmu = 1, dz/dlogvar = 0.5 * sigma * eps.

    Returns (dmu, dlogvar), each shaped like dz.
    """
    # BEGIN EXERCISE 8: the reparameterization backward
    # Hint: z = mu + exp(0.5 * logvar) * eps, so dz/dmu = 1 and dz/dlogvar = 0.5 * exp(0.5 * logvar) * eps.
    return dz, dz * eps * (0.5 * np.exp(0.5 * logvar))
    # END EXERCISE 8


class VAE(Model):
    """Variational autoencoder with a Gaussian encoder and a Bernoulli decoder.

        encoder:  x -> h = [mu, logvar]          (N, 2L), logvar = log sigma^2
        sample:   z = mu + exp(0.5 logvar) * eps,  eps ~ N(0, I) from a Generator
        decoder:  z -> logits                      p(x|z) = Bernoulli(sigmoid(logits))
        loss   = BCE(logits, x) summed over pixels  +  KL(N(mu, sigma^2) || N(0, I))
               = -ELBO, in nats per image (averaged over the batch).

    Default architecture 784-400-L (ReLU) and back, as in PyTorch's reference
    VAE example; latent_dim=2 gives a latent space you can plot.
    """

    kind = "vae"  # the checkpoint / registry name

    def __init__(self, latent_dim: int = 20, hidden=(400,), input_shape=(28, 28),
                 rng: np.random.Generator | None = None, lr: float = 1e-3, dtype=np.float32):
        self.rng = np.random.default_rng(0) if rng is None else rng
        self.latent_dim = latent_dim
        self.input_shape = tuple(input_shape)
        self.config = _config(latent_dim, hidden, lr)
        n_in = int(np.prod(input_shape))
        encoder = _mlp(hidden, 2 * latent_dim, self.input_shape, self.rng, dtype)
        decoder = _mlp(hidden[::-1], n_in, (latent_dim,), self.rng, dtype, output_shape=self.input_shape)
        super().__init__(encoder=encoder, decoder=decoder)
        self.encoder, self.decoder = encoder, decoder
        self.recon_loss = BinaryCrossentropy(from_logits=True, reduction="batch")
        self.kl_loss = GaussianKL()
        self.optimizer = Adam(self, lr=lr)

    # ---------------------------------------------------------------- parts
    def encode(self, x):
        """x (N, ...) -> (mu, logvar), each (N, latent_dim)."""
        h = self.encoder.forward(x)
        return h[:, : self.latent_dim], h[:, self.latent_dim:]

    def decode(self, z):
        """z (N, latent_dim) -> images in [0, 1] (the Bernoulli means)."""
        return sigmoid(self.decoder.forward(z))

    def sample_eps(self, n: int):
        return self.rng.standard_normal((n, self.latent_dim)).astype(self.dtype)

    def sample(self, n: int | None = None, z=None):
        """Decode z (or n draws from the prior N(0, I)) into images in [0, 1]."""
        z = self.sample_eps(n) if z is None else z
        return self.decode(z)

    def reconstruct(self, x):
        """Decode the posterior mean: the VAE's best guess of x, without sampling noise."""
        mu, _ = self.encode(x)
        return self.decode(mu)

    # ------------------------------------------------------ loss: the ELBO
    def loss(self, x, eps=None) -> dict:
        """-ELBO of a batch x in [0, 1], forward and backward (fills every gradient).

        ``eps`` (N, latent_dim) is the reparameterization noise; drawn from
        the model's Generator if None (tests pass it to hold it fixed).
        Returns {'loss', 'recon', 'kl'} in nats per image.
        """
        h = self.encoder.forward(x)
        mu, logvar = h[:, : self.latent_dim], h[:, self.latent_dim:]
        eps = self.sample_eps(len(x)) if eps is None else eps
        z = reparameterize(mu, logvar, eps)
        recon = self.recon_loss.forward(self.decoder.forward(z), x)
        kl = self.kl_loss.forward(mu, logvar)

        # Backward: the decoder gives dL/dz; z feeds mu and logvar through the
        # reparameterization, and the KL term adds its own gradient to both.
        dz = self.decoder.backward(self.recon_loss.backward())
        dmu, dlogvar = reparameterize_backward(dz, logvar, eps)
        dmu_kl, dlogvar_kl = self.kl_loss.backward()
        # the encoder's grads; the images do not learn, so its dL/dx is skipped (Layer.param_gradients)
        self.encoder.param_gradients(np.concatenate([dmu + dmu_kl, dlogvar + dlogvar_kl], axis=1))
        return {"loss": recon + kl, "recon": recon, "kl": kl}

    def train_step(self, x) -> dict:
        out = self.loss(x)
        self.optimizer.step()
        return out

    def elbo(self, x, batch_size: int = 500, rng: np.random.Generator | None = None) -> dict:
        """ELBO of x in nats per image (one z sample per image), in eval mode, no gradients.

        Returns {'elbo', 'recon', 'kl'}; the negative ELBO upper-bounds -log p(x).
        """
        rng = np.random.default_rng(0) if rng is None else rng
        was_training = _was_training(self)
        self.eval()
        recon = kl = 0.0
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            mu, logvar = self.encode(xb)
            eps = rng.standard_normal(mu.shape).astype(mu.dtype)
            recon += self.recon_loss.forward(self.decoder.forward(reparameterize(mu, logvar, eps)), xb) * len(xb)
            kl += self.kl_loss.forward(mu, logvar) * len(xb)
        if was_training:
            self.train()
        recon, kl = recon / len(x), kl / len(x)
        return {"elbo": -(recon + kl), "recon": recon, "kl": kl}
