"""The fast path of Conv2D and Conv2DTranspose: the same maths as layers/conv.py, arranged for speed.

The functions here have the signatures of conv.py's reference functions
(forward returns ``(y, cache)``, backward returns ``(dx, dW, db)``) plus an
``*_input_gradient`` that skips the dW product; the layers run them when the
fast paths are on (aigc_np.layers.backend), and tests/test_fast_paths.py holds them
equal to the reference.

One layout inside. Images enter and leave as NCHW, but inside they are
(C, H, W, N), "CHWN", with the batch axis last, and the window matrix is
the other way round, cols^T of shape (C*kh*kw, Ho*Wo*N) (``im2col_chwn`` /
``col2im_chwn``). Then im2col, the matmul and col2im need no transposes
between them, every copy and every slice-add of col2im runs over contiguous
rows of N (or Wo*N) numbers instead of Wo-long scraps, and the only layout
changes are one NCHW <-> CHWN copy of the input and one of the output (each
kh*kw times smaller than cols).

Memory: cols holds every pixel kh*kw/(sh*sw) times (about 6x for a 5x5
kernel at stride 2), so it is the largest array of a conv net's step. The
functions therefore never hold a whole cols: they walk over blocks of output
rows (``_row_blocks``, at most ``BLOCK_BYTES`` of columns each; the columns
of a row block are a contiguous range, as the batch axis is last), build
that block's columns, use them and drop them. A convolution caches its
padded input and rebuilds the columns in backward (an im2col costs far less
than the matmuls that use it); a transposed convolution caches its input,
which is all its backward needs. All conv layers share one block-sized
buffer for the columns (``_buffer``), because filling warm memory is faster
than filling freshly allocated pages, and one buffer for the whole network
keeps the memory a layer's blocks save from coming back as a buffer per
layer. (What these choices cost and save: docs/performance.md.)
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["conv2d_forward", "conv2d_backward", "conv2d_input_gradient", "conv2d_param_gradients",
           "conv2d_transpose_forward",
           "conv2d_transpose_backward", "conv2d_transpose_input_gradient", "im2col_chwn", "col2im_chwn"]

# The most bytes of window columns built at once (see "Memory" above). Blocks
# of a few MB keep each matmul large (hundreds of columns or more) and the
# step's peak memory small; a whole cols can be 40 MB in the article's DCGAN.
BLOCK_BYTES = 2 * 2**20
# The reused block buffers, {(name, dtype): flat array}, shared by every conv layer.
WORKSPACE: dict = {}
# Rows of a (C*H*W, N) matrix transposed at once by _from_chwn (32 KB of float32 at N = 32).
TRANSPOSE_ROWS = 256


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
    c, hp, wp, n = xp.shape
    ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    # A strided *view* (C, kh, kw, Ho, Wo, N) of the windows: entry (c, a, e, i, j, n) is
    # xp[c, i*sh + a, j*sw + e, n], so the offsets (a, e) step like xp's rows and columns
    # and the windows (i, j) step s times as far. copyto makes the one copy the matmul
    # needs. (sliding_window_view builds the same view, at several times the Python cost
    # of these few hundred calls a step.)
    s_c, s_h, s_w, s_n = xp.strides
    windows = as_strided(xp, (c, kh, kw, ho, wo, n), (s_c, s_h, s_w, s_h * sh, s_w * sw, s_n), writeable=False)
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



# ---------------------------------------------------------------------------
# Blocks, buffers and layouts
# ---------------------------------------------------------------------------
def _row_blocks(n_rows: int, bytes_per_row: int) -> list[tuple[int, int]]:
    """Split rows 0..n_rows-1 into consecutive blocks [start, stop) of at most
    ``BLOCK_BYTES`` (but at least one row each)."""
    step = max(1, BLOCK_BYTES // max(1, bytes_per_row))
    return [(i, min(i + step, n_rows)) for i in range(0, n_rows, step)]


def _buffer(name: str, shape: tuple, dtype) -> np.ndarray:
    """A work array of ``shape`` whose contents are garbage: a view of the flat
    buffer ``WORKSPACE[(name, dtype)]``, kept between calls and grown to the
    largest block seen (at most about BLOCK_BYTES). Filling a warm buffer is
    several times faster than filling freshly allocated pages. One buffer
    serves every conv layer: a layer uses it only inside one call, and layers
    run one at a time."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape))
    key = (name, dtype.str)
    buf = WORKSPACE.get(key)
    if buf is None or buf.size < size:
        buf = WORKSPACE[key] = np.empty(size, dtype=dtype)
    return buf[:size].reshape(shape)


