"""How many numbers an image model holds, worked out from its complete config alone (nothing is built).

A checkpoint says which model it holds (``kind`` and ``config``) and holds
the arrays. Before a model is built from a config that came from a file,
the two must agree: a config edited to 2,000 layers would otherwise
allocate gigabytes before the arrays are even compared. These formulas
follow the architectures in ``vae.py``, ``gan.py``, ``dcgan.py``,
``conditional.py`` and ``wgan_gp.py``; ``tests/test_param_counts.py``
checks them against built models.

    Dense(in -> out):           in * out weights + out biases (no biases: in * out)
    BatchNormalization(F):      2F parameters (gamma, beta) + 2F buffers (running mean, variance)
    Conv2D / Conv2DTranspose:   in * out * k * k weights (+ out biases), k = 5 here
"""
from __future__ import annotations

from .dcgan import _channels

__all__ = ["image_counts", "PIXELS"]

PIXELS = 28 * 28   # every image model reads and draws 28x28 images
KERNEL = 5 * 5     # the DCGAN's convolutions


def _mlp(sizes) -> int:
    """Dense layers (with biases) between consecutive sizes, e.g. [784, 400, 40]."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def _mlp_generator(n_in: int, hidden) -> tuple[int, int]:
    """(parameters, BatchNorm widths) of ``gan.mlp_generator``: BatchNorm after every
    hidden Dense except the first."""
    return _mlp([n_in, *hidden, PIXELS]), sum(hidden[1:])


def _dcgan_generator(latent_dim: int, width: float) -> tuple[int, int]:
    c1, c2, c3 = (_channels(c, width) for c in (256, 128, 64))
    weights = latent_dim * 49 * c1 + KERNEL * (c1 * c2 + c2 * c3 + c3 * 1)   # no biases in G
    return weights, 49 * c1 + c2 + c3                                         # BatchNorm widths


def _dcgan_discriminator(width: float) -> int:
    d1, d2 = (_channels(c, width) for c in (64, 128))
    return (KERNEL * 1 * d1 + d1) + (KERNEL * d1 * d2 + d2) + (49 * d2 + 1)


def image_counts(kind: str, cfg: dict) -> tuple[int, int]:
    """(parameters, buffer values) of the ``kind`` model a complete config ``cfg`` describes
    (``model.num_params()`` and the BatchNorm running statistics)."""
    latent = cfg["latent_dim"]
    if kind in ("ae", "vae", "cvae"):
        hidden, k = list(cfg["hidden"]), cfg["n_classes"] if kind == "cvae" else 0
        code = latent if kind == "ae" else 2 * latent      # a VAE's encoder gives mu and logvar
        return _mlp([PIXELS + k, *hidden, code]) + _mlp([latent + k, *hidden[::-1], PIXELS]), 0
    if kind == "dcgan":
        g, norm = _dcgan_generator(latent, cfg["width"])
        d = _dcgan_discriminator(cfg["width"] if cfg["d_width"] is None else cfg["d_width"])
    else:  # the MLP GANs: gan, cgan, wgan-gp
        k = cfg["n_classes"] if kind == "cgan" else 0
        g, norm = _mlp_generator(latent + k, list(cfg["g_hidden"]))
        d = _mlp([PIXELS + k, *(cfg["critic_hidden"] if kind == "wgan-gp" else cfg["d_hidden"]), 1])
    g += 2 * norm                          # G's BatchNorm gamma and beta
    copies = 2 if cfg.get("ema") else 1   # with EMA the checkpoint holds G_ema and the trained G
    return copies * g + d, copies * 2 * norm
