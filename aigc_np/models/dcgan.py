"""The article's DCGAN (Radford et al. 2015) for 28x28 images, NCHW.

Generator (width w scales the channel counts; w=1 is the article's model):
    z -> Dense(7*7*256w, no bias) -> BN -> LeakyReLU -> Reshape(256w, 7, 7)
      -> Conv2DTranspose(128w, 5, stride 1) -> BN -> LeakyReLU        7x7
      -> Conv2DTranspose(64w, 5, stride 2)  -> BN -> LeakyReLU       14x14
      -> Conv2DTranspose(1, 5, stride 2) -> tanh                    28x28
Discriminator:
    x -> Conv2D(64w, 5, stride 2) -> LeakyReLU -> Dropout(0.3)      14x14
      -> Conv2D(128w, 5, stride 2) -> LeakyReLU -> Dropout(0.3)      7x7
      -> Flatten -> Dense(1) logit
All convolutions use padding='same'; the transposed ones have no bias, as
the BatchNorm after them would cancel it. LeakyReLU uses Keras's default
alpha=0.3, as the article's code does. The game itself is GAN's.
"""
from __future__ import annotations

import numpy as np

from ..layers import (BatchNormalization, Conv2D, Conv2DTranspose, Dense, Dropout, Flatten, LeakyReLU,
                      Reshape, Sequential, Tanh)
from .gan import GAN

__all__ = ["DCGAN", "dcgan_generator", "dcgan_discriminator"]


def _channels(base: int, width: float) -> int:
    return max(1, int(round(base * width)))


def dcgan_generator(latent_dim: int = 100, width: float = 0.25, rng: np.random.Generator | None = None,
                    alpha: float = 0.3, dtype=np.float32) -> Sequential:
    """z (N, latent_dim) -> images (N, 1, 28, 28) in [-1, 1]."""
    c1, c2, c3 = (_channels(c, width) for c in (256, 128, 64))
    return Sequential([
        Dense(7 * 7 * c1, use_bias=False), BatchNormalization(), LeakyReLU(alpha),
        Reshape((c1, 7, 7)),
        Conv2DTranspose(c2, 5, strides=1, padding="same", use_bias=False), BatchNormalization(), LeakyReLU(alpha),
        Conv2DTranspose(c3, 5, strides=2, padding="same", use_bias=False), BatchNormalization(), LeakyReLU(alpha),
        Conv2DTranspose(1, 5, strides=2, padding="same", use_bias=False), Tanh(),
    ], input_shape=(latent_dim,), rng=rng, dtype=dtype, name="generator")


def dcgan_discriminator(width: float = 0.25, rng: np.random.Generator | None = None, alpha: float = 0.3,
                        dropout: float = 0.3, dtype=np.float32) -> Sequential:
    """images (N, 1, 28, 28) -> logits (N, 1)."""
    c1, c2 = (_channels(c, width) for c in (64, 128))
    layers = []
    for channels in (c1, c2):
        layers += [Conv2D(channels, 5, strides=2, padding="same"), LeakyReLU(alpha)]
        if dropout:  # rate 0 leaves the layer out, so R1 can differentiate D's backward
            layers.append(Dropout(dropout))
    layers += [Flatten(), Dense(1)]
    return Sequential(layers, input_shape=(1, 28, 28), rng=rng, dtype=dtype, name="discriminator")


class DCGAN(GAN):
    """GAN with the convolutional generator and discriminator above.

    Args:
        latent_dim: size of z.
        width: channel multiplier of both networks (1 = the article's model).
        rng: initializes the weights, draws z and seeds D's Dropout.
        dtype: float32 for training, float64 for gradient checks.
        alpha: LeakyReLU slope of both networks (Keras's default 0.3).
        dropout: D's dropout rate (the article's 0.3); 0 leaves the Dropout
            layers out, as the R1 penalty (r1_weight) requires.
        d_width: D's own channel multiplier, if it should differ from G's
            (None: ``width``). The generator is the expensive network (its
            Dense layer and first transposed convolution dominate a step), and
            the one whose capacity limits sample quality at small widths.
        **gan_options: lr, beta1, lr_d, label_smoothing, r1_weight, r1_every (see GAN).
    """

    def __init__(self, latent_dim: int = 100, width: float = 0.25, rng: np.random.Generator | None = None,
                 dtype=np.float32, alpha: float = 0.3, dropout: float = 0.3, d_width: float | None = None,
                 **gan_options):
        rng = np.random.default_rng(0) if rng is None else rng
        self.width = width
        self.d_width = width if d_width is None else d_width
        super().__init__(dcgan_generator(latent_dim, width, rng, alpha=alpha, dtype=dtype),
                         dcgan_discriminator(self.d_width, rng, alpha=alpha, dropout=dropout, dtype=dtype),
                         latent_dim=latent_dim, rng=rng, **gan_options)