def _to_chwn(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (C, H, W, N), copied so the batch axis is contiguous."""
    return np.ascontiguousarray(x.transpose(1, 2, 3, 0))


def _from_chwn(x: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """(C, H, W, N) -> a new contiguous (N, C, H, W) array, plus ``bias[c]`` on channel c if given.

    This is the transpose of x seen as a (C*H*W, N) matrix, copied
    ``TRANSPOSE_ROWS`` rows at a time: a block's reads and writes stay in the
    cache, where one whole-array transposing copy writes each row of the result
    across the whole of x (about twice as slow at the U-Net's shapes). The bias
    is added during the copy, which saves a pass over the output."""
    x = np.ascontiguousarray(x)
    c, h, w, n = x.shape
    out = np.empty((n, c, h, w), dtype=x.dtype)
    rows, out_rows = x.reshape(-1, n), out.reshape(n, -1)
    row_bias = None if bias is None else np.repeat(bias, h * w)[None, :]      # (1, C*H*W)
    for i in range(0, len(rows), TRANSPOSE_ROWS):
        block = rows[i:i + TRANSPOSE_ROWS].T
        if row_bias is None:
            out_rows[:, i:i + TRANSPOSE_ROWS] = block
        else:
            np.add(block, row_bias[:, i:i + TRANSPOSE_ROWS], out=out_rows[:, i:i + TRANSPOSE_ROWS])
    return out


def _pad_chwn(x: np.ndarray, pads) -> np.ndarray:
    """x (N, C, H, W) zero-padded by pads = ((top, bottom), (left, right)), as a new
    (C, Hp, Wp, N) array: one copy does both the layout change and the padding."""
    (t, btm), (lft, r) = pads
    n, c, h, w = x.shape
    xp = np.zeros((c, h + t + btm, w + lft + r, n), dtype=x.dtype)
    xp[:, t:t + h, lft:lft + w, :] = x.transpose(1, 2, 3, 0)
    return xp


def _crop_chwn(xp: np.ndarray, pads) -> np.ndarray:
    """Inverse of ``_pad_chwn`` (without the layout change): the interior of a
    (C, Hp, Wp, N) array, as a view."""
    (t, btm), (lft, r) = pads
    hp, wp = xp.shape[1:3]
    return xp[:, t:hp - btm, lft:wp - r, :]


def _window_rows(start: int, stop: int, k: int, s: int) -> slice:
    """Padded-image rows that the windows of rows start..stop-1 cover:
    window row i spans padded rows [i*s, i*s + k)."""
    return slice(start * s, (stop - 1) * s + k)


def _im2col_rows(xp: np.ndarray, start: int, stop: int, kernel, strides) -> np.ndarray:
    """The window columns of window rows start..stop-1 of a padded (C, Hp, Wp, N)
    image, (C*kh*kw, (stop-start)*Wo*N), in the reused buffer "cols"."""
    (kh, kw), wo = kernel, (xp.shape[2] - kernel[1]) // strides[1] + 1
    out = _buffer("cols", (xp.shape[0], kh, kw, stop - start, wo, xp.shape[3]), xp.dtype)
    return im2col_chwn(xp[:, _window_rows(start, stop, kh, strides[0])], kernel, strides, out=out)


def _blocks(n_rows: int, n: int, cols_rows: int, row_width: int, dtype) -> list[tuple[int, int]]:
    """Blocks of rows for a window matrix with ``cols_rows`` rows and
    ``row_width * n`` columns per image row, at most BLOCK_BYTES each."""
    return _row_blocks(n_rows, cols_rows * row_width * n * np.dtype(dtype).itemsize)


# ---------------------------------------------------------------------------
# Conv2D: y = W cols (+ b)
# ---------------------------------------------------------------------------
def _pointwise(w, strides, pads) -> bool:
    """A 1x1 kernel at stride 1 without padding: every pixel's channels times W, no windows."""
    return w.shape[2:] == (1, 1) and tuple(strides) == (1, 1) and tuple(map(tuple, pads)) == ((0, 0), (0, 0))


def conv2d_forward(x, w, b, strides, pads):
    """``conv.conv2d_forward``: y = W im2col(pad(x)) (+ b), one block of output rows at a time.

    A 1x1 convolution (a U-Net's skip) is y[n] = W x[n] with x[n] as (C, H*W):
    one product per image, in NCHW as it comes, with no window columns and no
    layout change."""
    if _pointwise(w, strides, pads):
        n, c, h, wd = x.shape
        y = np.matmul(w.reshape(w.shape[0], c), x.reshape(n, c, h * wd)).reshape(n, -1, h, wd)
        if b is not None:
            y += b[:, None, None]
        return y, ("pointwise", x, w)
    xp = _pad_chwn(x, pads)                                              # (C, Hp, Wp, N)
    y = _correlate(xp, w, strides)
    return _from_chwn(y, b), ("blocked", xp, w, strides, pads)           # xp, not cols: ~6x smaller


def _correlate(xp, w, strides):
    """y (F, Ho, Wo, N) = W im2col(xp) for a padded (C, Hp, Wp, N) batch and a
    kernel w (F, C, kh, kw): one block of output rows at a time."""
    f, _, kh, kw = w.shape
    n = xp.shape[3]
    ho, wo = (xp.shape[1] - kh) // strides[0] + 1, (xp.shape[2] - kw) // strides[1] + 1
    w_mat = w.reshape(f, -1)                                             # (F, C*kh*kw)
    y = np.empty((f, ho, wo, n), dtype=xp.dtype)
    for i0, i1 in _blocks(ho, n, w_mat.shape[1], wo, xp.dtype):
        cols = _im2col_rows(xp, i0, i1, (kh, kw), strides)               # (C*kh*kw, rows*Wo*N)
        np.matmul(w_mat, cols, out=y[:, i0:i1].reshape(f, -1))          # a view of y: (F, rows*Wo*N)
    return y


def _full_pads(kernel, pads):
    """The padding that turns the adjoint of a stride-1 convolution with ``pads`` into
    a convolution: k - 1 - p on each side (None if a p exceeds k - 1)."""
    (t, btm), (lft, r) = pads
    kh, kw = kernel
    full = ((kh - 1 - t, kh - 1 - btm), (kw - 1 - lft, kw - 1 - r))
    return full if min(min(p) for p in full) >= 0 else None


def _flipped(w):
    """The kernel of the adjoint of a stride-1 convolution: in and out channels swapped,
    both spatial axes reversed. (For w (F, C, kh, kw): (C, F, kh, kw).)"""
    return np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))


