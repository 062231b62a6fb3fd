"""Hostile data files and a download cut mid-file: bounded memory, one clear error."""
import re
import tracemalloc
import zlib

import numpy as np
import pytest

from aigc_np.data.idx import read_idx


def _gzip_stream(path, header: bytes, zero_bytes: int) -> None:
    """A gzip file of ``header`` followed by ``zero_bytes`` zeros, compressed chunk by chunk."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)   # wbits 31: a gzip container
    chunk = bytes(1 << 20)
    with open(path, "wb") as f:
        f.write(z.compress(header))
        for _ in range(zero_bytes >> 20):
            f.write(z.compress(chunk))
        f.write(z.flush())


@pytest.mark.parametrize("dims, zero_bytes, message", [
    # The header promises 10 images; the stream holds 64 MiB: refused after 10 images' worth.
    ((10, 28, 28), 64 << 20, r"expected 7840 data bytes for dims \(10, 28, 28\) of uint8, got more"),
    # The header itself promises 4 TB: refused before any data is decompressed.
    ((4_000_000_000, 28, 28), 64 << 20, r"dims \(4000000000, 28, 28\) of uint8 declare 3136000000000 bytes, more "
                                        r"than the 1073741824 this reader accepts"),
])
def test_read_idx_refuses_a_gzip_bomb_with_bounded_memory(tmp_path, dims, zero_bytes, message):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    header = bytes([0, 0, 0x08, len(dims)]) + np.asarray(dims, dtype=">u4").tobytes()
    _gzip_stream(path, header, zero_bytes)
    assert path.stat().st_size < zero_bytes // 500      # a small file ...
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as refused:
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"read_idx held {peak / 2**20:.0f} MiB for a refused file"   # ... that stays small
    assert re.search(re.escape(str(path)) + ".*" + message, str(refused.value)), str(refused.value)


def test_read_idx_refuses_a_plain_file_whose_header_disagrees_with_its_size(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 0x08, 1]) + (5).to_bytes(4, "big") + bytes(6))
    with pytest.raises(ValueError, match=r"expected 5 data bytes for dims \(5,\) of uint8, got 6"):
        read_idx(path)
