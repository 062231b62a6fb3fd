"""Saving and loading without losing or leaking anything.

* Writes are atomic: write a temporary file in the target folder, then
  ``os.replace`` it over the destination, so a crash never leaves half a file.
* Loads never unpickle: an .npz from someone else cannot run code.
* Loads are bounded: every user path is opened by ``open_regular_file``,
  which refuses anything that is not a regular file (a named pipe would hang
  the reader, /dev/zero never ends); ``read_regular_bytes`` also checks the
  size before reading. ``open_npz`` reads every member's .npy header (shape
  and dtype) before any data and caps the total size an archive may declare,
  so a small file cannot make the reader decompress gigabytes (a "zip bomb").
* Writes never replace a device, pipe or folder: ``atomic_write`` refuses an
  existing target that is not a regular file (as root, ``--out /dev/null``
  would otherwise become a regular file).
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

__all__ = ["atomic_write", "remove_stale_parts", "sha256_file", "open_regular_file", "read_regular_bytes",
           "load_npy", "open_npz", "NpyHeader",
           "NpzArchive", "MAX_NPZ_BYTES", "save_weights", "load_weights", "read_model_arrays",
           "copy_model_arrays", "read_float_array", "is_float_dtype"]

# The most an archive may declare in total (uncompressed). The largest registry
# model at its defaults (gan, 3.0 M parameters), with Adam moments and an EMA copy, needs 42 MB.
MAX_NPZ_BYTES = 1 << 30
MAX_NPZ_MEMBERS = 10_000
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")   # a zip's first file, or an empty zip
_NPY_MAGIC = b"\x93NUMPY"
# Anything going wrong inside a damaged zip or deflate stream.
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError,
               NotImplementedError, RuntimeError)


def sha256_file(path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (files can be tens of MB)."""
    h = hashlib.sha256()
    with open_regular_file(path) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextmanager
