"""Saving and loading without losing or leaking anything.

* Writes are atomic: write a temporary file in the target folder, then
  ``os.replace`` it over the destination, so a crash never leaves half a file.
* Loads use ``allow_pickle=False``: an .npz from someone else cannot run code.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
import zipfile
from contextlib import contextmanager

import numpy as np

__all__ = ["atomic_write", "remove_stale_parts", "sha256_file", "open_npz", "save_weights", "load_weights"]


def sha256_file(path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (files can be tens of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextmanager
def atomic_write(path, mode: str = "wb"):
    """Open a temporary file next to ``path``; on success move it onto ``path``.

    A rename within one file system is atomic, so a reader (or a crash) only
    ever sees the old file or the complete new one. On any exception inside
    the ``with`` block (a failed checksum, say) the temporary file is deleted.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".part")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; saved files should be readable
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def remove_stale_parts(folder, names) -> list[str]:
    """Delete the temporary files that killed ``atomic_write`` calls left for ``names``.

    A save killed between ``mkstemp`` and ``os.replace`` (SIGKILL, power
    loss) leaves ``.<name>.<8 random characters>.part`` next to ``<name>``.
    Only regular files of exactly that pattern, for the given final names,
    are removed; nothing else in ``folder`` is touched. Call it when a run
    starts, before anything else writes there. Returns the removed paths.
    """
    folder = os.fspath(folder)
    names = list(names)
    for name in names:
        if not isinstance(name, str) or not name or os.path.basename(name) != name or name in (".", ".."):
            raise ValueError(f"remove_stale_parts: expected plain file names, got {name!r}")
    # mkstemp's random part: 8 characters of [a-z0-9_] (tempfile's alphabet).
    pattern = re.compile(r"\.(%s)\.[a-z0-9_]{8}\.part" % "|".join(re.escape(n) for n in names))
    try:
        entries = sorted(os.listdir(folder))
    except FileNotFoundError:
        return []
    removed = []
    for entry in entries:
        path = os.path.join(folder, entry)
        if pattern.fullmatch(entry) and stat.S_ISREG(os.lstat(path).st_mode):
            os.remove(path)
            removed.append(path)
    return removed


def save_weights(model, path, **extra) -> None:
    """Save ``model.params`` and ``model.buffers`` (plus ``extra`` arrays) to an .npz, atomically.

    Keys are ``param/<name>``, ``buffer/<name>`` and ``extra/<name>``.
    """
    arrays = {f"param/{k}": v for k, v in model.params.items()}
    arrays.update({f"buffer/{k}": v for k, v in model.buffers.items()})
    arrays.update({f"extra/{k}": np.asarray(v) for k, v in extra.items()})
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def load_weights(model, path) -> dict:
    """Copy weights saved by ``save_weights`` into ``model`` (in place, keeping its dtype).

    Every parameter and buffer of the model must be present with the same
    shape; otherwise a ValueError names the file and the mismatch. Returns
    the ``extra`` arrays.
    """
    path = os.fspath(path)
    with open_npz(path) as data:
        return _copy_into(model, data, path)


@contextmanager
def open_npz(path):
    """``np.load(path, allow_pickle=False)`` for .npz archives, with errors that name the file.

    Raises ValueError for a missing, truncated or corrupted file, a file
    that is not an .npz archive, and an archive holding pickled objects.
    """
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise ValueError(f"{path}: expected an .npz archive of named arrays, got a single array")
            yield data
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from e
    except ValueError as e:
        message = str(e)
        if message.startswith(path):  # already ours
            raise
        if "Object arrays" in message:
            raise ValueError(f"{path}: refused: the file contains pickled objects, which could run code") from e
        if "pickled" in message:
            raise ValueError(f"{path}: not a readable .npz file (not a zip archive; loading it would "
                             "need pickle, which could run code)") from e
        raise ValueError(f"{path}: not a readable .npz file ({message})") from e


def _copy_into(model, data, path) -> dict:
    for prefix, store in (("param/", model.params), ("buffer/", model.buffers)):
        for name, target in store.items():
            key = prefix + name
            if key not in data.files:
                raise ValueError(f"{path}: missing {key!r}; the file holds {sorted(data.files)[:8]}...")
            value = data[key]
            if value.shape != target.shape:
                raise ValueError(f"{path}: {key!r} has shape {value.shape}, the model expects {target.shape}")
            target[...] = value
    return {key[len("extra/"):]: data[key] for key in data.files if key.startswith("extra/")}
