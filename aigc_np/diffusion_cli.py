"""``train``, ``sample`` and ``evaluate`` for the diffusion kinds (ddpm, cddpm); aigc_np.cli dispatches here.

    python -m aigc_np train ddpm --out runs/ddpm --quick
    python -m aigc_np sample runs/ddpm/last.npz --n 100 --steps 20 --out ddpm.png
    python -m aigc_np sample runs/cddpm/last.npz --label 7 --guidance 3 --out sevens.png
    python -m aigc_np evaluate runs/cddpm/last.npz --json

Sampling flags: --sampler ddim|ddpm, --steps S (DDIM only, 1 <= S <= T), --eta E
(DDIM only), --guidance W (cddpm only), --label K (cddpm only). A flag a model
cannot use is a usage error (exit code 2), as is S out of range or K out of range.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from .argtypes import FINITE, _number
from .checkpoint import load_checkpoint, validate_checkpoint
from .data import load_dataset, to_unit
from .io import atomic_write
from .models.diffusion_registry import (DIFFUSION_KINDS, DIFFUSION_TRAIN, build_diffusion, generate_diffusion_images,
                                        prepare_diffusion_images)
from .plotting import save_image_grid

__all__ = ["add_diffusion_flags", "check_sampling_flags", "cmd_train_diffusion", "cmd_sample_diffusion",
           "cmd_evaluate_diffusion"]

SAMPLING_FLAGS = ("steps", "sampler", "eta", "guidance")


def _usage_error(message: str):
    from .cli import UsageError
    return UsageError(message)


def add_diffusion_flags(parser) -> None:
    """The sampling flags of the diffusion kinds, on a ``sample`` or ``evaluate`` sub-parser."""
    parser.add_argument("--steps", type=_number(int, None, "an integer"), metavar="S", help="diffusion (ddim): sampling steps, 1..T "
                                                                "(default: the checkpoint's)")
    parser.add_argument("--sampler", choices=["ddim", "ddpm"], help="diffusion: the sampler (default ddim)")
    parser.add_argument("--eta", type=FINITE, metavar="E", help="diffusion (ddim): noise per step, 0 = deterministic")
    parser.add_argument("--guidance", type=FINITE, metavar="W", help="cddpm: classifier-free guidance weight "
                                                                    "(default: the checkpoint's)")


def check_sampling_flags(args, kind: str, meta: dict | None = None) -> None:
    """Raise a usage error for a sampling flag that a ``kind`` model cannot use or a value out of range."""
    given = [f"--{f}" for f in SAMPLING_FLAGS if getattr(args, f, None) is not None]
    if kind not in DIFFUSION_KINDS:
        if given:
            raise _usage_error(f"{' '.join(given)}: a {kind!r} model is not a diffusion model; these flags need a "
                               f"checkpoint of {' or '.join(DIFFUSION_KINDS)}")
        return
    cfg = meta["config"]
    if args.guidance is not None and not cfg["n_classes"]:
        raise _usage_error(f"--guidance {args.guidance}: a {kind!r} model is unconditional; guidance needs a cddpm")
    if args.guidance is not None and not args.guidance >= 0:
        raise _usage_error(f"--guidance {args.guidance}: expected a weight >= 0")
    if getattr(args, "label", None) is not None:
        if not cfg["n_classes"]:
            raise _usage_error(f"--label {args.label}: a {kind!r} model is not conditional; --label needs a cddpm")
        if not 0 <= args.label < cfg["n_classes"]:
            raise _usage_error(f"--label {args.label}: expected a digit 0..{cfg['n_classes'] - 1}")
    if args.sampler == "ddpm" and (args.steps is not None or args.eta is not None):
        raise _usage_error("--steps/--eta: the ddpm sampler takes all T steps with fresh noise; use --sampler ddim")
    if args.steps is not None and not 1 <= args.steps <= cfg["T"]:
        raise _usage_error(f"--steps {args.steps}: expected 1..T={cfg['T']} (the checkpoint's T)")
    if args.eta is not None and not args.eta >= 0:
        raise _usage_error(f"--eta {args.eta}: expected eta >= 0")


def _load(path, meta):
    meta = validate_checkpoint(path)  # nothing is built before the file is checked
    model = build_diffusion(meta["kind"], meta["config"])
    load_checkpoint(model, path)
    return model.eval()


def _generate(model, args, n, seed, labels=None):
    return generate_diffusion_images(model, n, np.random.default_rng(seed), labels=labels,
                                     sampler=args.sampler or "ddim", steps=args.steps, eta=args.eta or 0.0,
                                     guidance=args.guidance)


# ------------------------------------------------------------------ train
def cmd_train_diffusion(args) -> int:
    from .evaluation.metrics import evaluate_images
    from .evaluation.judge import judge_scores, load_judge
    from .training import resume, train

    config = {}
    if args.width is not None:
        if args.width != int(args.width) or args.width < 1:
            raise _usage_error(f"--width {args.width}: a U-Net's width is a positive int (channels)")
        config["width"] = int(args.width)
    if args.latent_dim is not None:
        raise _usage_error("--latent-dim: a diffusion model has no latent code (its latent is x_T, image-sized)")
    if args.quick:
        config.update({"T": 100, "steps": 2, "width": config.get("width", 4), "groups": 2})
    model = build_diffusion(args.kind, config, rng=np.random.default_rng(args.seed + 1))
    data = load_dataset(seed=0)
    conditional = args.kind == "cddpm"
    x = prepare_diffusion_images(args.kind, data.x_train, data.y_train if conditional else None)
    epochs = args.epochs or (2 if args.quick else DIFFUSION_TRAIN[args.kind]["epochs"])
    n_eval = 20 if args.quick else 1000
    judge, real = load_judge(), to_unit(data.x_val)

    def score(m):
        labels = np.arange(n_eval) % 10 if conditional else None
        samples = generate_diffusion_images(m, n_eval, np.random.default_rng(args.seed), labels=labels)
        r = evaluate_images(samples, real, judge=judge)
        out = {"fd": r["fd"], "confident": r["confident"], "classes_covered": r["classes_covered"]}
        if conditional:
            out["label_accuracy"] = float(np.mean(judge_scores(samples, judge)["predictions"] == labels))
        return out

    grid_labels = np.repeat(np.arange(10), 10) if conditional else None
    batch_size = args.batch_size or DIFFUSION_TRAIN[args.kind]["batch_size"]
    options = dict(epochs=epochs, batch_size=batch_size, rng=np.random.default_rng(args.seed),
                   out_dir=args.out, value_range=(0.0, 1.0), score_fn=score,
                   best_key="label_accuracy" if conditional else "fd", higher_is_better=conditional,
                   grid_fn=lambda m: generate_diffusion_images(m, 100, np.random.default_rng(args.seed), grid_labels,
                                                               steps=min(5, m.config["steps"])),
                   eval_every=args.eval_every or epochs, patience=args.patience,
                   max_steps_per_epoch=5 if args.quick else None)
    print(f"training {args.kind} (U-Net width {model.config['width']}, {model.net.num_params():,} parameters, "
          f"{model.config['schedule']} schedule, T={model.config['T']}) on {data.source}: {epochs} epochs, "
          f"batch {options['batch_size']}, out {args.out}")
    start = time.perf_counter()
    if args.resume:
        from .checkpoint import read_metadata
        meta = validate_checkpoint(args.resume)
        model = build_diffusion(meta["kind"], meta["config"], rng=np.random.default_rng(args.seed + 1))
        history = resume(model, x, **options)
    else:
        history = train(model, x, **options)
    last = history[-1]
    shown = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if k not in ("epoch", "seconds"))
    print(f"done in {time.perf_counter() - start:.0f} s: epoch {last['epoch']}: {shown}")
    print(f"wrote {os.path.join(args.out, 'last.npz')}, best.npz, history.csv and sample grids")
    return 0


# ----------------------------------------------------------------- sample
def cmd_sample_diffusion(args, meta) -> int:
    if not args.out.endswith((".png", ".npy")):
        raise ValueError(f"--out {args.out}: expected a file name ending in .png or .npy")
    check_sampling_flags(args, meta["kind"], meta)
    model = _load(args.checkpoint, meta)
    labels = None
    if model.conditional:
        labels = np.full(args.n, args.label) if args.label is not None else np.arange(args.n) % model.n_classes
    start = time.perf_counter()
    images = _generate(model, args, args.n, args.seed, labels)
    seconds = time.perf_counter() - start
    if args.out.endswith(".png"):
        nrow = model.n_classes if model.conditional and args.label is None else int(np.ceil(np.sqrt(args.n)))
        what = f", digit {args.label}" if args.label is not None else (", labels 0..9 per row" if labels is not None else "")
        save_image_grid(images, args.out, nrow=nrow, value_range=(0, 1),
                        title=f"{meta['kind']} (epoch {meta['epoch']}{what})")
    else:
        with atomic_write(args.out) as f:
            np.save(f, images)
    print(f"wrote {args.n} samples from {args.checkpoint} ({meta['kind']}, {args.sampler or 'ddim'}) to {args.out} "
          f"in {seconds:.1f} s")
    return 0


# --------------------------------------------------------------- evaluate
def cmd_evaluate_diffusion(args, meta) -> int:
    from .cli import _load_real, image_evaluation, print_image_report
    from .evaluation.judge import judge_scores

    check_sampling_flags(args, meta["kind"], meta)
    model = _load(args.checkpoint, meta)
    data = load_dataset(seed=0)
    real = _load_real(args.real) if args.real else to_unit(data.x_val)
    labels = np.arange(args.n) % model.n_classes if model.conditional else None
    start = time.perf_counter()
    samples = _generate(model, args, args.n, args.seed, labels)
    seconds = time.perf_counter() - start
    result = {"model": meta["kind"], "checkpoint": args.checkpoint, "epoch": meta["epoch"],
              "sampling_seconds": round(seconds, 1), **image_evaluation(samples, real, data, args)}
    if labels is not None:
        result["label_accuracy"] = float(np.mean(judge_scores(samples)["predictions"] == labels))
    if args.json:
        print(json.dumps(result))
        return 0
    print_image_report(result, f"{meta['kind']} from {args.checkpoint} (epoch {meta['epoch']}), {result['n']} "
                               f"samples in {seconds:.0f} s")
    if "label_accuracy" in result:
        print(f"  {'judge accuracy on requested labels':<36}{result['label_accuracy']:>10.3f}")
    return 0
