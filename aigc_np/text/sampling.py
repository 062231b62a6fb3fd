"""Choosing the next character from a model's logits: temperature, top-k and nucleus (top-p)."""
from __future__ import annotations

import numpy as np

__all__ = ["check_sampling", "sample_next"]


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """ValueError for a temperature below 0, a top_k below 1, or a top_p outside (0, 1]."""
    if not np.isfinite(temperature) or temperature < 0:
        raise ValueError(f"--temperature {temperature}: expected a number >= 0 (0 means greedy)")
    if top_k is not None and (int(top_k) != top_k or top_k < 1):
        raise ValueError(f"--top-k {top_k}: expected an integer >= 1")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"--top-p {top_p}: expected a number in (0, 1]")


def sample_next(logits: np.ndarray, rng: np.random.Generator, temperature: float = 1.0,
                top_k: int | None = None, top_p: float | None = None) -> np.ndarray:
    """One id per row of logits (B, V), as int64 (B,).

    * temperature T: sample from softmax(z / T); T < 1 sharpens, T > 1 flattens,
      and T = 0 is the limit, greedy decoding (argmax), which draws nothing from rng;
    * top_k: keep only the k largest logits of each row;
    * top_p: keep the smallest set of most likely characters whose total
      probability reaches p (Holtzman et al. 2020), then renormalize.
    """
    check_sampling(temperature, top_k, top_p)
    logits = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return np.argmax(logits, axis=-1)
    z = logits / temperature
    if top_k is not None and top_k < z.shape[-1]:
        kth = np.sort(z, axis=-1)[:, -int(top_k)][:, None]
        z = np.where(z < kth, -np.inf, z)
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    if top_p is not None and top_p < 1:
        order = np.argsort(-p, axis=-1)
        sorted_p = np.take_along_axis(p, order, axis=-1)
        before = np.cumsum(sorted_p, axis=-1) - sorted_p        # mass of the more likely characters
        keep_sorted = before < top_p                            # the most likely one is always kept
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=-1)
        p = np.where(keep, p, 0.0)
        p /= p.sum(axis=-1, keepdims=True)
    cumulative = np.cumsum(p, axis=-1)
    u = rng.random((p.shape[0], 1)) * cumulative[:, -1:]     # u < the total, so a kept id is chosen
    return (cumulative < u).sum(axis=-1)
