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

from .argtypes import NON_NEGATIVE, POSITIVE, positive_float as _positive_float, threads as _threads
from .checkpoint import load_checkpoint, read_metadata, validate_checkpoint
from .data import load_dataset, to_unit
from .io import atomic_write
from .models.registry import (CONDITIONAL_KINDS, DEFAULT_CONFIGS, KINDS, build_model, generate_images,
                               prepare_images)
from .plotting import save_image_grid
# language models (lstm, gpt) have their own train/sample/evaluate in aigc_np/text/cli.py
from .text.cli import TextUsageError, add_text_arguments, cmd_evaluate_text, cmd_sample_text, cmd_train_text
from .text.registry import TEXT_KINDS
from .diffusion_cli import (DIFFUSION_KINDS, add_diffusion_flags, check_sampling_flags, cmd_evaluate_diffusion,
                            cmd_sample_diffusion, cmd_train_diffusion)

class UsageError(ValueError):
    """A command line that cannot work (e.g. --label for an unconditional model): exit code 2."""


def label_accuracy(model, n: int, seed: int, judge=None) -> float:
    """The judge's accuracy on the requested labels: n samples, labels cycling 0..9."""
    from .evaluation.judge import judge_scores
    labels = np.arange(n) % model.n_classes
    images = generate_images(model, n, np.random.default_rng(seed), labels=labels)
    return float(np.mean(judge_scores(images, judge)["predictions"] == labels))


# ------------------------------------------------------------------ train
def _score_fn(kind: str, data, n_eval: int, seed: int):
    """The scores that pick best.npz (the registry's "select" key for the kind): validation ELBO
    for the VAE, reconstruction for the AE, label accuracy for the cVAE, and for the GAN family
    aigc_np.evaluation.quality's selection: the lowest FD among epochs that keep every digit >= 4%."""
    if kind == "vae":
        x_val = to_unit(data.x_val)
        return lambda m: {"val_elbo": m.elbo(x_val)["elbo"]}
    if kind == "ae":
        x_val = to_unit(data.x_val)
        return lambda m: {"val_recon": m.recon_loss.forward(m.decoder.forward(m.encode(x_val)), x_val)}
    if kind == "cvae":
        return lambda m: {"label_accuracy": label_accuracy(m, n_eval, seed)}
    from .evaluation.quality import SampleScorer, describe_scores
    scorer = SampleScorer(data, n=n_eval)

    def score(model):
        labels = np.arange(n_eval) % 10 if kind in CONDITIONAL_KINDS else None
        samples = generate_images(model, n_eval, np.random.default_rng(seed), labels=labels)
        s = scorer.score(samples)
        print(f"  scored {n_eval} samples: {describe_scores(s, scorer.baseline)}")
        if labels is not None:
            s["label_accuracy"] = label_accuracy(model, n_eval, seed, scorer.judge)
        return s
    return score


def _check_out_dir(out: str, resume: str | None, overwrite: bool) -> None:
    """Refuse an --out that cannot work, before any training starts."""
    if not out or not out.strip():
        raise UsageError("--out: expected a folder name, got an empty string")
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out {out}: expected a folder, but this is an existing file")
    if os.path.isdir(out):
        holds = [n for n in ("last.npz", "best.npz", "history.csv") if os.path.exists(os.path.join(out, n))]
        if holds and not resume and not overwrite:
            raise UsageError(f"--out {out} already holds a run ({', '.join(holds)}); pass --resume "
                             f"{os.path.join(out, 'last.npz')} to continue it, --overwrite to replace it, "
                             "or another --out")
    folder = out if os.path.isdir(out) else os.path.dirname(os.path.abspath(out))
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out}: the folder {folder} is not writable")


def _resume_config(args, kind_config: dict) -> tuple[str, dict]:
    """Check --resume against KIND and the flags; return the checkpoint's kind and config."""
    path = args.resume
    if os.path.basename(path) != "last.npz":
        raise UsageError(f"--resume {path}: training continues from a run's last.npz (the state after its "
                         f"last finished epoch), not from {os.path.basename(path)}")
    if os.path.abspath(os.path.dirname(path)) != os.path.abspath(args.out):
        raise UsageError(f"--resume {path}: resume continues the run in --out {args.out}; "
                         f"pass {os.path.join(args.out, 'last.npz')}")
    meta = validate_checkpoint(path)
    if meta["kind"] != args.kind:
        raise UsageError(f"--resume {path}: the checkpoint holds a {meta['kind']!r} model, "
                         f"but the command trains {args.kind!r}")
    for key, value in kind_config.items():
        if key in meta["config"] and meta["config"][key] != value:
            raise UsageError(f"--resume {path}: the checkpoint has {key} = {meta['config'][key]!r}, "
                             f"the command line asks for {value!r}; a resumed run keeps its model")
    return meta["kind"], meta["config"]


