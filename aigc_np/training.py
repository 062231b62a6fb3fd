"""The one training loop: every model, counted in optimizer steps.

Every model has ``train_step(*batch) -> {name: loss}``; a batch is a tuple
(images,), (images, labels) or (ids, targets), so labels stay integers end
to end. A :class:`Plan` says how long to train and how often to write a
history row (with last.npz), score the model (and maybe write best.npz) and
change the learning rate. Kinds that think in epochs get a plan whose rows
fall on epoch ends (:meth:`Plan.epochs`); epochs are a view of steps.

Around the steps the loop adds what every run needs: a progress line with
an ETA; a stop at the step where a loss stops being finite or passes the
kind's divergence limit (no non-finite state is ever saved); sample grids;
and, with ``out_dir``, everything :class:`aigc_np.runfolder.RunFolder`
guarantees (a lock, ordered atomic writes, stale temporary files removed).
``resume=True`` continues the run in ``out_dir`` from its last.npz exactly:
weights, optimizer moments, every random generator and the history are
restored, so stopping and resuming gives the same bits as never stopping.
"""
from __future__ import annotations

import math
import os
import time
from typing import Callable

import numpy as np

from .checkpoint import load_checkpoint, optimizers_of
from .io import remove_stale_parts
from .plan import EpochBatches, Plan, batches_for
from .plotting import save_image_grid
from .progress import Progress, RunClock
from .runfolder import RunFolder, read_history

__all__ = ["Plan", "EpochBatches", "train", "TrainingDiverged", "EXPLODED", "spaced_rows", "optimizers_of"]

EXPLODED = 1e6  # default divergence limit: every image loss here is O(1) to O(1e3) while training works


class TrainingDiverged(RuntimeError):
    """A loss or a parameter became NaN or infinite, or a loss passed the limit; last.npz keeps the last good state."""


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


def _set_learning_rates(model, step: int, lr_at) -> None:
    """Every optimizer's lr = lr_at(step, its initial lr) (the initial lr is remembered on first use)."""
    for opt in optimizers_of(model).values():
        if not hasattr(opt, "base_lr"):
            opt.base_lr = opt.lr
        opt.lr = lr_at(step, opt.base_lr)


def _where(step: int, plan: Plan) -> str:
    epoch = f" (epoch {(step - 1) // plan.epoch_steps + 1})" if plan.epoch_steps else ""
    return f"step {step}{epoch}"


def train(model, data, plan: Plan, *, rng: np.random.Generator, out_dir: str | None = None,
          score: Callable | None = None, select: tuple | None = None, grid: Callable | None = None,
          limit: tuple = (EXPLODED, "the default limit"), train_settings: dict | None = None,
          resume: bool = False, label: str = "", unit: str = "img") -> list[dict]:
    """Train ``model`` by ``plan``; return the history (one row per ``plan.every`` steps).

    data:     a tuple of arrays (x,) or (x, labels), batched by ``plan.batches_for`` (shuffled
              epochs), or any object with ``batch(step, rng) -> tuple``.
    score:    ``model -> {name: float}``, called every ``plan.eval_every`` steps; joins the row.
    select:   (score name, higher_is_better): the best score's state goes to best.npz.
    grid:     ``model -> images in [0, 1]``: a 10x10 grid per row (``samples_epoch_NNN.png``).
    limit:    (value, what it is): a loss beyond +-value is divergence.
    out_dir:  a folder (str), or a :class:`RunFolder` the caller holds.
    train_settings: saved in each checkpoint, so a resumed run knows its own plan.
    resume:   continue the run in ``out_dir`` from its last.npz.

    Raises TrainingDiverged naming the step when a loss or parameter stops being finite or a
    loss passes ``limit``; last.npz still holds the last good state.
    """
    # arrays: shuffled epochs (for a latent diffusion model, its latents encoded once after the autoencoder's steps)
    batches = batches_for(model, data, plan.batch_size, plan.epoch_steps or plan.steps) if isinstance(data, tuple) \
        else data
    grids = [_grid_name(s, plan) for s in (*range(plan.every, plan.steps, plan.every), plan.steps)]
    own = out_dir is not None and not isinstance(out_dir, RunFolder)   # a caller's folder is already locked
    folder = RunFolder(out_dir, grid_names=grids) if own else out_dir
    if folder is not None and not own:
        remove_stale_parts(folder.path, grids)   # RunFolder removed its own files' parts on entry
    with folder if own else _nothing():
        step, history = 0, []
        if resume:
            step = load_checkpoint(model, folder.file("last.npz"), rng=rng)["step"]
            history = read_history(folder.file("history.csv"), step)
        best = _Best(select, plan.patience, history)
        clock = RunClock(plan.steps - step)
        while step < plan.steps:
            row = _stretch_of_steps(model, batches, plan, step, rng, limit, out_dir, label, clock, unit)
            step = row["step"]
            if score is not None and (step % plan.eval_every == 0 or step == plan.steps):
                row.update(score(model))
            new_best, stop = best.update(row)
            history.append(row)
            if folder:
                folder.save(model, history, step, rng, best=new_best, train=train_settings)
                if grid is not None:
                    save_image_grid(grid(model)[:100], folder.file(_grid_name(step, plan)), value_range=(0.0, 1.0),
                                    title=_where(step, plan))
            if stop:
                print(f"early stop at {_where(step, plan)}: {select[0]} has not improved on {best.value:.4g} "
                      f"for {best.stale} scores")
                break
    return history


