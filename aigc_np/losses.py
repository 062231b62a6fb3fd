"""Loss functions with handwritten gradients (Keras-like names).

Every loss has the same two-step interface:

* ``forward(pred, target) -> float`` -- compute the scalar loss and cache what
  the gradient needs;
* ``backward(dloss=1.0) -> array`` -- the gradient of ``dloss * loss`` with
  respect to ``pred`` (same shape and dtype as ``pred``). ``GaussianKL`` has
  two inputs and returns a tuple ``(dmu, dlogvar)``.

Reductions (how the per-element losses l_i become one number):

* ``"mean"``  -- mean over *all* elements, L = sum(l) / l.size. This is Keras's
  default for ``BinaryCrossentropy`` and ``MeanSquaredError``.
* ``"batch"`` -- sum over every non-batch axis, then mean over axis 0,
  L = sum(l) / N. For images this is "nats per image", which is what a VAE's
  reconstruction term uses so that it is on the same scale as the KL term.

The loss value is accumulated in float64 and returned as a Python float;
gradients keep the input dtype (float32 in, float32 out).
"""
from __future__ import annotations

import numpy as np

from .layers.activations import sigmoid

__all__ = [
    "softmax", "log_softmax", "Loss", "BinaryCrossentropy", "MeanSquaredError",
    "SparseCategoricalCrossentropy", "GaussianKL",
]

FLOAT_DTYPES = (np.float32, np.float64)
REDUCTIONS = ("mean", "batch")
EPSILON = 1e-7  # Keras's backend.epsilon(): how far probabilities are kept from 0 and 1


# ---------------------------------------------------------------- helpers
def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """log softmax(x) along ``axis``, stable for any finite x.

    log softmax(x)_k = x_k - log sum_j exp(x_j)
                     = (x_k - m) - log sum_j exp(x_j - m),   m = max_j x_j,
    so the largest exponent is exp(0) = 1: no overflow, and the sum is >= 1,
    so its log is finite.
    """
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """softmax(x)_k = exp(x_k) / sum_j exp(x_j) along ``axis``, computed after
    subtracting the max (which cancels in the ratio) so exp never overflows."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


class Loss:
    """Base class: input checks, reductions and the forward/backward cache."""

    def __init__(self, reduction: str = "mean"):
        if reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {REDUCTIONS}, "
                             f"got {reduction!r}")
        self.reduction = reduction
        self._cache = None

    @property
    def name(self) -> str:
        return type(self).__name__

    def __call__(self, *args):
        return self.forward(*args)

    # ----------------------------------------------------------------- checks
    def _check_pred(self, x, what: str = "pred", min_rank: int = 1) -> np.ndarray:
        """A finite float32/float64 array of rank >= min_rank."""
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{self.name}: expected {what} as a numpy.ndarray, got {type(x).__name__}")
        if x.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{self.name}: expected {what} as a float32 or float64 array, "
                            f"got dtype {x.dtype}")
        if x.ndim < min_rank:
            raise ValueError(f"{self.name}: expected {what} of rank >= {min_rank} (batch axis first), "
                             f"got shape {x.shape}")
        if x.size == 0:  # the mean of no losses is 0 / 0
            raise ValueError(f"{self.name}: expected a non-empty {what} (at least one example with at least "
                             f"one value), got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"{self.name}: {what} contains NaN or infinity")
        return x

    def _check_target(self, target, pred: np.ndarray) -> np.ndarray:
        """Target with exactly pred's shape (no broadcasting: a (N,) target
        against (N, 1) predictions would silently broadcast to (N, N)),
        cast to pred's dtype. Integer or bool 0/1 labels are accepted."""
        target = np.asarray(target)
        if target.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: expected a numeric target, got dtype {target.dtype}")
        if target.shape != pred.shape:
            raise ValueError(f"{self.name}: target shape {target.shape} does not match "
                             f"prediction shape {pred.shape}")
        target = target.astype(pred.dtype, copy=False)
        if not np.isfinite(target).all():
            raise ValueError(f"{self.name}: target contains NaN or infinity")
        return target

    # ------------------------------------------------------------- reductions
    def _divisor(self, x: np.ndarray) -> int:
        """The number the summed element losses are divided by."""
        return x.size if self.reduction == "mean" else x.shape[0]

    def _reduce(self, elementwise: np.ndarray) -> float:
        return float(np.sum(elementwise, dtype=np.float64) / self._divisor(elementwise))

    def _get_cache(self):
        if self._cache is None:
            raise ValueError(f"{self.name}: backward called before forward")
        return self._cache


