"""The layer contract that every aigc_np layer follows.

A layer is an object with

* ``build(input_shape, rng, dtype)`` -- create parameters for inputs whose
  shape *without the batch axis* is ``input_shape``; returns the output shape
  (also without the batch axis). Layers without parameters only check shapes.
* ``forward(x)`` -- compute the output and cache what ``backward`` needs.
* ``backward(dy)`` -- given dL/dy, return dL/dx and *store* dL/dparam in
  ``self.grads[name]``. It never changes a parameter (only optimizers do) and
  it is a pure function of the cache, so calling it twice gives the same result.
* ``params`` / ``grads`` -- dicts of named arrays with identical keys and shapes.
* ``train()`` / ``eval()`` -- explicit modes; only Dropout and
  BatchNormalization behave differently in them.
* ``input_gradient(dy)`` -- dL/dx alone, the layer's grads left as they
  were: for a network that a step backpropagates *through* without updating
  it, e.g. D in a GAN's generator step. By default it is ``backward`` with
  the grads it assigns thrown away; Dense and the conv layers have a fast path
  that skips the weight-gradient products (see ``aigc_np.layers.backend``).

Batch axis first. Images are NCHW: (batch, channels, height, width).
"""
from __future__ import annotations

import numpy as np

from . import backend

FLOAT_DTYPES = (np.float32, np.float64)


def as_shape(shape) -> tuple:
    """Turn an int or iterable of ints into a tuple of ints."""
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(s) for s in shape)


