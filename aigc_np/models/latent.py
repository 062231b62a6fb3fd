"""Latent diffusion, "Stable Diffusion in miniature" (Rombach et al. 2022).

A pixel-space denoiser spends every step on 784 pixels, most of them
background. Latent diffusion first trains a small convolutional
autoencoder, 28x28x1 -> a latent grid 7x7xc -> 28x28x1, then diffuses in
that latent space: a step costs a fraction of a pixel step, and the
autoencoder, not the denoiser, draws the fine strokes.

    ConvAutoencoder   images (N, 1, 28, 28) in [0, 1] <-> latents (N, c, 7, 7)
    LatentMLP         v_theta(z_t, t[, y]): a residual MLP over the flattened latent
    LatentDiffusion   both, trained one after the other by one train_step:
                      the first ``ae_steps`` steps train the autoencoder, the rest
                      the flow-matching denoiser on latents scaled to unit variance.

Like Stable Diffusion's autoencoder it carries a light KL term: the encoder
gives a mean and a log-variance per latent value, training decodes a draw
z = mu + sigma eps, and a small weight times KL(N(mu, sigma^2) || N(0, 1))
keeps the latents smooth and bounded. The denoiser reads the means, scaled
by one number so that their standard deviation is 1 (the "scale factor").
"""
from __future__ import annotations

import numpy as np

from ..layers import (Conv2D, Dense, LabelEmbedding, LayerNormalization, Sequential, SiLU, Upsample2x)
from ..losses import BinaryCrossentropy
from ..optimizers import Adam
from .base import Model
from .conditional import check_labels, one_hot
from .flow import FlowMatching
from .unet import time_embedding

__all__ = ["ConvAutoencoder", "ResidualMLPBlock", "LatentMLP", "LatentDiffusion", "autoencoder_param_count",
           "latent_mlp_param_count", "IMAGE_SHAPE"]

IMAGE_SHAPE = (1, 28, 28)
LOGVAR_RANGE = (-30.0, 20.0)   # as Stable Diffusion's: exp() stays finite and the draw's noise stays sane


def _built(layer, shape, rng, dtype):
    layer.build(shape, rng, dtype)
    return layer