# ------------------------------------------------------------------ losses
class BinaryCrossentropy(Loss):
    """Binary cross-entropy, element-wise over any shape (N, ...).

        l = -[ y log p + (1 - y) log(1 - p) ],   targets y in [0, 1]
            (soft targets, e.g. label smoothing 0.9, are fine).

    ``from_logits=False``: ``pred`` holds probabilities p. As in Keras, p is
    first clipped to [eps, 1 - eps] with eps = 1e-7 so that log never sees 0.
    The gradient is that of the *clipped* expression: (p - y) / (p (1 - p))
    inside the clip range and exactly 0 where the clip is active (a saturated
    sigmoid output gets no learning signal -- one reason to prefer logits).
    (Keras additionally adds eps inside each log; that shifts values by ~1e-7.)

    ``from_logits=True``: ``pred`` holds logits z, p = sigmoid(z). Written as

        l = max(z, 0) - z y + log(1 + exp(-|z|)),    dl/dz = sigmoid(z) - y,

    no exponent ever exceeds 0, so it is exact and finite for any finite z.

    Args:
        from_logits: whether ``pred`` is logits (True) or probabilities.
        reduction: "mean" (over all elements) or "batch" (sum per example,
            mean over the batch).
    """

    def __init__(self, from_logits: bool = False, reduction: str = "mean"):
        super().__init__(reduction)
        self.from_logits = bool(from_logits)

    def forward(self, pred: np.ndarray, target) -> float:
        """pred, target: (N, ...) of the same shape. Returns the scalar loss."""
        pred = self._check_pred(pred)
        y = self._check_target(target, pred)
        if y.min() < 0 or y.max() > 1:
            raise ValueError(f"{self.name}: targets must lie in [0, 1], got values in "
                             f"[{y.min()}, {y.max()}]")
        if self.from_logits:
            z = pred
            e = np.exp(-np.abs(z))           # the loss and its gradient both need it
            # max(z, 0) - z y written as z ([z > 0] - y): a product is cheaper
            # than np.maximum against a scalar (docs/performance.md)
            elementwise = np.log1p(e)
            elementwise += z * ((z > 0) - y)
            self._cache = ("logits", sigmoid(z, e), y)   # backward needs sigmoid(z) only
        else:
            if np.any((pred < 0) | (pred > 1)):
                raise ValueError(f"{self.name}: probabilities must lie in [0, 1], got values in "
                                 f"[{pred.min()}, {pred.max()}]; pass from_logits=True for logits")
            p = np.clip(pred, EPSILON, 1 - EPSILON)
            elementwise = -(y * np.log(p) + (1 - y) * np.log1p(-p))
            # Where the clip is active the loss does not depend on pred.
            inside = (pred >= EPSILON) & (pred <= 1 - EPSILON)
            self._cache = ("probs", p, y, inside)
        return self._reduce(elementwise)

    def backward(self, dloss: float = 1.0) -> np.ndarray:
        """Gradient of dloss * loss w.r.t. pred, shape and dtype of pred."""
        kind, a, y, *rest = self._get_cache()
        scale = float(dloss) / self._divisor(a)
        if kind == "logits":
            # BEGIN EXERCISE 6: the BCE-with-logits gradient
            # Hint: d/dz [max(z, 0) - z y + log(1 + e^-|z|)] = sigmoid(z) - y, times scale; forward cached a = sigmoid(z).
            return (a - y) * scale
            # END EXERCISE 6
        (inside,) = rest
        return np.where(inside, (a - y) / (a * (1 - a)), 0) * scale


