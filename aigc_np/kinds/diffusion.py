"""The diffusion family: ``ddpm`` and ``cddpm`` (lessons 15-16), ``ldm`` and ``cldm`` (lessons 17-18).

``ddpm``/``cddpm`` diffuse pixels with a U-Net; ``ldm``/``cldm`` train a
convolutional autoencoder first, then a flow-matching MLP on its latents
(``models.latent``), all in one run through the one loop. A checkpoint's
config holds the noise schedule or the flow's settings and the sampler's
defaults, so the file alone is enough to sample. They train in epochs over
the bundled MNIST split (the latent kinds: ``ae_steps`` autoencoder steps,
then ``epochs`` of denoiser steps); best.npz is picked by FD (ddpm, ldm) or
by the judge's accuracy on the requested digits (cddpm, cldm).
"""
from __future__ import annotations

import math

import numpy as np

from ..data import load_dataset, to_tanh, to_unit
from ..models.conditional import check_labels, cycle_labels
from ..models.diffusion import PREDICTIONS, SCHEDULES, Diffusion, NoiseSchedule
from ..models.flow import FLOW_SAMPLERS, TIME_DISTRIBUTIONS, FlowMatching
from ..models.latent import (ConvAutoencoder, LatentDiffusion, LatentMLP, autoencoder_param_count,
                             latent_mlp_param_count)
from ..models.unet import UNet, unet_param_count
from ..plan import Plan
from .image import ImageFamily
from .kind import Kind, Recipe
from .schema import Choice, Flag, Float, Int

__all__ = ["DIFFUSION", "DIFFUSION_KINDS", "generate_diffusion_images", "IMAGE_SHAPE", "MAX_T", "MAX_FLOW_STEPS",
           "is_latent", "latent_lr_at"]

IMAGE_SHAPE = (1, 28, 28)
MAX_T = 10_000       # the schedule holds a few arrays of T numbers; DDPM sampling takes T network calls
MAX_WIDTH = 256      # U-Net channels at the top level (16 trains at about 120 images/s on a core)
MAX_FLOW_STEPS = 1000   # an ODE sampler's steps: each is one denoiser call on the whole batch

_SETTINGS = {"T": Int(2, MAX_T), "schedule": Choice(options=SCHEDULES), "width": Int(1, MAX_WIDTH),
             "groups": Int(1, MAX_WIDTH), "lr": Float(0.0, 10.0, open_low=True),
             "ema": Float(0.0, 1.0, open_high=True), "clip": Flag(), "prediction": Choice(options=PREDICTIONS),
             "steps": Int(1, MAX_T), "min_snr": Float(0.0, 1e4)}
_COMMON = {"T": 1000, "schedule": "cosine", "width": 16, "groups": 8, "lr": 1e-3, "ema": 0.999, "clip": True,
           "prediction": "v", "steps": 20, "min_snr": 0.0}


_ADDED = {"min_snr": 0.0}   # checkpoints written before min_snr existed trained without the weights


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
                     prediction=c["prediction"], min_snr=c.get("min_snr", 0.0), rng=rng)


def _counts(c: dict) -> tuple[int, int]:
    """The trained U-Net, plus its weight average if ema > 0; no buffers (GroupNorm keeps no statistics)."""
    one = unet_param_count(IMAGE_SHAPE[0], c["width"], c.get("n_classes", 0))
    return one * (2 if c["ema"] else 1), 0


def generate_diffusion_images(model: Diffusion, n: int, rng: np.random.Generator, labels=None,
                              sampler: str | None = None, steps: int | None = None, eta: float = 0.0,
                              guidance: float | None = None) -> np.ndarray:
    """n samples as float32 (n, 28, 28) in [0, 1]; sampler, steps and guidance default to the checkpoint's
    config (ddpm/cddpm: "ddim" or "ddpm"; ldm/cldm: "euler" or "heun").

    A cddpm draws sample i as digit labels[i] (default: cycling 0..9; one int: all that digit).
    """
    cfg = model.config
    labels, guidance = _labels_and_guidance(model, n, labels, guidance)
    if is_latent(cfg):
        return _generate_latent(model, n, rng, labels, sampler, steps, guidance)
    sampler = sampler or "ddim"
    if sampler == "ddim" and steps is None:
        steps = cfg["steps"]
    x = model.sample(n, rng, sampler=sampler, steps=steps, eta=eta, labels=labels, guidance=guidance or 0.0)
    return np.clip((x[:, 0] + 1) / 2, 0, 1).astype(np.float32)


