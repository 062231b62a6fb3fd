"""Optimizers: SGD (with momentum / Nesterov), RMSprop and Adam.

An optimizer is given a *model*: anything with ``.params`` and ``.grads``
dicts of named arrays with equal keys -- a single Layer or a Sequential
(whose keys look like ``"0.W"``). Each call to ``step()`` reads the current
gradients and updates every parameter **in place** (``p -= update``), so the
arrays that the layers hold stay the same objects and see the new values.

The training loop is therefore::

    loss_value = loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    opt.step()

There is no ``zero_grad()``: a layer's ``backward`` *assigns* its gradients
rather than adding to them, so stale gradients never accumulate.

Per-parameter state (momentum, moving averages) lives in
``opt.state[param_name]``. A GAN simply uses two optimizers over two disjoint
parameter sets::

    opt_g = Adam(generator, lr=2e-4, beta1=0.5)
    opt_d = Adam(discriminator, lr=2e-4, beta1=0.5)

``opt_d.step()`` only touches the discriminator's arrays, and each optimizer
keeps its own state and step counter.

Each optimizer's maths is in a small ``update(p, g, state)`` method that
changes ``p`` and ``state`` in place (CS231n style), written as the paper
writes it; the base class does the bookkeeping and the checks. Adam (and
AdamW) also has a fast path, the same update fused into a few passes over
cache-sized blocks (optimizers/fast.py), which ``step`` runs when the fast
paths are on (aigc_np.layers.backend; tests/test_fast_paths.py holds the two equal).
"""
from __future__ import annotations

import numpy as np

from ..layers import backend
from . import fast as fast_optimizers

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam"]

FLOAT_DTYPES = (np.float32, np.float64)


def _check_range(owner: str, name: str, value, low: float, high: float | None = None,
                 low_inclusive: bool = True) -> float:
    """Validate a hyperparameter lies in [low, high) (or (low, ...) if not low_inclusive)."""
    value = float(value)
    too_low = value < low if low_inclusive else value <= low
    too_high = high is not None and value >= high
    if too_low or too_high or not np.isfinite(value):
        bracket = "[" if low_inclusive else "("
        upper = f"{high})" if high is not None else "inf)"
        raise ValueError(f"{owner}: {name} must lie in {bracket}{low}, {upper}, got {value}")
    return value


