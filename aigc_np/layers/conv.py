"""2-D convolution and transposed convolution for NCHW images.

Both layers run on one code path made of two helpers:

* ``im2col`` turns every kh x kw window of a (padded) image into one row of a
  matrix, so a convolution becomes ONE matrix product with the kernel;
* ``col2im`` is its adjoint: it adds each row back onto the window it came
  from (overlapping windows sum).

Then, with the kernel flattened to a matrix,

    Conv2D.forward            y  = im2col(pad(x)) @ W^T          (+ b)
    Conv2D.backward           dx = crop(col2im(dy @ W))
    Conv2DTranspose.forward   y  = crop(col2im(x @ W))           (+ b)
    Conv2DTranspose.backward  dx = im2col(pad(dy)) @ W^T

so the transposed convolution is *literally* the input-gradient of a
convolution, and vice versa. Like Keras, PyTorch and every deep learning
library, "convolution" here means cross-correlation (the kernel is not flipped):

    y[n, f, i, j] = b[f] + sum_{c, a, e} xpad[n, c, i*sh + a, j*sw + e] * W[f, c, a, e]

Speed: one layout inside. Images enter and leave a layer as NCHW, but inside
it they are (C, H, W, N), "CHWN", with the batch axis last, and the layers
work with the window matrix the other way round, cols^T of shape
(C*kh*kw, Ho*Wo*N) (``im2col_chwn`` / ``col2im_chwn``). Then im2col, the
matmul and col2im need no transposes between them, every copy and every
slice-add of col2im runs over contiguous rows of N (or Wo*N) numbers instead
of Wo-long scraps, and the only layout changes are one NCHW <-> CHWN copy of
the layer's input and one of its output (each kh*kw times smaller than
cols). ``im2col`` / ``col2im`` are the same operations in NCHW, row-per-window
form, for readers and tests.

Memory: cols holds every pixel kh*kw/(sh*sw) times (about 6x for a 5x5
kernel at stride 2), so it is the largest array of a conv net's step. The
layers therefore never hold a whole cols: they walk over blocks of output
rows (``_row_blocks``, at most ``BLOCK_BYTES`` of columns each; the columns of
a row block are a contiguous range, as the batch axis is last), build that
block's columns, use them and drop them. A Conv2D caches its padded input
and rebuilds the columns in backward (an im2col costs far less than the
matmuls that use it); a Conv2DTranspose caches its input, which is all its
backward needs. All conv layers share one block-sized buffer for the columns
(``_buffer``), because filling warm memory is faster than filling freshly
allocated pages, and one buffer for the whole network keeps the memory a
layer's blocks save from coming back as a buffer per layer. (What these choices cost and save: docs/performance.md.)
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..initializers import get_initializer
from .base import Layer, as_shape

__all__ = ["Conv2D", "Conv2DTranspose", "im2col", "col2im", "im2col_chwn", "col2im_chwn",
           "conv_output_length", "conv_transpose_output_length"]

# The most bytes of window columns a layer builds at once (see "Memory" above).
# Blocks of a few MB keep each matmul large (hundreds of columns or more) and the
# step's peak memory small; a whole cols can be 40 MB in the article's DCGAN.
BLOCK_BYTES = 2 * 2**20
# The reused block buffers, {(name, dtype): flat array}, shared by every conv layer.
_WORKSPACE: dict = {}


# ---------------------------------------------------------------------------
# im2col / col2im: the only places that know about windows
# ---------------------------------------------------------------------------
def im2col_chwn(xp: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int],
                out: np.ndarray | None = None) -> np.ndarray:
    """Gather every kernel window of an already padded (C, Hp, Wp, N) batch into a column.

    Args:
        xp: (C, Hp, Wp, N) padded input, batch axis last.
        kernel: (kh, kw).
        strides: (sh, sw).
        out: optional (C, kh, kw, Ho, Wo, N) array to fill (a reused buffer).

    Returns:
        cols of shape (C*kh*kw, Ho*Wo*N) with Ho = (Hp - kh)//sh + 1 (same for
        Wo). Column ``(i, j, n)`` holds the window of image n whose top-left
        corner is ``(i*sh, j*sw)``, flattened in (c, a, e) order -- the order
        of a kernel ``W[f]`` flattened by ``reshape`` -- so a convolution is the
        one product ``W.reshape(F, -1) @ cols``.
    """
    kh, kw = kernel
    sh, sw = strides
    c, n = xp.shape[0], xp.shape[3]
    # A strided *view* (C, Ho, Wo, N, kh, kw) of the windows, reordered (still a
    # view) to (C, kh, kw, Ho, Wo, N); copyto makes the one copy the matmul needs.
    windows = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    ho, wo = windows.shape[1:3]
    windows = windows.transpose(0, 4, 5, 1, 2, 3)
    if out is None:
        out = np.empty(windows.shape, dtype=xp.dtype)
    np.copyto(out, windows)
    return out.reshape(c * kh * kw, ho * wo * n)


def col2im_chwn(cols: np.ndarray, padded_shape: tuple, kernel: tuple[int, int],
                strides: tuple[int, int], out: np.ndarray | None = None) -> np.ndarray:
    """Adjoint of :func:`im2col_chwn`: add every column back onto its window.

    Args:
        cols: (C*kh*kw, Ho*Wo*N) window columns, in the layout ``im2col_chwn`` makes.
        padded_shape: (C, Hp, Wp, N), the shape of the images to rebuild.
        kernel, strides: as for ``im2col_chwn``.
        out: optional array of ``padded_shape`` to *add* the windows into
            (e.g. a block of rows of a larger image; overlapping blocks sum).

    Returns:
        (C, Hp, Wp, N) array where each pixel is the sum of all window entries
        that cover it (pixels no window covers stay 0), plus ``out``'s old
        values if ``out`` was given (then it is ``out``).
    """
    kh, kw = kernel
    sh, sw = strides
    c, hp, wp, n = padded_shape
    ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    cols = cols.reshape(c, kh, kw, ho, wo, n)
    if out is None:
        out = np.zeros(padded_shape, dtype=cols.dtype)
    # Loop over the kh*kw kernel offsets only: for a fixed offset (a, e) the
    # windows' pixels form a strided grid that never overlaps itself, so a
    # plain slice-add is correct (overlaps happen only *between* offsets).
    for a in range(kh):
        for e in range(kw):
            out[:, a:a + sh * (ho - 1) + 1:sh, e:e + sw * (wo - 1) + 1:sw, :] += cols[:, a, e]
    return out


def im2col(xp: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int]) -> np.ndarray:
    """:func:`im2col_chwn` for an NCHW batch, one window per row.

    Args:
        xp: (N, C, Hp, Wp) padded input.
        kernel, strides: (kh, kw), (sh, sw).

    Returns:
        cols of shape (N*Ho*Wo, C*kh*kw): row ``(n, i, j)`` holds the window
        whose top-left corner is ``(i*sh, j*sw)``, flattened in (c, a, e) order.
    """
    n = xp.shape[0]
    cols = im2col_chwn(xp.transpose(1, 2, 3, 0), kernel, strides)   # (C*kh*kw, Ho*Wo*N)
    k = cols.shape[0]
    return cols.reshape(k, -1, n).transpose(2, 1, 0).reshape(-1, k)


def col2im(cols: np.ndarray, padded_shape: tuple, kernel: tuple[int, int],
           strides: tuple[int, int]) -> np.ndarray:
    """Adjoint of :func:`im2col`: add every row back onto its window.

    Args:
        cols: (N*Ho*Wo, C*kh*kw) window rows, in the layout ``im2col`` makes.
        padded_shape: (N, C, Hp, Wp), the shape of the image to rebuild.
        kernel, strides: as for ``im2col``.

    Returns:
        (N, C, Hp, Wp) array where each pixel is the sum of all window entries
        that cover it (pixels no window covers stay 0).
    """
    n, c, hp, wp = padded_shape
    k = cols.shape[1]
    cols_chwn = cols.reshape(n, -1, k).transpose(2, 1, 0)           # (C*kh*kw, Ho*Wo, N)
    out = col2im_chwn(cols_chwn, (c, hp, wp, n), kernel, strides)
    return np.ascontiguousarray(out.transpose(3, 0, 1, 2))


def _row_blocks(n_rows: int, bytes_per_row: int) -> list[tuple[int, int]]:
    """Split rows 0..n_rows-1 into consecutive blocks [start, stop) of at most
    ``BLOCK_BYTES`` (but at least one row each)."""
    step = max(1, BLOCK_BYTES // max(1, bytes_per_row))
    return [(i, min(i + step, n_rows)) for i in range(0, n_rows, step)]


def _to_chwn(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (C, H, W, N), copied so the batch axis is contiguous."""
    return np.ascontiguousarray(x.transpose(1, 2, 3, 0))


