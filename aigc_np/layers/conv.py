"""2-D convolution and transposed convolution for NCHW images: the reference code.

Both layers run on two helpers:

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

The maths is in four functions written like the formulas above,
``conv2d_forward``/``conv2d_backward`` and ``conv2d_transpose_forward``/
``conv2d_transpose_backward`` (forward returns ``(y, cache)``, backward takes
the cache and returns ``(dx, dW, db)``); the layer classes check arguments
and shapes, keep the cache and assign the grads. Training runs the same
functions of layers/fast_conv.py instead, which compute the same numbers
faster (see aigc_np.layers.backend); tests/test_fast_paths.py holds the two equal.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import backend
from ..initializers import get_initializer
from . import fast_conv
from .base import Layer, as_shape

__all__ = ["Conv2D", "Conv2DTranspose", "im2col", "col2im", "conv2d_forward", "conv2d_backward",
           "conv2d_transpose_forward", "conv2d_transpose_backward", "conv_output_length",
           "conv_transpose_output_length"]


# ---------------------------------------------------------------------------
# im2col / col2im: the only places that know about windows
# ---------------------------------------------------------------------------
def im2col(xp: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int]) -> np.ndarray:
    """Gather every kernel window of an already padded NCHW batch into a row.

    Args:
        xp: (N, C, Hp, Wp) padded input.
        kernel, strides: (kh, kw), (sh, sw).

    Returns:
        cols of shape (N*Ho*Wo, C*kh*kw) with Ho = (Hp - kh)//sh + 1 (same for
        Wo). Row ``(n, i, j)`` holds the window of image n whose top-left
        corner is ``(i*sh, j*sw)``, flattened in (c, a, e) order -- the order
        of a kernel ``W[f]`` flattened by ``reshape`` -- so a convolution is the
        one product ``cols @ W.reshape(F, -1).T``.
    """
    (kh, kw), (sh, sw) = kernel, strides
    n, c = xp.shape[:2]
    # A strided *view* (N, C, Ho, Wo, kh, kw) of the windows; the reshape after
    # reordering it to (N, Ho, Wo, C, kh, kw) makes the one copy.
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    ho, wo = windows.shape[2:4]
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)


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
    (kh, kw), (sh, sw) = kernel, strides
    n, c, hp, wp = padded_shape
    ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    windows = cols.reshape(n, ho, wo, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)   # (N, C, kh, kw, Ho, Wo)
    out = np.zeros(padded_shape, dtype=cols.dtype)
    # Loop over the kh*kw kernel offsets only: for a fixed offset (a, e) the
    # windows' pixels form a strided grid that never overlaps itself, so a
    # plain slice-add is correct (overlaps happen only *between* offsets).
    for a in range(kh):
        for e in range(kw):
            out[:, :, a:a + sh * (ho - 1) + 1:sh, e:e + sw * (wo - 1) + 1:sw] += windows[:, :, a, e]
    return out


def _pad(x: np.ndarray, pads: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """Zero-pad the two spatial axes: pads = ((top, bottom), (left, right))."""
    (t, btm), (lft, r) = pads
    if t == btm == lft == r == 0:
        return x
    n, c, h, w = x.shape
    xp = np.zeros((n, c, h + t + btm, w + lft + r), dtype=x.dtype)
    xp[:, :, t:t + h, lft:lft + w] = x
    return xp


# ---------------------------------------------------------------------------
# The maths: forward returns (y, cache), backward takes the cache
# ---------------------------------------------------------------------------
class ConvMaths(NamedTuple):
    """A layer's forward(x, w, b, ...) -> (y, cache) and backward(dy, cache) -> (dx, dW, db);
    input_gradient(dy, cache) -> dx, if there is one that skips dW (None: backward's dx);
    param_gradients(dy, cache) -> (dW, db), if there is one that skips dx (None: backward's)."""
    forward: Callable
    backward: Callable
    input_gradient: Callable | None = None
    param_gradients: Callable | None = None


def conv2d_forward(x, w, b, strides, pads):
    """y = im2col(pad(x)) W^T + b, as an NCHW image.

    Args:
        x: (N, C, H, W). w: (F, C, kh, kw). b: (F,) or None.
        strides: (sh, sw). pads: ((top, bottom), (left, right)).

    Returns:
        y (N, F, Ho, Wo), and the cache ``conv2d_backward`` needs: the window
        rows (``im2col``'s cols), w, x's shape, strides and pads.
    """
    f, _, kh, kw = w.shape
    n = x.shape[0]
    xp = _pad(x, pads)
    ho, wo = (xp.shape[2] - kh) // strides[0] + 1, (xp.shape[3] - kw) // strides[1] + 1
    cols = im2col(xp, (kh, kw), strides)                         # (N*Ho*Wo, C*kh*kw)
    y = cols @ w.reshape(f, -1).T                                 # (N*Ho*Wo, F)
    if b is not None:
        y += b
    y = y.reshape(n, ho, wo, f).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(y), (cols, w, x.shape, strides, pads)


def conv2d_backward(dy, cache):
    """dL/dx, dL/dW and dL/db of ``conv2d_forward``, given dy (N, F, Ho, Wo).

    With dY = dy as rows (N*Ho*Wo, F), laid out like y before its reshape:
        dW = dY^T cols,   db = the column sums of dY,   dx = crop(col2im(dY W))
    where crop drops the padding again.
    """
    cols, w, (n, c, h, wd), strides, ((top, bottom), (left, right)) = cache
    f, _, kh, kw = w.shape
    padded = (n, c, h + top + bottom, wd + left + right)
    dy_rows = dy.transpose(0, 2, 3, 1).reshape(-1, f)             # (N*Ho*Wo, F)
    # BEGIN EXERCISE 4: Conv2D backward
    # Hint: dW = dY^T cols (reshaped like w), db = the column sums of dY, and dx = col2im(dY W) on the padded shape, with the padding cropped off.
    dw = (dy_rows.T @ cols).reshape(w.shape)
    db = dy_rows.sum(axis=0)
    dxp = col2im(dy_rows @ w.reshape(f, -1), padded, (kh, kw), strides)
    dx = dxp[:, :, top:top + h, left:left + wd]
    # END EXERCISE 4
    return np.ascontiguousarray(dx), dw, db


def conv2d_transpose_forward(x, w, b, strides, pads, out_hw):
    """y = crop(col2im(X W)) + b: every input pixel stamps its kernel onto the output.

    Args:
        x: (N, C, H, W). w: (C, F, kh, kw). b: (F,) or None.
        strides, pads: those of the convolution this is the adjoint of.
        out_hw: (Ho, Wo), the size of y (the crop of the padded output).

    Returns:
        y (N, F, Ho, Wo), and the cache for ``conv2d_transpose_backward``.
    """
    c, f, kh, kw = w.shape
    n = x.shape[0]
    (top, bottom), (left, right) = pads
    ho, wo = out_hw
    x_rows = x.transpose(0, 2, 3, 1).reshape(-1, c)              # (N*H*W, C)
    cols = x_rows @ w.reshape(c, -1)                              # (N*H*W, F*kh*kw): the stamps
    full = col2im(cols, (n, f, ho + top + bottom, wo + left + right), (kh, kw), strides)
    y = full[:, :, top:top + ho, left:left + wo]
    if b is not None:
        y = y + b[:, None, None]
    return np.ascontiguousarray(y), (x_rows, w, x.shape, strides, pads)


def conv2d_transpose_backward(dy, cache):
    """dL/dx, dL/dW and dL/db of ``conv2d_transpose_forward``, given dy (N, F, Ho, Wo).

    With dY_cols = im2col(pad(dy)) (N*H*W, F*kh*kw) -- the adjoint of crop(col2im(.)):
        dW = X^T dY_cols,   dx = dY_cols W^T (a Conv2D forward of dy),   db = sums of dy.
    """
    x_rows, w, (n, c, h, wd), strides, pads = cache
    _, _, kh, kw = w.shape
    dy_cols = im2col(_pad(dy, pads), (kh, kw), strides)          # (N*H*W, F*kh*kw)
    dw = (x_rows.T @ dy_cols).reshape(w.shape)
    dx = (dy_cols @ w.reshape(c, -1).T).reshape(n, h, wd, c).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(dx), dw, dy.sum(axis=(0, 2, 3))


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
    """Shared argument handling, input checks and the reference/fast dispatch of the two conv layers.

    A subclass names its maths, ``_reference`` and ``_fast``, each a
    ``ConvMaths`` (the forward and backward functions of the module docstring).
    ``forward`` runs the fast pair when the fast paths are on
    (aigc_np.layers.backend) and remembers which one it ran, so ``backward`` uses the
    same pair.
    """

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

    def _forward_args(self) -> tuple:
        """The arguments after (x, w, b) of this layer's forward functions."""
        return self.strides, self._pads

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._check_x(x)
        maths = self._fast if backend.fast() else self._reference
        y, cache = maths.forward(x, self.params["W"], self.params.get("b"), *self._forward_args())
        self._cache = (maths, cache)
        return self._remember_output(y)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = self._check_dy(dy)
        maths, cache = self._cache
        dx, dw, db = maths.backward(dy, cache)
        self.grads["W"] = dw
        if self.use_bias:
            self.grads["b"] = db
        return dx

    def fast_input_gradient(self, dy: np.ndarray) -> np.ndarray:
        """dL/dx alone (``Layer.input_gradient``): layers/fast_conv.py skips the dW products."""
        dy = self._check_dy(dy)
        maths, cache = self._cache
        if maths.input_gradient is None:              # forward ran the reference: backward's dx
            return maths.backward(dy, cache)[0]
        return maths.input_gradient(dy, cache)

    def fast_param_gradients(self, dy: np.ndarray) -> None:
        """dW and db alone (``Layer.param_gradients``), for a first layer whose input does not
        learn: layers/fast_conv.py skips the dx product and its col2im."""
        maths = self._cache[0]
        if maths.param_gradients is None:             # forward ran the reference, or no such path
            self.backward(dy)
            return
        dy = self._check_dy(dy)
        dw, db = maths.param_gradients(dy, self._cache[1])
        self.grads["W"] = dw
        if self.use_bias:
            self.grads["b"] = db

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

    _reference = ConvMaths(conv2d_forward, conv2d_backward)
    _fast = ConvMaths(fast_conv.conv2d_forward, fast_conv.conv2d_backward, fast_conv.conv2d_input_gradient,
                      fast_conv.conv2d_param_gradients)

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

    _reference = ConvMaths(conv2d_transpose_forward, conv2d_transpose_backward)
    _fast = ConvMaths(fast_conv.conv2d_transpose_forward, fast_conv.conv2d_transpose_backward,
                      fast_conv.conv2d_transpose_input_gradient)

    def _forward_args(self) -> tuple:
        return self.strides, self._pads, self.output_shape[1:]
