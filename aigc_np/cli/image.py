"""The image family's options, and ``sample``/``evaluate`` for every kind that draws images.

    python -m aigc_np train vae --out runs/vae --quick
    python -m aigc_np sample runs/vae/best.npz --n 100 --out vae.png
    python -m aigc_np sample runs/cgan/best.npz --label 7 --n 16 --out sevens.png
    python -m aigc_np evaluate runs/vae/best.npz --json

The diffusion family (``cli.diffusion``) draws images too and uses the same
writing and report, with its own sampling options.
"""
from __future__ import annotations

import json

import numpy as np

from ..checkpoint import load_model
from ..data import load_dataset, to_unit
from ..io import atomic_write
from ..kinds import KINDS
from ..plotting import save_image_grid
from .argtypes import POSITIVE, positive_float
from .common import UsageError, check_out_file
from .options import Option, kinds_of

__all__ = ["OPTIONS", "sample_images", "evaluate_images_of", "load_real", "image_evaluation", "print_image_report"]

IMAGE_KINDS = kinds_of("image")
DRAWS_IMAGES = kinds_of("image") + kinds_of("diffusion")
CONDITIONAL = tuple(name for name, k in KINDS.items() if k.conditional)
MAX_REAL_BYTES = 1 << 30   # --real: 1 GiB of float32 is 340,000 images of 28x28

OPTIONS = [
    Option("--epochs", ("train",), "training epochs (default: the recipe's)", kinds=DRAWS_IMAGES, setting="epochs",
           argparse={"type": POSITIVE}),
    Option("--latent-dim", ("train",), "size of the latent code z", kinds=IMAGE_KINDS, setting="latent_dim",
           argparse={"type": POSITIVE}),
    Option("--width", ("train",), "dcgan: channel multiplier (1 = the article's model); ddpm, cddpm: the U-Net's "
                                  "channels (an integer)", kinds=("dcgan", "ddpm", "cddpm"), setting="width",
           argparse={"type": positive_float}),
    Option("--out", ("sample",), "FILE.png (a grid) or FILE.npy ((N, 28, 28) float32 in [0, 1]) for image kinds; "
                                 "FILE.txt for text kinds (default: print the text)"),
    Option("--label", ("sample",), "every sample is digit K (default: labels cycle 0..9)", kinds=CONDITIONAL,
           argparse={"type": int, "metavar": "K"}),
    Option("--real", ("evaluate",), "reference images (M, 28, 28) in [0, 1] (default: the validation split)",
           kinds=DRAWS_IMAGES, argparse={"metavar": "FILE.npy"}),
]


def _labels(model, kind, args, n):
    """Conditional kinds: every sample is digit --label, or labels cycle 0..9 (column k of a grid 10 wide is digit k)."""
    if not kind.conditional:
        return None
    if args.label is not None:
        if not 0 <= args.label < model.n_classes:
            raise UsageError(f"--label {args.label}: expected a digit 0..{model.n_classes - 1}")
        return np.full(n, args.label)
    return np.arange(n) % model.n_classes


def sample_images(args, meta, generate_options: dict | None = None) -> int:
    """Draw --n images from the checkpoint and write them to --out (.png grid or .npy)."""
    if args.out is None:
        raise UsageError("--out FILE.png or FILE.npy is required for image models")
    check_out_file(args.out, (".png", ".npy"), "images")
    kind = KINDS[meta["kind"]]
    model, meta = load_model(args.checkpoint)
    n = args.n or 100
    labels = _labels(model, kind, args, n)
    train_images = load_dataset(seed=0).x_train if kind.name == "ae" else None
    images = kind.family.generate(model, n, np.random.default_rng(args.seed or 0), labels=labels,
                                  train_images=train_images, **(generate_options or {}))
    if args.out.lower().endswith(".png"):
        nrow = model.n_classes if kind.conditional and args.label is None else int(np.ceil(np.sqrt(n)))
        what = f", digit {args.label}" if args.label is not None else (", labels 0..9 per row" if kind.conditional else "")
        save_image_grid(images, args.out, nrow=nrow, value_range=(0, 1),
                        title=f"{kind.name} (step {meta['step']}{what})")
    else:
        with atomic_write(args.out) as f:
            np.save(f, images)
    print(f"wrote {n} samples from {args.checkpoint} ({kind.name}) to {args.out}")
    return 0


