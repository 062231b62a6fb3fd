"""A training run's folder: ``last.npz``, ``best.npz``, ``history.csv`` and sample grids.

One class does every write a run makes, so every kind gets the same guarantees:

* a lock: a second run into the same folder is refused while the first lives
  (``.lock``, an OS file lock, released by the kernel even on SIGKILL);
* the temporary ``.part`` files that a killed save of this run's own files
  left behind are removed when the run starts;
* each save writes best.npz, then history.csv, then last.npz, each one
  atomically. last.npz is written last, so a run killed between any two
  writes resumes from the previous last.npz and redoes that stretch, which
  rewrites the other two consistently (a best.npz never claims a step that
  history.csv and last.npz have not reached).
"""
from __future__ import annotations

import csv
import io
import os

from .checkpoint import save_checkpoint
from .io import atomic_write, remove_stale_parts

__all__ = ["RunFolder", "FolderBusy", "RUN_FILES"]

RUN_FILES = ("last.npz", "best.npz", "history.csv")

try:  # POSIX; on Windows the folder is not locked (the rest works the same)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None


class FolderBusy(ValueError):
    """Another live run holds the folder's lock."""


class RunFolder:
    """``with RunFolder(path) as run:`` locks ``path`` for one run and cleans its stale parts."""

    def __init__(self, path: str, grid_names=()):
        self.path = os.fspath(path)
        self.grid_names = list(grid_names)
        self._lock = None

    def __enter__(self) -> "RunFolder":
        os.makedirs(self.path, exist_ok=True)
        self._lock = open(os.path.join(self.path, ".lock"), "a+")
        if fcntl is not None:
            try:
                fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._lock.close()
                self._lock = None
                raise FolderBusy(f"--out {self.path}: another run is training into this folder; "
                                 "wait for it to finish or choose another --out") from None
        remove_stale_parts(self.path, [*RUN_FILES, *self.grid_names])
        return self

    def __exit__(self, *exc) -> None:
        if self._lock is not None:
            self._lock.close()   # closing the file releases the lock
            self._lock = None

    def clear(self) -> None:
        """Remove an earlier run's files (--overwrite): a stale best.npz must not outlive its run."""
        for name in os.listdir(self.path):
            if name in RUN_FILES or (name.startswith("samples_") and name.endswith(".png")):
                os.remove(self.file(name))

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def save(self, model, history: list[dict], step: int, rng, best: dict | None = None, train: dict | None = None):
        """best.npz (when ``best`` holds the score that made this step the best), then history.csv,
        then last.npz."""
        if best is not None:
            save_checkpoint(model, self.file("best.npz"), step=step, rng=rng, train=train, **best)
        write_history(self.file("history.csv"), history)
        save_checkpoint(model, self.file("last.npz"), step=step, rng=rng, train=train)


def write_history(path, rows: list[dict]) -> None:
    """Rows of {column: value} as a CSV (columns in order of first appearance), atomically."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    with atomic_write(path, "w") as f:
        f.write(buffer.getvalue())


def read_history(path, up_to_step: int) -> list[dict]:
    """The rows of history.csv up to and including ``up_to_step`` (missing file: none)."""
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        rows = [{k: (int(v) if k in ("step", "epoch") else float(v)) for k, v in row.items() if v not in ("", None)}
                for row in csv.DictReader(f)]
    return [row for row in rows if row.get("step", 0) <= up_to_step]
