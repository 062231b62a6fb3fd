"""The training loop for language models, counted in steps (the image models' loop counts epochs).

What it keeps from ``aigc_np.training``: a progress line with an ETA,
``history.csv`` (one row per evaluation), ``last.npz`` at every evaluation
and ``best.npz`` by validation loss (both written atomically), a stop with a
clear message if the loss diverges, and exact resume: weights, AdamW
moments, every generator (batches, dropout) and the history are restored, so
stopping after k steps and resuming gives the same bits as never stopping.

Each step draws B random windows of the training split, sets the learning
rate from the warm-up + cosine schedule, and takes one AdamW step. Every
``eval_every`` steps the model is scored on the same fixed validation
batches, so the numbers are comparable along the run.
"""
from __future__ import annotations

import csv
import os
import time

import numpy as np

from ..checkpoint import load_checkpoint, save_checkpoint
from ..optimizers import warmup_cosine
from ..progress import Progress
from ..training import TrainingDiverged, _write_csv
from .data import random_windows
from .evaluation import fixed_batches

__all__ = ["train_text", "resume_text", "read_history"]


def _val_loss(model, batches) -> float:
    model.eval()
    return float(np.mean([model.loss(x, y) for x, y in batches]))


def train_text(model, splits, *, rng: np.random.Generator, out_dir: str | None = None,
               start_step: int = 0, history: list[dict] | None = None, label: str = "",
               stream=None, stop_after: int | None = None) -> list[dict]:
    """Train ``model`` (GPT or CharLSTM) on ``splits.train`` for ``model.config["steps"]`` steps.

    The recipe comes from ``model.config``: batch_size, lr / min_lr / warmup
    (the schedule), eval_every, eval_batches. Returns the history rows
    ``{step, train_loss, val_loss, lr, seconds}``. ``stop_after``: stop after
    this step (as an interrupted run would, after an evaluation), to be resumed.
    """
    cfg = model.config
    steps, batch, block = int(cfg["steps"]), int(cfg["batch_size"]), model.block_size
    eval_every = max(1, int(cfg["eval_every"]))
    val = fixed_batches(splits.val, int(cfg["eval_batches"]), batch, block)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    history = [] if history is None else list(history)
    best = min((row["val_loss"] for row in history), default=None)
    progress = Progress(steps - start_step, label=label or f"{model.kind} steps", stream=stream,
                        unit="char")
    totals, count, start = 0.0, 0, time.perf_counter()
    warmup = min(int(cfg["warmup"]), steps)          # a run shorter than the warm-up only warms up
    last = steps if stop_after is None else min(steps, int(stop_after))
    for step in range(start_step, last):
        model.optimizer.lr = warmup_cosine(step, cfg["lr"], warmup, steps, cfg["min_lr"])
        x, y = random_windows(splits.train, batch, block, rng)
        out = model.train_step(x, y)
        if not np.isfinite(out["loss"]):
            kept = f"; {os.path.join(out_dir, 'last.npz')} keeps the last evaluation" if out_dir else ""
            raise TrainingDiverged(f"training diverged at step {step + 1}: loss {out['loss']}{kept}. "
                                   "Try a smaller --lr.")
        totals, count = totals + out["loss"], count + 1
        done = step + 1
        progress.update(done - start_step, items=batch * block, loss=out["loss"])
        if done % eval_every and done != steps:
            continue
        row = {"step": done, "train_loss": totals / count, "val_loss": _val_loss(model, val),
               "lr": model.optimizer.lr, "seconds": round(time.perf_counter() - start, 3)}
        history.append(row)
        totals, count = 0.0, 0
        if out_dir:
            _write_csv(os.path.join(out_dir, "history.csv"), history)
            save_checkpoint(model, os.path.join(out_dir, "last.npz"), epoch=done, rng=rng)
            if best is None or row["val_loss"] < best:
                save_checkpoint(model, os.path.join(out_dir, "best.npz"), epoch=done, rng=rng,
                                val_loss=row["val_loss"])
        best = row["val_loss"] if best is None else min(best, row["val_loss"])
    return history


def read_history(out_dir: str, up_to_step: int) -> list[dict]:
    path = os.path.join(out_dir, "history.csv")
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        rows = [{k: (int(v) if k == "step" else float(v)) for k, v in row.items() if v != ""}
                for row in csv.DictReader(f)]
    return [row for row in rows if row["step"] <= up_to_step]


def resume_text(model, splits, *, rng: np.random.Generator, out_dir: str, **options) -> list[dict]:
    """Continue the run in ``out_dir`` from its last.npz to ``model.config["steps"]``."""
    metadata = load_checkpoint(model, os.path.join(out_dir, "last.npz"), rng=rng)
    step = int(metadata["epoch"])
    return train_text(model, splits, rng=rng, out_dir=out_dir, start_step=step,
                      history=read_history(out_dir, step), **options)