def is_latent(config: dict) -> bool:
    """A config of a latent kind (ldm, cldm) rather than a pixel DDPM."""
    return "ae_steps" in config


def _labels_and_guidance(model, n: int, labels, guidance):
    """The labels (N,) a conditional model draws (default: cycling 0..9; one int: all that digit) and its
    guidance (default: the checkpoint's, if its kind has one); (None, guidance) for an unconditional one,
    which takes no labels (an ldm's guidance is autoguidance)."""
    if guidance is None:
        guidance = model.config.get("guidance", 0.0)
        if not model.conditional and not getattr(model, "has_guide", False):
            guidance = 0.0   # an ldm's rows before its guide is taken sample unguided
    if not model.conditional:
        if labels is not None:
            raise ValueError(f"generate_images: a {model.kind} model is not conditional, it cannot draw "
                             f"requested labels")
        return None, guidance
    labels = cycle_labels(n, model.n_classes) if labels is None else labels
    labels = np.full(n, labels) if np.ndim(labels) == 0 else labels
    labels = check_labels(labels, n, model.n_classes, f"generate_images ({model.kind})")
    return labels, guidance


def _generate_latent(model, n, rng, labels, sampler, steps, guidance) -> np.ndarray:
    cfg = model.config
    sampler = cfg["sampler"] if sampler in (None, "ddim") else sampler
    x = model.sample(n, rng, sampler=sampler, steps=cfg["steps"] if steps is None else steps, labels=labels,
                     guidance=guidance or 0.0)
    return np.clip(x[:, 0], 0, 1).astype(np.float32)


