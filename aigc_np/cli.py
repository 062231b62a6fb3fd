"""Command line: ``python -m aigc_np {train,sample,evaluate}`` (also ``aigc-np``).

    python -m aigc_np train vae --out runs/vae --quick
    python -m aigc_np sample runs/vae/best.npz --n 100 --out vae.png
    python -m aigc_np evaluate runs/vae/best.npz --json
    python -m aigc_np train cgan --out runs/cgan --quick      # conditional: draws the digit you ask for
    python -m aigc_np sample runs/cgan/best.npz --label 7 --n 16 --out sevens.png

Exit codes: 0 success, 2 usage error, 1 any other error (one line on stderr;
``--debug`` shows the traceback).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from .checkpoint import load_checkpoint, read_metadata
from .data import load_dataset, to_unit
from .io import atomic_write
from .models.registry import (CONDITIONAL_KINDS, DEFAULT_CONFIGS, KINDS, build_model, generate_images,
                               prepare_images)
from .plotting import save_image_grid
from .diffusion_cli import (DIFFUSION_KINDS, add_diffusion_flags, check_sampling_flags, cmd_evaluate_diffusion,
                            cmd_sample_diffusion, cmd_train_diffusion)

DEFAULT_EPOCHS = {"ae": 20, "vae": 100, "gan": 100, "dcgan": 40, "cgan": 100, "cvae": 100, "wgan-gp": 30}
DEFAULT_BATCH_SIZES = {"cgan": 32}  # every other kind: 64


class UsageError(ValueError):
    """A command line that cannot work (e.g. --label for an unconditional model): exit code 2."""


def label_accuracy(model, n: int, seed: int, judge=None) -> float:
    """The judge's accuracy on the requested labels: n samples, labels cycling 0..9."""
    from .judge import judge_scores
    labels = np.arange(n) % model.n_classes
    images = generate_images(model, n, np.random.default_rng(seed), labels=labels)
    return float(np.mean(judge_scores(images, judge)["predictions"] == labels))


# ------------------------------------------------------------------ train
def _score_fn(kind: str, data, n_eval: int, seed: int):
    """What 'best' means: validation ELBO for the VAE, reconstruction for the AE, the judge's
    accuracy on the requested labels for conditional models, FD for the other GANs."""
    if kind == "vae":
        x_val = to_unit(data.x_val)
        return (lambda m: {"val_elbo": m.elbo(x_val)["elbo"]}), "val_elbo", True
    if kind == "ae":
        x_val = to_unit(data.x_val)
        return (lambda m: {"val_recon": m.recon_loss.forward(m.decoder.forward(m.encode(x_val)), x_val)}), \
            "val_recon", False
    from .metrics import evaluate_images
    from .judge import load_judge
    judge, real = load_judge(), to_unit(data.x_val)
    if kind in CONDITIONAL_KINDS:
        return (lambda m: {"label_accuracy": label_accuracy(m, n_eval, seed, judge)}), "label_accuracy", True

    def score(model):
        samples = generate_images(model, n_eval, np.random.default_rng(seed))
        r = evaluate_images(samples, real, judge=judge)
        return {"fd": r["fd"], "confident": r["confident"], "classes_covered": r["classes_covered"]}
    return score, "fd", False