class Layer:
    """Base class: holds parameters, gradients, mode and input checks.

    Subclasses declare a small gradient-check example (``example_args``,
    ``example_input_shape``, ``example_batch``); ``tests/test_every_layer.py``
    finds every Layer subclass in the package and checks it through
    :meth:`example`, so a new layer is tested without writing a test.
    """

    example_args: dict = {}
    example_input_shape: tuple = (4,)
    example_batch: int = 3
    # A method fast_input_gradient(dy) -> dL/dx that skips the weight-gradient
    # products, in the layers where that saves time (Dense, the conv layers);
    # ``input_gradient`` runs it when the fast paths are on (aigc_np.layers.backend).
    fast_input_gradient = None
    # Likewise fast_param_gradients(dy): the grads of ``backward`` without the
    # dL/dx product (Dense), for ``param_gradients``.
    fast_param_gradients = None

    def __init__(self, name: str | None = None):
        self.name = name or type(self).__name__
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        # Buffers are state that is not trained by gradients (e.g. running means).
        self.buffers: dict[str, np.ndarray] = {}
        self.training = True
        self.input_shape: tuple | None = None
        self.output_shape: tuple | None = None
        self.dtype = np.dtype(np.float32)
        self._cache = None

    # ------------------------------------------------------------------ modes
    def train(self):
        """Switch to training mode (dropout active, batch statistics)."""
        self.training = True
        return self

    def eval(self):
        """Switch to evaluation mode (no dropout, running statistics)."""
        self.training = False
        return self

    # ------------------------------------------------------------ life cycle
    def build(self, input_shape, rng: np.random.Generator | None = None, dtype=np.float32):
        """Create parameters for per-example input shape ``input_shape``.

        Returns the per-example output shape. Subclasses with parameters
        override ``_build``; those that change the shape override
        ``compute_output_shape``.
        """
        dtype = np.dtype(dtype)
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"{self.name}: dtype must be float32 or float64, got {dtype}")
        self.dtype = dtype
        self.input_shape = as_shape(input_shape)
        self.output_shape = as_shape(self.compute_output_shape(self.input_shape))
        self._build(self.input_shape, rng)
        for key, value in self.params.items():
            self.params[key] = np.ascontiguousarray(value, dtype=dtype)
            self.grads[key] = np.zeros_like(self.params[key])
        for key, value in self.buffers.items():
            self.buffers[key] = np.ascontiguousarray(value, dtype=dtype)
        return self.output_shape

    def _build(self, input_shape: tuple, rng: np.random.Generator | None) -> None:
        """Create ``self.params`` (and ``self.buffers``). Default: nothing."""

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """Per-example output shape. Default: same as the input."""
        return input_shape

    @property
    def built(self) -> bool:
        return self.input_shape is not None

    def astype(self, dtype):
        """Cast parameters, gradients and buffers to ``dtype`` (in place)."""
        dtype = np.dtype(dtype)
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"{self.name}: dtype must be float32 or float64, got {dtype}")
        self.dtype = dtype
        for store in (self.params, self.grads, self.buffers):
            for key in store:
                store[key] = store[key].astype(dtype)
        return self

    @classmethod
    def example(cls, rng: np.random.Generator):
        """A float64 instance built for the example shape, and an input for it.

        Inputs are N(0, 1) pushed at least 0.1 away from 0, so that no value
        sits on the kink of a ReLU-like function during a gradient check.
        """
        layer = cls(**cls.example_args)
        layer.build(cls.example_input_shape, rng, np.float64)
        x = rng.standard_normal((cls.example_batch,) + tuple(cls.example_input_shape))
        return layer, x + np.where(x >= 0, 0.1, -0.1)

    def rngs(self) -> list:
        """Random generators this layer draws from in ``forward`` (for replay)."""
        return []

    # ----------------------------------------------------- input gradient only
    def sublayers(self) -> list:
        """Every layer nested inside this one (found in its attributes, and in
        lists, tuples and dicts of them), depth first; not this layer itself."""
        found, seen = [], {id(self)}

        def visit(value):
            if isinstance(value, Layer):
                if id(value) not in seen:
                    seen.add(id(value))
                    found.append(value)
                    visit(list(vars(value).values()))
            elif isinstance(value, (list, tuple)):
                for item in value:
                    visit(item)
            elif isinstance(value, dict):
                visit(list(value.values()))

        visit(list(vars(self).values()))
        return found

    def input_gradient(self, dy: np.ndarray) -> np.ndarray:
        """dL/dx alone, after a ``forward``; the grads of this layer (and of the
        layers inside it) keep the values they had.

        Reference: ``backward(dy)``, with the grads it assigns written into
        copies of the grads dicts that are then dropped. A GAN's generator step
        needs dL/d(fake) from D but not D's weight gradients (dW = X^T dY and
        the like, about half of a backward's products), so where skipping them
        pays, a layer defines ``fast_input_gradient``, which runs when the fast
        paths are on (tests/test_fast_paths.py holds the two equal).
        """
        if self.fast_input_gradient is not None and backend.fast():
            return self.fast_input_gradient(dy)
        # vars: only layers that own their grads dict (not a merged view of their children's)
        owners = [(layer, vars(layer)["grads"]) for layer in [self, *self.sublayers()] if "grads" in vars(layer)]
        for layer, grads in owners:
            layer.grads = dict(grads)
        try:
            return self.backward(dy)
        finally:
            for layer, grads in owners:
                layer.grads = grads

    def param_gradients(self, dy: np.ndarray) -> None:
        """Assign the grads that ``backward(dy)`` assigns, and return None: for a layer
        whose input nothing upstream learns from (the first layer of D in D's step on
        real and detached fake images).

        Reference: ``backward(dy)``, its dL/dx dropped. Where the dL/dx product
        is worth skipping, ``fast_param_gradients`` runs instead when the fast
        paths are on (Dense: dY W^T, 784 x 1024 per image in the MLP GAN's D).
        """
        if self.fast_param_gradients is not None and backend.fast():
            self.fast_param_gradients(dy)
        else:
            self.backward(dy)

    # --------------------------------------------------------------- compute
    def __call__(self, x):
        return self.forward(x)

    def forward(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward_backward(self, d_dx: np.ndarray, dy: np.ndarray):
        """Double backward: differentiate this layer's *backward* pass.

        ``backward`` computes dx = g(x, dy, theta). A gradient penalty (WGAN-GP)
        is a loss on dx, so training needs the gradient of a scalar
        L = sum(d_dx * g(x, dy, theta)) with respect to dy, x and theta, given
        d_dx = dL/d(dx) and the ``dy`` that ``backward`` was called with (after
        a ``forward``, whose cache this reads).

        Returns:
            ``(d_dy, d_x)``: dL/d(dy), shaped like the output, and the *direct*
            dL/dx through g's dependence on x, shaped like the input -- or None
            where g does not depend on x (linear layers, ReLU-like activations).
        Parameters: *assigns* dL/dtheta (the direct terms) to ``self.grads``,
        like ``backward`` does; nothing is accumulated and no parameter changes.

        Layers that a critic does not need do not implement it and raise here.
        """
        raise NotImplementedError(
            f"{self.name}: backward_backward (the double backward a gradient penalty needs) is not "
            f"implemented for {type(self).__name__}; it exists for Dense, Conv2D, Flatten, Reshape, "
            f"ReLU, LeakyReLU, Tanh, Sigmoid and Sequential")

    def _check_double(self, d_dx, dy, input_shape: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Validate the arguments of ``backward_backward``: dy against the cached output
        shape, d_dx against ``input_shape`` (the full shape of the last input;
        None: the shape of dy, as for element-wise layers)."""
        dy = self._check_grad(dy)
        input_shape = dy.shape if input_shape is None else input_shape
        if not isinstance(d_dx, np.ndarray):
            raise TypeError(f"{self.name}: expected d_dx as a numpy.ndarray, got {type(d_dx).__name__}")
        if d_dx.shape != tuple(input_shape):
            raise ValueError(f"{self.name}: expected d_dx of shape {tuple(input_shape)} (the input shape), "
                             f"got {d_dx.shape}")
        if d_dx.dtype != dy.dtype:
            raise TypeError(f"{self.name}: expected d_dx of dtype {dy.dtype} (that of dy), got {d_dx.dtype}")
        return d_dx, dy

    # ----------------------------------------------------------------- checks
    def _check_input(self, x, min_rank: int = 1, exact_shape: bool = True) -> np.ndarray:
        """Validate ``x`` before it reaches NumPy's broadcasting.

        Raises TypeError for non-float or wrong-precision arrays and ValueError
        for wrong shapes or NaN, naming this layer and what it expected.
        """
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{self.name}: expected a numpy.ndarray, got {type(x).__name__}")
        if x.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{self.name}: expected a float32 or float64 array, got dtype {x.dtype}")
        if self.params and x.dtype != self.dtype:
            raise TypeError(
                f"{self.name}: expected dtype {self.dtype} (the layer's parameters), got {x.dtype}; "
                f"cast the input or call .astype({x.dtype.name}) on the model"
            )
        if self.built and exact_shape:
            if x.shape[1:] != self.input_shape:
                raise ValueError(
                    f"{self.name}: expected input shape (N, {', '.join(map(str, self.input_shape))}), "
                    f"got {x.shape}"
                )
        elif x.ndim < min_rank:
            raise ValueError(f"{self.name}: expected an input of rank >= {min_rank}, got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"{self.name}: input contains NaN or infinity")
        return x

    def _check_grad(self, dy) -> np.ndarray:
        """Validate the upstream gradient against the cached output shape."""
        if self._cache is None:
            raise ValueError(f"{self.name}: backward called before forward")
        if not isinstance(dy, np.ndarray):
            raise TypeError(f"{self.name}: expected dy as a numpy.ndarray, got {type(dy).__name__}")
        expected = self._out_shape_cached
        if dy.shape != expected:
            raise ValueError(f"{self.name}: expected dy of shape {expected} (the output shape), got {dy.shape}")
        return dy

    def _remember_output(self, y: np.ndarray) -> np.ndarray:
        self._out_shape_cached = y.shape
        return y

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self.params.items())
        return f"{type(self).__name__}({shapes})" if shapes else f"{type(self).__name__}()"
