"""The diffusion family: ``ddpm`` and ``cddpm`` on 28x28 digits (lessons 15-16).

A checkpoint's config holds the whole noise schedule (its kind and T) and
the sampler's defaults, so the file alone is enough to sample. They train in
epochs over the bundled MNIST split; best.npz is picked by FD (ddpm) or by
the judge's accuracy on the requested digits (cddpm).
"""
from __future__ import annotations

import numpy as np

from ..data import load_dataset, to_tanh, to_unit
from ..models.conditional import check_labels, cycle_labels
from ..models.diffusion import PREDICTIONS, SCHEDULES, Diffusion, NoiseSchedule
from ..models.unet import UNet, unet_param_count
from .image import ImageFamily
from .kind import Kind, Recipe
from .schema import Choice, Flag, Float, Int

__all__ = ["DIFFUSION", "DIFFUSION_KINDS", "generate_diffusion_images", "IMAGE_SHAPE", "MAX_T"]

IMAGE_SHAPE = (1, 28, 28)
MAX_T = 10_000       # the schedule holds a few arrays of T numbers; DDPM sampling takes T network calls
MAX_WIDTH = 256      # U-Net channels at the top level (16 trains at about 120 images/s on a core)

_SETTINGS = {"T": Int(2, MAX_T), "schedule": Choice(options=SCHEDULES), "width": Int(1, MAX_WIDTH),
             "groups": Int(1, MAX_WIDTH), "lr": Float(0.0, 10.0, open_low=True),
             "ema": Float(0.0, 1.0, open_high=True), "clip": Flag(), "prediction": Choice(options=PREDICTIONS),
             "steps": Int(1, MAX_T)}
_COMMON = {"T": 1000, "schedule": "cosine", "width": 16, "groups": 8, "lr": 1e-3, "ema": 0.999, "clip": True,
           "prediction": "v", "steps": 20}


def _relations(c: dict) -> str | None:
    if c["width"] % c["groups"]:
        return f"width {c['width']} must be divisible by groups {c['groups']} (GroupNorm splits the channels)"
    if c["steps"] > c["T"]:
        return f"steps {c['steps']} (DDIM's sampling steps) must be at most T = {c['T']}"
    return None


def _build(c: dict, rng) -> Diffusion:
    n_classes = c.get("n_classes", 0)
    net = UNet(IMAGE_SHAPE, width=c["width"], groups=c["groups"], n_classes=n_classes, rng=rng)
    return Diffusion(net, NoiseSchedule(c["schedule"], c["T"]), IMAGE_SHAPE, n_classes=n_classes,
                     p_uncond=c.get("p_uncond", 0.1), lr=c["lr"], ema=c["ema"], clip=c["clip"],
                     prediction=c["prediction"], rng=rng)


def _counts(c: dict) -> tuple[int, int]:
    """The trained U-Net, plus its weight average if ema > 0; no buffers (GroupNorm keeps no statistics)."""
    one = unet_param_count(IMAGE_SHAPE[0], c["width"], c.get("n_classes", 0))
    return one * (2 if c["ema"] else 1), 0


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