def cmd_train(args) -> int:
    from .models.registry import recipe
    from .threads import apply_threads

    if args.kind in TEXT_KINDS + DIFFUSION_KINDS:  # their own recipes: aigc_np/text/, diffusion_registry
        _check_out_dir(args.out, args.resume, args.overwrite)
        print(apply_threads(args.threads))
        return (cmd_train_text if args.kind in TEXT_KINDS else cmd_train_diffusion)(args)
    recipe_name = args.recipe or "default"
    try:
        r = recipe(args.kind, recipe_name)
    except ValueError as e:
        raise UsageError(f"--recipe {recipe_name}: {e}") from None
    flags = {}
    if args.latent_dim is not None:
        flags["latent_dim"] = args.latent_dim
    if args.width is not None:
        if args.kind != "dcgan":
            raise UsageError(f"--width applies to dcgan only, not {args.kind}")
        flags["width"] = args.width
    _check_out_dir(args.out, args.resume, args.overwrite)
    config = {**r["config"], **flags}
    if args.resume:
        _, config = _resume_config(args, {**r["config"], **flags} if args.recipe else flags)
    t = r["train"]
    epochs = args.epochs or (2 if args.quick else t["epochs"])
    batch_size = args.batch_size or t["batch_size"]
    data = load_dataset(seed=0)
    conditional = args.kind in CONDITIONAL_KINDS
    x = prepare_images(args.kind, data.x_train, data.y_train if conditional else None)
    if batch_size > len(x):
        raise UsageError(f"--batch-size {batch_size}: larger than the {len(x)} training images")
    print(apply_threads(args.threads))
    # Seeds as in the lessons: the model from seed, batch order from seed + 1, scored samples from seed + 2.
    model = build_model(args.kind, config, rng=np.random.default_rng(args.seed))
    grid_labels = np.repeat(np.arange(10), 10) if conditional else None  # row k of the grid: digit k
    eval_every = args.eval_every or (1 if args.quick else t["eval_every"])
    n_eval = 200 if args.quick else 1000
    best_key, higher = r["select"]
    decay_after = int(t["decay_at"] * epochs) if t["decay_at"] < 1 else None
    print(f"training {args.kind} (recipe {recipe_name}: {r['about']}) on {data.source}: {epochs} epochs, "
          f"batch {batch_size}, best.npz by {best_key} ({'higher' if higher else 'lower'} is better), "
          f"out {args.out}")
    options = dict(epochs=epochs, batch_size=batch_size, rng=np.random.default_rng(args.seed + 1),
                   out_dir=args.out, value_range=(0.0, 1.0),
                   grid_fn=lambda m: generate_images(m, 100, np.random.default_rng(args.seed + 3), data.x_train,
                                                     grid_labels),
                   score_fn=_score_fn(args.kind, data, n_eval, args.seed + 2), best_key=best_key,
                   higher_is_better=higher, eval_every=eval_every, patience=args.patience,
                   decay_after=decay_after, max_steps_per_epoch=5 if args.quick else None)
    start = time.perf_counter()
    if args.resume:
        from .training import resume
        history = resume(model, x, **options)
    else:
        from .training import train
        history = train(model, x, **options)
    best = [row for row in history if best_key in row]
    best = (max if higher else min)(best, key=lambda row: row[best_key]) if best else history[-1]
    shown = ", ".join(f"{k}={v:.4g}" for k, v in best.items() if k not in ("epoch", "seconds"))
    print(f"done in {time.perf_counter() - start:.0f} s; best epoch {best['epoch']}: {shown}")
    print(f"wrote {os.path.join(args.out, 'last.npz')}, best.npz, history.csv and sample grids")
    return 0


# ----------------------------------------------------------------- sample
def load_model(path):
    """Rebuild the model a checkpoint describes and load it (eval mode)."""
    meta = validate_checkpoint(path)  # nothing is built before the file is checked
    model = build_model(meta["kind"], meta["config"])
    load_checkpoint(model, path)
    return model.eval(), meta


def cmd_sample(args) -> int:
    meta = read_metadata(args.checkpoint)
    if meta["kind"] in TEXT_KINDS:
        return cmd_sample_text(args, meta)
    if args.out is None:
        raise UsageError("--out FILE.png or FILE.npy is required for image models")
    ext = os.path.splitext(args.out)[1].lower()
    if ext not in (".png", ".npy"):
        raise UsageError(f"--out {args.out}: expected a file name ending in .png or .npy")
    if meta["kind"] in DIFFUSION_KINDS:
        return cmd_sample_diffusion(args, meta)
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
    if ext == ".png":
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


def image_evaluation(samples, real, data, args) -> dict:
    """Every image metric beside its real-data baseline (``metrics.evaluate_images``), plus, without
    --real and for at most 1,000 samples, the yardstick that picks GANs' best epochs
    (``aigc_np.evaluation.quality``: 4,000 training images as the reference, 1,000 other real images as the baseline)."""
    from .evaluation.metrics import evaluate_images
    from .evaluation.quality import SampleScorer

    result = {"reference": args.real or data.source + " (validation split)",
              **evaluate_images(samples, real, train_images=to_unit(data.x_train), seed=args.seed)}
    if not args.real and args.n <= 1000:
        scorer = SampleScorer(data, n=args.n)
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


