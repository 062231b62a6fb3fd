"""The denoisers of lessons 15-16: an MLP for 2-D points and a small U-Net for 28x28 images.

Both read the noisy x_t and the timestep t (and the U-Net optionally a
label) and predict the noise eps, shaped like x_t:

    forward(x_t, t, labels=None) -> eps        backward(d_eps) -> d x_t (fills every grad)

They are made of the library's layers (Dense, Conv2D, GroupNormalization,
SiLU, Upsample2x, the embeddings), wired as a graph rather than a chain, so
each is a :class:`~aigc_np.models.base.Model` whose ``backward`` walks the
graph in reverse: where a value feeds two places (the embedding feeds every
residual block; a skip feeds the up path) the gradients from both are summed,
and where two values were concatenated the gradient is split.
"""
from __future__ import annotations

import numpy as np

from ..layers import (Conv2D, Dense, GroupNormalization, LabelEmbedding, Sequential, SiLU, SinusoidalEmbedding,
                      Upsample2x, backend, fast_upconv)
from .base import Model
from .conditional import check_labels, one_hot

__all__ = ["time_embedding", "MLPDenoiser", "ResBlock", "UNet", "unet_param_count", "mlp_param_count", "leaf_layers"]


def time_embedding(dim: int, out_dim: int, rng, dtype=np.float32) -> Sequential:
    """t (N, 1) -> SinusoidalEmbedding(dim) -> Dense(out_dim) -> SiLU -> Dense(out_dim): (N, out_dim)."""
    return Sequential([SinusoidalEmbedding(dim), Dense(out_dim), SiLU(), Dense(out_dim)], input_shape=(1,),
                      rng=rng, dtype=dtype, name="time_embedding")


def leaf_layers(net) -> list:
    """Every layer of a network, in forward order: Models, Sequentials and composite
    layers (a transformer Block's ``children``) opened up (for benchmarks)."""
    if isinstance(net, Model):
        return [leaf for part in net.parts.values() for leaf in leaf_layers(part)]
    if isinstance(net, Sequential):
        return [leaf for layer in net.layers for leaf in leaf_layers(layer)]
    if getattr(net, "children", None):
        return [leaf for child in net.children.values() for leaf in leaf_layers(child)]
    return [net]


class _Denoiser(Model):
    """What both denoisers share: a mode flag and the timestep input check."""

    @property
    def training(self) -> bool:
        return next(iter(self.parts.values())).training

    def _times(self, t, n: int) -> np.ndarray:
        t = np.asarray(t)
        if t.shape != (n,):
            raise ValueError(f"{type(self).__name__}: expected timesteps t of shape ({n},), got {t.shape}")
        return t.astype(self.dtype).reshape(n, 1)


class MLPDenoiser(_Denoiser):
    """eps_theta(x, t) for points: an MLP on [x, embed(t)] (lesson 15).

        e = time_embedding(t)                         (N, emb_dim)
        eps = Dense(dim) o [SiLU o Dense(hidden)]^depth ([x, e])

    Backward: the MLP's input gradient splits at the join into d x and d e;
    d e continues into the time embedding.
    """

    def __init__(self, dim: int = 2, hidden: int = 128, depth: int = 3, emb_dim: int = 32,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        rng = np.random.default_rng(0) if rng is None else rng
        self.dim = int(dim)
        layers = []
        for _ in range(depth):
            layers += [Dense(hidden), SiLU()]
        layers.append(Dense(dim))
        time = time_embedding(emb_dim, emb_dim, rng, dtype)
        net = Sequential(layers, input_shape=(dim + emb_dim,), rng=rng, dtype=dtype, name="mlp")
        super().__init__(time=time, mlp=net)

    def forward(self, x, t, labels=None):
        if labels is not None:
            raise ValueError("MLPDenoiser: this denoiser is unconditional; it takes no labels")
        if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"MLPDenoiser: expected points x of shape (N, {self.dim}), "
                             f"got {getattr(x, 'shape', type(x).__name__)}")
        e = self.parts["time"].forward(self._times(t, len(x)))
        return self.parts["mlp"].forward(np.concatenate([x, e], axis=1))

    def backward(self, d_eps):
        d_in = self.parts["mlp"].backward(d_eps)
        self.parts["time"].backward(d_in[:, self.dim:])
        return d_in[:, :self.dim]