def load_real(path) -> np.ndarray:
    """--real: a float .npy (M, 28, 28) in [0, 1], read through the bounded reader."""
    from ..io import load_npy
    real = load_npy(path, MAX_REAL_BYTES, "--real")
    if real.ndim != 3 or real.shape[1:] != (28, 28) or real.dtype.kind != "f":
        raise ValueError(f"--real {path}: expected a float array (M, 28, 28) in [0, 1], "
                         f"got {real.dtype} {real.shape}")
    if not np.isfinite(real).all() or real.min() < 0 or real.max() > 1:
        raise ValueError(f"--real {path}: expected finite values in [0, 1], got [{real.min():.3g}, {real.max():.3g}]")
    return real.astype(np.float32)


def image_evaluation(samples, real, data, args) -> dict:
    """Every image metric beside its real-data baseline (``metrics.evaluate_images``), plus, without
    --real and for at most 1,000 samples, the yardstick that picks GANs' best epochs
    (``aigc_np.evaluation.quality``: 4,000 training images as the reference, 1,000 other real images as
    the baseline)."""
    from ..evaluation.metrics import evaluate_images
    from ..evaluation.quality import SampleScorer

    result = {"reference": args.real or data.source + " (validation split)",
              **evaluate_images(samples, real, train_images=to_unit(data.x_train), seed=args.seed or 0)}
    if not args.real and len(samples) <= 1000:
        scorer = SampleScorer(data, n=len(samples))
        result["quality"], result["quality_real_baseline"] = scorer.score(samples), scorer.baseline
    return result


def print_image_report(result: dict, header: str) -> None:
    """The table of ``image_evaluation``'s result: each metric beside real data's."""
    print(f"{header}, reference: {result['reference']}")
    rows = [("Frechet distance (lower is better)", "fd", "fd_real_baseline"),
            ("Inception score (max 10)", "inception_score", "inception_score_real"),
            ("judge confident (max p >= 0.9)", "confident", "confident_real"),
            ("precision", "precision", "precision_real_baseline"),
            ("recall", "recall", "recall_real_baseline"),
            ("class KL to real (nats)", "class_kl", "class_kl_real_baseline")]
    print(f"  {'metric':<36}{'model':>10}{'real data':>12}")
    for name, key, base in rows:
        print(f"  {name:<36}{result[key]:>10.3f}{result[base]:>12.3f}")
    print(f"  {'classes covered':<36}{result['classes_covered']:>10d}{10:>12d}")
    print(f"  {'median distance to nearest train image':<36}{result['nn_dist_samples']:>10.3f}"
          f"{result['nn_dist_heldout']:>12.3f}")
    if "quality" in result:
        q, b = result["quality"], result["quality_real_baseline"]
        print("  against 4,000 training images' features (the yardstick of best.npz for GANs):")
        for name, key in (("FD (lower is better)", "fd"), ("rarest digit's share", "min_class"),
                          ("precision", "precision"), ("recall", "recall"), ("judge confident", "confident")):
            print(f"  {name:<36}{q[key]:>10.3f}{b[key]:>12.3f}")
    for name, key, fmt in (("ELBO (nats/image, higher is better)", "elbo", ".2f"),
                           ("judge accuracy on requested labels", "label_accuracy", ".3f")):
        if key in result:
            print(f"  {name:<36}{result[key]:>10{fmt}}")


def evaluate_images_of(args, meta, generate_options: dict | None = None) -> int:
    """Score --n samples of the checkpoint against real digits (and, for a VAE, its ELBO)."""
    import time
    from ..evaluation.judge import label_accuracy

    kind = KINDS[meta["kind"]]
    model, meta = load_model(args.checkpoint)
    n, seed = args.n or 1000, args.seed or 0
    data = load_dataset(seed=0)
    real = load_real(args.real) if args.real else to_unit(data.x_val)
    labels = np.arange(n) % model.n_classes if kind.conditional else None
    start = time.perf_counter()
    samples = kind.family.generate(model, n, np.random.default_rng(seed), labels=labels, train_images=data.x_train,
                                   **(generate_options or {}))
    seconds = time.perf_counter() - start
    result = {"model": kind.name, "checkpoint": args.checkpoint, "step": meta["step"],
              "sampling_seconds": round(seconds, 1), **image_evaluation(samples, real, data, args)}
    if kind.name == "vae":
        result.update(model.elbo(real, rng=np.random.default_rng(seed)))
    if labels is not None:   # does the judge see the requested digit in the same samples?
        result["label_accuracy"] = label_accuracy(samples, labels)
    if args.json:
        print(json.dumps(result))
        return 0
    print_image_report(result, f"{kind.name} from {args.checkpoint} (step {meta['step']}), {result['n']} samples "
                               f"in {seconds:.0f} s")
    return 0


def sample(args, meta) -> int:
    return sample_images(args, meta)


def evaluate(args, meta) -> int:
    return evaluate_images_of(args, meta)
