"""The GAN game on the ring of Gaussians (lessons 06 and 10): the two small players and the rounds.

Both players are MLPs with LeakyReLU(0.2), so D passes gradient for every input:

    G: z (2) -> 64 -> 64 -> 2      a linear output: the ring reaches radius 2
    D: x (2) -> 64 -> 64 -> 1      a logit (a GAN's discriminator) or a score (a WGAN's critic)

One round of :func:`train_on_ring` draws a fresh real batch, makes ``d_steps - 1``
extra D updates on it (a fresh z each) and then one ``model.train_step`` (a D
update and a G update). Both learning rates drop to a quarter for the last
quarter of the rounds: the game never quite settles, and smaller steps let
the samples sharpen instead of wandering.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from ..layers import Dense, LeakyReLU, Sequential, sigmoid
from .toy import mode_coverage, ring_centres, ring_of_gaussians

__all__ = ["ring_players", "train_on_ring", "d_prob", "watch_game", "plot_game_snapshots", "plot_ring_samples"]


def ring_players(rng: np.random.Generator, d_name: str = "discriminator", latent_dim: int = 2):
    """(G, D): the generator z (latent_dim) -> 64 -> 64 -> 2 and D 2 -> 64 -> 64 -> 1, built from rng
    in that order (G first), float32."""
    G = Sequential([Dense(64), LeakyReLU(0.2), Dense(64), LeakyReLU(0.2), Dense(2)],
                   input_shape=(latent_dim,), rng=rng, name="generator")
    D = Sequential([Dense(64), LeakyReLU(0.2), Dense(64), LeakyReLU(0.2), Dense(1)],
                   input_shape=(2,), rng=rng, name=d_name)
    return G, D


def train_on_ring(model, steps: int, rng: np.random.Generator, std: float, batch_size: int = 128,
                  d_steps: int = 1, on_step: Callable | None = None) -> None:
    """Play ``steps`` rounds of the game on fresh (batch_size, 2) ring batches drawn from ``rng``.

    model: a GAN or WGANGP (``train_step``, ``discriminator_loss``, ``opt_g``, ``opt_d``).
    d_steps: D updates per G update (``d_steps - 1`` extra ones before each train_step).
    on_step: called as ``on_step(step, losses)`` after every round (step is 1-based).
    """
    if steps < 1 or d_steps < 1 or batch_size < 1:
        raise ValueError(f"train_on_ring: steps, d_steps and batch_size must be >= 1, got {steps}, {d_steps} "
                         f"and {batch_size}")
    for step in range(1, steps + 1):
        if step == int(0.75 * steps) + 1:  # the last quarter at lr / 4 (both players)
            model.opt_g.lr /= 4
            model.opt_d.lr /= 4
        x_real = ring_of_gaussians(batch_size, rng, std=std)
        for _ in range(d_steps - 1):  # extra D updates before the usual round
            model.discriminator_loss(x_real, model.sample_z(len(x_real)))
            model.opt_d.step()
        losses = model.train_step(x_real)
        if on_step is not None:
            on_step(step, losses)


def d_prob(model, x: np.ndarray) -> np.ndarray:
    """D(x) = sigmoid(logit) (N,): D's probability that each point of x (N, 2) is real."""
    return sigmoid(model.D.forward(x))[:, 0]