class Optimizer:
    """Base class: walks the model's parameters and applies ``update``.

    Args:
        model: object with ``.params`` and ``.grads`` dicts (Layer or Sequential).
        lr: learning rate (> 0). A plain attribute, so a schedule may change it.
    """

    # Names of the per-parameter state arrays (zeros like the parameter).
    slots: tuple[str, ...] = ()

    def __init__(self, model, lr: float):
        if not (hasattr(model, "params") and hasattr(model, "grads")):
            raise TypeError(f"{type(self).__name__}: model must have .params and .grads dicts, "
                            f"got {type(model).__name__}")
        self.model = model
        self.lr = _check_range(type(self).__name__, "lr", lr, 0.0, low_inclusive=False)
        self.t = 0  # number of completed step() calls
        self.state: dict[str, dict[str, np.ndarray]] = {}

    @property
    def name(self) -> str:
        return type(self).__name__

    # ------------------------------------------------------------------ step
    def step(self) -> None:
        """Update every parameter in place from the current gradients."""
        params, grads = self._checked()
        self.t += 1
        for key, p in params.items():
            self.update(p, grads[key], self._state_for(key, p))

    def update(self, p: np.ndarray, g: np.ndarray, state: dict) -> None:  # pragma: no cover
        """Change ``p`` (and ``state``) in place given the gradient ``g``."""
        raise NotImplementedError

    def _checked(self) -> tuple[dict, dict]:
        """The model's (params, grads), checked first, so that a bad gradient never
        leaves a half-applied step."""
        params, grads = self.model.params, self.model.grads
        if params.keys() != grads.keys():
            raise ValueError(f"{self.name}: params and grads have different keys: "
                             f"{sorted(params)} vs {sorted(grads)}")
        with np.errstate(over="ignore"):   # _check_pair's g . g may overflow; it then looks closer
            for key, p in params.items():
                self._check_pair(key, p, grads[key])
        return params, grads

    # ----------------------------------------------------------------- state
    def _state_for(self, key: str, p: np.ndarray) -> dict:
        """The state of parameter ``key``, created as zeros on first use."""
        state = self.state.get(key)
        if state is None:
            state = self.state[key] = {slot: np.zeros_like(p) for slot in self.slots}
        for slot, s in state.items():
            if s.shape != p.shape or s.dtype != p.dtype:
                raise ValueError(f"{self.name}: state {slot!r} of parameter {key!r} is {s.shape} "
                                 f"{s.dtype} but the parameter is {p.shape} {p.dtype}; "
                                 "create a new optimizer after changing the model")
        return state

    def state_dict(self) -> dict:
        """Plain arrays and ints: ``{"t": int, "<param>/<slot>": array, ...}``.

        Flat and pickle-free, so it can go straight into ``np.savez``.
        """
        out = {"t": self.t}
        for key, state in self.state.items():
            for slot, value in state.items():
                out[f"{key}/{slot}"] = value.copy()
        return out

    def load_state_dict(self, state_dict) -> None:
        """Restore what ``state_dict`` returned (also from ``np.load``)."""
        if "t" not in state_dict:
            raise ValueError(f"{self.name}: state dict has no step counter 't'")
        params = self.model.params
        new_state: dict[str, dict[str, np.ndarray]] = {}
        for name, value in state_dict.items():
            if name == "t":
                continue
            key, _, slot = name.rpartition("/")
            if key not in params or slot not in self.slots:
                raise ValueError(f"{self.name}: unexpected entry {name!r} in state dict")
            value = np.asarray(value)
            if value.shape != params[key].shape:
                raise ValueError(f"{self.name}: {name!r} has shape {value.shape}, "
                                 f"expected {params[key].shape}")
            new_state.setdefault(key, {})[slot] = value.astype(params[key].dtype, copy=True)
        for key, state in new_state.items():
            if set(state) != set(self.slots):
                raise ValueError(f"{self.name}: parameter {key!r} has slots {sorted(state)}, "
                                 f"expected {sorted(self.slots)}")
        self.t = int(state_dict["t"])
        self.state = new_state

    # ----------------------------------------------------------------- checks
    def _check_pair(self, key: str, p, g) -> None:
        if not isinstance(p, np.ndarray) or p.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{self.name}: parameter {key!r} must be a float32 or float64 array, "
                            f"got {getattr(p, 'dtype', type(p).__name__)}")
        if not isinstance(g, np.ndarray):
            raise TypeError(f"{self.name}: gradient {key!r} must be a numpy.ndarray, "
                            f"got {type(g).__name__}")
        if g.shape != p.shape or g.dtype != p.dtype:
            raise ValueError(f"{self.name}: gradient {key!r} is {g.shape} {g.dtype}, expected the "
                             f"parameter's {p.shape} {p.dtype}")
        # g . g is finite when every entry is, and one BLAS pass is cheaper than
        # isfinite's mask; only if it overflowed (or g has NaN/inf) look closer
        flat = g.reshape(-1)
        if not np.isfinite(np.dot(flat, flat)) and not np.isfinite(g).all():
            raise ValueError(f"{self.name}: gradient {key!r} contains NaN or infinity "
                             "(the loss has probably diverged; try a smaller lr)")

    def __repr__(self) -> str:
        return f"{self.name}(lr={self.lr}, t={self.t})"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (Keras's form).

        plain:     p <- p - lr * g
        momentum:  v <- momentum * v - lr * g;   p <- p + v
        Nesterov:  v <- momentum * v - lr * g;   p <- p + momentum * v - lr * g

    v starts at 0. The Nesterov form applies the velocity "one step ahead":
    it is the look-ahead gradient method rewritten in terms of the current p.
    """

    def __init__(self, model, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False):
        super().__init__(model, lr)
        self.momentum = _check_range(self.name, "momentum", momentum, 0.0, 1.0)
        self.nesterov = bool(nesterov)
        self.slots = ("velocity",) if self.momentum > 0 else ()

    def update(self, p, g, state):
        if self.momentum == 0:
            p -= self.lr * g
            return
        v = state["velocity"]
        v *= self.momentum
        v -= self.lr * g
        if self.nesterov:
            p += self.momentum * v - self.lr * g
        else:
            p += v


class RMSprop(Optimizer):
    """RMSprop (Hinton): divide the step by a running RMS of the gradient.

        s <- rho * s + (1 - rho) * g^2
        p <- p - lr * g / (sqrt(s) + eps)

    s starts at 0. eps is added *after* the square root (as in PyTorch and
    CS231n); Keras adds it inside, lr * g / sqrt(s + eps), which only differs
    when s is about as small as eps.
    """

    slots = ("s",)

    def __init__(self, model, lr: float = 1e-3, rho: float = 0.9, eps: float = 1e-7):
        super().__init__(model, lr)
        self.rho = _check_range(self.name, "rho", rho, 0.0, 1.0)
        self.eps = _check_range(self.name, "eps", eps, 0.0, low_inclusive=False)

    def update(self, p, g, state):
        s = state["s"]
        s *= self.rho
        s += (1 - self.rho) * g * g
        p -= self.lr * g / (np.sqrt(s) + self.eps)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015, Algorithm 1).

        t <- t + 1                                  (once per step(), for all params)
        m <- beta1 * m + (1 - beta1) * g            first moment (mean of g)
        v <- beta2 * v + (1 - beta2) * g^2          second moment (uncentred variance)
        m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)    bias correction
        p <- p - lr * m_hat / (sqrt(v_hat) + eps)

    m and v start at 0, so without the correction the first steps would be
    too small; with it the first step is lr * g / (|g| + eps) ~ lr * sign(g).
    eps = 1e-8 is the paper's value. Keras's default is 1e-7 and Keras puts it
    on the uncorrected sqrt(v) (the paper's "epsilon hat"); the two agree up to
    terms of order eps.

    State arrays m, v have the parameter's dtype.
    """

    slots = ("m", "v")

    def __init__(self, model, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8):
        super().__init__(model, lr)
        self.beta1 = _check_range(self.name, "beta1", beta1, 0.0, 1.0)
        self.beta2 = _check_range(self.name, "beta2", beta2, 0.0, 1.0)
        self.eps = _check_range(self.name, "eps", eps, 0.0, low_inclusive=False)

    def step(self) -> None:
        """``Optimizer.step`` with Adam's update, or its fused fast path (aigc_np.layers.backend)."""
        if not backend.fast():
            super().step()
            return
        params, grads = self._checked()
        self.t += 1
        for key, p in params.items():
            state = self._state_for(key, p)
            fast_optimizers.adam_update(p, grads[key], state["m"], state["v"], self.t, self.lr,
                                        self.beta1, self.beta2, self.eps)

    def update(self, p, g, state):
        """Algorithm 1 of Kingma & Ba, for one parameter; ``self.t`` already counts this step."""
        m, v, t = state["m"], state["v"], self.t
        # BEGIN EXERCISE 3: the Adam step
        # Hint: update m and v in place (m[...] = ... or m *= ...; m += ...), bias-correct them with the step counter t, then p -= lr * m_hat / (sqrt(v_hat) + eps).
        m[...] = self.beta1 * m + (1 - self.beta1) * g
        v[...] = self.beta2 * v + (1 - self.beta2) * g * g
        m_hat = m / (1 - self.beta1 ** t)
        v_hat = v / (1 - self.beta2 ** t)
        p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        # END EXERCISE 3


# ------------------------------------------------------- language models (lessons 13-14)
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), applied to matrices only.

        p <- p - lr * wd * p                  only if p is decayed (see ``decays``)
        then the Adam step of :class:`Adam` on the shrunk p.

    "Decoupled": the decay is not added to the gradient (where Adam's
    normalization would rescale it per coordinate) but applied to the weight
    directly, so every decayed weight shrinks by the same factor 1 - lr * wd.
    Only matrices (ndim >= 2: dense kernels, embedding tables) are decayed;
    biases, LayerNorm gains and shifts, and positional vectors (parameter names
    ending in one of ``no_decay``) are not: shrinking them towards 0 is not a
    useful prior.
    """

    no_decay: tuple[str, ...] = ("pos",)

    def __init__(self, model, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.01):
        super().__init__(model, lr, beta1, beta2, eps)
        self.weight_decay = _check_range(self.name, "weight_decay", weight_decay, 0.0)

    def decays(self, key: str, p: np.ndarray) -> bool:
        """Whether parameter ``key`` is decayed: a matrix, not named in ``no_decay``."""
        return p.ndim >= 2 and not key.rpartition(".")[2] in self.no_decay

    def step(self) -> None:
        params, _ = self._checked()      # before the decay, so a bad gradient leaves the weights untouched
        if self.weight_decay:
            shrink = 1.0 - self.lr * self.weight_decay
            for key, p in params.items():
                if self.decays(key, p):
                    p *= shrink
        super().step()


def global_norm(model) -> float:
    """sqrt(sum over every gradient of sum(g^2)): the length of the whole gradient vector."""
    return float(np.sqrt(sum(float(np.dot(g.reshape(-1), g.reshape(-1))) for g in model.grads.values())))


def clip_grad_norm(model, max_norm: float) -> float:
    """Scale every gradient by min(1, max_norm / ||g||), ||g|| the global norm; return ||g|| (before).

    Scaling all gradients by one factor keeps the update's direction and only
    caps its length, so one exploding batch (common in RNNs) cannot throw the
    weights far away.
    """
    max_norm = _check_range("clip_grad_norm", "max_norm", max_norm, 0.0, low_inclusive=False)
    norm = global_norm(model)
    if norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in model.grads.values():
            g *= g.dtype.type(scale)
    return norm


def warmup_cosine(step: int, lr_max: float, warmup: int, total: int, lr_min: float = 0.0) -> float:
    """Learning rate at ``step`` (0-based): linear warm-up, then a cosine down to ``lr_min``.

        step < warmup:           lr_max * (step + 1) / warmup
        warmup <= step < total:  lr_min + (lr_max - lr_min) * (1 + cos(pi * s)) / 2,
                                 s = (step - warmup) / (total - warmup)
        step >= total:           lr_min
    """
    if warmup < 0 or total < 1 or warmup > total:
        raise ValueError(f"warmup_cosine: need 0 <= warmup <= total and total >= 1, got warmup={warmup}, "
                         f"total={total}")
    if step < warmup:
        return lr_max * (step + 1) / warmup
    if step >= total:
        return lr_min
    s = (step - warmup) / max(1, total - warmup)
    return lr_min + (lr_max - lr_min) * 0.5 * (1.0 + float(np.cos(np.pi * s)))


__all__ += ["AdamW", "global_norm", "clip_grad_norm", "warmup_cosine"]
