"""The training loop shared by the generative models.

Every model has ``train_step(batch) -> dict of losses``; this loop adds
what every run needs around it:

* epochs of shuffled minibatches from ``aigc_np.data.minibatches``;
* a one-line progress display (epoch, step/total, losses, images/s, ETA);
* the loss history, one row per epoch, saved as ``history.csv``;
* a 10x10 sample grid per epoch from a *fixed* batch of inputs, so the
  frames can be compared (``samples_epoch_001.png``, ...);
* a checkpoint per epoch (``last.npz``: weights, BatchNorm statistics,
  optimizer states and the epoch), and optionally ``best.npz``, the epoch
  with the best score;
* optionally a step-down learning-rate schedule (``decay_after``);
* a stop, naming the epoch and the step, as soon as a loss or a parameter
  stops being finite or a loss explodes; no non-finite state is ever saved.

All files are written atomically, so stopping a run never leaves half a file.
They are written in the order best.npz, history.csv, last.npz: a run killed
between any two of them resumes from the previous last.npz and redoes that
epoch, which rewrites the other two consistently.
"""
from __future__ import annotations

import csv
import io
import os
import time
from typing import Callable

import numpy as np

from .data import minibatches
from .checkpoint import load_checkpoint, optimizers_of, save_checkpoint
from .io import atomic_write, remove_stale_parts
from .plotting import save_image_grid
from .progress import Progress, RunClock

__all__ = ["train", "resume", "spaced_rows", "TrainingDiverged", "save_checkpoint", "load_checkpoint",
           "optimizers_of"]


class TrainingDiverged(RuntimeError):
    """A loss or a parameter became NaN or infinite, or a loss exploded; the last good checkpoint is kept."""


EXPLODED = 1e6  # |loss| beyond this is divergence: every loss here is O(1) to O(1e3) while training works
DECAY_FACTOR = 0.25  # the step-down schedule divides every learning rate by 4


def _first_non_finite(model) -> str | None:
    """The name of the first parameter, buffer or optimizer state that is not finite, or None."""
    stores = [("param", model.params), ("buffer", model.buffers)]
    stores += [(name, opt.state_dict()) for name, opt in optimizers_of(model).items()]
    for prefix, store in stores:
        for key, value in store.items():
            value = np.asarray(value)
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                return f"{prefix}/{key}"
    return None


def _diverged(what: str, epoch: int, step: int, out_dir) -> TrainingDiverged:
    kept = f"; {os.path.join(out_dir, 'last.npz')} keeps epoch {epoch - 1}" if out_dir else ""
    return TrainingDiverged(f"training diverged at epoch {epoch}, step {step}: {what}{kept}. "
                            "Try a smaller learning rate.")


def _set_learning_rates(model, factor: float) -> None:
    """Every optimizer's lr = its initial lr x factor (the initial lr is remembered on first use)."""
    for opt in optimizers_of(model).values():
        if not hasattr(opt, "base_lr"):
            opt.base_lr = opt.lr
        opt.lr = opt.base_lr * factor


def _write_csv(path, rows: list[dict]) -> None:
    keys = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    with atomic_write(path, "w") as f:
        f.write(buffer.getvalue())