def atomic_write(path, mode: str = "wb"):
    """Open a temporary file next to ``path``; on success move it onto ``path``.

    A rename within one file system is atomic, so a reader (or a crash) only
    ever sees the old file or the complete new one. On any exception inside
    the ``with`` block (a failed checksum, say) the temporary file is deleted.
    An existing ``path`` that is not a regular file (a named pipe, a device
    such as /dev/null, a folder, a socket) is refused with a ValueError
    before anything is written: the rename would put a file in its place.
    """
    path = os.fspath(path)
    try:
        existing = os.stat(path).st_mode       # follows a symlink: a link to /dev/null is refused too
    except (FileNotFoundError, NotADirectoryError):
        existing = None
    if existing is not None and not stat.S_ISREG(existing):
        raise ValueError(f"{path}: expected a regular file or a new path to write, got "
                         f"{_file_kind(existing)}; refusing to replace it")
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
    shape and a float32/float64 dtype; otherwise a ValueError names the file
    and the mismatch, and the model is left unchanged. Returns the ``extra`` arrays.
    """
    path = os.fspath(path)
    with open_npz(path) as archive:
        arrays = read_model_arrays(model, archive)
        extra = {key[len("extra/"):]: archive[key] for key in archive.files if key.startswith("extra/")}
    copy_model_arrays(model, arrays)
    return extra


# ------------------------------------------------------------ checked reading
def _file_kind(mode: int) -> str:
    """What a non-regular ``st_mode`` is, in words."""
    return {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a named pipe", stat.S_IFSOCK: "a socket",
            stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
            stat.S_IFLNK: "a symbolic link"}.get(stat.S_IFMT(mode), "not a file")


def _named(path: str, what: str) -> str:
    return f"{what} {path}" if what else path


def open_regular_file(path, what: str = ""):
    """``open(path, "rb")``, refusing a missing file and anything that is not a regular file.

    A named pipe would block a reader forever and a device can be endless;
    the file is opened without blocking and checked with ``fstat`` (no race
    between the check and the open). Errors are ValueErrors starting with
    ``what`` (e.g. ``"--corpus"``) and the path.
    """
    path = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ValueError(f"{_named(path, what)}: no such file") from None
    except OSError as e:
        raise ValueError(f"{_named(path, what)}: cannot open it ({e.strerror or e})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ValueError(f"{_named(path, what)}: expected a regular file, got {_file_kind(mode)}")
    return os.fdopen(fd, "rb")


def read_regular_bytes(path, max_bytes: int, what: str) -> bytes:
    """The whole content of a regular file of at most ``max_bytes`` bytes.

    The file is opened by ``open_regular_file`` (a pipe or device is refused
    without reading), its size is checked with ``fstat`` before any byte is
    read, and no more than ``max_bytes + 1`` bytes are ever read, so a file
    that grows while it is read is still bounded. Errors are ValueErrors
    naming ``what`` (e.g. ``"--corpus"``), the path, the limit and the size.
    """
    path = os.fspath(path)
    with open_regular_file(path, what) as f:
        size = os.fstat(f.fileno()).st_size
        if size > max_bytes:
            raise ValueError(f"{_named(path, what)}: the file holds {size:,} bytes, more than the "
                             f"{max_bytes:,} this reader accepts")
        # Ask for what fstat promised (plus one byte, to notice growth), not for max_bytes:
        # a read of n bytes allocates n bytes up front.
        try:
            data = f.read(size + 1)
            if len(data) > size:
                parts, total = [data], len(data)
                while total <= max_bytes:
                    part = f.read(min(1 << 20, max_bytes + 1 - total))
                    if not part:
                        break
                    parts.append(part)
                    total += len(part)
                data = b"".join(parts)
        except OSError as e:
            raise ValueError(f"{_named(path, what)}: cannot read it ({e.strerror or e})") from None
    if len(data) > max_bytes:
        raise ValueError(f"{_named(path, what)}: the file grew past the {max_bytes:,} bytes this reader "
                         f"accepts while it was read")
    return data


@dataclass(frozen=True)
class NpyHeader:
    """What a member's .npy header declares, read before any of its data."""
    shape: tuple
    dtype: np.dtype
    fortran_order: bool
    offset: int        # bytes of magic and header before the data

    @property
    def size(self) -> int:
        """Number of elements (Python int: no overflow for garbage shapes)."""
        n = 1
        for d in self.shape:
            n *= int(d)
        return n

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize


class NpzArchive:
    """An .npz opened by ``open_npz``: member names and headers now, data on request.

    ``files`` lists the member names without ``.npy`` (as ``np.load`` does),
    ``headers[name]`` is the member's :class:`NpyHeader`, and
    ``archive[name]`` reads one array, checking that it holds exactly the
    bytes its header declares (and the zip's CRC-32).
    """

    def __init__(self, path: str, zf: zipfile.ZipFile, headers: dict):
        self.path, self._zip, self.headers = path, zf, headers
        self.files = list(headers)

    def __contains__(self, name) -> bool:
        return name in self.headers

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.headers:
            raise ValueError(f"{self.path}: no member {name!r}; the file holds {sorted(self.files)[:8]}...")
        h = self.headers[name]
        try:
            with self._zip.open(name + ".npy") as member:
                member.read(h.offset)
                data = member.read(h.nbytes)          # never more: the zip entry ends there
                if len(data) != h.nbytes or member.read(1):
                    raise ValueError(f"holds {len(data)} data bytes, its header declares {h.nbytes}")
        except _ZIP_ERRORS as e:
            raise ValueError(f"{self.path}: member {name!r} is damaged ({type(e).__name__}: {e})") from None
        return _array_from(data, h, 0)


def _parse_npy_header(stream, path: str, member: str | None = None) -> NpyHeader:
    """The header of the .npy at ``stream``'s position, checked: format 1.0 or 2.0, no pickled
    objects, a numeric or text dtype. Errors name ``path`` (and the archive ``member``)."""
    where = f"{path}: the array" if member is None else f"{path}: member {member!r}"
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise ValueError(f"{where} has .npy format version {version}, expected 1.0 or 2.0")
    if dtype.hasobject:
        raise ValueError(f"{path}: refused: the file contains pickled objects, which could run code"
                         + ("" if member is None else f" (member {member!r})"))
    if dtype.kind not in "biufcUS":
        raise ValueError(f"{where} has dtype {dtype}; expected numbers or text")
    return NpyHeader(tuple(shape), dtype, bool(fortran_order), stream.tell())


