"""Pixel scaling and mini-batch iteration.

Two scalings are used in the lessons:

* ``to_unit``:  uint8 0..255 -> [0, 1]   (x / 255), for sigmoid outputs and
  binary cross-entropy (autoencoders, VAEs);
* ``to_tanh``:  uint8 0..255 -> [-1, 1]  (x / 127.5 - 1), for generators with a
  tanh output layer (GANs, DCGANs), whose range it matches exactly.

``from_tanh`` maps generator output back to [0, 1] for display.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

__all__ = ["to_unit", "to_tanh", "from_tanh", "minibatches"]


def _check_uint8(images: np.ndarray, fn: str) -> np.ndarray:
    images = np.asarray(images)
    # Insisting on uint8 catches the classic bug of scaling twice: a float
    # array here has almost certainly been scaled already.
    if images.dtype != np.uint8:
        raise TypeError(f"{fn}: expected uint8 pixels 0..255, got dtype {images.dtype} "
                        f"(already scaled?)")
    return images


def _check_float_dtype(dtype, fn: str) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{fn}: expected dtype float32 or float64, got {dt}")
    return dt


def to_unit(images: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Scale uint8 pixels to [0, 1]: ``images / 255``.

    Args:
        images: uint8 array of any shape, e.g. (N, 28, 28).
        dtype: float32 (default, what the lessons train in) or float64
            (for gradient checks).

    Returns:
        Array of the same shape and the requested dtype, values in [0, 1].
    """
    images = _check_uint8(images, "to_unit")
    dt = _check_float_dtype(dtype, "to_unit")
    return images.astype(dt) / dt.type(255)


def to_tanh(images: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Scale uint8 pixels to [-1, 1]: ``images / 127.5 - 1``.

    0 maps to -1 (black background), 255 to +1, matching a tanh output layer.

    Args:
        images: uint8 array of any shape, e.g. (N, 28, 28).
        dtype: float32 (default) or float64.

    Returns:
        Array of the same shape and the requested dtype, values in [-1, 1].
    """
    images = _check_uint8(images, "to_tanh")
    dt = _check_float_dtype(dtype, "to_tanh")
    return images.astype(dt) / dt.type(127.5) - dt.type(1)


def from_tanh(x: np.ndarray) -> np.ndarray:
    """Map [-1, 1] values (e.g. generator output) to [0, 1] for display.

    Values outside [-1, 1] are clipped, so ``plt.imshow(from_tanh(x),
    cmap="gray", vmin=0, vmax=1)`` always shows a valid image.

    Args:
        x: float array of any shape, e.g. (N, 28, 28) or (N, 1, 28, 28).

    Returns:
        Array of the same shape and float dtype, values in [0, 1].
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"from_tanh: expected a float array in [-1, 1], got dtype {x.dtype}")
    half = x.dtype.type(0.5)
    return np.clip((x + 1) * half, 0, 1).astype(x.dtype, copy=False)


def minibatches(x: np.ndarray, y: np.ndarray | None = None, *, batch_size: int,
                rng: np.random.Generator | None = None, shuffle: bool = True,
                drop_last: bool = False) -> Iterator:
    """Iterate over one epoch of mini-batches.

    Each call is one epoch: with ``shuffle=True`` the order is a fresh
    permutation drawn from ``rng``, so the same seed gives the same batches,
    and every example appears exactly once (unless ``drop_last`` drops the
    final short batch).

    Args:
        x: inputs, shape (N, ...).
        y: optional targets, shape (N, ...), batched with the same indices.
        batch_size: examples per batch (keyword-only).
        rng: the Generator that shuffles; required when ``shuffle=True``.
        shuffle: if False, batches are consecutive slices (views of ``x``).
        drop_last: drop the last batch if it has fewer than ``batch_size``
            examples (keeps batch statistics comparable, e.g. for a GAN).

    Yields:
        ``xb`` of shape (B, ...) if ``y`` is None, else ``(xb, yb)``;
        B == batch_size except possibly for the last batch. Shuffled batches
        are fancy-indexed copies; unshuffled ones are views.
    """
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError("minibatches: expected x with a leading batch axis, got a scalar")
    n = x.shape[0]
    if y is not None:
        y = np.asarray(y)
        if y.ndim == 0 or y.shape[0] != n:
            raise ValueError(f"minibatches: expected y with {n} rows like x, got shape {y.shape}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"minibatches: expected a positive integer batch_size, got {batch_size!r}")
    if shuffle and not isinstance(rng, np.random.Generator):
        raise TypeError(f"minibatches: shuffle=True needs rng=np.random.Generator, "
                        f"got {type(rng).__name__}")

    # Checks above run now, at the call, and the permutation is drawn now;
    # only the batching is lazy (a generator body would defer the errors).
    order = rng.permutation(n) if shuffle else None
    return _batches(x, y, order, int(batch_size), drop_last)


def _batches(x, y, order, batch_size, drop_last):
    # The loop runs over batches (N / batch_size iterations), never over
    # individual examples; each batch is one slice or one fancy index.
    n = x.shape[0]
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        sel = slice(start, min(start + batch_size, n))
        idx = sel if order is None else order[sel]
        yield x[idx] if y is None else (x[idx], y[idx])