def watch_game(model, steps: int, rng: np.random.Generator, std: float, real: np.ndarray, fixed_z: np.ndarray,
               grid: tuple, snap_at=(), label: str = "", batch_size: int = 128, d_steps: int = 1,
               every: int = 100) -> tuple[list, list, float]:
    """:func:`train_on_ring`, watched: every ``every`` rounds a log row, at ``snap_at`` a snapshot.

    A log row holds the mean losses since the last row, the mean D(x) on ``real`` and on the
    samples of ``fixed_z``, and those samples' mode coverage; about 8 rows are printed. A
    snapshot ({"step", "samples", "surface"}, for :func:`plot_game_snapshots`) holds the samples of
    fixed_z and D(x) on ``grid`` = (grid_x, grid_y), a meshgrid; step 0 means before training.
    Returns (log, snapshots, seconds of training).
    """
    grid_points = np.stack([grid[0].ravel(), grid[1].ravel()], axis=1).astype(np.float32)

    def snapshot(step):
        return {"step": step, "samples": model.sample(z=fixed_z),
                "surface": d_prob(model, grid_points).reshape(grid[0].shape)}

    log, snaps = [], [snapshot(0)] if 0 in snap_at else []
    sums = {"d_loss": 0.0, "g_loss": 0.0}

    def watch(step, losses):
        for k in sums:
            sums[k] += losses[k]
        if step % every == 0 or step == steps:
            samples = model.sample(z=fixed_z)
            cov = mode_coverage(samples, std=std)
            n = every if step % every == 0 else step % every
            log.append({"step": step, **{k: v / n for k, v in sums.items()},
                        "D(real)": float(d_prob(model, real).mean()), "D(fake)": float(d_prob(model, samples).mean()),
                        "modes": cov["modes_covered"], "fractions": cov["fractions"], "off_mode": cov["off_mode"]})
            sums.update(d_loss=0.0, g_loss=0.0)
            if len(log) % max(1, steps // every // 8) == 0 or step == steps:
                last = log[-1]
                print(f"  {label} step {step:5d}: L_D {last['d_loss']:.3f}  L_G {last['g_loss']:.3f}  "
                      f"D(real) {last['D(real)']:.2f}  D(fake) {last['D(fake)']:.2f}  modes covered {last['modes']}/8")
        if step in snap_at:
            snaps.append(snapshot(step))

    start = time.perf_counter()
    train_on_ring(model, steps, rng, std, batch_size, d_steps, on_step=watch)
    return log, snaps, time.perf_counter() - start


def plot_game_snapshots(snaps: list, grid_x: np.ndarray, grid_y: np.ndarray, std: float, path, title: str) -> str:
    """One panel per snapshot of the game on the ring: D(x) as filled contours with its 0.5 contour
    (white), G's samples (black dots) and the blob centres (red crosses), titled with the step and
    the modes covered.

    snaps: dicts with "step", "samples" (N, 2) and "surface", D(x) on the meshgrid (grid_x, grid_y).
    Saves a PNG at ``path`` and returns the path.
    """
    from ..plotting import plt, save_figure

    centres = ring_centres(8, 2.0)
    lim = float(np.max(np.abs(grid_x)))
    fig, axes = plt.subplots(1, len(snaps), figsize=(2.6 * len(snaps), 2.9))
    for ax, snap in zip(np.atleast_1d(axes), snaps):
        cs = ax.contourf(grid_x, grid_y, snap["surface"], levels=np.linspace(0, 1, 11), cmap="viridis", alpha=0.8)
        ax.contour(grid_x, grid_y, snap["surface"], levels=[0.5], colors="white", linewidths=0.8)
        ax.scatter(snap["samples"][:, 0], snap["samples"][:, 1], s=1.5, c="k", alpha=0.5)
        ax.scatter(centres[:, 0], centres[:, 1], s=25, c="r", marker="x")
        cov = mode_coverage(snap["samples"], std=std)
        ax.set_title(f"step {snap['step']}: {cov['modes_covered']}/8 modes", fontsize=9)
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xticks=[], yticks=[])
    fig.colorbar(cs, ax=axes, fraction=0.015, label="D(x)")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def plot_ring_samples(panels: dict, path, title: str, lim: float = 3.0) -> str:
    """One panel per run: its samples (black dots) over the blob centres (red crosses).

    panels: {panel title: samples (N, 2)}. Saves a PNG at ``path`` and returns the path.
    """
    from ..plotting import plt, save_figure

    centres = ring_centres(8, 2.0)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.9))
    for ax, (name, samples) in zip(np.atleast_1d(axes), panels.items()):
        ax.scatter(samples[:, 0], samples[:, 1], s=1.5, c="k", alpha=0.5)
        ax.scatter(centres[:, 0], centres[:, 1], s=30, c="r", marker="x")
        ax.set_title(name, fontsize=9)
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xticks=[], yticks=[])
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)
