"""How many threads NumPy's BLAS (OpenBLAS) uses for matrix products, set at run time.

On a machine with other work running, a BLAS that spins one thread per core
waits for the busy cores at every product: measured on 2 cores with another
process busy on them, five VAE epochs took many times longer with 2 BLAS
threads than with one (docs/performance.md). So ``--threads auto`` (the
default of the CLI and the lessons) uses one thread when the 1-minute load
average says the cores are already busy, and every core otherwise.

NumPy bundles OpenBLAS as a shared library; its ``*_set_num_threads``
function is called through ``ctypes`` (the standard library), so the count
can change after NumPy is imported. Environment variables such as
``OPENBLAS_NUM_THREADS`` set before the start still work and are respected by
``auto``.
"""
from __future__ import annotations

import ctypes
import os

import numpy as np  # noqa: F401  (loads the BLAS library this module looks for)

__all__ = ["blas_threads", "set_blas_threads", "choose_threads", "apply_threads"]

_PREFIXES = ("scipy_openblas_", "openblas_")
_SUFFIXES = ("64_", "")


def _openblas():
    """(get, set) functions of the loaded OpenBLAS, or None if NumPy uses another BLAS."""
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line})
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                get = getattr(lib, f"{prefix}get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    return get, put
    return None


def blas_threads() -> int | None:
    """The BLAS thread count in use (None if it cannot be read)."""
    fns = _openblas()
    return int(fns[0]()) if fns else None


def set_blas_threads(n: int) -> int | None:
    """Use ``n`` BLAS threads from now on; returns the count now in use (None if unsupported)."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"set_blas_threads: expected a thread count >= 1, got {n!r}")
    fns = _openblas()
    if fns is None:
        return None
    fns[1](int(n))
    return int(fns[0]())


def choose_threads(setting: str | int, cores: int | None = None, load: float | None = None) -> int:
    """The thread count for ``--threads``: an int >= 1 as given, or for "auto" one thread when
    the 1-minute load average (before we start) is at least half the cores, else every core."""
    cores = cores or os.cpu_count() or 1
    if setting != "auto":
        n = int(setting)
        if n < 1:
            raise ValueError(f"--threads: expected 'auto' or an integer >= 1, got {setting!r}")
        return n
    load = os.getloadavg()[0] if load is None else load
    return 1 if load >= cores / 2 else cores


def apply_threads(setting: str | int = "auto") -> str:
    """Apply ``--threads`` and return the line to print at start, e.g. 'BLAS threads: 1 (auto: load 1.9 on 2 cores)'."""
    env = os.environ.get("OPENBLAS_NUM_THREADS")
    if setting == "auto" and env:
        return f"BLAS threads: {blas_threads() or env} (OPENBLAS_NUM_THREADS={env})"
    n = choose_threads(setting)
    used = set_blas_threads(n)
    why = f"auto: load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores" if setting == "auto" else "--threads"
    if used is None:
        return f"BLAS threads: not settable from Python here (set OPENBLAS_NUM_THREADS); wanted {n} ({why})"
    return f"BLAS threads: {used} ({why})"