def mlp_param_count(dim: int = 2, hidden: int = 128, depth: int = 3, emb_dim: int = 32) -> int:
    """MLPDenoiser's parameters, counted from its arguments."""
    dense = lambda i, o: i * o + o  # noqa: E731
    mlp = dense(dim + emb_dim, hidden) + (depth - 1) * dense(hidden, hidden) + dense(hidden, dim)
    return mlp + 2 * dense(emb_dim, emb_dim)


class ResBlock(Model):
    """A residual block that hears the timestep (Ho et al. 2020's U-Net block).

        h   = Conv2D(SiLU(GroupNorm(x)))                 (N, C_out, H, W)
        h   = h + Dense(SiLU(emb))[:, :, None, None]     the embedding, one number per channel
        out = Conv2D(SiLU(GroupNorm(h))) + skip(x)       skip: 1x1 Conv2D if C_in != C_out, else x

    Backward: d emb = Dense's backward of dh summed over the pixels (each
    channel's number was added at every pixel); dx = the first branch's
    gradient plus the skip's.
    """

    def __init__(self, input_shape, out_channels: int, emb_dim: int, groups: int, rng, dtype=np.float32):
        c, h, w = input_shape
        build = lambda layer, shape: (layer.build(shape, rng, dtype), layer)[1]  # noqa: E731
        parts = {"norm1": build(GroupNormalization(groups), (c, h, w)), "act1": build(SiLU(), (c, h, w)),
                 "conv1": build(Conv2D(out_channels, 3, padding="same"), (c, h, w)),
                 "emb_act": build(SiLU(), (emb_dim,)), "emb_proj": build(Dense(out_channels), (emb_dim,)),
                 "norm2": build(GroupNormalization(groups), (out_channels, h, w)),
                 "act2": build(SiLU(), (out_channels, h, w)),
                 "conv2": build(Conv2D(out_channels, 3, padding="same"), (out_channels, h, w))}
        if c != out_channels:
            parts["skip"] = build(Conv2D(out_channels, 1), (c, h, w))
        super().__init__(**parts)

    def forward(self, x, emb):
        p = self.parts
        h = p["conv1"].forward(p["act1"].forward(p["norm1"].forward(x)))
        h = h + p["emb_proj"].forward(p["emb_act"].forward(emb))[:, :, None, None]
        out = p["conv2"].forward(p["act2"].forward(p["norm2"].forward(h)))
        return out + (p["skip"].forward(x) if "skip" in p else x)

    def backward(self, dy):
        """dy (N, C_out, H, W) -> (dx, d emb)."""
        p = self.parts
        dh = p["norm2"].backward(p["act2"].backward(p["conv2"].backward(dy)))
        d_emb = p["emb_act"].backward(p["emb_proj"].backward(dh.sum(axis=(2, 3))))
        dx = p["norm1"].backward(p["act1"].backward(p["conv1"].backward(dh)))
        dx += p["skip"].backward(dy) if "skip" in p else dy
        return dx, d_emb