def cmd_train(args) -> int:
    if args.kind in DIFFUSION_KINDS:
        return cmd_train_diffusion(args)
    rng = np.random.default_rng(args.seed)
    config = {}
    if args.latent_dim is not None:
        config["latent_dim"] = args.latent_dim
    if args.width is not None:
        if args.kind != "dcgan":
            raise ValueError("--width applies to dcgan only")
        config["width"] = args.width
    model = build_model(args.kind, config, rng=np.random.default_rng(args.seed + 1))
    data = load_dataset(seed=0)
    conditional = args.kind in CONDITIONAL_KINDS
    x = prepare_images(args.kind, data.x_train, data.y_train if conditional else None)
    epochs = args.epochs or (2 if args.quick else DEFAULT_EPOCHS[args.kind])
    batch_size = args.batch_size or DEFAULT_BATCH_SIZES.get(args.kind, 64)
    grid_labels = np.repeat(np.arange(10), 10) if conditional else None  # row k of the grid: digit k
    eval_every = args.eval_every or max(1, epochs // 20)
    score_fn, best_key, higher = _score_fn(args.kind, data, 200 if args.quick else 1000, args.seed)
    fixed = generate_images  # grid from fixed randomness: same seed every epoch
    print(f"training {args.kind} on {data.source}: {epochs} epochs, batch {batch_size}, out {args.out}")
    options = dict(epochs=epochs, batch_size=batch_size, rng=rng, out_dir=args.out,
                   grid_fn=lambda m: fixed(m, 100, np.random.default_rng(args.seed), data.x_train, grid_labels),
                   value_range=(0.0, 1.0), score_fn=score_fn, best_key=best_key, higher_is_better=higher,
                   eval_every=eval_every, patience=args.patience,
                   max_steps_per_epoch=5 if args.quick else None)
    start = time.perf_counter()
    if args.resume:
        from .training import resume
        if os.path.abspath(os.path.dirname(args.resume)) != os.path.abspath(args.out):
            raise ValueError(f"--resume {args.resume}: resume continues the run in --out; "
                             f"pass a checkpoint inside {args.out}")
        meta = read_metadata(args.resume)
        model = build_model(meta["kind"], meta["config"], rng=np.random.default_rng(args.seed + 1))
        history = resume(model, x, **options)
    else:
        from .training import train
        history = train(model, x, **options)
    last = history[-1]
    shown = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if k not in ("epoch", "seconds"))
    print(f"done in {time.perf_counter() - start:.0f} s: epoch {last['epoch']}: {shown}")
    print(f"wrote {os.path.join(args.out, 'last.npz')}, best.npz, history.csv and sample grids")
    return 0


# ----------------------------------------------------------------- sample
def load_model(path):
    """Rebuild the model a checkpoint describes and load it (eval mode)."""
    meta = read_metadata(path)
    if meta["kind"] not in KINDS:
        raise ValueError(f"{path}: unknown model kind {meta['kind']!r}")
    model = build_model(meta["kind"], meta["config"])
    load_checkpoint(model, path)
    return model.eval(), meta


def cmd_sample(args) -> int:
    if not args.out.endswith((".png", ".npy")):
        raise ValueError(f"--out {args.out}: expected a file name ending in .png or .npy")
    if read_metadata(args.checkpoint)["kind"] in DIFFUSION_KINDS:
        return cmd_sample_diffusion(args, read_metadata(args.checkpoint))
    model, meta = load_model(args.checkpoint)
    check_sampling_flags(args, meta["kind"])
    conditional = meta["kind"] in CONDITIONAL_KINDS
    if args.label is not None and not conditional:
        raise UsageError(f"--label {args.label}: {args.checkpoint} holds a {meta['kind']!r} model, which is not "
                         f"conditional; --label needs a checkpoint of {' or '.join(CONDITIONAL_KINDS)}")
    if args.label is not None and not 0 <= args.label < model.n_classes:
        raise UsageError(f"--label {args.label}: expected a digit 0..{model.n_classes - 1}")
    train_images = load_dataset(seed=0).x_train if meta["kind"] == "ae" else None
    # Conditional models: every sample is digit --label, or labels cycle 0..9 (10 per row: column k is digit k).
    labels = (np.full(args.n, args.label) if args.label is not None else np.arange(args.n) % model.n_classes) \
        if conditional else None
    images = generate_images(model, args.n, np.random.default_rng(args.seed), train_images, labels)
    if args.out.endswith(".png"):
        nrow = model.n_classes if conditional and args.label is None else int(np.ceil(np.sqrt(args.n)))
        what = f", digit {args.label}" if args.label is not None else (", labels 0..9 per row" if conditional else "")
        save_image_grid(images, args.out, nrow=nrow, value_range=(0, 1),
                        title=f"{meta['kind']} (epoch {meta['epoch']}{what})")
    else:
        with atomic_write(args.out) as f:
            np.save(f, images)
    print(f"wrote {args.n} samples from {args.checkpoint} ({meta['kind']}) to {args.out}")
    return 0