def cmd_evaluate(args) -> int:
    meta = read_metadata(args.checkpoint)
    if meta["kind"] in TEXT_KINDS:
        return cmd_evaluate_text(args, meta)
    if meta["kind"] in DIFFUSION_KINDS:
        return cmd_evaluate_diffusion(args, meta)

    model, meta = load_model(args.checkpoint)
    check_sampling_flags(args, meta["kind"])
    data = load_dataset(seed=0)
    real = _load_real(args.real) if args.real else to_unit(data.x_val)
    samples = generate_images(model, args.n, np.random.default_rng(args.seed), data.x_train)
    result = {"model": meta["kind"], "checkpoint": args.checkpoint, "epoch": meta["epoch"],
              **image_evaluation(samples, real, data, args)}
    if meta["kind"] == "vae":
        result.update({f"{k}": v for k, v in model.elbo(real, rng=np.random.default_rng(args.seed)).items()})
    if meta["kind"] in CONDITIONAL_KINDS:
        # The same samples as above (same seed, labels cycling 0..9): does the judge see the requested digit?
        result["label_accuracy"] = label_accuracy(model, args.n, args.seed)
    if args.json:
        print(json.dumps(result))
        return 0
    print_image_report(result, f"{meta['kind']} from {args.checkpoint} (epoch {meta['epoch']}), {result['n']} samples")
    if "elbo" in result:
        print(f"  {'ELBO (nats/image, higher is better)':<36}{result['elbo']:>10.2f}")
    if "label_accuracy" in result:
        print(f"  {'judge accuracy on requested labels':<36}{result['label_accuracy']:>10.3f}")
    return 0


# ------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    from .models.registry import RECIPES, describe_recipe

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    common.add_argument("--threads", type=_threads, default="auto",
                        help="BLAS threads: an integer, or 'auto' (default): 1 when the machine is already "
                             "busy (load average >= half the cores), else every core")
    parser = argparse.ArgumentParser(prog="python -m aigc_np", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    recipes = "\n".join("  " + describe_recipe(kind, name) for kind in RECIPES for name in RECIPES[kind])
    t = sub.add_parser("train", parents=[common], help="train a model (image models on the bundled MNIST; lstm and gpt on text)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="recipes (--recipe NAME; default: 'default'):\n" + recipes)
    t.add_argument("kind", choices=KINDS + TEXT_KINDS + DIFFUSION_KINDS)
    t.add_argument("--out", required=True, help="run folder (last.npz, best.npz, history.csv, grids)")
    t.add_argument("--recipe", help="a recipe of the kind (listed below); flags given override it")
    t.add_argument("--epochs", type=POSITIVE, help="default: the recipe's")
    t.add_argument("--batch-size", type=POSITIVE, help="default: the recipe's")
    t.add_argument("--seed", type=NON_NEGATIVE, default=0)
    t.add_argument("--width", type=_positive_float,
                   help=f"dcgan channel multiplier (default: the recipe's, {RECIPES['dcgan']['default']['config']['width']})")
    t.add_argument("--latent-dim", type=POSITIVE)
    t.add_argument("--eval-every", type=POSITIVE, help="score (and maybe save best.npz) every K epochs")
    t.add_argument("--patience", type=POSITIVE, help="stop after this many scores without improvement")
    t.add_argument("--resume", metavar="CKPT", help="continue the run in --out from its last.npz")
    t.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    t.add_argument("--quick", action="store_true", help="2 short epochs: a smoke test")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", parents=[common], help="draw samples from a checkpoint")
    s.add_argument("checkpoint")
    s.add_argument("--n", type=POSITIVE, default=100)
    s.add_argument("--out", help="FILE.png (a grid) or FILE.npy ((N, 28, 28) float32 in [0, 1]); "
                                 "text models: a text file (default: print the text)")
    s.add_argument("--seed", type=NON_NEGATIVE, default=0)
    s.add_argument("--label", type=int, metavar="K",
                   help="conditional models (cgan, cvae, cddpm): every sample is digit K (default: labels cycle 0..9)")
    add_diffusion_flags(s)
    s.set_defaults(func=cmd_sample)
    add_text_arguments(t, s)

    e = sub.add_parser("evaluate", parents=[common], help="score a checkpoint against real data")
    e.add_argument("checkpoint")
    e.add_argument("--n", type=POSITIVE, default=1000, help="number of samples")
    e.add_argument("--real", metavar="FILE.npy", help="reference images (M, 28, 28) in [0, 1]")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--seed", type=NON_NEGATIVE, default=0)
    add_diffusion_flags(e)
    e.set_defaults(func=cmd_evaluate)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "train":
        from .threads import apply_threads
        apply_threads(args.threads)
    try:
        return args.func(args)
    except (UsageError, TextUsageError) as e:
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