def train(model, x, *, epochs: int, batch_size: int, rng: np.random.Generator,
          out_dir: str | None = None, grid_fn: Callable | None = None, value_range=(-1.0, 1.0),
          augment: Callable | None = None, score_fn: Callable | None = None,
          best_key: str | None = None, higher_is_better: bool = True,
          eval_every: int = 1, patience: int | None = None,
          label: str = "", max_steps_per_epoch: int | None = None, start_epoch: int = 1,
          history: list[dict] | None = None, decay_after: int | None = None) -> list[dict]:
    """Train ``model`` on ``x`` for ``epochs`` epochs; return the history (one dict per epoch).

    Args:
        model: has ``train_step(xb) -> {name: float}`` (VAE, Autoencoder, GAN, DCGAN).
        x: training inputs (N, ...), already scaled as the model expects.
        rng: shuffles the batches and draws augmentations.
        out_dir: where history.csv, sample grids and checkpoints go (None: nowhere).
        grid_fn: ``model -> images`` for the per-epoch 10x10 grid, e.g.
            ``lambda m: m.sample(z=fixed_z)``; values in ``value_range``.
        augment: optional transform ``(xb, rng) -> xb`` applied per batch.
        score_fn: optional ``model -> {name: float}`` evaluated after each
            epoch (e.g. the judge's scores); its values join the history.
        best_key: a key of score_fn's dict; the best epoch is saved as best.npz.
        eval_every: call score_fn every this many epochs (and after the last).
        patience: stop early after this many evaluations without a new best.
        max_steps_per_epoch: cap on steps per epoch (for quick runs).
        start_epoch, history: continue an earlier run (see :func:`resume`).
        decay_after: after this many epochs every learning rate is divided by 4
            (None: never). Set per epoch from the epoch number, so a resumed
            run gets the same rates.

    Raises:
        TrainingDiverged: a loss or parameter became NaN or infinite, or a
            loss exceeded 1e6 in size (message names the epoch and step);
            last.npz still holds the last good epoch.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"train: epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    if len(x) < batch_size:
        raise ValueError(f"train: batch_size {batch_size} is larger than the {len(x)} training examples, "
                         "so an epoch would have no full batch")
    if np.asarray(x).dtype.kind == "f" and not np.isfinite(x).all():
        raise ValueError("train: the training data contains NaN or infinity")
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        # Temporary files a killed save of this run's own files left behind (never anything else).
        remove_stale_parts(out_dir, ["last.npz", "best.npz", "history.csv",
                                     *[f"samples_epoch_{e:03d}.png" for e in range(1, epochs + 1)]])
    history = [] if history is None else list(history)
    best_rows = [row[best_key] for row in history if best_key is not None and best_key in row]
    best = (max(best_rows) if higher_is_better else min(best_rows)) if best_rows else None
    stale = 0
    steps = len(x) // batch_size  # full batches only: equal batch statistics every step
    steps = min(steps, max_steps_per_epoch) if max_steps_per_epoch else steps
    run = RunClock(steps * (epochs - start_epoch + 1))
    for epoch in range(start_epoch, epochs + 1):
        progress = Progress(steps, label=f"{label}epoch {epoch}/{epochs}", run=run)
        totals: dict[str, float] = {}
        start = time.perf_counter()
        if decay_after is not None:
            _set_learning_rates(model, DECAY_FACTOR if epoch > decay_after else 1.0)
        model.train()
        for step, xb in enumerate(minibatches(x, batch_size=batch_size, rng=rng, drop_last=True), start=1):
            if augment is not None:
                xb = augment(xb, rng)
            diverged = lambda what: _diverged(what, epoch, step, out_dir)  # noqa: E731
            try:
                losses = model.train_step(xb)
            except (ValueError, FloatingPointError) as e:
                # A layer or optimizer refusing NaN/inf mid-step: the data were checked above, so
                # the run itself blew up. Anything else is a real error and passes through.
                if "NaN" not in str(e) and "inf" not in str(e):
                    raise
                raise diverged(f"a value stopped being finite ({e})") from e
            bad = {k: v for k, v in losses.items() if not np.isfinite(v) or abs(v) > EXPLODED}
            if bad:
                raise diverged(f"loss {bad} is not finite or beyond {EXPLODED:g} in size")
            for k, v in losses.items():
                totals[k] = totals.get(k, 0.0) + v
            progress.update(step, items=len(xb), **losses)
            if step == steps:
                break
        broken = _first_non_finite(model)
        if broken:
            raise diverged(f"{broken} is not finite after the epoch")
        row = {"epoch": epoch, **{k: v / step for k, v in totals.items()},
               "seconds": round(time.perf_counter() - start, 3)}
        evaluate = score_fn is not None and (epoch % eval_every == 0 or epoch == epochs)
        if evaluate:
            row.update(score_fn(model))
        history.append(row)
        stop = False
        if evaluate and best_key is not None:
            value = row[best_key]
            if best is None or (value > best if higher_is_better else value < best):
                best, stale = value, 0
                if out_dir:  # before history.csv records it (see the module docstring)
                    save_checkpoint(model, os.path.join(out_dir, "best.npz"), epoch=epoch, rng=rng,
                                    **{best_key: value})
            else:
                stale += 1
                stop = patience is not None and stale >= patience
        if out_dir:
            _write_csv(os.path.join(out_dir, "history.csv"), history)
            save_checkpoint(model, os.path.join(out_dir, "last.npz"), epoch=epoch, rng=rng)
            if grid_fn is not None:
                save_image_grid(grid_fn(model)[:100], os.path.join(out_dir, f"samples_epoch_{epoch:03d}.png"),
                                value_range=value_range, title=f"epoch {epoch}")
        if stop:
            print(f"early stop after epoch {epoch}: {best_key} has not improved on {best:.4g} "
                  f"for {stale} evaluations")
            break
    return history


def resume(model, x, *, epochs: int, rng: np.random.Generator, out_dir: str, **options) -> list[dict]:
    """Continue a run from ``out_dir/last.npz`` up to ``epochs`` in total.

    Restores weights, optimizer states and every random generator (including
    ``rng``), and the history from history.csv, so that training 2 epochs and
    resuming for 2 more gives bit-identical parameters to 4 epochs straight.
    """
    metadata = load_checkpoint(model, os.path.join(out_dir, "last.npz"), rng=rng)
    history = []
    csv_path = os.path.join(out_dir, "history.csv")
    if os.path.exists(csv_path):
        with open(csv_path, newline="") as f:
            history = [{k: float(v) if k != "epoch" else int(v) for k, v in row.items() if v != ""}
                       for row in csv.DictReader(f)][: metadata["epoch"]]
    return train(model, x, epochs=epochs, rng=rng, out_dir=out_dir, start_epoch=metadata["epoch"] + 1,
                 history=history, **options)


def spaced_rows(history: list, n: int = 10) -> list:
    """About ``n`` evenly spaced rows of ``history``, always with the first and the last:
    what a lesson prints of a long run."""
    keep = set(range(0, len(history), max(1, len(history) // n))) | {len(history) - 1}
    return [history[i] for i in sorted(keep)]
