"""Build any model from a kind and a config dict, and draw its samples in [0, 1].

This is what lets a checkpoint rebuild its model from the file alone: the
checkpoint stores ``model.kind`` and ``model.config``, and
``build_model(kind, config)`` makes the same architecture again.
"""
from __future__ import annotations

import numpy as np

from ..data import to_tanh, to_unit
from .conditional import ConditionalGAN, ConditionalVAE, check_labels, cycle_labels, join_labels
from .dcgan import DCGAN
from .diffusion_registry import DIFFUSION_KINDS, build_diffusion, generate_diffusion_images  # ddpm, cddpm
from .gan import GAN, mlp_discriminator, mlp_generator
from .vae import VAE, Autoencoder
from .wgan_gp import WGANGP, mlp_critic

__all__ = ["KINDS", "CONDITIONAL_KINDS", "DEFAULT_CONFIGS", "build_model", "prepare_images", "generate_images"]

DEFAULT_CONFIGS = {
    "ae": {"latent_dim": 2, "hidden": [512, 256], "lr": 1e-3},
    "vae": {"latent_dim": 20, "hidden": [400], "lr": 1e-3},
    "gan": {"latent_dim": 100, "g_hidden": [128, 256, 512, 1024], "d_hidden": [1024, 512, 256],
            "d_dropout": 0.0, "lr": 2e-4, "lr_d": None, "beta1": 0.5, "label_smoothing": 0.0, "ema": 0.0,
            "r1": 0.0, "r1_every": 1},
    "dcgan": {"latent_dim": 100, "width": 0.25, "d_width": None, "alpha": 0.3, "dropout": 0.3, "lr": 2e-4,
              "lr_d": None, "beta1": 0.5, "label_smoothing": 0.0, "ema": 0.0, "r1": 0.0, "r1_every": 1},
    # Class-conditional models (lesson 11): the label joins z and the image.
    "cgan": {"latent_dim": 100, "n_classes": 10, "g_hidden": [256, 512], "d_hidden": [512, 256],
             "d_dropout": 0.3, "lr": 2e-4, "lr_d": 4e-4, "beta1": 0.5, "label_smoothing": 0.1, "mismatch": True,
             "ema": 0.999},
    "cvae": {"latent_dim": 2, "n_classes": 10, "hidden": [400], "lr": 1e-3},
    # Wasserstein GAN with gradient penalty (lesson 10): the article's G, an MLP critic, the paper's Adam.
    "wgan-gp": {"latent_dim": 100, "g_hidden": [128, 256, 512, 1024], "critic_hidden": [512, 256], "lr": 1e-4,
                "beta1": 0.0, "beta2": 0.9, "n_critic": 5, "gp_weight": 10.0, "ema": 0.0},
}
KINDS = tuple(DEFAULT_CONFIGS)
CONDITIONAL_KINDS = ("cgan", "cvae")  # their samples are drawn for requested labels


def build_model(kind: str, config: dict | None = None, rng: np.random.Generator | None = None):
    """A fresh model of ``kind`` (one of KINDS); ``config`` overrides the defaults."""
    if kind in DIFFUSION_KINDS:  # lessons 15-16, built by diffusion_registry
        return build_diffusion(kind, config, rng)
    if kind not in DEFAULT_CONFIGS:
        raise ValueError(f"build_model: unknown model kind {kind!r}; expected one of {list(KINDS)}")
    unknown = set(config or {}) - set(DEFAULT_CONFIGS[kind])
    if unknown:
        raise ValueError(f"build_model: unknown {kind} config keys {sorted(unknown)}; "
                         f"known: {sorted(DEFAULT_CONFIGS[kind])}")
    cfg = {**DEFAULT_CONFIGS[kind], **(config or {})}
    rng = np.random.default_rng(0) if rng is None else rng
    if kind == "ae":
        model = Autoencoder(cfg["latent_dim"], tuple(cfg["hidden"]), rng=rng, lr=cfg["lr"])
    elif kind == "vae":
        model = VAE(cfg["latent_dim"], tuple(cfg["hidden"]), rng=rng, lr=cfg["lr"])
    elif kind == "cvae":
        model = ConditionalVAE(cfg["latent_dim"], tuple(cfg["hidden"]), n_classes=cfg["n_classes"], rng=rng,
                               lr=cfg["lr"])
    elif kind == "cgan":
        k = cfg["n_classes"]
        model = ConditionalGAN(mlp_generator(cfg["latent_dim"] + k, tuple(cfg["g_hidden"]), rng=rng),
                               mlp_discriminator(tuple(cfg["d_hidden"]), 784 + k, dropout=cfg["d_dropout"], rng=rng),
                               latent_dim=cfg["latent_dim"], n_classes=k, rng=rng, lr=cfg["lr"], lr_d=cfg["lr_d"],
                               beta1=cfg["beta1"], label_smoothing=cfg["label_smoothing"],
                               mismatch=cfg["mismatch"])
    elif kind == "wgan-gp":
        model = WGANGP(mlp_generator(cfg["latent_dim"], tuple(cfg["g_hidden"]), rng=rng),
                       mlp_critic(tuple(cfg["critic_hidden"]), rng=rng), latent_dim=cfg["latent_dim"], rng=rng,
                       lr=cfg["lr"], beta1=cfg["beta1"], beta2=cfg["beta2"], n_critic=cfg["n_critic"],
                       gp_weight=cfg["gp_weight"])
    elif kind == "gan":
        model = GAN(mlp_generator(cfg["latent_dim"], tuple(cfg["g_hidden"]), rng=rng),
                    mlp_discriminator(tuple(cfg["d_hidden"]), dropout=cfg["d_dropout"], rng=rng),
                    latent_dim=cfg["latent_dim"], rng=rng, lr=cfg["lr"], lr_d=cfg["lr_d"],
                    beta1=cfg["beta1"], label_smoothing=cfg["label_smoothing"], r1_weight=cfg["r1"],
                    r1_every=cfg["r1_every"])
    else:
        model = DCGAN(cfg["latent_dim"], cfg["width"], rng=rng, d_width=cfg["d_width"], alpha=cfg["alpha"],
                      dropout=cfg["dropout"], lr=cfg["lr"], lr_d=cfg["lr_d"], beta1=cfg["beta1"],
                      label_smoothing=cfg["label_smoothing"], r1_weight=cfg["r1"], r1_every=cfg["r1_every"])
    if kind in ("gan", "dcgan", "cgan", "wgan-gp") and cfg["ema"]:
        model.enable_ema(cfg["ema"])  # samples (and checkpoints' "generator") come from the weight average
    model.kind, model.config = kind, cfg
    return model