class ConvAutoencoder(Model):
    """Images (N, 1, S, S) in [0, 1], S divisible by 4 <-> latents (N, c, S/4, S/4); width w:

        encoder: Conv(w, stride 2) SiLU Conv(2w, stride 2) SiLU Conv(2c)   -> [mu, logvar]
        decoder: Conv(2w) SiLU Up2x Conv(w) SiLU Up2x Conv(w/2) SiLU Conv(1) -> logits
                 (3x3 kernels, 'same' padding; images = sigmoid(logits))

    loss = BCE(logits, x) + kl * KL, both means per value (pixels; latent values).
    ``latent_scale`` (a buffer): 1 / std of the latent means, 0 until it is set.
    """

    def __init__(self, latent_channels: int = 4, width: int = 32, kl: float = 1e-3, image_shape=IMAGE_SHAPE,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        rng = np.random.default_rng(0) if rng is None else rng
        ch, s, s2 = image_shape
        if s != s2 or s % 4:
            raise ValueError(f"ConvAutoencoder: expected square images with a side divisible by 4, got {image_shape}")
        if not kl >= 0:
            raise ValueError(f"ConvAutoencoder: kl must be >= 0, got {kl}")
        c, w = int(latent_channels), int(width)
        self.image_shape, self.latent_shape, self.kl = tuple(image_shape), (c, s // 4, s // 4), float(kl)
        encoder = Sequential([Conv2D(w, 3, strides=2, padding="same"), SiLU(),
                              Conv2D(2 * w, 3, strides=2, padding="same"), SiLU(),
                              Conv2D(2 * c, 3, padding="same")], input_shape=image_shape, rng=rng, dtype=dtype,
                             name="encoder")
        decoder = Sequential([Conv2D(2 * w, 3, padding="same"), SiLU(), Upsample2x(),
                              Conv2D(w, 3, padding="same"), SiLU(), Upsample2x(),
                              Conv2D(max(1, w // 2), 3, padding="same"), SiLU(),
                              Conv2D(ch, 3, padding="same")], input_shape=self.latent_shape, rng=rng, dtype=dtype,
                             name="decoder")
        self.latent_scale = np.zeros(1, dtype=dtype)
        self.recon_loss = BinaryCrossentropy(from_logits=True)
        self.rng = rng
        super().__init__(encoder=encoder, decoder=decoder)

    @property
    def buffers(self) -> dict:
        return {**super().buffers, "latent_scale": self.latent_scale}

    def astype(self, dtype):
        super().astype(dtype)
        self.latent_scale = self.latent_scale.astype(dtype)
        return self

    def _check_images(self, x, who):
        if not isinstance(x, np.ndarray) or x.shape[1:] != self.image_shape:
            raise ValueError(f"{who}: expected images of shape (N, {', '.join(map(str, self.image_shape))}), "
                             f"got {getattr(x, 'shape', type(x).__name__)}")

    def moments(self, x) -> tuple[np.ndarray, np.ndarray]:
        """(mu, logvar), each (N, c, S/4, S/4); logvar clipped to LOGVAR_RANGE."""
        self._check_images(x, "ConvAutoencoder")
        h = self.parts["encoder"].forward(x)
        c = self.latent_shape[0]
        self._logvar_raw = h[:, c:]
        return h[:, :c], np.clip(h[:, c:], *LOGVAR_RANGE)

    def encode(self, x) -> np.ndarray:
        """The latent means (N, c, S/4, S/4), unscaled (eval mode; no draw)."""
        return self.moments(x)[0]

    def decode(self, z) -> np.ndarray:
        """Latents (N, c, S/4, S/4) -> images (N, 1, S, S) in [0, 1]."""
        logits = self.parts["decoder"].forward(z)
        return np.exp(-np.logaddexp(0.0, -logits))   # sigmoid, without overflow for very negative logits

    def loss(self, x, eps=None) -> float:
        """BCE(decoder(mu + sigma eps), x) + kl * mean KL; forward and backward (fills grads).

        x (N, 1, S, S) in [0, 1]; eps like the latent, drawn from the model's rng when None.
        """
        mu, logvar = self.moments(x)
        if eps is None:
            eps = self.rng.standard_normal(mu.shape).astype(mu.dtype)
        sigma = np.exp(0.5 * logvar)
        logits = self.parts["decoder"].forward(mu + sigma * eps)
        recon = self.recon_loss.forward(logits, x)
        kl = 0.5 * np.mean(mu * mu + sigma * sigma - logvar - 1.0)
        dz = self.parts["decoder"].backward(self.recon_loss.backward())
        k = self.kl / mu.size
        d_mu = dz + k * mu
        d_logvar = (dz * eps * 0.5 * sigma + k * 0.5 * (sigma * sigma - 1.0))
        inside = (self._logvar_raw >= LOGVAR_RANGE[0]) & (self._logvar_raw <= LOGVAR_RANGE[1])
        self.parts["encoder"].backward(np.concatenate([d_mu, d_logvar * inside], axis=1))
        return float(recon + self.kl * kl)


def autoencoder_param_count(latent_channels: int = 4, width: int = 32, image_channels: int = 1) -> int:
    conv = lambda i, o: o * i * 9 + o  # noqa: E731
    c, w = latent_channels, width
    encoder = conv(image_channels, w) + conv(w, 2 * w) + conv(2 * w, 2 * c)
    decoder = conv(c, 2 * w) + conv(2 * w, w) + conv(w, max(1, w // 2)) + conv(max(1, w // 2), image_channels)
    return encoder + decoder


class ResidualMLPBlock(Model):
    """h -> h + Dense(SiLU(Dense(SiLU(LayerNorm(h))) + Dense(SiLU(e)))): a pre-norm residual block
    that hears the embedding e (N, E); h (N, D). Backward returns (dh, de)."""

    def __init__(self, width: int, emb_dim: int, rng, dtype=np.float32):
        parts = {"norm": _built(LayerNormalization(), (width,), rng, dtype),
                 "act1": _built(SiLU(), (width,), rng, dtype), "dense1": _built(Dense(width), (width,), rng, dtype),
                 "emb_act": _built(SiLU(), (emb_dim,), rng, dtype),
                 "emb_proj": _built(Dense(width), (emb_dim,), rng, dtype),
                 "act2": _built(SiLU(), (width,), rng, dtype), "dense2": _built(Dense(width), (width,), rng, dtype)}
        super().__init__(**parts)

    def forward(self, h, e):
        p = self.parts
        u = p["dense1"].forward(p["act1"].forward(p["norm"].forward(h))) + p["emb_proj"].forward(
            p["emb_act"].forward(e))
        return h + p["dense2"].forward(p["act2"].forward(u))

    def backward(self, dy):
        p = self.parts
        du = p["act2"].backward(p["dense2"].backward(dy))
        de = p["emb_act"].backward(p["emb_proj"].backward(du))
        return dy + p["norm"].backward(p["act1"].backward(p["dense1"].backward(du))), de


class LatentMLP(Model):
    """v_theta(z, t[, y]) over a latent grid (N, c, h, w), flattened to D = c h w values:

        e = time_embedding(t) [+ LabelEmbedding(y)]     (N, E)   y in 0..K (K: null)
        h = Dense(width)(z)                             (N, width)
        h = ResidualMLPBlock(h, e), ``depth`` times
        v = Dense(D)(SiLU(LayerNorm(h)))  reshaped to (N, c, h, w)

    Backward: every block's embedding gradient is summed into de.
    """

    def __init__(self, latent_shape=(4, 7, 7), width: int = 768, depth: int = 3, emb_dim: int = 128,
                 n_classes: int = 0, rng: np.random.Generator | None = None, dtype=np.float32):
        rng = np.random.default_rng(0) if rng is None else rng
        self.latent_shape, self.n_classes = tuple(latent_shape), int(n_classes)
        d = int(np.prod(self.latent_shape))
        parts = {"time": time_embedding(emb_dim, emb_dim, rng, dtype)}
        if n_classes:
            parts["label"] = _built(LabelEmbedding(n_classes + 1, emb_dim), (n_classes + 1,), rng, dtype)
        parts["dense_in"] = _built(Dense(width), (d,), rng, dtype)
        for i in range(depth):
            parts[f"block{i}"] = ResidualMLPBlock(width, emb_dim, rng, dtype)
        parts["out_norm"] = _built(LayerNormalization(), (width,), rng, dtype)
        parts["out_act"] = _built(SiLU(), (width,), rng, dtype)
        parts["dense_out"] = _built(Dense(d), (width,), rng, dtype)
        self.depth = int(depth)
        super().__init__(**parts)

    @property
    def training(self) -> bool:
        return self.parts["dense_in"].training

    def forward(self, z, t, labels=None):
        if not isinstance(z, np.ndarray) or z.shape[1:] != self.latent_shape:
            raise ValueError(f"LatentMLP: expected latents of shape (N, {', '.join(map(str, self.latent_shape))}), "
                             f"got {getattr(z, 'shape', type(z).__name__)}")
        n, p = len(z), self.parts
        t = np.asarray(t)
        if t.shape != (n,):
            raise ValueError(f"LatentMLP: expected times t of shape ({n},), got {t.shape}")
        e = p["time"].forward(t.astype(self.dtype).reshape(n, 1))
        if self.n_classes:
            if labels is None:
                raise ValueError(f"LatentMLP: this denoiser is conditional; pass labels (N,) in 0..{self.n_classes} "
                                 f"({self.n_classes}: the null label)")
            labels = check_labels(labels, n, self.n_classes + 1, "LatentMLP")
            e = e + p["label"].forward(one_hot(labels, self.n_classes + 1, e.dtype))
        elif labels is not None:
            raise ValueError("LatentMLP: this denoiser is unconditional; it takes no labels")
        h = p["dense_in"].forward(z.reshape(n, -1))
        for i in range(self.depth):
            h = p[f"block{i}"].forward(h, e)
        v = p["dense_out"].forward(p["out_act"].forward(p["out_norm"].forward(h)))
        return v.reshape(z.shape)

    def backward(self, dv):
        p = self.parts
        dh = p["out_norm"].backward(p["out_act"].backward(p["dense_out"].backward(dv.reshape(len(dv), -1))))
        de = 0.0
        for i in reversed(range(self.depth)):
            dh, d = p[f"block{i}"].backward(dh)
            de = de + d
        dz = p["dense_in"].backward(dh)
        if self.n_classes:
            p["label"].backward(de)
        p["time"].backward(de)
        return dz.reshape((len(dv),) + self.latent_shape)


def latent_mlp_param_count(latent_size: int = 196, width: int = 768, depth: int = 3, emb_dim: int = 128,
                           n_classes: int = 0) -> int:
    dense = lambda i, o: i * o + o  # noqa: E731
    block = 2 * width + 2 * dense(width, width) + dense(emb_dim, width)
    total = 2 * dense(emb_dim, emb_dim) + ((n_classes + 1) * emb_dim if n_classes else 0)
    return total + dense(latent_size, width) + depth * block + 2 * width + dense(width, latent_size)


class LatentDiffusion(Model):
    """An autoencoder and a flow-matching denoiser on its latents, trained in two phases.

    Args:
        autoencoder: a :class:`ConvAutoencoder` (its own Adam, ``opt_ae``, at rate ``ae_lr``).
        flow: a :class:`~aigc_np.models.flow.FlowMatching` whose network reads the latent shape
            (its Adam is ``optimizer``).
        ae_steps: train_step trains the autoencoder for this many steps, then the denoiser.
        ae_batch: the autoencoder trains on the first ``ae_batch`` images of each batch (small
            batches suit it; the denoiser's steps use the whole batch).

    The first denoiser step fixes ``latent_scale`` = 1 / std of that batch's latent means.
    ``parts``: "autoencoder" and the flow model's ("velocity", "velocity_train").
    """

    def __init__(self, autoencoder: ConvAutoencoder, flow: FlowMatching, ae_steps: int, ae_lr: float = 2e-3,
                 ae_batch: int = 64):
        if tuple(flow.data_shape) != autoencoder.latent_shape:
            raise ValueError(f"LatentDiffusion: the flow model's data shape {flow.data_shape} is not the "
                             f"autoencoder's latent shape {autoencoder.latent_shape}")
        self.ae, self.flow, self.ae_steps, self.ae_batch = autoencoder, flow, int(ae_steps), int(ae_batch)
        self.opt_ae = Adam(autoencoder, lr=ae_lr)
        self.optimizer = flow.optimizer
        self.rng = flow.rng
        super().__init__(autoencoder=autoencoder, **flow.parts)

    @property
    def n_classes(self) -> int:
        return self.flow.n_classes

    @property
    def conditional(self) -> bool:
        return self.flow.conditional

    @property
    def training_autoencoder(self) -> bool:
        """True while train_step still trains the autoencoder."""
        return self.opt_ae.t < self.ae_steps

    @property
    def has_guide(self) -> bool:
        """True once the denoiser's autoguidance guide has been taken (see ``FlowMatching``)."""
        return self.flow.has_guide

    @property
    def can_sample(self) -> bool:
        """False until the first denoiser step has fixed the latent scale."""
        return bool(self.ae.latent_scale[0] != 0)

    def fix_latent_scale(self, x) -> None:
        """latent_scale = 1 / std of the latent means of images x (N, 1, 28, 28), so latents have unit variance."""
        self.ae.latent_scale[0] = 1.0 / max(float(np.std(self._means(x))), 1e-6)

    def _means(self, x, batch_size: int = 1000) -> np.ndarray:
        """The autoencoder's latent means of images x, unscaled, ``batch_size`` images at a time."""
        self.ae.eval()
        return np.concatenate([self.ae.encode(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])

    def to_latent(self, x) -> np.ndarray:
        """Images (N, 1, 28, 28) in [0, 1] -> scaled latents (N, c, 7, 7)."""
        return self._means(x) * self.ae.latent_scale[0]

    def encode_training_set(self, x) -> np.ndarray:
        """The scaled latents (N, c, 7, 7) of every training image x (N, 1, 28, 28), encoded once when the
        denoiser's phase begins; fixes the latent scale on x first if no step has fixed it."""
        if self.training_autoencoder:
            raise ValueError("LatentDiffusion.encode_training_set: the autoencoder is still training "
                             f"({self.opt_ae.t} of {self.ae_steps} steps); its latents would go stale")
        if not self.can_sample:
            self.fix_latent_scale(x)
        return self.to_latent(x)

    def train_step(self, x, labels=None) -> dict:
        """One step on images x (N, 1, 28, 28) (or (N, 28, 28)) in [0, 1]: the autoencoder's for
        the first ``ae_steps`` steps, then the denoiser's on the scaled latents (labels (N,) if conditional).
        In the denoiser's phase x may be the scaled latents themselves (N, c, 7, 7), as
        :class:`aigc_np.plan.LatentBatches` serves them."""
        if not self.training_autoencoder and x.shape[1:] == self.ae.latent_shape:
            return self.flow.train_step(x, labels)
        x = x.reshape((len(x),) + self.ae.image_shape)
        if self.training_autoencoder:
            loss = self.ae.loss(x[:self.ae_batch])
            self.opt_ae.step()
            return {"loss": loss}
        if not self.can_sample:
            self.fix_latent_scale(x)
        return self.flow.train_step(self.to_latent(x), labels)

    def sample(self, n: int, rng: np.random.Generator, sampler: str = "euler", steps: int = 50, labels=None,
               guidance: float = 0.0, batch_size: int = 500) -> np.ndarray:
        """n images (n, 1, 28, 28) in [0, 1]: latents by the flow's ODE, then the decoder."""
        if not self.can_sample:
            raise ValueError("LatentDiffusion.sample: the autoencoder has not been trained yet (no latent scale)")
        z = self.flow.sample(n, rng, sampler=sampler, steps=steps, labels=labels, guidance=guidance,
                             batch_size=batch_size)
        return self.ae.decode(z / self.ae.latent_scale[0])