class DiffusionFamily(ImageFamily):
    """What the diffusion kinds share: epochs over MNIST in [-1, 1] as the image kinds (whose plan,
    batches and data checks they inherit), and DDIM samples."""
    name = "diffusion"
    about = "denoising diffusion on 28x28 digits, trained in epochs, sampled with DDIM or DDPM"
    train_settings = {"epochs": Int(1, 10 ** 5), "batch_size": Int(1, 1 << 16), "eval_every": Int(1, 10 ** 5),
                      "quick": Flag()}
    train_defaults = {"epochs": 25, "batch_size": 32, "eval_every": 25, "quick": False}
    epochs = True
    unit = "img"
    seeds = {"model": 1, "batches": 0, "score": 0, "grid": 3}   # offsets from --seed, as lesson 16 draws them

    def quick(self, config: dict, train: dict) -> tuple[dict, dict]:
        """--quick: a tiny U-Net (width 4) with T = 100, 2 epochs of 5 steps, 20 scored samples."""
        return ({**config, "T": 100, "steps": 2, "width": 4, "groups": 2},
                {**train, "epochs": 2, "eval_every": 2, "quick": True})

    def data(self, kind: Kind, config: dict):
        data = load_dataset(seed=0)
        x = to_tanh(data.x_train)[:, None]
        return ((x, check_labels(data.y_train, len(x), 10, "cddpm data")) if kind.conditional else (x,)), data

    def limit(self, config: dict) -> tuple:
        return 1e6, "the noise-prediction MSE is O(1) while training works"

    def score(self, kind: Kind, data, config: dict, train: dict, seed: int, quick: bool = False):
        from ..evaluation.judge import label_accuracy, load_judge
        from ..evaluation.metrics import evaluate_images
        n = 20 if quick else 1000
        judge, real = load_judge(), to_unit(data.x_val)

        def score(m):
            labels = cycle_labels(n) if kind.conditional else None
            samples = generate_diffusion_images(m, n, np.random.default_rng(seed), labels=labels)
            r = evaluate_images(samples, real, judge=judge)
            out = {"fd": r["fd"], "confident": r["confident"], "classes_covered": r["classes_covered"]}
            if labels is not None:
                out["label_accuracy"] = label_accuracy(samples, labels, judge)
            return out
        return score

    def grid(self, kind: Kind, data, seed: int):
        labels = np.repeat(np.arange(10), 10) if kind.conditional else None
        return lambda m: generate_diffusion_images(m, 100, np.random.default_rng(seed), labels,
                                                   steps=min(5, m.config["steps"]))

    def generate(self, model, n: int, rng, labels=None, sampler=None, sampling_steps=None, eta=None,
                 guidance=None, **_):
        return generate_diffusion_images(model, n, rng, labels=labels, sampler=sampler or "ddim",
                                         steps=sampling_steps, eta=eta or 0.0, guidance=guidance)


DIFFUSION = DiffusionFamily()

_RECIPE = Recipe("lesson 16's run: about 17 min at 111 images/s on one idle core", {
    "epochs": (25, "the loss still falls at 25 epochs, but a CPU lesson must stop somewhere"),
    "batch_size": (32, "more updates per epoch than 64; the U-Net step is the cost"),
    "eval_every": (25, "score once, at the end: 1,000 DDIM samples take about a minute"),
})

DDPM = Kind(
    "ddpm", DIFFUSION, "unconditional DDPM: a U-Net of width 16 predicts v, cosine schedule, T = 1000 (lesson 16)",
    settings={**_SETTINGS, "n_classes": Int(0, 0)}, defaults={**_COMMON, "n_classes": 0},
    build=_build, counts=_counts, relations=_relations, select=("fd", False),
    architecture=("T", "schedule", "width", "groups", "prediction", "n_classes", "ema"),
    recipes={"default": _RECIPE})

CDDPM = Kind(
    "cddpm", DIFFUSION, "class-conditional DDPM with classifier-free guidance (lesson 16); a guided step costs two "
                        "U-Net calls, so it samples in half the steps",
    settings={**_SETTINGS, "n_classes": Int(1, 1000), "p_uncond": Float(0.0, 1.0, open_high=True),
              "guidance": Float(0.0, 100.0)},
    defaults={**_COMMON, "steps": 10, "n_classes": 10, "p_uncond": 0.1, "guidance": 2.0},
    build=_build, counts=_counts, relations=_relations, select=("label_accuracy", True), conditional=True,
    architecture=("T", "schedule", "width", "groups", "prediction", "n_classes", "ema"),
    recipes={"default": _RECIPE})

DIFFUSION_KINDS = (DDPM, CDDPM)
