"""Vectorized, seeded data augmentation for batches of images.

Every transform works on a whole batch at once, shape (N, H, W) or
(N, C, H, W), with one random parameter per image (all channels of an image
move together). There is no Python loop over images or pixels: each transform
builds index arrays for the entire batch and gathers with one fancy-indexing
operation.

Transforms are plain callables ``t(x, rng) -> x_aug`` that take the
``np.random.Generator`` explicitly, so a training run is reproducible from its
seed, and they keep the input's float dtype. :class:`Compose` chains them.

Fill value: pixels shifted or rotated in from outside the image get ``fill``.
The background is 0 for images scaled with ``to_unit`` but -1 for ``to_tanh``,
so pass ``fill=-1.0`` for tanh-scaled data.

The deterministic cores, :func:`shift` and :func:`rotate`, take explicit
per-image offsets/angles and are what the random transforms call.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

__all__ = ["shift", "rotate", "RandomShift", "RandomRotation", "Compose"]


def _as_nchw(x: np.ndarray, fn: str) -> tuple[np.ndarray, bool]:
    """View x as (N, C, H, W); also return whether a channel axis was added."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{fn}: expected a NumPy array, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{fn}: expected a float array (scale with to_unit/to_tanh first), "
                        f"got dtype {x.dtype}")
    if x.ndim == 3:
        return x[:, None], True
    if x.ndim == 4:
        return x, False
    raise ValueError(f"{fn}: expected shape (N, H, W) or (N, C, H, W), got {x.shape}")


def _per_image(values, n: int, name: str, fn: str) -> np.ndarray:
    """Broadcast a scalar or length-N parameter to shape (N,)."""
    v = np.asarray(values)
    if v.ndim > 1 or (v.ndim == 1 and v.shape[0] != n):
        raise ValueError(f"{fn}: expected {name} as a scalar or shape ({n},), got shape {v.shape}")
    return np.broadcast_to(v, (n,))


def _check_rng(rng, fn: str) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{fn}: expected rng=np.random.Generator, got {type(rng).__name__}")


def shift(x: np.ndarray, dy, dx, fill: float = 0.0) -> np.ndarray:
    """Translate each image by its own integer offset, filling with ``fill``.

    ``out[n, ..., i, j] = x[n, ..., i - dy[n], j - dx[n]]``: positive ``dy``
    moves content down, positive ``dx`` moves it right.

    Args:
        x: float array (N, H, W) or (N, C, H, W).
        dy, dx: integer scalars or shape (N,) arrays of row/column offsets.
        fill: value for pixels that come from outside the image.

    Returns:
        Array with the shape and dtype of ``x``.
    """
    x4, squeezed = _as_nchw(x, "shift")
    n, c, h, w = x4.shape
    dy = _per_image(dy, n, "dy", "shift")
    dx = _per_image(dx, n, "dx", "shift")
    if not (np.issubdtype(dy.dtype, np.integer) and np.issubdtype(dx.dtype, np.integer)):
        raise TypeError(f"shift: expected integer dy, dx, got {dy.dtype}, {dx.dtype}")
    dy = dy.astype(np.int64)
    dx = dx.astype(np.int64)
    # Pad once by the largest offset so every source index is in range; the
    # padding supplies the fill value. Then one gather shifts all images.
    p = int(max(np.abs(dy).max(initial=0), np.abs(dx).max(initial=0)))
    padded = np.pad(x4, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill)
    rows = np.arange(h)[None, :] - dy[:, None] + p          # (N, H) source rows
    cols = np.arange(w)[None, :] - dx[:, None] + p          # (N, W) source cols
    out = padded[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None],
                 rows[:, None, :, None], cols[:, None, None, :]]   # (N, C, H, W)
    return out[:, 0] if squeezed else out


