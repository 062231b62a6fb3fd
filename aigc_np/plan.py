"""How long a run trains and in what batches: a :class:`Plan` and :class:`EpochBatches`.

The training loop counts optimizer steps. A plan says how many, how often
to write a history row and score the model, and the learning rate at each
step; kinds that think in epochs get a plan whose rows fall on epoch ends
(:meth:`Plan.epochs`), so an epoch is a view of steps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Plan", "EpochBatches", "LatentBatches", "batches_for", "DECAY_FACTOR"]

DECAY_FACTOR = 0.25  # Plan.epochs' step-down schedule divides every learning rate by 4


@dataclass(frozen=True)
class Plan:
    """How long to train and when to look.

    steps:       optimizer steps in all.
    batch_size:  examples per step.
    every:       steps per history row (and per last.npz, and per sample grid).
    eval_every:  steps between scores (a multiple of ``every``; the last step is always scored).
    epoch_steps: steps per epoch, for kinds that count epochs (rows then carry "epoch").
    lr_at:       (step, initial lr) -> the step's learning rate, for every optimizer (None: constant);
                 ``step`` counts from 0.
    patience:    stop after this many scores without a new best (None: never).
    """
    steps: int
    batch_size: int
    every: int
    eval_every: int
    epoch_steps: int | None = None
    lr_at: Callable[[int, float], float] | None = None
    patience: int | None = None

    def __post_init__(self):
        for name in ("steps", "batch_size", "every", "eval_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Plan: {name} must be a positive int, got {value!r}")
        if self.eval_every % self.every:
            raise ValueError(f"Plan: eval_every ({self.eval_every}) must be a multiple of every ({self.every})")

    @classmethod
    def epochs(cls, epochs: int, batch_size: int, n_examples: int, eval_every: int = 1, decay_at: float = 1.0,
               patience: int | None = None, max_steps_per_epoch: int | None = None) -> "Plan":
        """``epochs`` passes over ``n_examples`` in full batches (the last partial batch is dropped,
        so every step's batch statistics are comparable); a row per epoch; a score every
        ``eval_every`` epochs; every learning rate / 4 after ``decay_at`` of the epochs (1.0: never)."""
        if batch_size > n_examples:
            raise ValueError(f"Plan.epochs: batch_size {batch_size} is larger than the {n_examples} training "
                             "examples, so an epoch would have no full batch")
        per_epoch = n_examples // batch_size
        per_epoch = min(per_epoch, max_steps_per_epoch) if max_steps_per_epoch else per_epoch
        decay_after = int(decay_at * epochs) * per_epoch if decay_at < 1 else None
        lr_at = None if decay_after is None else (lambda step, lr: lr * DECAY_FACTOR if step >= decay_after else lr)
        return cls(steps=epochs * per_epoch, batch_size=batch_size, every=per_epoch,
                   eval_every=per_epoch * eval_every, epoch_steps=per_epoch, lr_at=lr_at, patience=patience)


class EpochBatches:
    """Shuffled minibatches of equal-length arrays, epoch after epoch.

    ``batch(step, rng)`` is the step's tuple of batches; at the first step of
    each epoch a fresh permutation is drawn from ``rng`` (so a run that stops
    at an epoch end and resumes draws the same permutations). ``augment``:
    optional ``(x_batch, rng) -> x_batch`` applied to the first array.
    """

    def __init__(self, arrays: tuple, batch_size: int, epoch_steps: int, augment: Callable | None = None):
        self.arrays = tuple(np.asarray(a) for a in arrays)
        n = len(self.arrays[0])
        if any(len(a) != n for a in self.arrays):
            raise ValueError(f"EpochBatches: the arrays have different lengths {[len(a) for a in self.arrays]}")
        for a in self.arrays:
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                raise ValueError("EpochBatches: the training data contains NaN or infinity")
        self.batch_size, self.epoch_steps, self.augment = batch_size, epoch_steps, augment
        self._order = None

    def batch(self, step: int, rng: np.random.Generator) -> tuple:
        k = step % self.epoch_steps
        if k == 0 or self._order is None:
            self._order = rng.permutation(len(self.arrays[0]))
        idx = self._order[k * self.batch_size:(k + 1) * self.batch_size]
        batch = tuple(a[idx] for a in self.arrays)
        if self.augment is not None:
            batch = (self.augment(batch[0], rng),) + batch[1:]
        return batch


class LatentBatches:
    """The training loop's batches for a model that trains on its own encoding of the data after a first
    phase, a :class:`~aigc_np.models.latent.LatentDiffusion` (``batch(step, rng) -> tuple``).

    While the autoencoder trains: batches of images (and labels), as
    :class:`EpochBatches` draws them. From the denoiser's first step on: the same
    draws, but each image replaced by its scaled latent, from latents encoded once for the whole
    training set (``encode_training_set``); encoding every batch again would cost the denoiser
    about a sixth of its steps, for latents that cannot change since the autoencoder is frozen.
    """

    def __init__(self, model, arrays: tuple, batch_size: int, epoch_steps: int):
        self.model, self.images = model, np.asarray(arrays[0])
        self.rows = EpochBatches(tuple(arrays) + (np.arange(len(self.images)),), batch_size, epoch_steps)
        self.latents = None

    def batch(self, step: int, rng: np.random.Generator) -> tuple:
        *batch, rows = self.rows.batch(step, rng)
        if self.model.training_autoencoder:
            return tuple(batch)
        if self.latents is None:
            self.latents = self.model.encode_training_set(self.images)
        return (self.latents[rows],) + tuple(batch[1:])


def batches_for(model, arrays: tuple, batch_size: int, epoch_steps: int):
    """The batches ``model`` trains on from ``arrays``: :class:`LatentBatches` for a model that encodes its
    training set (``encode_training_set``), else :class:`EpochBatches`."""
    if hasattr(model, "encode_training_set"):
        return LatentBatches(model, arrays, batch_size, epoch_steps)
    return EpochBatches(arrays, batch_size, epoch_steps)
