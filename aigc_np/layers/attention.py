"""Causal multi-head self-attention, the core of a GPT.

Maths (one head, one sequence; q_t, k_t, v_t rows of Q, K, V, each of size d):

    S = Q K^T / sqrt(d)          (T, T) scores; S_ts = -inf for s > t (the causal mask)
    P = softmax(S) row-wise      P_ts = exp(S_ts) / sum_r exp(S_tr); P_ts = 0 for s > t
    Y = P V                      (T, d): y_t is a weighted mean of the values v_1..v_t

Why 1/sqrt(d): if q and k have independent unit-variance entries, q.k is a
sum of d such products, so its variance is d; dividing by sqrt(d) keeps the
scores at unit scale whatever the head size, so the softmax does not
saturate (a saturated softmax has a near-zero Jacobian, and learns nothing).

The softmax Jacobian, row by row (p = softmax(s)):

    dp_t/ds_u = p_t (delta_tu - p_u)
    => ds_u = sum_t dp_t p_t (delta_tu - p_u) = p_u (dp_u - sum_t dp_t p_t)

so dS = P * (dP - rowsum(dP * P)). Masked entries have P = 0, hence dS = 0:
no gradient flows to the future. The rest is matmul transposes:

    dP = dY V^T,  dV = P^T dY,  dQ = dS K / sqrt(d),  dK = dS^T Q / sqrt(d).
"""
from __future__ import annotations

import numpy as np

from . import backend, fast_attention
from .base import Layer


