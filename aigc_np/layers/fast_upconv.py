"""A 3x3 'same' convolution of a nearest-neighbour 2x upsampled image, in four 2x2 convolutions of the small one.

The U-Net goes back up with ``Conv2D(F, 3, padding="same")(Upsample2x(x))``.
Every 2x2 block of the upsampled image repeats one pixel of x, so the
output pixel (2i + di, 2j + dj) -- output phase (di, dj) -- sees only a 2x2
patch of x, and its 3x3 kernel taps fall on that patch in fixed groups. Along
one axis, with the kernel's taps a = 0, 1, 2:

    phase 0 reads x rows (i-1, i) with taps (W[0], W[1] + W[2])
    phase 1 reads x rows (i, i+1) with taps (W[0] + W[1], W[2])

i.e. the phase kernel is K[di, dj] = R[di] W R[dj]^T with R[0] = [[1, 0, 0],
[0, 1, 1]] and R[1] = [[1, 1, 0], [0, 0, 1]]. So y is four 2x2 convolutions
of x padded by 1 (phase (di, dj) takes the windows starting at (i + di,
j + dj)), interleaved: 16 C F products per output pixel where the
upsampled convolution makes 36 (about half once the windows' extra row and
column are counted), and no upsampled image. The backward is the same
four convolutions' backward, with dW = sum over phases of R[di]^T dK R[dj].

Layout as in layers/fast_conv.py: (C, H, W, N) inside, with its window and
transpose helpers. models/unet.py runs this when the fast paths are on
(aigc_np.layers.backend); tests/test_fast_paths.py holds it equal to
Upsample2x followed by the reference Conv2D.
"""
from __future__ import annotations

import numpy as np

from .fast_conv import _from_chwn, _pad_chwn, _to_chwn, col2im_chwn, im2col_chwn

__all__ = ["upsample_conv_forward", "upsample_conv_backward"]

# R[d][s, a] = 1 if tap a of a 3x3 kernel falls on tap s of phase d's 2x2 kernel (module docstring).
TAPS = np.array([[[1, 0, 0], [0, 1, 1]],
                 [[1, 1, 0], [0, 0, 1]]])
PADS = ((1, 1), (1, 1))


def upsample_conv_forward(x, w, b):
    """y = conv3x3_same(upsample2x(x)) (+ b) for x (N, C, H, W), w (F, C, 3, 3), b (F,) or None.

    Returns y (N, F, 2H, 2W) and the cache for ``upsample_conv_backward``."""
    n, c, h, wd = x.shape
    f = w.shape[0]
    xp = _pad_chwn(x, PADS)                                              # (C, H+2, W+2, N)
    cols = im2col_chwn(xp, (2, 2), (1, 1))                               # (C*4, (H+1)*(W+1)*N)
    taps = TAPS.astype(w.dtype)
    # optimize=True contracts one tap axis at a time (two small products); the plain
    # einsum runs one loop over all six indices, 5-20x slower at the U-Net's sizes
    kernels = np.einsum("isa,jte,fcae->ijfcst", taps, taps, w, optimize=True)   # (2, 2, F, C, 2, 2)
    z = (kernels.reshape(4 * f, c * 4) @ cols).reshape(2, 2, f, h + 1, wd + 1, n)
    y = np.empty((f, h, 2, wd, 2, n), dtype=x.dtype)                     # y[f, i, di, j, dj, n] = y at (2i+di, 2j+dj)
    for di in (0, 1):
        for dj in (0, 1):
            y[:, :, di, :, dj] = z[di, dj, :, di:di + h, dj:dj + wd]
    return _from_chwn(y.reshape(f, 2 * h, 2 * wd, n), b), (xp, kernels)     # xp, not cols: 4x smaller


def upsample_conv_backward(dy, cache):
    """(dx, dW, db) of ``upsample_conv_forward``, given dy (N, F, 2H, 2W)."""
    xp, kernels = cache
    f, c = kernels.shape[2:4]
    n, h, wd = dy.shape[0], dy.shape[2] // 2, dy.shape[3] // 2
    cols = im2col_chwn(xp, (2, 2), (1, 1))                               # rebuilt: cheaper than keeping it
    dy6 = _to_chwn(dy).reshape(f, h, 2, wd, 2, n)
    dz = np.zeros((2, 2, f, h + 1, wd + 1, n), dtype=dy.dtype)          # windows no output reads get 0
    for di in (0, 1):
        for dj in (0, 1):
            dz[di, dj, :, di:di + h, dj:dj + wd] = dy6[:, :, di, :, dj]
    dz = dz.reshape(4 * f, -1)
    d_kernels = (dz @ cols.T).reshape(2, 2, f, c, 2, 2)
    taps = TAPS.astype(dy.dtype)
    dw = np.einsum("isa,jte,ijfcst->fcae", taps, taps, d_kernels, optimize=True)
    dcols = kernels.reshape(4 * f, c * 4).T @ dz                         # (C*4, (H+1)*(W+1)*N)
    dxp = col2im_chwn(dcols, xp.shape, (2, 2), (1, 1))
    dx = _from_chwn(dxp[:, 1:h + 1, 1:wd + 1])
    return dx, dw, dy.sum(axis=(0, 2, 3))