def _array_from(data, h: NpyHeader, offset: int) -> np.ndarray:
    """The array ``h`` declares, from ``data[offset:]`` (whose length the caller checked), copied."""
    flat = np.frombuffer(data, dtype=h.dtype, count=h.size, offset=offset)
    array = flat.reshape(h.shape[::-1]).T if h.fortran_order else flat.reshape(h.shape)
    return array.copy()   # frombuffer views immutable bytes


def load_npy(path, max_bytes: int, what: str) -> np.ndarray:
    """One array from a .npy file of at most ``max_bytes`` bytes, never unpickling.

    The file is read by ``read_regular_bytes`` (regular files only, size
    checked first); the header must declare a numeric or text dtype and a
    shape whose size in bytes equals the data present, checked before the
    array is built. Shape and dtype are the caller's to check. Errors are
    ValueErrors naming ``what`` and the path.
    """
    path = os.fspath(path)
    where = _named(path, what)
    raw = read_regular_bytes(path, max_bytes, what)
    if raw.startswith(_ZIP_MAGICS):
        raise ValueError(f"{where}: expected a single .npy array, got an .npz archive (a zip)")
    if not raw.startswith(_NPY_MAGIC):
        got = "an empty file" if not raw else f"a file starting with {raw[:6]!r}"
        raise ValueError(f"{where}: expected a .npy array (starting with {_NPY_MAGIC!r}), got {got}")
    stream = io.BytesIO(raw)
    try:
        h = _parse_npy_header(stream, where)
    except ValueError as e:
        if str(e).startswith(where):
            raise
        raise ValueError(f"{where}: no readable .npy header ({e})") from None
    except (EOFError, SyntaxError, TypeError) as e:
        raise ValueError(f"{where}: no readable .npy header ({type(e).__name__}: {e})") from None
    present = len(raw) - h.offset
    if present != h.nbytes:
        raise ValueError(f"{where}: its header declares shape {h.shape} of {h.dtype} ({h.nbytes} bytes), "
                         f"the file holds {present} data bytes")
    return _array_from(raw, h, h.offset)


def _read_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> NpyHeader:
    name = info.filename[:-len(".npy")]
    with zf.open(info) as member:
        header = _parse_npy_header(member, path, name)
    if info.file_size != header.offset + header.nbytes:
        # The zip entry's size bounds what is decompressed; it must be exactly what the header declares.
        raise ValueError(f"{path}: member {name!r} declares shape {header.shape} of {header.dtype} "
                         f"({header.nbytes} bytes) in its .npy header, but its zip entry holds "
                         f"{info.file_size - header.offset} data bytes")
    return header


@contextmanager
def open_npz(path, max_bytes: int | None = None):
    """Open an .npz archive for checked reading; yields an :class:`NpzArchive`.

    Nothing is unpickled, and nothing but the .npy headers is decompressed
    until an array is asked for. Raises ValueError naming the file for a
    missing file or one that is not a regular file, a bare .npy, a file
    that is not a readable zip, a member that is not a plain .npy array (or
    holds pickled objects), a member whose header disagrees with its zip
    entry, and archives declaring more than ``max_bytes`` (default
    ``MAX_NPZ_BYTES``) in total or more than ``MAX_NPZ_MEMBERS`` members.
    """
    path = os.fspath(path)
    max_bytes = MAX_NPZ_BYTES if max_bytes is None else max_bytes
    with open_regular_file(path) as f:
        start = f.read(len(_NPY_MAGIC))
        if start.startswith(_NPY_MAGIC):
            raise ValueError(f"{path}: expected an .npz archive of named arrays, got a single .npy array")
        if not start.startswith(_ZIP_MAGICS):
            what = "an empty file" if not start else f"a file starting with {start[:4]!r}"
            raise ValueError(f"{path}: not a readable .npz file (expected a zip archive, got {what})")
        f.seek(0)
        try:
            zf = zipfile.ZipFile(f)
        except _ZIP_ERRORS as e:
            raise ValueError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from None
        with zf:
            yield NpzArchive(path, zf, _scan(zf, path, max_bytes))