def _softmax_last(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class CausalSelfAttention(Layer):
    """Multi-head causal self-attention with its input and output projections.

    Shapes: x (N, T, C) -> y (N, T, C), C = n_head * d.
    Params: Wqkv (C, 3C) -- q, k, v for all heads in one matmul;
            Wo (C, C), bo (C,) -- the heads' outputs, concatenated, mixed back to C.

    There is no bias on q, k, v. A key bias would do nothing at all: it adds
    q_t . b to every score of row t, and softmax ignores a constant added to a
    row (its gradient is exactly 0). A query or value bias could be learned, but
    the LayerNorm before the block already provides a shift (beta).

    ``infer(x, cache)`` is the same computation for new positions only, given
    the keys and values of the earlier ones (the KV cache of incremental decoding).

    Training runs the same maths in fewer passes (layers/fast_attention.py,
    chosen by aigc_np.layers.backend); ``forward`` records which path it took
    and ``backward`` follows it.
    """

    example_args = {"n_head": 2}
    example_input_shape = (5, 4)

    def __init__(self, n_head: int, name: str | None = None):
        super().__init__(name)
        if int(n_head) <= 0:
            raise ValueError(f"{self.name}: n_head must be positive, got {n_head}")
        self.n_head = int(n_head)

    @classmethod
    def example(cls, rng):
        """As Layer.example, with Wqkv drawn at std 0.5 instead of 0.02: at the small
        initial scale every softmax row is nearly uniform, which would leave its
        Jacobian barely tested and the query/key gradients near round-off."""
        layer, x = super().example(rng)
        layer.params["Wqkv"][...] = 0.5 * rng.standard_normal(layer.params["Wqkv"].shape)
        return layer, x

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] % self.n_head:
            raise ValueError(f"{self.name}: expected a per-example shape (T, C) with C divisible by "
                             f"n_head={self.n_head}, got {input_shape}")
        return input_shape

    def _build(self, input_shape, rng):
        if rng is None:
            raise ValueError(f"{self.name}: build needs a np.random.Generator to initialize its weights")
        c = input_shape[-1]
        self.params["Wqkv"] = 0.02 * rng.standard_normal((c, 3 * c))
        self.params["Wo"] = 0.02 * rng.standard_normal((c, c))
        self.params["bo"] = np.zeros(c)

    # ------------------------------------------------------------- helpers
    def _heads(self, x):
        """(N, T, 3C) projections -> q, k, v each (N, H, T, d)."""
        n, t, c = x.shape
        qkv = x.reshape(n * t, c) @ self.params["Wqkv"]        # as rows: a 2-D matmul is one BLAS call
        qkv = qkv.reshape(n, t, 3, self.n_head, c // self.n_head).transpose(2, 0, 3, 1, 4)
        return qkv[0], qkv[1], qkv[2]

    def _check(self, x):
        self._check_input(x, exact_shape=False)
        c = self.params["Wo"].shape[0]
        if x.ndim != 3 or x.shape[2] != c:
            raise ValueError(f"{self.name}: expected input (N, T, {c}), got {x.shape}")
        return x

    @property
    def attention_weights(self) -> np.ndarray:
        """The softmax weights P (N, n_head, T, T) of the last ``forward`` (not ``infer``), read-only.

        Row t of P[n, h] is where position t of example n reads from in head h:
        P_ts >= 0, each row sums to 1, and P_ts = 0 for s > t (the causal mask).
        """
        if self._cache is None:
            raise ValueError(f"{self.name}: attention_weights needs a forward pass first; none has run")
        weights = self._cache[1][4].view()
        weights.flags.writeable = False                # a view: backward still needs the cached P
        return weights

    # ------------------------------------------------------------- forward
    def forward(self, x):
        if not self.built:
            raise ValueError(f"{self.name}: call build(input_shape, rng) first")
        x = self._check(x)
        if backend.fast():
            y, cache = fast_attention.attention_forward(x, self.params["Wqkv"], self.params["Wo"],
                                                        self.params["bo"], self.n_head)
            self._cache = ("fast", cache)
            return self._remember_output(y)
        n, t, c = x.shape
        q, k, v = self._heads(x)
        scale = 1.0 / np.sqrt(c // self.n_head)
        s = (q @ k.transpose(0, 1, 3, 2)) * np.asarray(scale, dtype=x.dtype)    # (N, H, T, T)
        future = np.triu(np.ones((t, t), dtype=bool), k=1)                       # s > t
        s[..., future] = -np.inf
        p = _softmax_last(s)
        heads = p @ v                                                            # (N, H, T, d)
        merged = heads.transpose(0, 2, 1, 3).reshape(n, t, c)
        self._cache = ("reference", (x, q, k, v, p, merged))
        y = (merged.reshape(n * t, c) @ self.params["Wo"]).reshape(n, t, c) + self.params["bo"]
        return self._remember_output(y)

    def infer(self, x, cache: dict):
        """y for new positions x (N, T_new, C), attending to themselves and to ``cache``.

        ``cache`` holds "k" and "v" (N, H, T_old, d) of the earlier positions
        (an empty dict at the start); they are extended in place. Nothing is
        kept for backward: this is for generation only, where it runs once per
        new character, so it skips the input checks of ``forward``.
        """
        n, t_new, c = x.shape
        q, k, v = self._heads(x)
        if cache:
            k = cache["k"] = np.concatenate([cache["k"], k], axis=2)
            v = cache["v"] = np.concatenate([cache["v"], v], axis=2)
        else:
            cache["k"], cache["v"] = k, v
        t_all = k.shape[2]
        scale = np.asarray(1.0 / np.sqrt(c // self.n_head), dtype=x.dtype)
        if t_new == 1:  # one new position sees every key: products and sums beat tiny stacked matmuls
            s = np.add.reduce(q * k, axis=-1)[:, :, None, :] * scale                 # (N, H, 1, T_all)
        else:           # new query i sits at position t_all - t_new + i and may see keys up to there
            s = (q @ k.transpose(0, 1, 3, 2)) * scale
            future = np.arange(t_all)[None, :] > (t_all - t_new + np.arange(t_new))[:, None]
            s[..., future] = -np.inf
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        p = e / np.add.reduce(e, axis=-1, keepdims=True)
        heads = np.add.reduce(p[:, :, 0, :, None] * v, axis=2)[:, :, None] if t_new == 1 else p @ v
        merged = heads.transpose(0, 2, 1, 3).reshape(n * t_new, c)
        return (merged @ self.params["Wo"]).reshape(n, t_new, c) + self.params["bo"]

    # ------------------------------------------------------------ backward
    def backward(self, dy):
        dy = self._check_grad(dy)
        path, cache = self._cache
        if path == "fast":
            dx, self.grads["Wqkv"], self.grads["Wo"], self.grads["bo"] = fast_attention.attention_backward(
                dy, cache, self.params["Wqkv"], self.params["Wo"])
            return dx
        x, q, k, v, p, merged = cache
        n, t, c = dy.shape
        d = c // self.n_head
        self.grads["Wo"] = merged.reshape(-1, c).T @ dy.reshape(-1, c)
        self.grads["bo"] = dy.reshape(-1, c).sum(axis=0)
        dheads = (dy.reshape(n * t, c) @ self.params["Wo"].T).reshape(n, t, self.n_head, d).transpose(0, 2, 1, 3)
        # BEGIN EXERCISE 10: the softmax-attention backward
        # Hint: dP = dY V^T, dV = P^T dY, dS = P * (dP - rowsum(dP * P)), dQ = dS K / sqrt(d), dK = dS^T Q / sqrt(d).
        dp = dheads @ v.transpose(0, 1, 3, 2)                                   # (N, H, T, T)
        dv = p.transpose(0, 1, 3, 2) @ dheads
        ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
        ds *= np.asarray(1.0 / np.sqrt(d), dtype=dy.dtype)
        dq = ds @ k
        dk = ds.transpose(0, 1, 3, 2) @ q
        # END EXERCISE 10
        dqkv = np.stack([dq, dk, dv]).transpose(1, 3, 0, 2, 4).reshape(n, t, 3 * c)  # back to (N, T, 3C)
        self.grads["Wqkv"] = x.reshape(-1, c).T @ dqkv.reshape(-1, 3 * c)
        return (dqkv.reshape(n * t, 3 * c) @ self.params["Wqkv"].T).reshape(n, t, c)