def rotate(x: np.ndarray, degrees, fill: float = 0.0) -> np.ndarray:
    """Rotate each image about its centre by its own angle (bilinear).

    Positive angles turn the image counter-clockwise as shown by
    ``plt.imshow`` (row 0 at the top), so ``rotate(x, 90)`` equals
    ``np.rot90(x, axes=(-2, -1))`` up to float round-off.

    Inverse mapping: for every *output* pixel we compute where it comes from
    in the input (rotating its coordinates by -angle about the centre
    ((H-1)/2, (W-1)/2)) and interpolate bilinearly between the 4 surrounding
    input pixels; neighbours outside the image count as ``fill``. Mapping
    outputs to inputs (not the reverse) leaves no holes in the result.

    Args:
        x: float array (N, H, W) or (N, C, H, W).
        degrees: scalar or shape (N,) angles in degrees.
        fill: value outside the image.

    Returns:
        Array with the shape and dtype of ``x``.
    """
    x4, squeezed = _as_nchw(x, "rotate")
    n, c, h, w = x4.shape
    theta = np.deg2rad(_per_image(degrees, n, "degrees", "rotate").astype(np.float64))
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]   # (N, 1, 1)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yo = np.arange(h, dtype=np.float64)[None, :, None] - cy   # (1, H, 1) output offsets
    xo = np.arange(w, dtype=np.float64)[None, None, :] - cx   # (1, 1, W)
    # Source coordinates (N, H, W). With y pointing down, a counter-clockwise
    # turn on screen maps source (x, y) -> (x cos + y sin, -x sin + y cos),
    # whose inverse is below. Coordinates stay float64 for exact integer hits.
    src_y = cy + xo * sin + yo * cos
    src_x = cx + xo * cos - yo * sin

    y0 = np.floor(src_y).astype(np.int64)
    x0 = np.floor(src_x).astype(np.int64)
    wy = (src_y - y0).astype(x.dtype)                       # weight of row y0 + 1
    wx = (src_x - x0).astype(x.dtype)                       # weight of col x0 + 1
    flat = x4.reshape(n, c, h * w)
    batch = np.arange(n)[:, None, None, None]
    chan = np.arange(c)[None, :, None, None]
    fill_v = x.dtype.type(fill)

    def corner(yy, xx):
        # Gather x4[n, :, yy, xx] for the whole batch at once; out-of-range
        # neighbours are clipped for the gather and then replaced by fill.
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)            # (N, H, W)
        idx = np.clip(yy, 0, h - 1) * w + np.clip(xx, 0, w - 1)
        vals = flat[batch, chan, idx[:, None]]                           # (N, C, H, W)
        return np.where(inside[:, None], vals, fill_v)

    wy4, wx4 = wy[:, None], wx[:, None]
    one = x.dtype.type(1)
    out = ((one - wy4) * ((one - wx4) * corner(y0, x0) + wx4 * corner(y0, x0 + 1))
           + wy4 * ((one - wx4) * corner(y0 + 1, x0) + wx4 * corner(y0 + 1, x0 + 1)))
    out = out.astype(x.dtype, copy=False)
    return out[:, 0] if squeezed else out


class RandomShift:
    """Shift each image by its own random integer (dy, dx) in [-max_shift, max_shift].

    Args:
        max_shift: largest offset in pixels (2 moves MNIST digits by up to
            ~7% of the image, still well inside the 28x28 frame).
        fill: value shifted in at the borders (0 for [0,1] data, -1 for [-1,1]).
    """

    def __init__(self, max_shift: int = 2, fill: float = 0.0):
        if isinstance(max_shift, bool) or not isinstance(max_shift, (int, np.integer)) or max_shift < 0:
            raise ValueError(f"RandomShift: expected a non-negative integer max_shift, "
                             f"got {max_shift!r}")
        self.max_shift = int(max_shift)
        self.fill = float(fill)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augment a batch (N, H, W) or (N, C, H, W); returns the same shape and dtype."""
        _check_rng(rng, "RandomShift")
        _as_nchw(x, "RandomShift")
        m = self.max_shift
        d = rng.integers(-m, m + 1, size=(2, x.shape[0]))     # one (dy, dx) per image
        return shift(x, d[0], d[1], fill=self.fill)

    def __repr__(self) -> str:
        return f"RandomShift(max_shift={self.max_shift}, fill={self.fill})"


class RandomRotation:
    """Rotate each image by its own angle drawn uniformly from [-max_degrees, max_degrees].

    Args:
        max_degrees: largest rotation; ~10 degrees keeps digits readable
            (a 6 rotated too far becomes a 9).
        fill: value rotated in from outside (0 for [0,1] data, -1 for [-1,1]).
    """

    def __init__(self, max_degrees: float = 10.0, fill: float = 0.0):
        if not np.isfinite(max_degrees) or max_degrees < 0:
            raise ValueError(f"RandomRotation: expected a finite max_degrees >= 0, "
                             f"got {max_degrees!r}")
        self.max_degrees = float(max_degrees)
        self.fill = float(fill)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augment a batch (N, H, W) or (N, C, H, W); returns the same shape and dtype."""
        _check_rng(rng, "RandomRotation")
        _as_nchw(x, "RandomRotation")
        angles = rng.uniform(-self.max_degrees, self.max_degrees, size=x.shape[0])
        return rotate(x, angles, fill=self.fill)

    def __repr__(self) -> str:
        return f"RandomRotation(max_degrees={self.max_degrees}, fill={self.fill})"


class Compose:
    """Apply transforms in order, all drawing from the same Generator.

    Example::

        augment = Compose([RandomRotation(10), RandomShift(2)])
        xb = augment(xb, rng)
    """

    def __init__(self, transforms: Sequence[Callable[[np.ndarray, np.random.Generator], np.ndarray]]):
        transforms = list(transforms)
        for t in transforms:
            if not callable(t):
                raise TypeError(f"Compose: expected callables t(x, rng), got {type(t).__name__}")
        self.transforms = transforms

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Run each transform on the output of the previous one."""
        _check_rng(rng, "Compose")
        for t in self.transforms:
            x = t(x, rng)
        return x

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"