def _from_chwn(x: np.ndarray) -> np.ndarray:
    """(C, H, W, N) -> a new contiguous (N, C, H, W) array."""
    return np.ascontiguousarray(x.transpose(3, 0, 1, 2))


def _pad(x: np.ndarray, pads: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """Zero-pad the two spatial axes: pads = ((top, bottom), (left, right))."""
    (t, btm), (lft, r) = pads
    if t == btm == lft == r == 0:
        return x
    n, c, h, w = x.shape
    xp = np.zeros((n, c, h + t + btm, w + lft + r), dtype=x.dtype)
    xp[:, :, t:t + h, lft:lft + w] = x
    return xp


def _crop(xp: np.ndarray, pads: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """Inverse of ``_pad``: drop ``pads`` rows/columns from each side."""
    (t, btm), (lft, r) = pads
    hp, wp = xp.shape[2:]
    return xp[:, :, t:hp - btm, lft:wp - r]


# ---------------------------------------------------------------------------
# Geometry: output sizes and paddings, one spatial axis at a time
# ---------------------------------------------------------------------------
def _same_pads(length: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow's 'same' rule: out = ceil(length/s), and the total padding
    max((out-1)*s + k - length, 0) is split with the odd row at the end."""
    out = -(-length // s)
    total = max((out - 1) * s + k - length, 0)
    return total // 2, total - total // 2


def conv_output_length(length: int, k: int, s: int, padding) -> tuple[int, tuple[int, int]]:
    """Output length and (before, after) padding of a convolution along one axis.

    ``padding`` is 'valid', 'same' or an int p (p on both sides). The result
    is floor((length + before + after - k)/s) + 1, or <= 0 if the kernel is
    larger than the padded input.
    """
    if padding == "valid":
        pads = (0, 0)
    elif padding == "same":
        pads = _same_pads(length, k, s)
    else:
        pads = (padding, padding)
    return (length + pads[0] + pads[1] - k) // s + 1, pads


def conv_transpose_output_length(length: int, k: int, s: int, padding,
                                 output_padding: int | None) -> tuple[int, tuple[int, int]]:
    """Output length L and (before, after) padding of a transposed convolution.

    The transposed convolution is the adjoint of a convolution with the same
    k, s, padding applied to an input of length L; the padding returned is that
    convolution's. The full (uncropped) output has length (length-1)*s + k.

    * 'valid': L = (length-1)*s + k + output_padding (no cropping).
    * int p:   L = (length-1)*s + k - 2p + output_padding (crop p each side).
    * 'same':  L = length*s (Keras), i.e. crop k - s split with the extra row
      at the end; with an output_padding, L follows Keras:
      (length-1)*s + k - 2*(k//2) + output_padding.

    output_padding rows land at the bottom/right: they are rows the crop would
    have removed, or zeros (plus bias) beyond the full output.
    """
    op = 0 if output_padding is None else output_padding
    full = (length - 1) * s + k
    if padding == "valid":
        return full + op, (0, 0)
    if padding == "same":
        out = length * s if output_padding is None else full - 2 * (k // 2) + op
        return out, _same_pads(out, k, s)
    return full - 2 * padding + op, (padding, padding)


# ---------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------
def _positive_pair(value, what: str, layer: str) -> tuple[int, int]:
    """An int or a pair of ints, all >= 1, as a pair."""
    pair = _int_pair(value, what, layer)
    if min(pair) < 1:
        raise ValueError(f"{layer}: {what} must be positive, got {value!r}")
    return pair


def _int_pair(value, what: str, layer: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)):
        return int(value[0]), int(value[1])
    raise TypeError(f"{layer}: {what} must be an int or a pair of ints, got {value!r}")


def _padding_spec(padding, layer: str) -> tuple:
    """'same' / 'valid' / int / (ph, pw) -> one spec per spatial axis."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode not in ("same", "valid"):
            raise ValueError(f"{layer}: padding must be 'same', 'valid', an int or a pair of ints, "
                             f"got {padding!r}")
        return mode, mode
    pair = _int_pair(padding, "padding", layer)
    if min(pair) < 0:
        raise ValueError(f"{layer}: padding must be >= 0, got {padding!r}")
    return pair


def _check_filters(filters, layer: str) -> int:
    if not isinstance(filters, (int, np.integer)) or isinstance(filters, bool):
        raise TypeError(f"{layer}: filters must be an int, got {filters!r}")
    if filters < 1:
        raise ValueError(f"{layer}: filters must be positive, got {filters}")
    return int(filters)


class _ConvBase(Layer):
    """Shared argument handling and input checks of the two conv layers."""

    def __init__(self, filters, kernel_size, strides, padding, use_bias, kernel_initializer, name):
        super().__init__(name)
        self.filters = _check_filters(filters, self.name)
        self.kernel_size = _positive_pair(kernel_size, "kernel_size", self.name)
        self.strides = _positive_pair(strides, "strides", self.name)
        self.padding = padding
        self._pad_spec = _padding_spec(padding, self.name)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = get_initializer(kernel_initializer)
        self._pads = None  # ((top, bottom), (left, right)), set by build
        self._workspace = _WORKSPACE  # the block buffers every conv layer shares (see ``_buffer``)

    def _pad_chwn(self, x: np.ndarray) -> np.ndarray:
        """x (N, C, H, W) zero-padded by ``self._pads``, as a new (C, Hp, Wp, N) array.

        One copy does both the layout change and the padding.
        """
        (t, btm), (lft, r) = self._pads
        n, c, h, w = x.shape
        xp = np.zeros((c, h + t + btm, w + lft + r, n), dtype=x.dtype)
        xp[:, t:t + h, lft:lft + w, :] = x.transpose(1, 2, 3, 0)
        return xp

    def _crop_chwn(self, xp: np.ndarray) -> np.ndarray:
        """Inverse of ``_pad_chwn``: the interior of a (C, Hp, Wp, N) array, as a view."""
        (t, btm), (lft, r) = self._pads
        hp, wp = xp.shape[1:3]
        return xp[:, t:hp - btm, lft:wp - r, :]

    def _row_blocks(self, n_rows: int, n: int, cols_rows: int, row_width: int) -> list[tuple[int, int]]:
        """Blocks of rows for a window matrix with ``cols_rows`` rows and
        ``row_width * n`` columns per image row, at most BLOCK_BYTES each."""
        return _row_blocks(n_rows, cols_rows * row_width * n * self.dtype.itemsize)

    def _buffer(self, name: str, shape: tuple) -> np.ndarray:
        """A work array of ``shape`` whose contents are garbage: a view of the
        flat buffer ``self._workspace[(name, dtype)]``, kept between calls and
        grown to the largest block seen (at most about BLOCK_BYTES). Filling a
        warm buffer is several times faster than filling freshly allocated
        pages. One buffer serves every conv layer: a layer uses it only inside
        one forward or backward call, and layers run one at a time."""
        size = int(np.prod(shape))
        key = (name, self.dtype.str)
        buf = self._workspace.get(key)
        if buf is None or buf.size < size:
            buf = self._workspace[key] = np.empty(size, dtype=self.dtype)
        return buf[:size].reshape(shape)

    def _window_rows(self, start: int, stop: int) -> slice:
        """Padded-image rows that the windows of rows start..stop-1 cover:
        window row i spans padded rows [i*sh, i*sh + kh)."""
        return slice(start * self.strides[0], (stop - 1) * self.strides[0] + self.kernel_size[0])

    def _im2col(self, xp: np.ndarray, start: int, stop: int) -> np.ndarray:
        """The window columns of window rows start..stop-1 of a padded (C, Hp, Wp, N)
        image, (C*kh*kw, (stop-start)*Wo*N), in the reused buffer "cols"."""
        (kh, kw), wo = self.kernel_size, (xp.shape[2] - self.kernel_size[1]) // self.strides[1] + 1
        out = self._buffer("cols", (xp.shape[0], kh, kw, stop - start, wo, xp.shape[3]))
        return im2col_chwn(xp[:, self._window_rows(start, stop)], self.kernel_size, self.strides, out=out)

    def _input_chw(self, input_shape: tuple) -> tuple[int, int, int]:
        if len(input_shape) != 3:
            raise ValueError(f"{self.name}: expected a per-example input shape (C, H, W) "
                             f"(images are NCHW), got {input_shape}")
        if min(input_shape) < 1:
            raise ValueError(f"{self.name}: input shape must be positive, got {input_shape}")
        return input_shape

    def _init_kernel(self, shape: tuple, fans: tuple[int, int], rng) -> None:
        if rng is None:
            raise ValueError(f"{self.name}: build needs a numpy Generator (rng) to initialize W")
        self.params["W"] = self.kernel_initializer(shape, rng, fans=fans)
        if self.use_bias:
            self.params["b"] = np.zeros(self.filters)

    def _check_x(self, x) -> np.ndarray:
        """Type, rank, channel and size checks with messages naming the layer."""
        if not self.built:
            raise ValueError(f"{self.name}: call build(input_shape, rng) before forward")
        expected = "(N, " + ", ".join(map(str, self.input_shape)) + ")"
        if isinstance(x, np.ndarray) and x.ndim != 4:
            raise ValueError(f"{self.name}: expected a 4-D NCHW input {expected}, got shape {x.shape}")
        x = self._check_input(x, min_rank=4, exact_shape=False)
        if x.shape[1] != self.input_shape[0]:
            raise ValueError(f"{self.name}: expected {self.input_shape[0]} input channels, i.e. input "
                             f"shape {expected}, got shape {x.shape} ({x.shape[1]} channels)")
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"{self.name}: expected input shape {expected}, got {x.shape}")
        return x

    def _check_dy(self, dy) -> np.ndarray:
        dy = self._check_grad(dy)
        # A float64 dy would silently promote float32 gradients.
        return dy.astype(self.dtype, copy=False)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """(filters, Ho, Wo); ``_geometry`` (per subclass) knows the sizes."""
        (ho, wo), _ = self._geometry(input_shape)
        return self.filters, ho, wo


class Conv2D(_ConvBase):
    """2-D convolution (cross-correlation) of NCHW images, as in Keras.

    Shapes: x (N, C, H, W) -> y (N, filters, Ho, Wo).
    Weights: W (filters, C, kh, kw), b (filters,).

        y[n, f, i, j] = b[f] + sum_{c,a,e} xpad[n, c, i*sh + a, j*sw + e] W[f, c, a, e]

    Output size per axis: 'valid' floor((H - k)/s) + 1; 'same' ceil(H/s) with
    TensorFlow's padding: total max((Ho-1)*s + k - H, 0), top total//2, the
    extra row at the bottom (right); int p: p zeros on every side, so
    floor((H + 2p - k)/s) + 1.

    Args:
        filters: number of output channels.
        kernel_size: int or (kh, kw).
        strides: int or (sh, sw).
        padding: 'valid', 'same', an int or a pair (ph, pw).
        use_bias: add a learned bias per output channel.
        kernel_initializer: name or callable ``init(shape, rng, fans=(fan_in, fan_out))``;
            fan_in = C*kh*kw, fan_out = filters*kh*kw (Keras).
    """

    example_args = {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}
    example_input_shape = (2, 5, 5)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", use_bias=True,
                 kernel_initializer="glorot_uniform", name: str | None = None):
        super().__init__(filters, kernel_size, strides, padding, use_bias, kernel_initializer, name)

    def _geometry(self, input_shape: tuple):
        """((Ho, Wo), ((top, bottom), (left, right))) for a (C, H, W) input."""
        _, h, w = self._input_chw(as_shape(input_shape))
        outs, pads = [], []
        for size, k, s, p, axis in zip((h, w), self.kernel_size, self.strides, self._pad_spec,
                                       ("height", "width")):
            out, pad = conv_output_length(size, k, s, p)
            if out < 1:
                raise ValueError(f"{self.name}: kernel {axis} {k} is larger than the padded input "
                                 f"{axis} {size + pad[0] + pad[1]} (input shape {input_shape}, "
                                 f"padding {self.padding!r})")
            outs.append(out)
            pads.append(pad)
        return tuple(outs), tuple(pads)

    def _build(self, input_shape, rng) -> None:
        c = input_shape[0]
        kh, kw = self.kernel_size
        _, self._pads = self._geometry(input_shape)
        self._init_kernel((self.filters, c, kh, kw), (c * kh * kw, self.filters * kh * kw), rng)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._check_x(x)
        n = x.shape[0]
        f, ho, wo = self.output_shape
        xp = self._pad_chwn(x)                                               # (C, Hp, Wp, N)
        w_mat = self.params["W"].reshape(f, -1)                              # (F, C*kh*kw)
        y = np.empty((f, ho, wo, n), dtype=x.dtype)
        # y = W cols, for one block of output rows at a time (module docstring, "Memory")
        for i0, i1 in self._row_blocks(ho, n, w_mat.shape[1], wo):
            cols = self._im2col(xp, i0, i1)                                  # (C*kh*kw, rows*Wo*N)
            np.matmul(w_mat, cols, out=y[:, i0:i1].reshape(f, -1))          # a view of y: (F, rows*Wo*N)
        if self.use_bias:
            y += self.params["b"][:, None, None, None]
        self._cache = xp                                                     # not cols: ~6x larger
        return self._remember_output(_from_chwn(y))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = self._check_dy(dy)
        xp = self._cache                                                     # (C, Hp, Wp, N)
        f, ho, wo = self.output_shape
        n = dy.shape[0]
        if self.use_bias and self.param_grads:
            self.grads["b"] = dy.sum(axis=(0, 2, 3))
        w_mat = self.params["W"].reshape(f, -1)                              # (F, C*kh*kw)
        dy_chwn = _to_chwn(dy)                                               # (F, Ho, Wo, N)
        dw = np.zeros_like(w_mat)
        dxp = np.zeros_like(xp)
        # One block of output rows at a time, as in forward: its columns are
        # rebuilt from xp, used for dW, then overwritten by the block's dcols.
        # Without weight gradients (input_grad_only) the columns are not needed.
        for i0, i1 in self._row_blocks(ho, n, w_mat.shape[1], wo):
            rows = self._window_rows(i0, i1)
            dy_mat = dy_chwn[:, i0:i1].reshape(f, -1)                        # (F, rows*Wo*N)
            if self.param_grads:
                cols = self._im2col(xp, i0, i1)                              # (C*kh*kw, rows*Wo*N)
            else:
                cols = self._buffer("cols", (w_mat.shape[1], dy_mat.shape[1]))  # only a place for dcols
            # BEGIN EXERCISE 4: Conv2D backward
            # Hint: with this block's dy as a matrix dY (F, rows*Wo*N), laid out like y in forward: dW += dY @ cols^T, and col2im(W^T @ dY) adds the block's dx onto the padded rows it came from (out=dxp[:, rows]).
            if self.param_grads:  # (inside input_grad_only() cols is not the windows: skip dW)
                dw += dy_mat @ cols.T
            dx_cols = np.matmul(w_mat.T, dy_mat, out=cols)                  # cols is used up: reuse it
            col2im_chwn(dx_cols, dxp[:, rows].shape, self.kernel_size, self.strides, out=dxp[:, rows])
            # END EXERCISE 4
        if self.param_grads:
            self.grads["W"] = dw.reshape(self.params["W"].shape)
        return _from_chwn(self._crop_chwn(dxp))

    def backward_backward(self, d_dx: np.ndarray, dy: np.ndarray):
        """Double backward of dx = crop(col2im(dY W)) (see ``Layer.backward_backward``).

        dx is the transposed convolution of dy with W: linear in dy and in W.
        With V = d_dx and V_cols = im2col(pad(V)) -- the adjoint of crop(col2im(.)) --
        L = sum(V_cols * (dY W)) with dY as (N*Ho*Wo, F) and W as (F, C*kh*kw), so

            dL/d(dy) = V_cols W^T    Conv2D's forward applied to d_dx, without bias
            dL/dW    = dY^T V_cols   the weight-gradient formula, with input d_dx and output-grad dy
            dL/db = 0, and dL/dx = 0 (None): dx does not depend on x.
        """
        dy = self._check_dy(dy)
        n = dy.shape[0]
        d_dx, dy = self._check_double(d_dx, dy, (n,) + tuple(self.input_shape))
        f, ho, wo = self.output_shape
        v_cols = im2col(_pad(d_dx, self._pads), self.kernel_size, self.strides)  # (N*Ho*Wo, C*kh*kw)
        dy_rows = dy.transpose(0, 2, 3, 1).reshape(-1, f)                         # (N*Ho*Wo, F)
        self.grads["W"] = (dy_rows.T @ v_cols).reshape(self.params["W"].shape)
        if self.use_bias:
            self.grads["b"] = np.zeros_like(self.params["b"])
        d_dy = (v_cols @ self.params["W"].reshape(f, -1).T).reshape(n, ho, wo, f)
        return np.ascontiguousarray(d_dy.transpose(0, 3, 1, 2)), None


class Conv2DTranspose(_ConvBase):
    """Transposed convolution ("deconvolution"): the adjoint of Conv2D.

    Shapes: x (N, C, H, W) -> y (N, filters, Ho, Wo).
    Weights: W (C, filters, kh, kw) -- in, out like PyTorch -- and b (filters,).

    Each input pixel stamps a copy of its kernel, scaled by the pixel, onto
    the output at stride s; overlapping stamps add up, then the result is cropped:

        full[n, f, i*sh + a, j*sw + e] += x[n, c, i, j] W[c, f, a, e];   y = crop(full) + b

    This is exactly dL/dx of a Conv2D with the same kernel_size, strides and
    padding whose input has the size of y. Full size per axis (H-1)*s + k; then

    * 'valid': no cropping, Ho = (H-1)*s + k (+ output_padding);
    * int p: crop p from each side, Ho = (H-1)*s + k - 2p (+ output_padding);
    * 'same': Ho = H*s exactly (Keras): crop k - s, the extra row from the
      bottom (right); when k < s, s - k zero rows are added at the bottom instead.
      With an output_padding, Ho = (H-1)*s + k - 2*(k//2) + output_padding (Keras).

    output_padding (int or pair, each < stride; default None = 0) makes the
    output longer at the bottom/right: it resolves which of the s possible
    Conv2D input sizes this layer is the adjoint of.

    Note: for 'valid' with k < s Keras returns H*s rows (s - k trailing zero
    rows); here that needs output_padding = s - k.

    Initialization fans follow Keras's convention for this layer: fan_in =
    filters*kh*kw, fan_out = C*kh*kw (Keras reads the kernel as the kernel of
    the convolution it is the adjoint of). Glorot uses only their sum.

    Args:
        filters: number of output channels.
        kernel_size: int or (kh, kw).
        strides: int or (sh, sw).
        padding: 'valid', 'same', an int or a pair (ph, pw).
        output_padding: None, an int or a pair, each in [0, stride).
        use_bias: add a learned bias per output channel.
        kernel_initializer: name or callable ``init(shape, rng, fans=(fan_in, fan_out))``.
    """

    example_args = {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}
    example_input_shape = (2, 3, 3)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 use_bias=True, kernel_initializer="glorot_uniform", name: str | None = None):
        super().__init__(filters, kernel_size, strides, padding, use_bias, kernel_initializer, name)
        if output_padding is None:
            self.output_padding = None
        else:
            op = _int_pair(output_padding, "output_padding", self.name)
            if not all(0 <= o < s for o, s in zip(op, self.strides)):
                raise ValueError(f"{self.name}: output_padding must be >= 0 and smaller than the "
                                 f"strides {self.strides}, got {output_padding!r}")
            self.output_padding = op

    def _geometry(self, input_shape: tuple):
        """((Ho, Wo), ((top, bottom), (left, right))): output size and the
        padding of the convolution this layer is the adjoint of."""
        _, h, w = self._input_chw(as_shape(input_shape))
        ops = self.output_padding or (None, None)
        outs, pads = [], []
        for size, k, s, p, op, axis in zip((h, w), self.kernel_size, self.strides, self._pad_spec,
                                           ops, ("height", "width")):
            out, pad = conv_transpose_output_length(size, k, s, p, op)
            if out < 1:
                raise ValueError(f"{self.name}: padding {self.padding!r} crops the whole output "
                                 f"{axis} (input shape {input_shape}, full output {axis} "
                                 f"{(size - 1) * s + k})")
            # The adjoint convolution must map `out` back to `size`; with
            # 'same' + output_padding (Keras's formula) and an even kernel it may not.
            if conv_output_length(out, k, s, p)[0] != size:
                raise ValueError(f"{self.name}: output_padding {self.output_padding} with padding "
                                 f"{self.padding!r}, kernel {k}, stride {s} gives output {axis} {out}, "
                                 f"whose convolution does not have {axis} {size}; choose another "
                                 f"output_padding")
            outs.append(out)
            pads.append(pad)
        return tuple(outs), tuple(pads)

    def _build(self, input_shape, rng) -> None:
        c = input_shape[0]
        kh, kw = self.kernel_size
        _, self._pads = self._geometry(input_shape)
        self._init_kernel((c, self.filters, kh, kw), (self.filters * kh * kw, c * kh * kw), rng)

    def _padded_out_shape(self, n: int) -> tuple:
        """Shape of the output before cropping, i.e. the adjoint conv's padded input."""
        f, ho, wo = self.output_shape
        (t, btm), (lft, r) = self._pads
        return n, f, ho + t + btm, wo + lft + r

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._check_x(x)
        n, c, h, w = x.shape
        x_chwn = _to_chwn(x)                                                # (C, H, W, N)
        w_mat = self.params["W"].reshape(c, -1)                             # (C, F*kh*kw)
        _, f, hp, wp = self._padded_out_shape(n)
        full = np.zeros((f, hp, wp, n), dtype=x.dtype)
        # full = col2im(W^T X), for one block of input rows at a time: their
        # stamps land on the padded rows _window_rows names (neighbouring
        # blocks overlap there, and col2im adds).
        for i0, i1 in self._row_blocks(h, n, w_mat.shape[1], w):
            x_mat = x_chwn[:, i0:i1].reshape(c, -1)                         # (C, rows*W*N)
            cols = self._buffer("cols", (w_mat.shape[1], x_mat.shape[1]))   # (F*kh*kw, rows*W*N)
            np.matmul(w_mat.T, x_mat, out=cols)
            rows = self._window_rows(i0, i1)
            col2im_chwn(cols, full[:, rows].shape, self.kernel_size, self.strides, out=full[:, rows])
        y = _from_chwn(self._crop_chwn(full))
        if self.use_bias:
            y += self.params["b"][:, None, None]
        self._cache = x_chwn
        return self._remember_output(y)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = self._check_dy(dy)
        x_chwn = self._cache                                                # (C, H, W, N)
        c, h, w, n = x_chwn.shape
        w_mat = self.params["W"].reshape(c, -1)                             # (C, F*kh*kw)
        dyp = self._pad_chwn(dy)                                            # (F, Hp, Wp, N)
        dw = np.zeros_like(w_mat)
        dx = np.empty_like(x_chwn)
        # dY_cols = im2col(pad(dy)), one block of this layer's input rows at a
        # time: dW += X dY_cols^T and dX = W dY_cols (a Conv2D forward of dy).
        for i0, i1 in self._row_blocks(h, n, w_mat.shape[1], w):
            dy_cols = self._im2col(dyp, i0, i1)                             # (F*kh*kw, rows*W*N)
            x_mat = x_chwn[:, i0:i1].reshape(c, -1)                         # (C, rows*W*N)
            if self.param_grads:                                            # False in input_grad_only()
                dw += x_mat @ dy_cols.T
            np.matmul(w_mat, dy_cols, out=dx[:, i0:i1].reshape(c, -1))     # a view of dx
        if self.param_grads:
            self.grads["W"] = dw.reshape(self.params["W"].shape)
        if self.use_bias and self.param_grads:
            self.grads["b"] = dy.sum(axis=(0, 2, 3))
        return _from_chwn(dx)