def _pointwise_backward(dy, cache, weights: bool):
    """dx[n] = W^T dy[n]; dW = sum_n dy[n] x[n]^T, with images as (channels, H*W)."""
    _, x, w = cache
    n, c, h, wd = x.shape
    w_mat = w.reshape(w.shape[0], c)
    dy3 = dy.reshape(n, -1, h * wd)                                      # (N, F, H*W)
    dx = np.matmul(w_mat.T, dy3).reshape(x.shape)
    if not weights:
        return dx, None, None
    dw = np.matmul(dy3, x.reshape(n, c, h * wd).transpose(0, 2, 1)).sum(axis=0)
    return dx, dw.reshape(w.shape), dy.sum(axis=(0, 2, 3))


def _adjoint_and_weight_grad(dyp, w, x, inputs: bool = True):
    """dx (C, H, W, N) and dW (F, C, kh, kw) of a stride-1 convolution from one im2col, of dy.

    ``dyp`` is dy padded by k - 1 - p as (F, Hp, Wp, N), ``x`` the unpadded input (C, H, W, N).
    dx = correlate(dyp, flipped W), as in ``_correlate``. The same window columns
    give dW: with v a pixel of x and a' = k - 1 - a,

        dW[f, c, a, e] = sum_{v, n} dy[f, v + p - a, n] x[c, v, n] = sum_{v, n} x[c, v, n] dyp[f, v + a', n],

    which is (x as (C, H*W*N)) times (dy's columns)^T, read with both kernel axes
    reversed. So x's window columns, which dW = dY cols_x^T would need, are never built.
    Without ``inputs`` the dx products are skipped (dx is None)."""
    f, c, kh, kw = w.shape
    n = x.shape[3]
    ho, wo = x.shape[1:3]
    w_mat = _flipped(w).reshape(c, -1)                                   # (C, F*kh*kw)
    dx = np.empty((c, ho, wo, n), dtype=dyp.dtype) if inputs else None
    dw_flipped = np.zeros((c, w_mat.shape[1]), dtype=dyp.dtype)          # (C, F*kh*kw)
    for i0, i1 in _blocks(ho, n, w_mat.shape[1], wo, dyp.dtype):
        cols = _im2col_rows(dyp, i0, i1, (kh, kw), (1, 1))               # (F*kh*kw, rows*W*N)
        if inputs:
            np.matmul(w_mat, cols, out=dx[:, i0:i1].reshape(c, -1))
        x_rows = np.ascontiguousarray(x[:, i0:i1]).reshape(c, -1)        # (C, rows*W*N)
        dw_flipped += x_rows @ cols.T
    dw = dw_flipped.reshape(c, f, kh, kw)[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    return dx, np.ascontiguousarray(dw)


def _conv2d_backward(dy, cache, weights: bool, inputs: bool = True):
    """dx, and dW and db if ``weights`` (else None, None); dx is None if not ``inputs``."""
    if cache[0] == "pointwise":
        return _pointwise_backward(dy, cache, weights)
    _, xp, w, strides, pads = cache                                      # xp: (C, Hp, Wp, N)
    f, _, kh, kw = w.shape
    n, _, ho, wo = dy.shape
    full = _full_pads((kh, kw), pads) if tuple(strides) == (1, 1) and f <= xp.shape[0] else None
    if full is not None:
        # Stride 1: dx is itself a convolution, of dy padded by k - 1 - p with the flipped
        # kernel; it writes dx directly, with no dcols to add back by col2im. Its window
        # columns hold dy's F channels where dcols hold x's C, hence only for F <= C.
        dyp = _pad_chwn(dy, full)
        if not weights:
            return _from_chwn(_correlate(dyp, _flipped(w), (1, 1))), None, None
        dx, dw = _adjoint_and_weight_grad(dyp, w, _crop_chwn(xp, pads), inputs)
        return (_from_chwn(dx) if inputs else None), dw, dy.sum(axis=(0, 2, 3))
    w_mat = w.reshape(f, -1)                                             # (F, C*kh*kw)
    dy_chwn = _to_chwn(dy)                                               # (F, Ho, Wo, N)
    dw = np.zeros_like(w_mat) if weights else None
    dxp = np.zeros_like(xp) if inputs else None
    # One block of output rows at a time, as in forward: its columns are
    # rebuilt from xp, used for dW, then overwritten by the block's dcols.
    # Without weight gradients the columns are not needed: the buffer only
    # gives dcols a place.
    for i0, i1 in _blocks(ho, n, w_mat.shape[1], wo, dy.dtype):
        rows = _window_rows(i0, i1, kh, strides[0])
        dy_mat = dy_chwn[:, i0:i1].reshape(f, -1)                        # (F, rows*Wo*N)
        if weights:
            cols = _im2col_rows(xp, i0, i1, (kh, kw), strides)           # (C*kh*kw, rows*Wo*N)
            dw += dy_mat @ cols.T
        else:
            cols = _buffer("cols", (w_mat.shape[1], dy_mat.shape[1]), dy.dtype)
        if inputs:
            dx_cols = np.matmul(w_mat.T, dy_mat, out=cols)              # cols is used up: reuse it
            col2im_chwn(dx_cols, dxp[:, rows].shape, (kh, kw), strides, out=dxp[:, rows])
    dx = _from_chwn(_crop_chwn(dxp, pads)) if inputs else None
    if not weights:
        return dx, None, None
    return dx, dw.reshape(w.shape), dy.sum(axis=(0, 2, 3))


def conv2d_backward(dy, cache):
    """``conv.conv2d_backward``: (dx, dW, db)."""
    return _conv2d_backward(dy, cache, weights=True)


def conv2d_input_gradient(dy, cache):
    """dx alone: the dW products and the im2col they need are skipped."""
    return _conv2d_backward(dy, cache, weights=False)[0]


def conv2d_param_gradients(dy, cache):
    """(dW, db) alone, in the operations ``conv2d_backward`` uses: the dx products (and
    col2im) are skipped (a 1x1 convolution still forms dx)."""
    if cache[0] == "pointwise":
        return _pointwise_backward(dy, cache, weights=True)[1:]
    return _conv2d_backward(dy, cache, weights=True, inputs=False)[1:]


# ---------------------------------------------------------------------------
# Conv2DTranspose: y = crop(col2im(W^T X)) (+ b)
# ---------------------------------------------------------------------------
def conv2d_transpose_forward(x, w, b, strides, pads, out_hw):
    """``conv.conv2d_transpose_forward``, one block of input rows at a time: their stamps
    land on the padded rows ``_window_rows`` names (neighbouring blocks overlap
    there, and col2im adds)."""
    c, f, kh, kw = w.shape
    n, _, h, wd = x.shape
    full_pads = _full_pads((kh, kw), pads) if tuple(strides) == (1, 1) and c <= f else None
    if full_pads is not None:
        # Stride 1: the stamps add up to a convolution of x padded by k - 1 - p with
        # the flipped kernel, which writes y directly (no col2im, no crop). Its window
        # columns hold x's C channels where the stamps hold F, hence only for C <= F.
        y = _from_chwn(_correlate(_pad_chwn(x, full_pads), _flipped(w), (1, 1)), b)
        return y, (_to_chwn(x), w, strides, pads)
    (t, btm), (lft, r) = pads
    x_chwn = _to_chwn(x)                                                # (C, H, W, N)
    w_mat = w.reshape(c, -1)                                            # (C, F*kh*kw)
    full = np.zeros((f, out_hw[0] + t + btm, out_hw[1] + lft + r, n), dtype=x.dtype)
    for i0, i1 in _blocks(h, n, w_mat.shape[1], wd, x.dtype):
        x_mat = x_chwn[:, i0:i1].reshape(c, -1)                         # (C, rows*W*N)
        cols = _buffer("cols", (w_mat.shape[1], x_mat.shape[1]), x.dtype)   # (F*kh*kw, rows*W*N)
        np.matmul(w_mat.T, x_mat, out=cols)
        rows = _window_rows(i0, i1, kh, strides[0])
        col2im_chwn(cols, full[:, rows].shape, (kh, kw), strides, out=full[:, rows])
    return _from_chwn(_crop_chwn(full, pads), b), (x_chwn, w, strides, pads)


def _conv2d_transpose_backward(dy, cache, weights: bool):
    """dx, and dW and db if ``weights`` (else None, None)."""
    x_chwn, w, strides, pads = cache                                    # (C, H, W, N)
    c, h, wd, n = x_chwn.shape
    kernel = w.shape[2:]
    w_mat = w.reshape(c, -1)                                            # (C, F*kh*kw)
    dyp = _pad_chwn(dy, pads)                                           # (F, Hp, Wp, N)
    dw = np.zeros_like(w_mat) if weights else None
    dx = np.empty_like(x_chwn)
    # dY_cols = im2col(pad(dy)), one block of this layer's input rows at a
    # time: dW += X dY_cols^T and dX = W dY_cols (a Conv2D forward of dy).
    for i0, i1 in _blocks(h, n, w_mat.shape[1], wd, dy.dtype):
        dy_cols = _im2col_rows(dyp, i0, i1, kernel, strides)           # (F*kh*kw, rows*W*N)
        if weights:
            dw += x_chwn[:, i0:i1].reshape(c, -1) @ dy_cols.T
        np.matmul(w_mat, dy_cols, out=dx[:, i0:i1].reshape(c, -1))     # a view of dx
    if not weights:
        return _from_chwn(dx), None, None
    return _from_chwn(dx), dw.reshape(w.shape), dy.sum(axis=(0, 2, 3))


def conv2d_transpose_backward(dy, cache):
    """``conv.conv2d_transpose_backward``: (dx, dW, db)."""
    return _conv2d_transpose_backward(dy, cache, weights=True)


def conv2d_transpose_input_gradient(dy, cache):
    """dx alone: the dW products are skipped."""
    return _conv2d_transpose_backward(dy, cache, weights=False)[0]
