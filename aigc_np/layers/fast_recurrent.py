"""LSTM's fast path: the same maths as layers/recurrent.py, arranged for the machine.

What changes, and why (the reference spends most of its time outside the two products per step):

* sigmoid(a) = (1 + tanh(a / 2)) / 2, so scaling the i, f and o columns of Wx, Wh and b by 1/2
  once per forward turns the four gates' nonlinearities into **one** ``tanh`` over (N, 4H) per
  step, in place, in place of the reference's overflow-safe sigmoid (nine passes) plus a tanh;
* every per-step result is written with ``out=`` into buffers made once per call;
* tanh(c_t) is kept from forward, so backward does not take it again;
* backward forms the gates' derivatives i(1 - i), f(1 - f), o(1 - o) and 1 - g^2 over the whole
  (N, 4H) row at once.

``LSTM.forward`` and ``LSTM.backward`` call these when the fast paths are on
(aigc_np.layers.backend); tests/test_fast_paths.py holds them equal to the reference.
"""
from __future__ import annotations

import numpy as np


def _gate_scale(hsz: int, dtype) -> np.ndarray:
    """1/2 on the columns of i, f and o (sigmoid gates), 1 on g's (tanh)."""
    scale = np.full(4 * hsz, 0.5, dtype=dtype)
    scale[2 * hsz:3 * hsz] = 1.0
    return scale


def lstm_forward(x, wx, wh, b, h0, c0):
    """x (N, T, D), h0 and c0 (N, H) -> hs, cs (N, T + 1, H) with the initial state first,
    gates (N, T, 4H) as [i, f, g, o] after their nonlinearities, and tanh(c_t) (N, T, H)."""
    n, steps, _ = x.shape
    hsz = wh.shape[0]
    scale = _gate_scale(hsz, x.dtype)
    xw = (x.reshape(n * steps, -1) @ (wx * scale)).reshape(n, steps, 4 * hsz)
    xw += b * scale
    wh_half = wh * scale
    hs = np.empty((n, steps + 1, hsz), dtype=x.dtype)
    cs = np.empty_like(hs)
    tanh_cs = np.empty((n, steps, hsz), dtype=x.dtype)
    gates = np.empty((n, steps, 4 * hsz), dtype=x.dtype)
    hs[:, 0], cs[:, 0] = h0, c0
    a = np.empty((n, 4 * hsz), dtype=x.dtype)
    i_g = np.empty((n, hsz), dtype=x.dtype)
    for t in range(steps):
        np.matmul(hs[:, t], wh_half, out=a)
        a += xw[:, t]
        np.tanh(a, out=a)                                   # tanh(a/2) for i, f, o; tanh(a) for g
        gate = gates[:, t]
        np.multiply(a, 0.5, out=gate)
        gate += 0.5                                         # sigmoid for i, f, o ...
        gate[:, 2 * hsz:3 * hsz] = a[:, 2 * hsz:3 * hsz]    # ... and g stays tanh
        i, f, g, o = np.split(gate, 4, axis=1)
        np.multiply(f, cs[:, t], out=cs[:, t + 1])
        np.multiply(i, g, out=i_g)
        cs[:, t + 1] += i_g
        np.tanh(cs[:, t + 1], out=tanh_cs[:, t])
        np.multiply(o, tanh_cs[:, t], out=hs[:, t + 1])
    return hs, cs, gates, tanh_cs


def lstm_backward(dy, x, hs, cs, gates, tanh_cs, wx, wh):
    """BPTT from the forward's arrays -> dx, dWx, dWh, db, and (dh0, dc0)."""
    n, steps, hsz = dy.shape
    da_all = np.empty((n, steps, 4 * hsz), dtype=dy.dtype)
    dh_next = np.zeros((n, hsz), dtype=dy.dtype)
    dc_next = np.zeros((n, hsz), dtype=dy.dtype)
    dh, dc = np.empty_like(dh_next), np.empty_like(dh_next)
    slope = np.empty((n, 4 * hsz), dtype=dy.dtype)
    wh_t = np.ascontiguousarray(wh.T)
    for t in reversed(range(steps)):
        gate, tanh_c = gates[:, t], tanh_cs[:, t]
        i, f, g, o = np.split(gate, 4, axis=1)
        np.add(dy[:, t], dh_next, out=dh)
        np.multiply(tanh_c, tanh_c, out=dc)
        np.subtract(1, dc, out=dc)
        dc *= o
        dc *= dh
        dc += dc_next                                       # dc = dc_next + dh o (1 - tanh(c)^2)
        da = da_all[:, t]
        np.multiply(dc, g, out=da[:, :hsz])                 # the upstream of each gate ...
        np.multiply(dc, cs[:, t], out=da[:, hsz:2 * hsz])
        np.multiply(dc, i, out=da[:, 2 * hsz:3 * hsz])
        np.multiply(dh, tanh_c, out=da[:, 3 * hsz:])
        np.multiply(gate, gate, out=slope)
        np.subtract(gate, slope, out=slope)                 # ... times s(1 - s) for i, f, o ...
        np.subtract(1, np.square(g), out=slope[:, 2 * hsz:3 * hsz])   # ... and 1 - g^2 for g
        da *= slope
        np.matmul(da, wh_t, out=dh_next)
        np.multiply(dc, f, out=dc_next)
    rows = da_all.reshape(n * steps, 4 * hsz)
    dwx = x.reshape(n * steps, -1).T @ rows
    dwh = hs[:, :steps].reshape(n * steps, hsz).T @ rows
    db = rows.sum(axis=0)
    dx = (rows @ wx.T).reshape(x.shape)
    return dx, dwx, dwh, db, (dh_next, dc_next)
