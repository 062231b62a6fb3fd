"""Reader and writer for the IDX format used by the original MNIST files.

An IDX file is a tiny header followed by raw array data, all big-endian::

    bytes 0-1   0x00 0x00                 (magic: always zero)
    byte  2     dtype code                (0x08 uint8, 0x09 int8, 0x0B int16,
                                           0x0C int32, 0x0D float32, 0x0E float64)
    byte  3     ndim                      (number of dimensions)
    4*ndim      the dims as big-endian uint32, e.g. 60000, 28, 28
    ...         prod(dims) items in C (row-major) order

MNIST's ``train-images-idx3-ubyte`` is therefore magic ``0x00000803``
(uint8, 3 dims) with dims (60000, 28, 28), and the labels file is ``0x00000801``
with dims (60000,). The distributed files are gzip-compressed (``.gz``);
:func:`read_idx` recognises gzip by its content, not by the file name.
"""
from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from ..io import atomic_write, open_regular_file

__all__ = ["read_idx", "write_idx", "IDX_DTYPES"]

# dtype code -> big-endian NumPy dtype, as in the format description on
# LeCun's MNIST page.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


# Full MNIST's training images are 47 MB; a header declaring more than this is refused
# before anything is decompressed (a 4 MB gzip file can hold gigabytes of zeros).
MAX_IDX_BYTES = 1 << 30


def _read(stream, n: int, path: Path) -> bytes:
    """Up to ``n`` bytes of the (possibly gunzipping) stream, errors naming the file."""
    try:
        return stream.read(n)
    # A truncated .gz raises EOFError, a damaged one BadGzipFile or zlib.error;
    # all mean the same to the caller: this file is corrupt.
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"read_idx: {path}: expected a valid gzip stream, "
                         f"got a corrupt or truncated one ({type(e).__name__}: {e})") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (plain or gzip-compressed) into a NumPy array.

    The file is streamed: the header is read first, and no more than the
    number of bytes it declares (plus one, to notice extra data) is ever
    decompressed, so a gzip bomb costs no memory.

    Args:
        path: the ``.idx``/``-ubyte`` file or its ``.gz``.

    Returns:
        A writable array with the file's dims, e.g. (60000, 28, 28) uint8 for
        MNIST images or (60000,) uint8 for labels, in native byte order.

    Raises:
        ValueError: naming the file, for a missing file or one that is not a
            regular file (a named pipe, a device), a bad magic number, an unknown dtype
            code, a header or data size that does not match the dims, a
            declared size above ``MAX_IDX_BYTES``, or a corrupt gzip stream.
    """
    path = Path(path)
    with open_regular_file(path, "read_idx:") as raw:      # a pipe or device is refused, not read
        gzipped = raw.read(2) == _GZIP_MAGIC   # gzip is recognised by content, not by name
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
        head = _read(stream, 4, path)
        if len(head) < 4:
            raise ValueError(f"read_idx: {path}: expected at least a 4-byte IDX header, "
                             f"got {len(head)} bytes")
        zero, code, ndim = head[:2], head[2], head[3]
        if zero != b"\x00\x00" or code not in IDX_DTYPES:
            raise ValueError(f"read_idx: {path}: expected magic 0x0000 followed by a dtype code in "
                             f"{sorted(hex(c) for c in IDX_DTYPES)}, got 0x{head.hex()}")
        if ndim == 0:
            raise ValueError(f"read_idx: {path}: expected at least 1 dimension, got 0")
        dim_bytes = _read(stream, 4 * ndim, path)
        if len(dim_bytes) < 4 * ndim:
            raise ValueError(f"read_idx: {path}: expected a {4 + 4 * ndim}-byte header for {ndim} dims, "
                             f"got only {4 + len(dim_bytes)} bytes")
        dims = tuple(int(d) for d in np.frombuffer(dim_bytes, dtype=">u4"))
        dtype = IDX_DTYPES[code]
        # Compare sizes before reading the data, so a truncated file (or a
        # garbled header claiming huge dims) fails with a clear message.
        expected = math.prod(dims) * dtype.itemsize  # Python ints: no overflow on garbage dims
        if expected > MAX_IDX_BYTES:
            raise ValueError(f"read_idx: {path}: dims {dims} of {dtype.name} declare {expected} bytes, "
                             f"more than the {MAX_IDX_BYTES} this reader accepts (corrupted file?)")
        data = _read(stream, expected + 1, path)   # one byte more than declared reveals extra data
        if len(data) != expected:
            got = "more" if len(data) > expected else str(len(data))
            if not gzipped:  # a plain file knows its exact size
                got = str(os.fstat(raw.fileno()).st_size - 4 - 4 * ndim)
            raise ValueError(f"read_idx: {path}: expected {expected} data bytes for dims {dims} "
                             f"of {dtype.name}, got {got} (truncated or corrupted file)")
    arr = np.frombuffer(data, dtype=dtype).reshape(dims)
    # astype copies: frombuffer views immutable bytes (read-only), and
    # students should get an ordinary writable, native-endian array.
    return arr.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed if ``path`` ends in ``.gz``.

    The write is atomic (temp file + ``os.replace``). The gzip header carries
    no timestamp, so equal arrays give byte-identical files.

    Args:
        path: destination file.
        array: any shape with ndim >= 1 and at most 255 dims, of a dtype the
            format supports (uint8, int8, int16, int32, float32, float64).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("=").str: code for code, dt in IDX_DTYPES.items()}
    key = array.dtype.newbyteorder("=").str
    if key not in codes:
        raise TypeError(f"write_idx: {path}: expected dtype uint8, int8, int16, int32, float32 "
                        f"or float64, got {array.dtype}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx: {path}: expected 1..255 dims, got {array.ndim}")
    code = codes[key]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    with atomic_write(path) as f:
        f.write(payload)
    return path