def _scan(zf: zipfile.ZipFile, path: str, max_bytes: int) -> dict:
    """Every member's checked .npy header, by name (without .npy)."""
    infos = zf.infolist()
    if len(infos) > MAX_NPZ_MEMBERS:
        raise ValueError(f"{path}: {len(infos)} members, more than the {MAX_NPZ_MEMBERS} an .npz may hold here")
    total = sum(info.file_size for info in infos)
    if total > max_bytes:
        raise ValueError(f"{path}: the archive declares {total} bytes, more than the {max_bytes} "
                         f"this reader accepts")
    headers = {}
    for info in infos:
        name = info.filename
        if not name.endswith(".npy") or info.is_dir():
            raise ValueError(f"{path}: member {name!r} is not an .npy array")
        if name[:-4] in headers:
            raise ValueError(f"{path}: member {name!r} appears twice")
        if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(f"{path}: member {name!r} is encrypted or compressed with method "
                             f"{info.compress_type}; np.savez stores or deflates")
        try:
            headers[name[:-4]] = _read_header(zf, info, path)
        except ValueError as e:
            if str(e).startswith(path):
                raise
            raise ValueError(f"{path}: member {name[:-4]!r} has no readable .npy header ({e})") from None
        except _ZIP_ERRORS as e:
            raise ValueError(f"{path}: not a readable .npz file (member {name[:-4]!r}: "
                             f"{type(e).__name__}: {e})") from None
    return headers


# ------------------------------------------------------- model arrays
def is_float_dtype(dtype) -> bool:
    """float32 or float64, either byte order: the dtypes weights may be loaded from."""
    return dtype.kind == "f" and dtype.itemsize in (4, 8)


def read_model_arrays(model, archive: NpzArchive) -> dict:
    """Every parameter and buffer of ``model`` from ``archive``, checked, not yet copied.

    Each member's header is checked against the model (shape, and a
    float32/float64 dtype: an int32 or bool weight would be cast silently)
    before its data is read, and the values must be finite. Returns
    ``{"param/<name>" or "buffer/<name>": array}``.
    """
    path, arrays = archive.path, {}
    for prefix, store in (("param/", model.params), ("buffer/", model.buffers)):
        for name, target in store.items():
            key = prefix + name
            if key not in archive:
                raise ValueError(f"{path}: missing {key!r}; the file holds {sorted(archive.files)[:8]}...")
            arrays[key] = read_float_array(archive, key, target.shape, "the model expects")
    return arrays


def read_float_array(archive: NpzArchive, key: str, shape: tuple, expects: str) -> np.ndarray:
    """Member ``key`` of ``archive``: its header must declare ``shape`` and float32/float64
    (checked before any data is read), and its values must be finite; else a ValueError
    naming the file and the member (``expects`` names what wants the shape)."""
    path, h = archive.path, archive.headers[key]
    if h.shape != tuple(shape):
        raise ValueError(f"{path}: {key!r} has shape {h.shape}, {expects} {tuple(shape)}")
    if not is_float_dtype(h.dtype):
        raise ValueError(f"{path}: {key!r} holds {h.dtype} values, expected float32 or float64")
    value = archive[key]
    if not np.isfinite(value).all():
        raise ValueError(f"{path}: {key!r} contains NaN or infinity")
    return value


def copy_model_arrays(model, arrays: dict) -> None:
    """Copy what ``read_model_arrays`` returned into the model, in place (keeping its dtype)."""
    for prefix, store in (("param/", model.params), ("buffer/", model.buffers)):
        for name, target in store.items():
            target[...] = arrays[prefix + name]