def prepare_images(kind: str, images_uint8: np.ndarray, labels=None) -> np.ndarray:
    """uint8 (N, 28, 28) -> what ``kind`` trains on: [0, 1] for ae/vae, [-1, 1] (N, 784)
    for the MLP GAN, [-1, 1] (N, 1, 28, 28) for the DCGAN.

    Conditional kinds need ``labels`` (N,) and get labelled batches
    (``join_labels``): [-1, 1] pixels for cgan, [0, 1] for cvae, each row
    with its one-hot label joined on the right, (N, 784 + 10).
    """
    if kind in CONDITIONAL_KINDS:
        if labels is None:
            raise ValueError(f"prepare_images: a {kind} trains on labelled images; pass labels (N,)")
        x = to_tanh(images_uint8) if kind == "cgan" else to_unit(images_uint8)
        return join_labels(x, labels)
    if labels is not None:
        raise ValueError(f"prepare_images: a {kind} is not conditional; it takes no labels")
    if kind in ("ae", "vae"):
        return to_unit(images_uint8)
    x = to_tanh(images_uint8)
    return x.reshape(len(x), -1) if kind in ("gan", "wgan-gp") else x[:, None]


def generate_images(model, n: int, rng: np.random.Generator, train_images=None, labels=None) -> np.ndarray:
    """n samples as float32 (n, 28, 28) in [0, 1].

    Conditional models draw sample i as digit ``labels[i]`` (labels (n,), or
    one int for all; default: cycling 0..9, so a grid 10 wide has digit k in
    column k). ``labels`` for an unconditional model is a ValueError.

    GANs and the VAE sample their prior. A plain autoencoder has no prior, so
    its codes are drawn from a Gaussian fitted to the codes of
    ``train_images`` (uint8 or [0, 1]) -- the best a plain AE can do, and a
    useful contrast with the VAE.
    """
    kind = getattr(model, "kind", "")
    if kind in DIFFUSION_KINDS:  # DDIM at the checkpoint's default steps (and guidance, for cddpm)
        return generate_diffusion_images(model, n, rng, labels=labels)
    if labels is not None and kind not in CONDITIONAL_KINDS:
        raise ValueError(f"generate_images: a {kind or type(model).__name__} model is not conditional, "
                         f"it cannot draw requested labels (conditional kinds: {list(CONDITIONAL_KINDS)})")
    if kind in CONDITIONAL_KINDS:
        n_classes = model.n_classes
        if labels is None:
            labels = cycle_labels(n, n_classes)
        elif np.ndim(labels) == 0:
            labels = np.full(n, labels)
        labels = check_labels(labels, n, n_classes, f"generate_images ({kind})")
        z = rng.standard_normal((n, model.latent_dim)).astype(model.dtype)
        images = model.generate(z, labels) if kind == "cgan" else model.decode(z, labels)
        if kind == "cgan":
            images = (images + 1) / 2
    elif kind == "ae":
        if train_images is None:
            raise ValueError("generate_images: an autoencoder needs train_images to fit its code distribution")
        x = to_unit(train_images) if train_images.dtype == np.uint8 else train_images
        codes = model.encode(x).astype(np.float64)
        mean, cov = codes.mean(axis=0), np.cov(codes, rowvar=False) + 1e-6 * np.eye(codes.shape[1])
        z = mean + rng.standard_normal((n, len(mean))) @ np.linalg.cholesky(cov).T
        images = model.decode(z.astype(model.dtype))
    elif kind == "vae":
        images = model.decode(rng.standard_normal((n, model.latent_dim)).astype(model.dtype))
    elif kind in ("gan", "dcgan", "wgan-gp"):
        z = rng.standard_normal((n, model.latent_dim)).astype(model.dtype)
        images = (model.generate(z) + 1) / 2
    else:
        raise ValueError(f"generate_images: unknown model kind {kind!r}")
    return np.clip(images.reshape(n, 28, 28), 0, 1).astype(np.float32)