class MeanSquaredError(Loss):
    """Squared error l = (pred - target)^2, dl/dpred = 2 (pred - target).

    pred, target: (N, ...) of the same shape. reduction "mean" gives Keras's
    MSE; "batch" gives the summed squared error per example.
    """

    def forward(self, pred: np.ndarray, target) -> float:
        pred = self._check_pred(pred)
        diff = pred - self._check_target(target, pred)
        self._cache = diff
        return self._reduce(np.square(diff))

    def backward(self, dloss: float = 1.0) -> np.ndarray:
        diff = self._get_cache()
        return diff * (2.0 * float(dloss) / self._divisor(diff))


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy with integer class labels, averaged over the batch.

        L = -(1/N) sum_n log p[n, y_n]

    ``from_logits=True`` (default): pred holds logits (N, K),
    log p = log_softmax(logits), and dL/dlogits = (softmax(logits) - onehot(y)) / N.

    ``from_logits=False``: pred holds probabilities (N, K); p[n, y_n] is
    clipped to [eps, 1 - eps] (eps = 1e-7) and dL/dp = -1 / (N p) at the label
    entries (0 where the clip is active, and 0 for every other class).

    Labels: an integer array (N,) with values in [0, K).
    """

    def __init__(self, from_logits: bool = True):
        super().__init__("mean")
        self.from_logits = bool(from_logits)

    def _check_labels(self, labels, n: int, k: int) -> np.ndarray:
        if not isinstance(labels, np.ndarray) or labels.dtype.kind not in "iu":
            got = labels.dtype if isinstance(labels, np.ndarray) else type(labels).__name__
            raise TypeError(f"{self.name}: expected integer labels as a numpy array, got {got}")
        if labels.shape != (n,):
            raise ValueError(f"{self.name}: expected labels of shape ({n},) for pred of shape "
                             f"({n}, {k}), got {labels.shape}")
        if n and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(f"{self.name}: labels must lie in [0, {k}), got values in "
                             f"[{labels.min()}, {labels.max()}]")
        return labels

    def forward(self, pred: np.ndarray, labels: np.ndarray) -> float:
        """pred: (N, K) logits or probabilities; labels: (N,) ints. Returns the mean loss."""
        pred = self._check_pred(pred, min_rank=2)
        if pred.ndim != 2:
            raise ValueError(f"{self.name}: expected pred of shape (N, K), got {pred.shape}")
        n, k = pred.shape
        labels = self._check_labels(labels, n, k)
        rows = np.arange(n)
        if self.from_logits:
            logp = log_softmax(pred, axis=1)
            self._cache = ("logits", logp, labels)
            return float(-np.sum(logp[rows, labels], dtype=np.float64) / n)
        if np.any((pred < 0) | (pred > 1)):
            raise ValueError(f"{self.name}: probabilities must lie in [0, 1]; "
                             "pass from_logits=True for logits")
        p_true = pred[rows, labels]
        self._cache = ("probs", pred, labels, p_true)
        return float(-np.sum(np.log(np.clip(p_true, EPSILON, 1 - EPSILON)), dtype=np.float64) / n)

    def backward(self, dloss: float = 1.0) -> np.ndarray:
        """Gradient of dloss * loss w.r.t. pred, shape (N, K) and pred's dtype."""
        kind, a, labels, *rest = self._get_cache()
        n = a.shape[0]
        rows = np.arange(n)
        scale = float(dloss) / n
        if kind == "logits":
            grad = np.exp(a)                  # softmax, recovered from the cached log-softmax
            grad[rows, labels] -= 1
            grad *= scale
            return grad
        (p_true,) = rest
        grad = np.zeros_like(a)
        inside = (p_true >= EPSILON) & (p_true <= 1 - EPSILON)
        grad[rows[inside], labels[inside]] = -scale / p_true[inside]
        return grad


class GaussianKL(Loss):
    """KL divergence of a diagonal Gaussian from the standard normal (VAE prior).

    With logvar = log sigma^2 (the *log variance*, not log sigma):

        KL(N(mu, sigma^2) || N(0, I)) = 0.5 * sum_j (mu_j^2 + exp(logvar_j) - logvar_j - 1)

    summed over latent dims and averaged over the batch (reduction "batch",
    the default) or averaged over all elements ("mean").

        dKL/dmu = mu,    dKL/dlogvar = 0.5 * (exp(logvar) - 1)     (per element)

    forward(mu, logvar) with mu, logvar of shape (N, D); backward returns
    (dmu, dlogvar).
    """

    def __init__(self, reduction: str = "batch"):
        super().__init__(reduction)

    def forward(self, mu: np.ndarray, logvar: np.ndarray) -> float:
        mu = self._check_pred(mu, "mu")
        logvar = self._check_pred(logvar, "logvar")
        if logvar.shape != mu.shape or logvar.dtype != mu.dtype:
            raise ValueError(f"{self.name}: mu and logvar must have the same shape and dtype, got "
                             f"mu {mu.shape} {mu.dtype} and logvar {logvar.shape} {logvar.dtype}")
        var = np.exp(logvar)
        self._cache = (mu, var)
        return self._reduce(0.5 * (np.square(mu) + var - logvar - 1))

    def backward(self, dloss: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        mu, var = self._get_cache()
        scale = float(dloss) / self._divisor(mu)
        # BEGIN EXERCISE 7: the KL gradient
        # Hint: KL = 0.5 * sum(mu^2 + exp(logvar) - logvar - 1), so dKL/dmu = mu and dKL/dlogvar = 0.5 * (exp(logvar) - 1).
        return mu * scale, (var - 1) * (0.5 * scale)
        # END EXERCISE 7
