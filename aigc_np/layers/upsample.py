"""Nearest-neighbour upsampling by 2: the U-Net's way back up to full resolution."""
from __future__ import annotations

from .base import Layer


class Upsample2x(Layer):
    """Copy every pixel into a 2x2 block: x (N, C, H, W) -> y (N, C, 2H, 2W).

        y[n, c, i, j] = x[n, c, i // 2, j // 2]

    Backward: each input pixel was copied to four output pixels, so its
    gradient is the sum of their four gradients, dx[n, c, i, j] = sum of
    dy over the block (2i..2i+1, 2j..2j+1) -- a reshape and three adds, no loop.
    Followed by a Conv2D, it is the U-Net's learned upsampling without the
    checkerboard artefacts of a stride-2 transposed convolution.
    """

    example_input_shape = (2, 3, 2)
    example_batch = 2

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{self.name}: expected a per-example input shape (C, H, W) (images are NCHW), "
                             f"got {input_shape}")
        c, h, w = input_shape
        return c, 2 * h, 2 * w

    def forward(self, x):
        self._check_input(x, min_rank=4, exact_shape=self.built)
        if x.ndim != 4:
            raise ValueError(f"{self.name}: expected a 4-D NCHW input, got shape {x.shape}")
        self._cache = x.shape
        return self._remember_output(x.repeat(2, axis=2).repeat(2, axis=3))

    def backward(self, dy):
        dy = self._check_grad(dy)
        n, c, h, w = self._cache
        blocks = dy.reshape(n, c, h, 2, w, 2)             # blocks[n, c, i, a, j, e] = dy[n, c, 2i + a, 2j + e]
        rows = blocks[:, :, :, 0] + blocks[:, :, :, 1]    # (N, C, H, W, 2): plain adds, because NumPy's
        return rows[..., 0] + rows[..., 1]                # .sum over the two small strided axes is ~20x slower