# --------------------------------------------------------------- evaluate
def _load_real(path) -> np.ndarray:
    try:
        real = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"--real {path}: cannot read a .npy array ({e})") from e
    if real.ndim != 3 or real.shape[1:] != (28, 28) or real.dtype.kind != "f":
        raise ValueError(f"--real {path}: expected a float array (M, 28, 28) in [0, 1], "
                         f"got {real.dtype} {real.shape}")
    if real.min() < 0 or real.max() > 1:
        raise ValueError(f"--real {path}: expected values in [0, 1], got [{real.min():.3g}, {real.max():.3g}]")
    return real.astype(np.float32)


def cmd_evaluate(args) -> int:
    from .metrics import evaluate_images

    if read_metadata(args.checkpoint)["kind"] in DIFFUSION_KINDS:
        return cmd_evaluate_diffusion(args, read_metadata(args.checkpoint))
    model, meta = load_model(args.checkpoint)
    check_sampling_flags(args, meta["kind"])
    data = load_dataset(seed=0)
    real = _load_real(args.real) if args.real else to_unit(data.x_val)
    train_images = to_unit(data.x_train)
    samples = generate_images(model, args.n, np.random.default_rng(args.seed), data.x_train)
    result = {"model": meta["kind"], "checkpoint": args.checkpoint, "epoch": meta["epoch"],
              "reference": args.real or data.source + " (validation split)",
              **evaluate_images(samples, real, train_images=train_images, seed=args.seed)}
    if meta["kind"] == "vae":
        result.update({f"{k}": v for k, v in model.elbo(real, rng=np.random.default_rng(args.seed)).items()})
    if meta["kind"] in CONDITIONAL_KINDS:
        # The same samples as above (same seed, labels cycling 0..9): does the judge see the requested digit?
        result["label_accuracy"] = label_accuracy(model, args.n, args.seed)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{meta['kind']} from {args.checkpoint} (epoch {meta['epoch']}), {result['n']} samples, "
          f"reference: {result['reference']}")
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
    if "elbo" in result:
        print(f"  {'ELBO (nats/image, higher is better)':<36}{result['elbo']:>10.2f}")
    if "label_accuracy" in result:
        print(f"  {'judge accuracy on requested labels':<36}{result['label_accuracy']:>10.3f}")
    return 0


# ------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m aigc_np", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model on the bundled MNIST")
    t.add_argument("kind", choices=KINDS + DIFFUSION_KINDS)
    t.add_argument("--out", required=True, help="run folder (last.npz, best.npz, history.csv, grids)")
    t.add_argument("--epochs", type=int, help=f"default per kind: {DEFAULT_EPOCHS}")
    t.add_argument("--batch-size", type=int, help="default 64 (cgan: 32)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--width", type=float, help=f"dcgan channel multiplier (default {DEFAULT_CONFIGS['dcgan']['width']})")
    t.add_argument("--latent-dim", type=int)
    t.add_argument("--eval-every", type=int, help="evaluate (and maybe save best.npz) every K epochs")
    t.add_argument("--patience", type=int, help="stop after this many evaluations without improvement")
    t.add_argument("--resume", metavar="CKPT", help="continue from DIR/last.npz")
    t.add_argument("--quick", action="store_true", help="2 short epochs: a smoke test")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="draw samples from a checkpoint")
    s.add_argument("checkpoint")
    s.add_argument("--n", type=int, default=100)
    s.add_argument("--out", required=True, help="FILE.png (a grid) or FILE.npy ((N, 28, 28) float32 in [0, 1])")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--label", type=int, metavar="K",
                   help="conditional models (cgan, cvae, cddpm): every sample is digit K (default: labels cycle 0..9)")
    add_diffusion_flags(s)
    s.set_defaults(func=cmd_sample)

    e = sub.add_parser("evaluate", help="score a checkpoint against real data")
    e.add_argument("checkpoint")
    e.add_argument("--n", type=int, default=1000, help="number of samples")
    e.add_argument("--real", metavar="FILE.npy", help="reference images (M, 28, 28) in [0, 1]")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--seed", type=int, default=0)
    add_diffusion_flags(e)
    e.set_defaults(func=cmd_evaluate)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "n", 1) is not None and getattr(args, "n", 1) < 1:
        parser.error("--n must be positive")
    try:
        return args.func(args)
    except UsageError as e:
        parser.error(str(e))  # usage line and message on stderr, exit code 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
    except Exception as e:  # one clear line, not a traceback
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