class UNet(_Denoiser):
    """eps_theta(x, t[, y]) for (N, C, S, S) images, S divisible by 4: a U-Net with three resolutions.

    With width c (so the tests run it tiny), channels (c, 2c, 2c) at sizes S, S/2, S/4:

        e    = time_embedding(t) [+ LabelEmbedding(y)]         (N, 4c)   y in 0..K (K: null)
        h0   = Conv2D(c)(x)                                    S x S
        h1   = ResBlock(c)(h0, e)                              S x S      skip 1
        h2   = ResBlock(2c)(Conv2D(2c, stride 2)(h1), e)       S/2        skip 2
        m    = ResBlock(2c)(Conv2D(2c, stride 2)(h2), e)       S/4        the middle
        u2   = ResBlock(2c)([Conv2D(2c)(Upsample2x(m)), h2], e)     S/2  [a, b]: channel concat
        u1   = ResBlock(c)([Conv2D(c)(Upsample2x(u2)), h1], e)      S
        eps  = Conv2D(C)(SiLU(GroupNorm(u1)))

    The skips hand the fine detail of the down path straight to the up path,
    so the middle only has to work out the coarse picture. Backward splits each
    concatenation's gradient by channels; a skip's share is added to the
    gradient that reaches the same tensor through the down path, and every
    block's embedding gradient is summed into d e.

    With the fast paths on (aigc_np.layers.backend), each Conv2D(Upsample2x(.))
    pair runs as four 2x2 convolutions of the small image (layers/fast_upconv.py),
    about half the products; the two layers keep their parameters and grads.
    """

    def __init__(self, image_shape=(1, 28, 28), width: int = 32, groups: int = 8, n_classes: int = 0,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        rng = np.random.default_rng(0) if rng is None else rng
        ch, s, s2 = image_shape
        if s != s2 or s % 4:
            raise ValueError(f"UNet: expected square images with a side divisible by 4, got {image_shape}")
        if width % groups:
            raise ValueError(f"UNet: width {width} must be divisible by groups {groups}")
        c, e = int(width), 4 * int(width)
        self.image_shape, self.width, self.groups, self.n_classes = tuple(image_shape), c, groups, int(n_classes)

        def build(layer, shape):
            layer.build(shape, rng, dtype)
            return layer

        parts = {"time": time_embedding(c + c % 2, e, rng, dtype)}
        if n_classes:
            parts["label"] = build(LabelEmbedding(n_classes + 1, e), (n_classes + 1,))
        parts.update({
            "conv_in": build(Conv2D(c, 3, padding="same"), (ch, s, s)),
            "down1": ResBlock((c, s, s), c, e, groups, rng, dtype),
            "ds1": build(Conv2D(2 * c, 3, strides=2, padding="same"), (c, s, s)),
            "down2": ResBlock((2 * c, s // 2, s // 2), 2 * c, e, groups, rng, dtype),
            "ds2": build(Conv2D(2 * c, 3, strides=2, padding="same"), (2 * c, s // 2, s // 2)),
            "mid": ResBlock((2 * c, s // 4, s // 4), 2 * c, e, groups, rng, dtype),
            "up2": build(Upsample2x(), (2 * c, s // 4, s // 4)),
            "up2_conv": build(Conv2D(2 * c, 3, padding="same"), (2 * c, s // 2, s // 2)),
            "up_block2": ResBlock((4 * c, s // 2, s // 2), 2 * c, e, groups, rng, dtype),
            "up1": build(Upsample2x(), (2 * c, s // 2, s // 2)),
            "up1_conv": build(Conv2D(c, 3, padding="same"), (2 * c, s, s)),
            "up_block1": ResBlock((2 * c, s, s), c, e, groups, rng, dtype),
            "out_norm": build(GroupNormalization(groups), (c, s, s)),
            "out_act": build(SiLU(), (c, s, s)),
            "conv_out": build(Conv2D(ch, 3, padding="same"), (c, s, s)),
        })
        super().__init__(**parts)
        self._upconv_cache: dict = {}          # conv name -> the fused path's cache (None: the layers ran)

    def embed(self, t, labels):
        """(N,) timesteps [and (N,) labels in 0..n_classes, n_classes = null] -> e (N, 4c)."""
        e = self.parts["time"].forward(np.asarray(t, dtype=self.dtype).reshape(-1, 1))
        if self.n_classes:
            if labels is None:
                raise ValueError(f"UNet: this U-Net is conditional; pass labels (N,) in 0..{self.n_classes} "
                                 f"({self.n_classes}: the null label)")
            labels = check_labels(labels, len(t), self.n_classes + 1, "UNet")
            e = e + self.parts["label"].forward(one_hot(labels, self.n_classes + 1, e.dtype))
        elif labels is not None:
            raise ValueError("UNet: this U-Net is unconditional; it takes no labels")
        return e

    def forward(self, x, t, labels=None):
        if not isinstance(x, np.ndarray) or x.shape[1:] != self.image_shape:
            raise ValueError(f"UNet: expected images x of shape (N, {', '.join(map(str, self.image_shape))}), "
                             f"got {getattr(x, 'shape', type(x).__name__)}")
        p = self.parts
        e = self.embed(self._times(t, len(x))[:, 0], labels)
        h1 = p["down1"].forward(p["conv_in"].forward(x), e)
        h2 = p["down2"].forward(p["ds1"].forward(h1), e)
        m = p["mid"].forward(p["ds2"].forward(h2), e)
        u2 = p["up_block2"].forward(np.concatenate([self._upsample_conv("up2", "up2_conv", m), h2], axis=1), e)
        u1 = p["up_block1"].forward(np.concatenate([self._upsample_conv("up1", "up1_conv", u2), h1], axis=1), e)
        return p["conv_out"].forward(p["out_act"].forward(p["out_norm"].forward(u1)))

    def _upsample_conv(self, up: str, conv: str, x):
        """parts[conv](parts[up](x)): the two layers in turn, or with the fast paths on
        the fused four 2x2 convolutions (layers/fast_upconv.py)."""
        if not backend.fast():
            self._upconv_cache[conv] = None
            return self.parts[conv].forward(self.parts[up].forward(x))
        layer = self.parts[conv]
        y, self._upconv_cache[conv] = fast_upconv.upsample_conv_forward(x, layer.params["W"], layer.params["b"])
        return y

    def _upsample_conv_backward(self, up: str, conv: str, dy):
        """dL/dx of ``_upsample_conv``, by the path its forward took; assigns the conv's grads."""
        cache = self._upconv_cache[conv]
        if cache is None:
            return self.parts[up].backward(self.parts[conv].backward(dy))
        layer = self.parts[conv]
        dx, layer.grads["W"], layer.grads["b"] = fast_upconv.upsample_conv_backward(dy, cache)
        return dx

    def backward(self, d_eps):
        p, c = self.parts, self.width
        d_u1 = p["out_norm"].backward(p["out_act"].backward(p["conv_out"].backward(d_eps)))
        d_cat1, d_e = p["up_block1"].backward(d_u1)
        d_h1_skip = d_cat1[:, c:]                                        # the split: [up path, skip 1]
        d_u2 = self._upsample_conv_backward("up1", "up1_conv", d_cat1[:, :c])
        d_cat2, d = p["up_block2"].backward(d_u2)
        d_e = d_e + d
        d_h2_skip = d_cat2[:, 2 * c:]                                    # [up path, skip 2]
        d_m = self._upsample_conv_backward("up2", "up2_conv", d_cat2[:, :2 * c])
        d_mid_in, d = p["mid"].backward(d_m)
        d_e = d_e + d
        d_h2 = p["ds2"].backward(d_mid_in) + d_h2_skip                   # h2 feeds ds2 and the skip
        d_down2_in, d = p["down2"].backward(d_h2)
        d_e = d_e + d
        d_h1 = p["ds1"].backward(d_down2_in) + d_h1_skip                 # h1 feeds ds1 and the skip
        d_h0, d = p["down1"].backward(d_h1)
        d_e = d_e + d
        if self.n_classes:
            p["label"].backward(d_e)
        p["time"].backward(d_e)
        return p["conv_in"].backward(d_h0)


def unet_param_count(image_channels: int = 1, width: int = 32, n_classes: int = 0) -> int:
    """UNet's parameters, counted from its arguments (without building it)."""
    c, e = width, 4 * width
    conv = lambda i, o, k=3: o * i * k * k + o  # noqa: E731
    dense = lambda i, o: i * o + o  # noqa: E731

    def block(i, o):
        return (2 * i + conv(i, o) + dense(e, o) + 2 * o + conv(o, o)
                + (conv(i, o, 1) if i != o else 0))

    total = dense(c + c % 2, e) + dense(e, e)                             # the time embedding
    total += (n_classes + 1) * e if n_classes else 0                     # the label table
    total += conv(image_channels, c) + block(c, c) + conv(c, 2 * c) + block(2 * c, 2 * c)
    total += conv(2 * c, 2 * c) + block(2 * c, 2 * c)                    # ds2 and the middle
    total += conv(2 * c, 2 * c) + block(4 * c, 2 * c) + conv(2 * c, c) + block(2 * c, c)
    return total + 2 * c + conv(c, image_channels)
