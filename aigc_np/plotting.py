"""Figures saved to PNG files: image grids and learning curves.

Uses matplotlib's Agg backend when there is no display, so lessons run the
same on a laptop, over SSH and in CI. Every file is written atomically.
"""
from __future__ import annotations

import os

import matplotlib

if not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .io import atomic_write  # noqa: E402

__all__ = ["image_grid", "save_image_grid", "save_figure", "plot_curves", "plt"]


def image_grid(images: np.ndarray, nrow: int = 10, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """Tile images (N, H, W) or (N, 1, H, W) into one (rows*(H+pad)-pad, nrow*(W+pad)-pad) array.

    Missing cells (when N is not a multiple of nrow) are filled with pad_value.
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3:
        raise ValueError(f"image_grid: expected images of shape (N, H, W) or (N, 1, H, W), got {images.shape}")
    n, h, w = images.shape
    rows = -(-n // nrow)
    cells = np.full((rows * nrow, h + pad, w + pad), pad_value, dtype=np.float64)
    cells[:n, :h, :w] = images
    # (rows, nrow, H+pad, W+pad) -> (rows, H+pad, nrow, W+pad): rows of images side by side
    grid = cells.reshape(rows, nrow, h + pad, w + pad).transpose(0, 2, 1, 3)
    grid = grid.reshape(rows * (h + pad), nrow * (w + pad))
    return grid[: grid.shape[0] - pad, : grid.shape[1] - pad] if pad else grid


def save_figure(fig, path) -> str:
    """Save a matplotlib figure as PNG atomically, close it, and return the path."""
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return os.fspath(path)


def save_image_grid(images: np.ndarray, path, nrow: int = 10, value_range=(0.0, 1.0), title: str | None = None) -> str:
    """Save images (N, H, W) or (N, 1, H, W) with values in ``value_range`` as a grid PNG.

    Use value_range=(-1, 1) for tanh outputs.
    """
    lo, hi = value_range
    grid = (np.asarray(image_grid(np.clip(images, lo, hi), nrow, pad_value=hi)) - lo) / (hi - lo)
    fig, ax = plt.subplots(figsize=(grid.shape[1] / 28 * 0.6 + 0.2, grid.shape[0] / 28 * 0.6 + 0.4))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def plot_curves(curves: dict, path, xlabel: str = "epoch", ylabel: str = "", title: str = "",
                logy: bool = False) -> str:
    """Plot named series ``{name: ys}`` or ``{name: (xs, ys)}`` on one axis and save as PNG."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, series in curves.items():
        xs, ys = series if isinstance(series, tuple) else (np.arange(1, len(series) + 1), series)
        ax.plot(xs, ys, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)
