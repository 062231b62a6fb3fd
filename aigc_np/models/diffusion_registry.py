"""The diffusion kinds of the command line and of checkpoints: ``ddpm`` and ``cddpm``.

A checkpoint stores ``kind`` and ``config``; the config holds the whole noise
schedule (its kind and T) and the sampler's defaults, so a checkpoint file
alone is enough to sample. ``registry.build_model`` hands these kinds to
:func:`build_diffusion`.
"""
from __future__ import annotations

import numpy as np

from ..data import to_tanh
from .conditional import check_labels, cycle_labels, join_labels
from .diffusion import SCHEDULES, Diffusion, NoiseSchedule
from .unet import UNet, unet_param_count

__all__ = ["DIFFUSION_KINDS", "DIFFUSION_CONFIGS", "DIFFUSION_TRAIN", "build_diffusion", "param_count", "prepare_diffusion_images",
           "generate_diffusion_images"]

_COMMON = {"T": 1000, "schedule": "cosine", "width": 16, "groups": 8, "lr": 1e-3, "ema": 0.999, "clip": True,
           "prediction": "v", "steps": 20}
DIFFUSION_CONFIGS = {
    # steps: DDIM's default number of sampling steps (S << T); guidance: the default w. A guided
    # step costs two U-Net calls, so the cddpm takes half the steps: the same time per sample.
    "ddpm": {**_COMMON, "n_classes": 0},
    "cddpm": {**_COMMON, "steps": 10, "n_classes": 10, "p_uncond": 0.1, "guidance": 2.0},
}
DIFFUSION_KINDS = tuple(DIFFUSION_CONFIGS)
# How lesson 16 and ``python -m aigc_np train ddpm|cddpm`` train them: the runs behind the README's results
# (about 17 min each at 111 images/s, one BLAS thread on an idle core).
DIFFUSION_TRAIN = {"ddpm": {"epochs": 25, "batch_size": 32}, "cddpm": {"epochs": 25, "batch_size": 32}}
IMAGE_SHAPE = (1, 28, 28)


def _config(kind: str, config: dict | None) -> dict:
    if kind not in DIFFUSION_CONFIGS:
        raise ValueError(f"build_diffusion: unknown kind {kind!r}; expected one of {list(DIFFUSION_KINDS)}")
    unknown = set(config or {}) - set(DIFFUSION_CONFIGS[kind])
    if unknown:
        raise ValueError(f"build_diffusion: unknown {kind} config keys {sorted(unknown)}; "
                         f"known: {sorted(DIFFUSION_CONFIGS[kind])}")
    cfg = {**DIFFUSION_CONFIGS[kind], **(config or {})}
    if cfg["schedule"] not in SCHEDULES:
        raise ValueError(f"build_diffusion: schedule must be one of {list(SCHEDULES)}, got {cfg['schedule']!r}")
    for key in ("T", "width", "groups", "steps"):
        if isinstance(cfg[key], bool) or not isinstance(cfg[key], (int, np.integer)) or cfg[key] < 1:
            raise ValueError(f"build_diffusion: {key} must be a positive int, got {cfg[key]!r}")
    if cfg["width"] % cfg["groups"]:
        raise ValueError(f"build_diffusion: width {cfg['width']} must be divisible by groups {cfg['groups']}")
    if not 1 <= cfg["steps"] <= cfg["T"]:
        raise ValueError(f"build_diffusion: steps must be in 1..T={cfg['T']}, got {cfg['steps']}")
    return cfg


def param_count(kind: str, config: dict | None = None) -> int:
    """The number of parameters a ``kind`` model with ``config`` holds (as in its checkpoint:
    the trained U-Net, plus its weight average if ema > 0), computed without building it."""
    cfg = _config(kind, config)
    one = unet_param_count(IMAGE_SHAPE[0], cfg["width"], cfg["n_classes"])
    return one * (2 if cfg["ema"] else 1)


def build_diffusion(kind: str, config: dict | None = None, rng: np.random.Generator | None = None) -> Diffusion:
    """A fresh ``ddpm`` (unconditional) or ``cddpm`` (class-conditional, guided) model on 28x28 digits."""
    cfg = _config(kind, config)
    rng = np.random.default_rng(0) if rng is None else rng
    net = UNet(IMAGE_SHAPE, width=cfg["width"], groups=cfg["groups"], n_classes=cfg["n_classes"], rng=rng)
    model = Diffusion(net, NoiseSchedule(cfg["schedule"], cfg["T"]), IMAGE_SHAPE, n_classes=cfg["n_classes"],
                      p_uncond=cfg.get("p_uncond", 0.1), lr=cfg["lr"], ema=cfg["ema"], clip=cfg["clip"],
                      prediction=cfg["prediction"], rng=rng)
    model.kind, model.config = kind, cfg
    return model


def prepare_diffusion_images(kind: str, images_uint8: np.ndarray, labels=None) -> np.ndarray:
    """uint8 (N, 28, 28) -> [-1, 1] (N, 1, 28, 28) for ddpm, or labelled batches (N, 784 + 10) for cddpm."""
    x = to_tanh(images_uint8)
    if kind == "cddpm":
        if labels is None:
            raise ValueError("prepare_images: a cddpm trains on labelled images; pass labels (N,)")
        return join_labels(x, labels)
    if labels is not None:
        raise ValueError(f"prepare_images: a {kind} is not conditional; it takes no labels")
    return x[:, None]


def generate_diffusion_images(model: Diffusion, n: int, rng: np.random.Generator, labels=None,
                              sampler: str = "ddim", steps: int | None = None, eta: float = 0.0,
                              guidance: float | None = None) -> np.ndarray:
    """n samples as float32 (n, 28, 28) in [0, 1]; steps and guidance default to the checkpoint's config.

    A cddpm draws sample i as digit labels[i] (default: cycling 0..9; one int: all that digit).
    """
    cfg = model.config
    if model.conditional:
        labels = cycle_labels(n, model.n_classes) if labels is None else labels
        labels = np.full(n, labels) if np.ndim(labels) == 0 else labels
        labels = check_labels(labels, n, model.n_classes, f"generate_images ({model.kind})")
        guidance = cfg["guidance"] if guidance is None else guidance
    elif labels is not None:
        raise ValueError(f"generate_images: a {model.kind} model is not conditional, it cannot draw requested labels")
    if sampler == "ddim" and steps is None:
        steps = cfg["steps"]
    x = model.sample(n, rng, sampler=sampler, steps=steps, eta=eta, labels=labels, guidance=guidance or 0.0)
    return np.clip((x[:, 0] + 1) / 2, 0, 1).astype(np.float32)