def latent_lr_at(ae_steps: int, total: int, warmup: int):
    """(step, lr) -> the rate at ``step``: each phase (the autoencoder's first ``ae_steps`` steps, then
    the denoiser's) warms up linearly over ``warmup`` steps and decays along a cosine to lr / 10."""
    def lr_at(step: int, lr: float) -> float:
        start, length = (0, ae_steps) if step < ae_steps else (ae_steps, total - ae_steps)
        k = step - start
        cosine = 0.5 * (1.0 + math.cos(math.pi * k / max(1, length)))
        return lr * min(1.0, (k + 1) / max(1, warmup)) * (0.1 + 0.9 * cosine)
    return lr_at


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
        """--quick: a tiny U-Net (width 4) with T = 100, 2 epochs of 5 steps, 20 scored samples; for
        ldm/cldm a tiny autoencoder trained 5 steps and a tiny MLP."""
        if is_latent(config):
            guide = {"guide_step": 3} if config.get("guide_step") else {}   # within the 10 denoiser steps
            return ({**config, "ae_width": 4, "ae_steps": 5, "width": 16, "depth": 1, "emb_dim": 8, "steps": 2,
                     "warmup": 2, **guide}, {**train, "epochs": 2, "eval_every": 2, "quick": True})
        return ({**config, "T": 100, "steps": 2, "width": 4, "groups": 2},
                {**train, "epochs": 2, "eval_every": 2, "quick": True})

    def data(self, kind: Kind, config: dict):
        data = load_dataset(seed=0)
        x = (to_unit if is_latent(config) else to_tanh)(data.x_train)[:, None]
        return ((x, check_labels(data.y_train, len(x), 10, "cddpm data")) if kind.conditional else (x,)), data

    def plan(self, train: dict, data: tuple, config: dict, quick: bool = False, patience: int | None = None) -> Plan:
        """ddpm/cddpm: epochs as the image kinds. ldm/cldm: ``ae_steps`` autoencoder steps, then ``epochs``
        of denoiser steps, each phase with a warm-up and a cosine decay; about 10 rows (each with a grid
        and last.npz), scores every ``eval_every`` epochs of the denoiser's and at the end."""
        if not is_latent(config):
            return super().plan(train, data, config, quick, patience)
        n, batch = len(data[0]), train["batch_size"]
        if batch > n:
            raise ValueError(f"--batch-size {batch}: larger than the {n} training images")
        per_epoch = min(n // batch, 5) if quick else n // batch
        ae, epochs = config["ae_steps"], train["epochs"]
        if config.get("guide_step", 0) > epochs * per_epoch:
            raise ValueError(f"--epochs {epochs}: {epochs * per_epoch} denoiser steps, fewer than guide_step "
                             f"{config['guide_step']} (when autoguidance's guide is taken); train longer or "
                             f"lower guide_step")
        every = per_epoch * math.gcd(train["eval_every"], max(1, epochs // 10))
        total = ae + epochs * per_epoch
        # epoch_steps: the batches are passes over the data from step 0, so a row's "epoch" counts the
        # autoencoder's epochs too
        return Plan(steps=total, batch_size=batch, every=every, eval_every=per_epoch * train["eval_every"],
                    epoch_steps=per_epoch, lr_at=latent_lr_at(ae, total, config["warmup"]), patience=patience)

    def limit(self, config: dict) -> tuple:
        return 1e6, "the noise-prediction MSE is O(1) while training works"

    def score(self, kind: Kind, data, config: dict, train: dict, seed: int, quick: bool = False):
        from ..evaluation.judge import label_accuracy, load_judge
        from ..evaluation.metrics import evaluate_images
        n = 20 if quick else 1000
        judge, real = load_judge(), to_unit(data.x_val)
        yardstick = is_latent(config) and not quick   # --quick: the cheap scores of the pixel kinds
        if yardstick:   # the GANs' yardstick: FD against 4,000 training images, real baseline beside it
            from ..evaluation.quality import SampleScorer, describe_scores
            scorer = SampleScorer(data, n=n, judge=judge)

        def score(m):
            if getattr(m, "training_autoencoder", False):
                return {}   # no denoiser yet: nothing to score
            labels = cycle_labels(n) if kind.conditional else None
            samples = generate_diffusion_images(m, n, np.random.default_rng(seed), labels=labels)
            if yardstick:
                out = scorer.score(samples)
                print(f"  scored {n} samples: {describe_scores(out, scorer.baseline)}")
            else:
                r = evaluate_images(samples, real, judge=judge)
                out = {"fd": r["fd"], "confident": r["confident"], "classes_covered": r["classes_covered"]}
            if labels is not None:
                out["label_accuracy"] = label_accuracy(samples, labels, judge)
            return out
        return score

    def grid(self, kind: Kind, data, seed: int):
        labels = np.repeat(np.arange(10), 10) if kind.conditional else None

        def grid(m):
            if getattr(m, "training_autoencoder", False) or (is_latent(m.config) and not m.ae.latent_scale[0]):
                return m.ae.decode(m.ae.encode(to_unit(data.x_train[:100])[:, None]))[:, 0]   # reconstructions
            return generate_diffusion_images(m, 100, np.random.default_rng(seed), labels,
                                             steps=min(5 if not is_latent(m.config) else 20, m.config["steps"]))
        return grid

    def generate(self, model, n: int, rng, labels=None, sampler=None, sampling_steps=None, eta=None,
                 guidance=None, **_):
        return generate_diffusion_images(model, n, rng, labels=labels, sampler=sampler,
                                         steps=sampling_steps, eta=eta or 0.0, guidance=guidance)


DIFFUSION = DiffusionFamily()

_RECIPE = Recipe("lesson 16's run: about 17 min at 111 images/s on one idle core", {
    "epochs": (25, "the loss still falls at 25 epochs, but a CPU lesson must stop somewhere"),
    "batch_size": (32, "more updates per epoch than 64; the U-Net step is the cost"),
    "eval_every": (25, "score once, at the end: 1,000 DDIM samples take about a minute"),
})

_MIN_SNR_RECIPE = Recipe("lesson 16's U-Net for 20 minutes on an idle core, with min-SNR weights "
                         "(docs/experiments.md)", {
    "epochs": (29, "lesson 16's 25 epochs took about 17 min on an idle core: 29 fill 20"),
    "batch_size": (32, "as lesson 16"),
    "eval_every": (29, "score once, at the end"),
    "min_snr": (5.0, "Hang et al.'s gamma: cap the weight of the nearly clean steps, which converge first"),
})

DDPM = Kind(
    "ddpm", DIFFUSION, "unconditional DDPM: a U-Net of width 16 predicts v, cosine schedule, T = 1000 (lesson 16)",
    settings={**_SETTINGS, "n_classes": Int(0, 0)}, defaults={**_COMMON, "n_classes": 0},
    build=_build, counts=_counts, relations=_relations, select=("fd", False),
    architecture=("T", "schedule", "width", "groups", "prediction", "n_classes", "ema"),
    recipes={"default": _RECIPE, "min-snr": _MIN_SNR_RECIPE}, added=_ADDED)

CDDPM = Kind(
    "cddpm", DIFFUSION, "class-conditional DDPM with classifier-free guidance (lesson 16); a guided step costs two "
                        "U-Net calls, so it samples in half the steps",
    settings={**_SETTINGS, "n_classes": Int(1, 1000), "p_uncond": Float(0.0, 1.0, open_high=True),
              "guidance": Float(0.0, 100.0)},
    defaults={**_COMMON, "steps": 10, "n_classes": 10, "p_uncond": 0.1, "guidance": 2.0},
    build=_build, counts=_counts, relations=_relations, select=("label_accuracy", True), conditional=True,
    architecture=("T", "schedule", "width", "groups", "prediction", "n_classes", "ema"),
    recipes={"default": _RECIPE}, added=_ADDED)

# ------------------------------------------------------------ latent diffusion
_LATENT_SETTINGS = {"latent_channels": Int(1, 64), "ae_width": Int(1, 256), "kl": Float(0.0, 1.0),
                    "ae_steps": Int(1, 10 ** 7), "ae_batch": Int(1, 1 << 16), "ae_lr": Float(0.0, 10.0, open_low=True),
                    "width": Int(1, 4096), "depth": Int(0, 64), "emb_dim": Int(2, 1024),
                    "lr": Float(0.0, 10.0, open_low=True), "warmup": Int(1, 10 ** 7),
                    "ema": Float(0.0, 1.0, open_high=True), "time_distribution": Choice(options=TIME_DISTRIBUTIONS),
                    "sampler": Choice(options=FLOW_SAMPLERS), "steps": Int(1, MAX_FLOW_STEPS),
                    "min_snr": Float(0.0, 1e4)}
_LATENT_DEFAULTS = {"latent_channels": 4, "ae_width": 16, "kl": 1e-3, "ae_steps": 2000, "ae_batch": 64, "ae_lr": 2e-3,
                    "width": 768, "depth": 3, "emb_dim": 128, "lr": 1e-3, "warmup": 200, "ema": 0.999,
                    "time_distribution": "logit-normal", "sampler": "euler", "steps": 50, "min_snr": 0.0}
_LATENT_ARCHITECTURE = ("latent_channels", "ae_width", "width", "depth", "emb_dim", "n_classes", "ema")


def _latent_relations(c: dict) -> str | None:
    if c["emb_dim"] % 2:
        return f"emb_dim {c['emb_dim']} must be even (sines and cosines of the time)"
    if not c.get("n_classes") and c.get("guidance") and not c.get("guide_step"):
        return f"guidance {c['guidance']} needs a guide to step away from: set guide_step (autoguidance)"
    return None


def _build_latent(c: dict, rng) -> LatentDiffusion:
    n_classes = c.get("n_classes", 0)
    ae = ConvAutoencoder(c["latent_channels"], c["ae_width"], c["kl"], IMAGE_SHAPE, rng=rng)
    net = LatentMLP(ae.latent_shape, c["width"], c["depth"], c["emb_dim"], n_classes, rng=rng)
    flow = FlowMatching(net, ae.latent_shape, n_classes, c.get("p_uncond", 0.1), c["lr"], c["ema"],
                        c["time_distribution"], c.get("min_snr", 0.0), c.get("guide_step", 0), rng=rng)
    return LatentDiffusion(ae, flow, c["ae_steps"], c["ae_lr"], c["ae_batch"])


def _latent_counts(c: dict) -> tuple[int, int]:
    """The autoencoder, the trained MLP, its weight average if ema > 0 and the guide if guide_step > 0;
    one buffer, the latent scale."""
    side = IMAGE_SHAPE[1] // 4
    mlp = latent_mlp_param_count(c["latent_channels"] * side * side, c["width"], c["depth"], c["emb_dim"],
                                 c.get("n_classes", 0))
    copies = 1 + bool(c["ema"]) + bool(c.get("guide_step"))
    return autoencoder_param_count(c["latent_channels"], c["ae_width"]) + mlp * copies, 1


_LDM_RECIPE = Recipe("the best recipe measured in docs/experiments.md (lesson 18): about 13 min on an idle core", {
    "width": (512, "at a fixed budget a 3 x 512 MLP's extra steps beat a 3 x 768 MLP's width"),
    "epochs": (618, "10,506 denoiser steps of 256 latents, about 11 min on an idle core"),
    "batch_size": (256, "an MLP step on 256 latents costs little more than on 64: bigger batches use the core"),
    "eval_every": (793, "score once, at the end; 793 = 13 x 61 makes a row (a grid and last.npz) every 61 epochs"),
    "guide_step": (2600, "autoguidance's weak model: the weight average after a quarter of the steps"),
    "guidance": (2.0, "autoguidance's w: (1 + w) v - w v_guide; the best of 0.5, 1 and 2 (docs/experiments.md)"),
})

_LATENT_RECIPE = Recipe("the best recipe measured in docs/experiments.md (lesson 18)", {
    "epochs": (300, "denoiser epochs: 5,100 steps of 256 latents, about 11 min on an idle core"),
    "batch_size": (256, "an MLP step on 256 latents costs little more than on 64: bigger batches use the core"),
    "eval_every": (600, "score once, at the end (epochs count from step 0, the autoencoder's steps included)"),
})

_LATENT_DEMO = Recipe("make demo's panel: about a minute on an idle core", {
    "ae_steps": (600, "a rougher autoencoder: its reconstructions bound the samples"),
    "width": (384, "a narrower MLP: a quarter of the default's cost per step"),
    "depth": (2, "two residual blocks"),
    "epochs": (60, "1,020 denoiser steps"),
    "batch_size": (256, "as the default recipe"),
    "eval_every": (600, "score once, at the end"),
})

_LDM_DEMO = Recipe(_LATENT_DEMO.about, {
    **_LATENT_DEMO.settings,
    "guide_step": (255, "autoguidance's weak model, as the default recipe: after a quarter of the steps"),
    "guidance": (2.0, "as the default recipe"),
})

LDM = Kind(
    "ldm", DIFFUSION, "latent diffusion (lesson 18): a conv autoencoder to 7x7x4, then a flow-matching MLP on "
                      "its latents, sampled with 50 Euler steps",
    settings={**_LATENT_SETTINGS, "n_classes": Int(0, 0), "guidance": Float(0.0, 100.0),
              "guide_step": Int(0, 10 ** 7)},
    defaults={**_LATENT_DEFAULTS, "n_classes": 0, "guidance": 0.0, "guide_step": 0},
    build=_build_latent, counts=_latent_counts, relations=_latent_relations, select=("fd", False),
    architecture=(*_LATENT_ARCHITECTURE, "guide_step"), recipes={"default": _LDM_RECIPE, "demo": _LDM_DEMO},
    added={**_ADDED, "guidance": 0.0, "guide_step": 0})

CLDM = Kind(
    "cldm", DIFFUSION, "class-conditional latent diffusion with classifier-free guidance (lesson 18); a guided "
                       "step costs two MLP calls",
    settings={**_LATENT_SETTINGS, "n_classes": Int(1, 1000), "p_uncond": Float(0.0, 1.0, open_high=True),
              "guidance": Float(0.0, 100.0)},
    defaults={**_LATENT_DEFAULTS, "n_classes": 10, "p_uncond": 0.1, "guidance": 0.5},
    build=_build_latent, counts=_latent_counts, relations=_latent_relations, select=("label_accuracy", True),
    conditional=True, architecture=_LATENT_ARCHITECTURE, recipes={"default": _LATENT_RECIPE, "demo": _LATENT_DEMO},
    added=_ADDED)

DIFFUSION_KINDS = (DDPM, CDDPM, LDM, CLDM)
