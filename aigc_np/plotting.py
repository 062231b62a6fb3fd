"""Figures saved to PNG files: image grids and learning curves.

Uses matplotlib's Agg backend when there is no display, so lessons run the
same on a laptop, over SSH and in CI. Every file is written atomically. In a
Jupyter kernel a saved figure also shows inline (the kernel's backend draws
it at the end of the cell).
"""
from __future__ import annotations

import os
import sys

import matplotlib


def in_kernel() -> bool:
    """True when running in a Jupyter (IPython) kernel.

    Looks only at an IPython that is already imported (a kernel imports it;
    it is not a dependency): its shell has a ``kernel`` in a kernel, none in
    a terminal IPython.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if hasattr(ipython, "get_ipython") else None
    return getattr(shell, "kernel", None) is not None


if not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND") and not in_kernel():
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .io import atomic_write  # noqa: E402

__all__ = ["in_kernel", "image_grid", "save_image_grid", "save_figure", "plot_curves", "plt",
           "originals_over_reconstructions", "save_labelled_grid", "plot_codes", "plot_history", "plot_panels",
           "save_grid_panels"]


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
    """Save a matplotlib figure as PNG atomically and return the path.

    The figure is closed, except in a Jupyter kernel: there it stays open so
    that the kernel's inline backend shows it under the cell (and closes it).
    """
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=100, bbox_inches="tight")
    if not in_kernel():
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


def originals_over_reconstructions(originals: np.ndarray, reconstructions: np.ndarray, per_row: int = 10) -> np.ndarray:
    """Interleave rows for a grid: ``per_row`` originals, their reconstructions, the next ``per_row``, ...

    originals, reconstructions: (N, ...) with N a multiple of per_row; returns (2N, ...).
    """
    shape = (-1, per_row) + originals.shape[1:]
    pairs = np.stack([originals.reshape(shape), reconstructions.reshape(shape)], axis=1)
    return pairs.reshape((-1,) + originals.shape[1:])


def save_labelled_grid(images: np.ndarray, path, nrow: int, figsize, title: str, rows: dict | None = None,
                       cols: dict | None = None, xlabel: str | None = None, ylabel: str | None = None) -> str:
    """Save a grid of images (N, H, W) in [0, 1] whose axes name some rows and columns.

    rows, cols: {index: tick label} for the rows / columns of the grid that get a label
    (None: no ticks on that axis), e.g. the z value or the epoch each row shows.
    """
    images = np.asarray(images)
    h, w = images.shape[-2:]
    fig, ax = plt.subplots(figsize=figsize)
    ax.imshow(image_grid(images, nrow=nrow), cmap="gray", vmin=0, vmax=1)
    # the centre of cell i is at i (H + 1) + H // 2: cells are H pixels plus one of padding
    ax.set_xticks([i * (w + 1) + w // 2 for i in cols], list(cols.values())) if cols else ax.set_xticks([])
    ax.set_yticks([i * (h + 1) + h // 2 for i in rows], list(rows.values())) if rows else ax.set_yticks([])
    ax.set_title(title)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    return save_figure(fig, path)


def plot_codes(codes: np.ndarray, labels: np.ndarray, path, title: str, xlabel: str = "z1", ylabel: str = "z2",
               circles=()) -> str:
    """Scatter 2-D codes (N, 2) coloured by digit label (N,), with a colour bar; ``circles``:
    radii of dashed circles around 0 (then the axes are drawn to the same scale)."""
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    points = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=8, vmin=-0.5, vmax=9.5)
    for radius in circles:
        ax.add_patch(plt.Circle((0, 0), radius, fill=False, ls="--", lw=0.8, color="gray"))
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
    if len(circles):
        ax.set_aspect("equal")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    return save_figure(fig, path)


def plot_history(history: list, series: dict, path, x: str = "epoch", **options) -> str:
    """:func:`plot_curves` of a training history (one dict per epoch or step, as ``train`` returns).

    series: {legend name: the row's key, or a function of a row}, e.g.
    ``{"D loss": "d_loss", "-ELBO": lambda r: -r["elbo"]}``; the x values are each row's ``x``.
    Rows without a series' key are skipped for that series. options go to :func:`plot_curves`.
    """
    curves = {}
    for name, key in series.items():
        value = key if callable(key) else (lambda row, k=key: row[k])
        rows = history if callable(key) else [row for row in history if key in row]
        curves[name] = ([row[x] for row in rows], [value(row) for row in rows])
    return plot_curves(curves, path, xlabel=options.pop("xlabel", x), **options)


def plot_panels(panels: list, path, title: str = "", panel_size=(5.0, 3.5)) -> str:
    """Curves on axes side by side, in one figure saved as PNG.

    panels: one dict per axis: "curves" ({name: (xs, ys)}) and optionally "xlabel", "ylabel",
    "title", "marker" (e.g. "o": every point marked) and "baseline" ((y, label): a dashed line).
    An axis with a single curve and no baseline gets no legend.
    """
    if not panels:
        raise ValueError("plot_panels: expected at least one panel, got none")
    fig, axes = plt.subplots(1, len(panels), figsize=(panel_size[0] * len(panels), panel_size[1]),
                             constrained_layout=True)
    for ax, panel in zip(np.atleast_1d(axes), panels):
        for name, (xs, ys) in panel["curves"].items():
            ax.plot(xs, ys, marker=panel.get("marker"), label=name)
        if "baseline" in panel:
            ax.axhline(panel["baseline"][0], color="k", ls="--", lw=1, label=panel["baseline"][1])
        ax.set(xlabel=panel.get("xlabel", ""), ylabel=panel.get("ylabel", ""), title=panel.get("title", ""))
        if len(panel["curves"]) > 1 or "baseline" in panel:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def save_grid_panels(grids: dict, path, nrow: int = 10, across: bool = True, panel_size=(4.0, 4.3)) -> str:
    """Save one image grid per panel, titled, side by side (``across``) or one above the other.

    grids: {title: images (N, H, W) in [0, 1]}; each panel tiles its images ``nrow`` to a row.
    """
    if not grids:
        raise ValueError("save_grid_panels: expected at least one grid, got none")
    n = len(grids)
    shape, size = ((1, n), (panel_size[0] * n, panel_size[1])) if across else ((n, 1), (panel_size[0], panel_size[1] * n))
    fig, axes = plt.subplots(*shape, figsize=size)
    for ax, (name, images) in zip(np.atleast_1d(axes), grids.items()):
        ax.imshow(image_grid(images, nrow=nrow), cmap="gray", vmin=0, vmax=1)
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    return save_figure(fig, path)
