"""LSTM: a recurrent layer run over a whole sequence, with backpropagation through time."""
from __future__ import annotations

import numpy as np

from .activations import sigmoid
from .base import Layer


class LSTM(Layer):
    """Long short-term memory (Hochreiter & Schmidhuber 1997; the forget gate of Gers et al. 2000).

    Shapes: x (N, T, D) -> every hidden state h (N, T, H); Wx (D, 4H), Wh (H, 4H), b (4H,).
    Per step t, from the previous state (h, c) (zeros, or ``initial_state``):

        a = x_t Wx + h_{t-1} Wh + b            the four gates' inputs in one matmul, split as [i, f, g, o]
        i, f, o = sigmoid(a_i, a_f, a_o),  g = tanh(a_g)
        c_t = f * c_{t-1} + i * g              the cell: keep a fraction f, write i * g
        h_t = o * tanh(c_t)

    x Wx for all T steps is one matmul before the loop; inside it, h_{t-1} Wh
    is the one matmul per step (and da_t Wh^T in backward). The loop runs over
    time, never over examples.

    Backward (BPTT) walks t = T..1 carrying dh and dc back from step t+1:

        dh = dY_t + dh_next;        dc = dc_next + dh * o * (1 - tanh(c_t)^2)
        do = dh * tanh(c_t),  di = dc * g,  dg = dc * i,  df = dc * c_{t-1}
        da = [di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)]
        dh_next = da Wh^T,  dc_next = dc * f
    then, over all steps at once, dWx = X^T dA, dWh = H_prev^T dA, db = sum dA, dx = dA Wx^T.
    The gradients with respect to the initial state are the last (dh_next,
    dc_next), kept in ``self.d_initial_state``. The final state is kept in
    ``self.state`` (so a generator can carry it to the next chunk).

    The forget-gate bias starts at 1, so the cell remembers by default early in training.
    """

    example_args = {"units": 4}
    example_input_shape = (6, 3)   # T = 6 steps of BPTT in the every-layer check

    def __init__(self, units: int, name: str | None = None):
        super().__init__(name)
        if int(units) <= 0:
            raise ValueError(f"{self.name}: units must be positive, got {units}")
        self.units = int(units)
        self.state = None
        self.d_initial_state = None

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"{self.name}: expected a per-example shape (T, features), got {input_shape}")
        return (input_shape[0], self.units)

    def _build(self, input_shape, rng):
        if rng is None:
            raise ValueError(f"{self.name}: build needs a np.random.Generator to initialize its weights")
        d, h = input_shape[-1], self.units
        self.params["Wx"] = rng.uniform(-1, 1, (d, 4 * h)) * np.sqrt(6.0 / (d + h))     # Glorot per gate
        self.params["Wh"] = rng.uniform(-1, 1, (h, 4 * h)) * np.sqrt(6.0 / (2 * h))
        b = np.zeros(4 * h)
        b[h:2 * h] = 1.0                                                               # forget gate
        self.params["b"] = b

    def _check_state(self, state, n: int):
        if state is None:
            zeros = np.zeros((n, self.units), dtype=self.dtype)
            return zeros, zeros.copy()
        h0, c0 = state
        for what, s in (("h0", h0), ("c0", c0)):
            if not isinstance(s, np.ndarray) or s.shape != (n, self.units) or s.dtype != self.dtype:
                got = f"{s.shape} {s.dtype}" if isinstance(s, np.ndarray) else type(s).__name__
                raise ValueError(f"{self.name}: initial state {what} must be ({n}, {self.units}) {self.dtype}, "
                                 f"got {got}")
        return h0, c0

    @property
    def gates(self) -> dict:
        """The gates of the last forward, after their nonlinearities, as read-only arrays.

        ``{"i": input, "f": forget, "g": candidate, "o": output}``, each (N, T, H): entry
        [n, t] is the gate at step t of example n. i, f and o lie in (0, 1) (sigmoid), g in
        (-1, 1) (tanh); the cell follows as c_t = f_t * c_{t-1} + i_t * g_t.
        """
        if self._cache is None:
            raise ValueError(f"{self.name}: gates needs a forward pass first; none has run")
        views = np.split(self._cache[3], 4, axis=2)
        for view in views:
            view.flags.writeable = False               # views: backward still needs the cached gates
        return dict(zip("ifgo", views))

    def forward(self, x, initial_state=None):
        """x: (N, T, D); initial_state: optional (h0, c0), each (N, H). Returns h (N, T, H)."""
        if not self.built:
            raise ValueError(f"{self.name}: call build(input_shape, rng) first")
        self._check_input(x, exact_shape=False)
        if x.ndim != 3 or x.shape[2] != self.input_shape[-1]:
            raise ValueError(f"{self.name}: expected input (N, T, {self.input_shape[-1]}), got {x.shape}")
        n, steps, _ = x.shape
        hsz = self.units
        h, c = self._check_state(initial_state, n)
        xw = (x.reshape(n * steps, -1) @ self.params["Wx"]).reshape(n, steps, 4 * hsz) + self.params["b"]
        hs = np.empty((n, steps + 1, hsz), dtype=x.dtype)          # hs[:, 0] = h0, hs[:, t + 1] = h_t
        cs = np.empty((n, steps + 1, hsz), dtype=x.dtype)
        gates = np.empty((n, steps, 4 * hsz), dtype=x.dtype)       # i, f, g, o after their nonlinearities
        hs[:, 0], cs[:, 0] = h, c
        for t in range(steps):
            a = xw[:, t] + h @ self.params["Wh"]
            gate = gates[:, t]
            gate[:, :2 * hsz] = sigmoid(a[:, :2 * hsz])
            gate[:, 2 * hsz:3 * hsz] = np.tanh(a[:, 2 * hsz:3 * hsz])
            gate[:, 3 * hsz:] = sigmoid(a[:, 3 * hsz:])
            i, f, g, o = np.split(gate, 4, axis=1)
            c = f * c + i * g
            h = o * np.tanh(c)
            hs[:, t + 1], cs[:, t + 1] = h, c
        self.state = (h.copy(), c.copy())
        self._cache = (x, hs, cs, gates)
        return self._remember_output(hs[:, 1:].copy())

    def backward(self, dy):
        dy = self._check_grad(dy)
        x, hs, cs, gates = self._cache
        n, steps, hsz = dy.shape
        wh = self.params["Wh"]
        da_all = np.empty((n, steps, 4 * hsz), dtype=dy.dtype)
        dh_next = np.zeros((n, hsz), dtype=dy.dtype)
        dc_next = np.zeros((n, hsz), dtype=dy.dtype)
        for t in reversed(range(steps)):
            i, f, g, o = np.split(gates[:, t], 4, axis=1)
            # BEGIN EXERCISE 11: the LSTM cell backward
            # Hint: dh = dY_t + dh_next; dc = dc_next + dh o (1 - tanh(c_t)^2); the gates' da = [dc g i(1-i), dc c_{t-1} f(1-f), dc i (1-g^2), dh tanh(c_t) o(1-o)]; dh_next = da Wh^T, dc_next = dc f.
            tanh_c = np.tanh(cs[:, t + 1])
            dh = dy[:, t] + dh_next
            dc = dc_next + dh * o * (1 - tanh_c ** 2)
            da = da_all[:, t]
            da[:, :hsz] = dc * g * i * (1 - i)
            da[:, hsz:2 * hsz] = dc * cs[:, t] * f * (1 - f)
            da[:, 2 * hsz:3 * hsz] = dc * i * (1 - g ** 2)
            da[:, 3 * hsz:] = dh * tanh_c * o * (1 - o)
            dh_next = da @ wh.T
            dc_next = dc * f
            # END EXERCISE 11
        rows = da_all.reshape(n * steps, 4 * hsz)
        self.grads["Wx"] = x.reshape(n * steps, -1).T @ rows
        self.grads["Wh"] = hs[:, :steps].reshape(n * steps, hsz).T @ rows
        self.grads["b"] = rows.sum(axis=0)
        self.d_initial_state = (dh_next, dc_next)
        return (rows @ self.params["Wx"].T).reshape(x.shape)
