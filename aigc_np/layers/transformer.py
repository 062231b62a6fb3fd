"""GELU and the pre-LayerNorm transformer block of GPT-2."""
from __future__ import annotations

import numpy as np

from .attention import CausalSelfAttention
from .base import Layer
from .dense import Dense
from .dropout import Dropout
from .layernorm import LayerNormalization

SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))


def gelu_gate(x: np.ndarray) -> np.ndarray:
    """p = (1 + tanh(u)) / 2 = sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3), so GELU(x) = x p.

    Taken as 1 / (1 + exp(-2u)) in one array: NumPy's float32 exp is about 3x
    faster than its tanh (docs/performance.md); where exp overflows (x below
    about -13) p is 1/inf = 0, the right limit. x * x rather than x ** 3:
    NumPy's float32 power is ~100x slower than a product.
    """
    p = x * x
    p *= -2 * SQRT_2_OVER_PI * 0.044715
    p -= 2 * SQRT_2_OVER_PI
    p *= x                                 # -2u
    with np.errstate(over="ignore"):
        np.exp(p, out=p)
    p += 1
    return np.divide(1, p, out=p)


def gelu(x: np.ndarray) -> np.ndarray:
    """GELU's forward without a cache (for inference): x * gelu_gate(x)."""
    return x * gelu_gate(x)


def layer_norm(x: np.ndarray, ln: LayerNormalization) -> np.ndarray:
    """``ln``'s forward over the last axis, without its checks and cache (for inference)."""
    # np.add.reduce rather than x.mean / x.var: the same sums, without their Python-level overhead,
    # which dominates for the one-row inputs of generation
    inv_n = 1.0 / x.shape[-1]
    centred = x - np.add.reduce(x, axis=-1, keepdims=True) * inv_n
    inv_std = 1.0 / np.sqrt(np.add.reduce(centred * centred, axis=-1, keepdims=True) * inv_n + ln.epsilon)
    return ln.params["gamma"] * (centred * inv_std) + ln.params["beta"]


class GELU(Layer):
    """Gaussian error linear unit, in the tanh approximation GPT-2 uses (Hendrycks & Gimpel 2016).

        y = 0.5 x (1 + tanh(u)),   u = sqrt(2/pi) (x + 0.044715 x^3)
        dy/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)

    Shapes: any (N, ...) -> the same.
    """

    example_input_shape = (2, 3)

    def forward(self, x):
        self._check_input(x, exact_shape=False)
        p = gelu_gate(x)                       # y = x p, p = (1 + tanh u) / 2
        self._cache = (x, p)
        return self._remember_output(x * p)

    def backward(self, dy):
        # With p = (1 + tanh u) / 2:  1 - tanh^2 u = 4 p (1 - p), so the derivative above is
        #     dy/dx = p + 2 p (1 - p) x sqrt(2/pi) (1 + 3 * 0.044715 x^2)
        #           = p (1 + 2 sqrt(2/pi) (1 - p) x (1 + 3 * 0.044715 x^2)).
        dy = self._check_grad(dy)
        x, p = self._cache
        g = x * x
        g *= 3 * 0.044715
        g += 1
        g *= x
        g *= 1 - p
        g *= 2 * SQRT_2_OVER_PI
        g += 1
        g *= p
        g *= dy
        return g