def _stretch_of_steps(model, batches, plan, done, rng, limit, out_dir, label, clock, unit) -> dict:
    """The steps after step ``done`` up to the next row (an epoch, or ``plan.every`` steps); their row
    of mean losses. Stops at the step where a loss, or at the row a parameter, is not finite."""
    last = min((done // plan.every + 1) * plan.every, plan.steps)
    progress = Progress(last - done, label=_stretch(label, done, plan), run=clock, unit=unit)
    started, totals = time.perf_counter(), {}
    model.train()
    for step in range(done + 1, last + 1):
        if plan.lr_at is not None:
            _set_learning_rates(model, step - 1, plan.lr_at)
        batch = batches.batch(step - 1, rng)
        out = _checked_step(model, batch, step, plan, limit, out_dir)
        for k, v in out.items():
            totals[k] = totals.get(k, 0.0) + v
        progress.update(step - done, items=batch[0].size if unit == "char" else len(batch[0]), **out)
    broken = _first_non_finite(model)
    if broken:
        raise _diverged(f"{broken} is not finite", last, plan, out_dir)
    return {"step": last, **({"epoch": last // plan.epoch_steps} if plan.epoch_steps else {}),
            **{k: v / (last - done) for k, v in totals.items()}, "seconds": round(time.perf_counter() - started, 3)}


class _Best:
    """The best score so far of ``select`` = (name, higher_is_better), and how many scores since."""

    def __init__(self, select, patience, history):
        self.select, self.patience, self.stale = select, patience, 0
        scores = [row[select[0]] for row in history if select and select[0] in row]
        self.value = (max if select[1] else min)(scores) if scores else None

    def update(self, row) -> tuple[dict | None, bool]:
        """({name: value} when ``row`` holds a new best, else None; whether patience has run out)."""
        if self.select is None or self.select[0] not in row:
            return None, False
        name, higher = self.select
        if self.value is None or (row[name] > self.value if higher else row[name] < self.value):
            self.value, self.stale = row[name], 0
            return {name: row[name]}, False
        self.stale += 1
        return None, self.patience is not None and self.stale >= self.patience


def _stretch(label: str, done: int, plan: Plan) -> str:
    """The progress line's name for the stretch of steps after step ``done``: an epoch, or steps."""
    if plan.epoch_steps:
        return f"{label}epoch {done // plan.epoch_steps + 1}/{plan.steps // plan.epoch_steps}"
    return f"{label}steps {done + 1}-{min(done + plan.every, plan.steps)} of {plan.steps}"


def _grid_name(step: int, plan: Plan) -> str:
    """samples_epoch_NNN.png at an epoch's end, else samples_step_NNNNNN.png."""
    if plan.epoch_steps and step % plan.epoch_steps == 0:
        return f"samples_epoch_{step // plan.epoch_steps:03d}.png"
    return f"samples_step_{step:06d}.png"


def _checked_step(model, batch, step, plan, limit, out_dir) -> dict:
    try:
        out = model.train_step(*batch)
    except (ValueError, FloatingPointError) as e:
        # A layer or optimizer refusing NaN/inf mid-step: the data were checked, so the run itself blew
        # up. Any other error is a real error and passes through.
        if "NaN" not in str(e) and "inf" not in str(e):
            raise
        raise _diverged(f"a value stopped being finite ({e})", step, plan, out_dir) from e
    value, what = limit
    bad = {k: v for k, v in out.items() if not math.isfinite(v) or abs(v) > value}
    if bad:
        shown = ", ".join(f"{k} = {v:.4g}" for k, v in bad.items())
        raise _diverged(f"{shown}: not finite or beyond the divergence limit {value:.4g} ({what})", step, plan,
                        out_dir)
    return out


def _diverged(what: str, step: int, plan: Plan, out_dir) -> TrainingDiverged:
    kept = f"; {os.path.join(getattr(out_dir, 'path', out_dir), 'last.npz')} keeps the last good state" if out_dir else ""
    return TrainingDiverged(f"training diverged at {_where(step, plan)}: {what}{kept}. Try a smaller learning rate.")


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return None


def spaced_rows(history: list, n: int = 10) -> list:
    """About ``n`` evenly spaced rows of ``history``, always with the first and the last:
    what a lesson prints of a long run."""
    keep = set(range(0, len(history), max(1, len(history) // n))) | {len(history) - 1}
    return [history[i] for i in sorted(keep)]
