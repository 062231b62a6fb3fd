"""One picture of every model: ``python -m aigc_np.tools.montage CKPT [CKPT ...] --out montage.png``.

Each checkpoint becomes a 10x10 grid of samples (a conditional model's row
k asks for digit k), titled with its headline number, which is also
printed: for GANs FD against 4,000 real training digits beside the real-data
FD and the rarest digit's share (``aigc_np.evaluation.quality``); for conditional
models the judge's accuracy on the requested labels; for the VAE its
validation ELBO. ``make demo`` ends with it, and the README's picture is
one of its outputs.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

__all__ = ["headline", "make_montage", "main"]

NAMES = {"ae": "autoencoder", "vae": "VAE", "gan": "MLP GAN", "dcgan": "DCGAN", "cgan": "conditional GAN",
         "cvae": "conditional VAE", "wgan-gp": "WGAN-GP", "ddpm": "DDPM", "cddpm": "conditional DDPM",
         "ldm": "latent diffusion", "cldm": "conditional latent diffusion"}


def headline(model, kind: str, scorer, seed: int = 0, data=None) -> tuple[np.ndarray, str]:
    """(100 grid images (100, 28, 28), one line of the model's headline numbers)."""
    from ..kinds import KINDS, generate

    rng = np.random.default_rng(seed)
    train_images = data.x_train if data is not None else None
    if KINDS[kind].conditional:
        grid = generate(model, 100, rng, labels=np.repeat(np.arange(10), 10))
        asked = np.arange(scorer.n) % 10
        samples = generate(model, scorer.n, rng, labels=asked)
        accuracy = float(np.mean(scorer.judge_labels(samples) == asked))
        s = scorer.score(samples)
        return grid, f"label accuracy {accuracy:.1%}, FD {s['fd']:.1f} (real {scorer.baseline['fd']:.1f})"
    samples = generate(model, scorer.n, rng, train_images=train_images)
    s = scorer.score(samples)
    line = (f"FD {s['fd']:.1f} (real {scorer.baseline['fd']:.1f}), rarest digit {s['min_class']:.1%}, "
            f"confident {s['confident']:.0%}")
    if kind == "vae" and data is not None:
        line = f"val ELBO {model.elbo(data.x_val.astype(np.float32) / 255)['elbo']:.1f} nats; " + line
    return samples[:100], line


def make_montage(panels: list, path: str, title: str = "aigc_np: samples of every model") -> str:
    """panels: [(name, images (100, 28, 28) in [0, 1], caption)] -> one PNG, a panel per model."""
    from ..plotting import image_grid, plt, save_figure

    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.8), squeeze=False)
    for ax, (name, images, caption) in zip(axes[0], panels):
        ax.imshow(image_grid(images, nrow=10), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{name}\n{caption}", fontsize=7.5)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aigc_np.tools.montage", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", help="best.npz files of image models")
    parser.add_argument("--out", required=True, help="the montage PNG")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.out.lower().endswith(".png"):
        parser.error(f"--out {args.out}: expected a file name ending in .png")
    try:
        from ..checkpoint import load_model
        from ..data import load_dataset
        from ..evaluation.quality import SampleScorer

        data = load_dataset(seed=0)
        scorer = SampleScorer(data, n=1000)
        panels = []
        for path in args.checkpoints:
            model, meta = load_model(path)
            images, line = headline(model, meta["kind"], scorer, args.seed, data)
            name = NAMES.get(meta["kind"], meta["kind"])
            print(f"{name:<16} {path} (step {meta['step']}): {line}")
            panels.append((f"{name}, step {meta['step']}", images, line.replace(", confident", "\nconfident")))
        print(f"wrote {make_montage(panels, args.out)}")
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