class Block(Layer):
    """One GPT-2 transformer block: pre-LayerNorm, residual connections, a 4x MLP.

        h = x + Dropout(Attention(LN1(x)))
        y = h + Dropout(W2 GELU(W1 LN2(h)))          W1: C -> 4C, W2: 4C -> C

    Shapes: x (N, T, C) -> y (N, T, C). Parameters are the children's, keyed
    ``"<child>.<name>"`` (``"attn.Wqkv"``, ``"mlp_in.W"``, ...).

    Backward follows the two residual sums: each passes dy unchanged to its
    input *and* through its branch, and the two are added:
        dh = dy + d(branch 2)/dh,   dx = dh + d(branch 1)/dx.
    """

    example_args = {"n_head": 2, "dropout": 0.1}
    example_input_shape = (4, 4)

    def __init__(self, n_head: int, dropout: float = 0.0, name: str | None = None):
        super().__init__(name)
        self.n_head, self.dropout = int(n_head), float(dropout)
        self.children = {
            "ln1": LayerNormalization(epsilon=1e-5), "attn": CausalSelfAttention(n_head),
            "drop1": Dropout(dropout), "ln2": LayerNormalization(epsilon=1e-5),
            "mlp_in": None, "gelu": GELU(), "mlp_out": None, "drop2": Dropout(dropout),
        }

    @classmethod
    def example(cls, rng):
        """As Layer.example, with every matrix drawn N(0, 1/fan_in) instead of N(0, 0.02^2).

        At GPT's small initial scale every softmax row is nearly uniform and many
        gradient entries are ~1e-6 of the largest, below what a central difference
        resolves; unit-scale weights test every path at a resolvable scale.
        """
        layer, x = super().example(rng)
        for p in layer.params.values():
            if p.ndim == 2:
                p[...] = rng.standard_normal(p.shape) / np.sqrt(p.shape[0])
        return layer, x

    # The children own the arrays; these merged views are rebuilt on each access.
    def _merged(self, attribute):
        return {f"{name}.{k}": v for name, child in self.children.items()
                for k, v in getattr(child, attribute).items()}

    params = property(lambda self: self._merged("params"), lambda self, value: None)
    grads = property(lambda self: self._merged("grads"), lambda self, value: None)
    buffers = property(lambda self: self._merged("buffers"), lambda self, value: None)

    def build(self, input_shape, rng=None, dtype=np.float32):
        if len(tuple(input_shape)) != 2:
            raise ValueError(f"{self.name}: expected a per-example shape (T, C), got {tuple(input_shape)}")
        c = int(tuple(input_shape)[-1])
        self.children["mlp_in"] = Dense(4 * c, kernel_initializer="normal_0.02")
        self.children["mlp_out"] = Dense(c, kernel_initializer="normal_0.02")
        # The LayerNorms see (N*T, C) rows, so that T may vary (prompts, one-token steps).
        self.children["ln1"].build((c,), rng, dtype)
        self.children["ln2"].build((c,), rng, dtype)
        for name in ("attn", "drop1", "drop2"):
            self.children[name].build(input_shape, rng, dtype)
        wide = self.children["mlp_in"].build(input_shape, rng, dtype)
        self.children["gelu"].build(wide, rng, dtype)
        self.children["mlp_out"].build(wide, rng, dtype)
        self.dtype = np.dtype(dtype)
        self.input_shape = self.output_shape = tuple(int(s) for s in input_shape)
        return self.output_shape

    def train(self):
        self.training = True
        for child in self.children.values():
            child.train()
        return self

    def eval(self):
        self.training = False
        for child in self.children.values():
            child.eval()
        return self

    def astype(self, dtype):
        self.dtype = np.dtype(dtype)
        for child in self.children.values():
            child.astype(dtype)
        return self

    def rngs(self):
        return [g for child in self.children.values() for g in child.rngs()]

    def _norm(self, name, x):
        return self.children[name].forward(x.reshape(-1, x.shape[-1])).reshape(x.shape)

    def _norm_back(self, name, d):
        return self.children[name].backward(d.reshape(-1, d.shape[-1])).reshape(d.shape)

    def _mlp(self, h):
        """The MLP on (N*T, C) rows: a 2-D matmul is one BLAS call (a 3-D one measured ~1.7x slower)."""
        c = self.children
        rows = self._norm("ln2", h).reshape(-1, h.shape[-1])
        return c["mlp_out"].forward(c["gelu"].forward(c["mlp_in"].forward(rows))).reshape(h.shape)

    def forward(self, x):
        c = self.children
        if x.ndim != 3:
            raise ValueError(f"{self.name}: expected input (N, T, C), got shape {x.shape}")
        h = x + c["drop1"].forward(c["attn"].forward(self._norm("ln1", x)))
        self._cache = True
        return self._remember_output(h + c["drop2"].forward(self._mlp(h)))

    def infer(self, x, cache: dict):
        """The block for new positions only, with attention's KV cache (eval mode, no backward).

        The same maths as ``forward`` in eval mode, computed from the parameters
        directly: generation calls it once per character, where the layers'
        input checks and backward caches would cost more than the arithmetic.
        """
        c = self.children
        h = x + c["attn"].infer(layer_norm(x, c["ln1"]), cache)
        rows = layer_norm(h, c["ln2"]).reshape(-1, h.shape[-1])          # 2-D matmuls, as in forward
        wide = gelu(rows @ c["mlp_in"].params["W"] + c["mlp_in"].params["b"])
        return h + (wide @ c["mlp_out"].params["W"]).reshape(h.shape) + c["mlp_out"].params["b"]

    def backward(self, dy):
        dy = self._check_grad(dy)
        c = self.children
        d = c["drop2"].backward(dy).reshape(-1, dy.shape[-1])
        for name in ("mlp_out", "gelu", "mlp_in"):
            d = c[name].backward(d)
        dh = dy + self._norm_back("ln2", d.reshape(dy.shape))
        d = c["attn"].backward(c["drop1"].backward(dh))
        return dh + self._norm_back("ln1", d)
