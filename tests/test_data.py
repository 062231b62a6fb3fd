"""Tests for aigc_np.data: bundled MNIST, split, scaling, batches, augmentation, IDX, download."""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aigc_np.data import (BUNDLED_PATH, DATA_DIR, Compose, MNISTData, RandomRotation, RandomShift,
                          from_tanh, load_dataset, load_mnist, minibatches, read_idx, rotate,
                          shift, stratified_split, to_tanh, to_unit, write_idx)
from aigc_np import io as aio
from aigc_np.data import download as dl

README = DATA_DIR / "README.md"


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------- bundled data

def test_bundled_subset_shapes_dtypes_and_classes():
    images, labels = load_mnist()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (5000,) and labels.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), np.full(10, 500))
    assert images.max() == 255 and images.min() == 0
    # Real digits: mostly black background, and no image is blank.
    assert 0.7 < np.mean(images == 0) < 0.95
    assert np.all(images.reshape(5000, -1).max(axis=1) > 100)


def test_bundled_sha256_matches_readme():
    text = README.read_text()
    m = re.search(r"^\| sha256 \| `([0-9a-f]{64})` \|", text, flags=re.M)
    assert m, "data/README.md must list the npz sha256 in its table"
    assert sha256(BUNDLED_PATH) == m.group(1)
    size = re.search(r"`data/mnist_5k\.npz` \(([\d,]+) bytes\)", text)
    assert size and int(size.group(1).replace(",", "")) == BUNDLED_PATH.stat().st_size


def _write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("case", ["wrong_keys", "wrong_dtype", "wrong_shape", "truncated",
                                  "not_npz", "object_array", "bare_npy"])
def test_load_mnist_rejects_bad_files_naming_them(tmp_path, case):
    good_x = np.zeros((4, 28, 28), np.uint8)
    good_y = np.arange(4, dtype=np.uint8)
    path = tmp_path / f"bad_{case}.npz"
    if case == "wrong_keys":
        _write_npz(path, x=good_x, y=good_y)
    elif case == "wrong_dtype":
        _write_npz(path, images=good_x.astype(np.float32), labels=good_y)
    elif case == "wrong_shape":
        _write_npz(path, images=np.zeros((4, 32, 32), np.uint8), labels=good_y)
    elif case == "truncated":
        data = BUNDLED_PATH.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif case == "not_npz":
        path.write_bytes(b"definitely not a zip archive" * 10)
    elif case == "object_array":
        _write_npz(path, images=np.array([{"a": 1}], dtype=object), labels=good_y)
    elif case == "bare_npy":
        with open(path, "wb") as f:
            np.save(f, good_x)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_mnist(path)


def test_load_mnist_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_mnist(tmp_path / "nope.npz")


# ---------------------------------------------------------------- split

def test_stratified_split_disjoint_complete_balanced_reproducible():
    _, labels = load_mnist()
    tr, va = stratified_split(labels, 500, np.random.default_rng(0))
    assert tr.size == 4500 and va.size == 500
    assert np.intersect1d(tr, va).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, va])), np.arange(5000))
    np.testing.assert_array_equal(np.bincount(labels[va], minlength=10), np.full(10, 50))
    np.testing.assert_array_equal(np.bincount(labels[tr], minlength=10), np.full(10, 450))
    tr2, va2 = stratified_split(labels, 500, np.random.default_rng(0))
    np.testing.assert_array_equal(tr, tr2)
    np.testing.assert_array_equal(va, va2)
    _, va3 = stratified_split(labels, 500, np.random.default_rng(1))
    assert not np.array_equal(np.sort(va), np.sort(va3))
    # Returned in shuffled order: the file is sorted by label, the split is not.
    assert np.any(np.diff(labels[tr].astype(int)) < 0)


def test_stratified_split_rejects_bad_sizes():
    labels = np.repeat(np.arange(10), 5)
    with pytest.raises(ValueError, match="multiple"):
        stratified_split(labels, 55, np.random.default_rng(0))
    with pytest.raises(ValueError, match=">= 6"):
        stratified_split(labels, 60, np.random.default_rng(0))
    with pytest.raises(TypeError, match="Generator"):
        stratified_split(labels, 10, 0)


def test_load_dataset_bundled_split(tmp_path):
    d = load_dataset(seed=0, data_dir=tmp_path)       # empty dir: no full data
    assert isinstance(d, MNISTData) and not d.is_full
    assert d.source.startswith("bundled MNIST subset (5,000 images)")
    assert d.x_train.shape == (4500, 28, 28) and d.x_val.shape == (500, 28, 28)
    for a in (d.x_train, d.y_train, d.x_val, d.y_val):
        assert a.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(d.y_val, minlength=10), np.full(10, 50))
    # The two parts partition the bundled set: same multiset of (image, label).
    images, labels = load_mnist()
    tr, va = stratified_split(labels, 500, np.random.default_rng(0))
    np.testing.assert_array_equal(d.x_train, images[tr])
    np.testing.assert_array_equal(d.y_val, labels[va])
    again = load_dataset(seed=0, data_dir=tmp_path)
    np.testing.assert_array_equal(d.x_val, again.x_val)
    assert not np.array_equal(d.y_val, load_dataset(seed=1, data_dir=tmp_path).y_val)


# ---------------------------------------------------------------- scaling

def test_to_unit_and_to_tanh_ranges_and_dtypes():
    x = np.array([[0, 1, 127, 128, 254, 255]], dtype=np.uint8)
    u = to_unit(x)
    t = to_tanh(x)
    assert u.dtype == np.float32 and t.dtype == np.float32 and u.shape == x.shape
    assert u[0, 0] == 0 and u[0, -1] == 1 and t[0, 0] == -1 and t[0, -1] == 1
    np.testing.assert_allclose(u, x / 255.0, rtol=1e-6)
    np.testing.assert_allclose(t, x / 127.5 - 1.0, rtol=1e-6, atol=1e-6)
    assert to_unit(x, dtype=np.float64).dtype == np.float64
    assert to_tanh(x, dtype=np.float64).dtype == np.float64
    images, _ = load_mnist()
    t = to_tanh(images[:100])
    assert t.min() == -1 and t.max() == 1
    back = from_tanh(t)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, to_unit(images[:100]), atol=1e-6)
    np.testing.assert_array_equal(from_tanh(np.array([-3.0, 3.0])), [0.0, 1.0])   # clipped


def test_scaling_rejects_wrong_dtypes():
    with pytest.raises(TypeError, match="to_unit.*uint8.*float32"):
        to_unit(np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="to_tanh.*float32 or float64.*int"):
        to_tanh(np.zeros(3, np.uint8), dtype=np.int32)
    with pytest.raises(TypeError, match="from_tanh"):
        from_tanh(np.zeros(3, np.uint8))


# ---------------------------------------------------------------- mini-batches

def test_minibatches_cover_each_example_once_and_reproducible():
    x = np.arange(103 * 2).reshape(103, 2)
    y = np.arange(103)
    batches = list(minibatches(x, y, batch_size=10, rng=np.random.default_rng(5)))
    assert [len(b[1]) for b in batches] == [10] * 10 + [3]
    seen = np.concatenate([yb for _, yb in batches])
    np.testing.assert_array_equal(np.sort(seen), y)                 # each exactly once
    assert not np.array_equal(seen, y)                              # and shuffled
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)             # x and y stay aligned
    again = np.concatenate([yb for _, yb in minibatches(x, y, batch_size=10,
                                                          rng=np.random.default_rng(5))])
    np.testing.assert_array_equal(seen, again)
    other = np.concatenate([yb for _, yb in minibatches(x, y, batch_size=10,
                                                          rng=np.random.default_rng(6))])
    assert not np.array_equal(seen, other)


def test_minibatches_drop_last_noshuffle_views_and_errors():
    x = np.arange(25.0)
    kept = list(minibatches(x, batch_size=10, rng=np.random.default_rng(0), drop_last=True))
    assert [b.size for b in kept] == [10, 10]
    plain = list(minibatches(x, batch_size=10, shuffle=False))
    np.testing.assert_array_equal(np.concatenate(plain), x)
    assert all(np.shares_memory(b, x) for b in plain)               # slices, no copies
    # Errors come at the call, not at the first next().
    with pytest.raises(TypeError, match="Generator"):
        minibatches(x, batch_size=4)
    with pytest.raises(ValueError, match="batch_size"):
        minibatches(x, batch_size=0, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="25 rows"):
        minibatches(x, np.arange(24), batch_size=4, rng=np.random.default_rng(0))


# ---------------------------------------------------------------- augmentation

def naive_shift(img: np.ndarray, dy: int, dx: int, fill: float) -> np.ndarray:
    """Reference: np.roll, then overwrite the wrapped-around rows/cols with fill."""
    out = np.roll(img, (dy, dx), axis=(-2, -1)).copy()
    if dy > 0:
        out[..., :dy, :] = fill
    elif dy < 0:
        out[..., dy:, :] = fill
    if dx > 0:
        out[..., :, :dx] = fill
    elif dx < 0:
        out[..., :, dx:] = fill
    return out


@given(st.integers(1, 4), st.integers(-4, 4), st.integers(-4, 4), st.sampled_from([0.0, -1.0]))
def test_shift_matches_naive_roll_reference(n, dy0, dx0, fill):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, 7, 9)).astype(np.float32)
    dy = (np.arange(n) + dy0) % 9 - 4            # per-image offsets in [-4, 4]
    dx = (np.arange(n) * 3 + dx0) % 9 - 4
    got = shift(x, dy, dx, fill=fill)
    want = np.stack([naive_shift(x[i], dy[i], dx[i], fill) for i in range(n)])
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    got4 = shift(x[:, None], dy, dx, fill=fill)  # (N, 1, H, W) layout
    np.testing.assert_array_equal(got4[:, 0], want)


def test_random_shift_seeded_dtype_and_offsets():
    images, _ = load_mnist()
    x = to_unit(images[:32])
    t = RandomShift(max_shift=2)
    a = t(x, np.random.default_rng(3))
    np.testing.assert_array_equal(a, t(x, np.random.default_rng(3)))
    assert not np.array_equal(a, t(x, np.random.default_rng(4)))
    assert a.dtype == np.float32 and a.shape == x.shape
    assert t(x.astype(np.float64), np.random.default_rng(3)).dtype == np.float64
    # Every output is one of the 25 allowed shifts of its own input.
    candidates = np.stack([naive_shift(x, dy, dx, 0.0) for dy in range(-2, 3)
                           for dx in range(-2, 3)])                       # (25, N, 28, 28)
    match = np.all(candidates == a[None], axis=(2, 3))                    # (25, N)
    assert match.any(axis=0).all()
    np.testing.assert_array_equal(RandomShift(0)(x, np.random.default_rng(0)), x)
    assert RandomShift(2)(x[:, None], np.random.default_rng(3)).shape == (32, 1, 28, 28)


def test_rotate_zero_is_identity_and_quarter_turns_match_rot90():
    images, _ = load_mnist()
    x = to_unit(images[::500])                                            # one per digit
    np.testing.assert_allclose(rotate(x, 0.0), x, atol=1e-6)
    np.testing.assert_allclose(rotate(x, 360.0), x, atol=1e-5)
    for k in (1, 2, 3, -1):
        np.testing.assert_allclose(rotate(x, 90.0 * k), np.rot90(x, k, axes=(1, 2)), atol=1e-5)
    # Non-square, with a channel axis, in float64.
    y = np.random.default_rng(0).random((3, 2, 5, 5))
    np.testing.assert_allclose(rotate(y, 90.0), np.rot90(y, 1, axes=(2, 3)), atol=1e-12)
    assert rotate(y, 10.0).dtype == np.float64 and rotate(x, 10.0).dtype == np.float32


def test_rotate_per_image_angles_match_one_at_a_time():
    images, _ = load_mnist()
    x = to_tanh(images[:6])
    angles = np.array([-30.0, -7.5, 0.0, 4.0, 12.0, 45.0])
    batch = rotate(x, angles, fill=-1.0)
    single = np.concatenate([rotate(x[i:i + 1], angles[i], fill=-1.0) for i in range(6)])
    np.testing.assert_array_equal(batch, single)
    assert batch.min() >= -1 - 1e-6 and batch.max() <= 1 + 1e-6        # convex combination
    # A small rotation keeps most of the ink and moves some of it.
    assert 0.9 < batch[3].sum() / x[3].sum() < 1.1 and not np.allclose(batch[3], x[3])


def test_random_rotation_and_compose_seeded():
    images, _ = load_mnist()
    x = to_unit(images[:16])[:, None]                                     # (N, 1, 28, 28)
    t = RandomRotation(max_degrees=10)
    a = t(x, np.random.default_rng(7))
    np.testing.assert_array_equal(a, t(x, np.random.default_rng(7)))
    assert a.shape == x.shape and a.dtype == np.float32
    np.testing.assert_allclose(RandomRotation(0)(x, np.random.default_rng(7)), x, atol=1e-6)
    pipe = Compose([RandomRotation(10), RandomShift(2)])
    out = pipe(x, np.random.default_rng(9))
    rng = np.random.default_rng(9)                                        # same draws, by hand
    np.testing.assert_array_equal(out, RandomShift(2)(RandomRotation(10)(x, rng), rng))
    assert out.dtype == np.float32


def test_augment_input_errors():
    with pytest.raises(TypeError, match="RandomShift.*float"):
        RandomShift(2)(np.zeros((2, 28, 28), np.uint8), np.random.default_rng(0))
    with pytest.raises(TypeError, match="RandomRotation.*Generator"):
        RandomRotation(5)(np.zeros((2, 28, 28)), 0)
    with pytest.raises(ValueError, match=r"rotate.*\(N, H, W\)"):
        rotate(np.zeros((28, 28)), 5.0)
    with pytest.raises(ValueError, match="shift.*shape"):
        shift(np.zeros((2, 4, 4)), np.zeros(3, int), 0)


# ---------------------------------------------------------------- IDX

@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype,shape", [(np.uint8, (5, 28, 28)), (np.uint8, (7,)),
                                         (np.int8, (3, 4)), (np.int16, (2, 3, 4)),
                                         (np.int32, (6,)), (np.float32, (2, 2)),
                                         (np.float64, (1, 2, 3, 4))])
def test_idx_round_trip(tmp_path, suffix, dtype, shape):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(shape) * 100).astype(dtype)
    path = write_idx(tmp_path / f"a-idx{suffix}", a)
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.shape == a.shape and b.flags.writeable
    np.testing.assert_array_equal(a, b)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]            # no temp left
    raw = gzip.decompress(path.read_bytes()) if suffix else path.read_bytes()
    if dtype is np.uint8 and len(shape) == 3:
        assert raw[:4] == b"\x00\x00\x08\x03"                          # MNIST images magic
        assert raw[4:8] == (5).to_bytes(4, "big")


def _corrupt(tmp_path: Path, case: str) -> Path:
    labels = np.arange(100, dtype=np.uint8) % 10
    plain = write_idx(tmp_path / "labels-idx1-ubyte", labels).read_bytes()
    gz = gzip.compress(plain, mtime=0)
    data = {
        "truncated_plain": plain[:-7],
        "too_long_plain": plain + b"\x00",
        "header_only": plain[:6],
        "bad_magic": b"\x01\x00" + plain[2:],
        "bad_dtype_code": plain[:2] + b"\x07" + plain[3:],
        "truncated_gz": gz[: len(gz) // 2],
        "bad_gz": gz[:12] + bytes(b ^ 0xFF for b in gz[12:20]) + gz[20:],
        "gz_truncated_payload": gzip.compress(plain[:-7], mtime=0),
    }[case]
    path = tmp_path / f"{case}.idx"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", ["truncated_plain", "too_long_plain", "header_only", "bad_magic",
                                  "bad_dtype_code", "truncated_gz", "bad_gz",
                                  "gz_truncated_payload"])
def test_read_idx_corrupted_files_raise_valueerror_naming_file(tmp_path, case):
    path = _corrupt(tmp_path, case)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        read_idx(path)


# ---------------------------------------------------------------- download

@pytest.fixture
def fake_mnist(tmp_path):
    """Small, valid MNIST-like IDX .gz files (300 images) and their hash table."""
    rng = np.random.default_rng(0)
    src = tmp_path / "mirror"
    src.mkdir()
    labels = rng.permutation(np.repeat(np.arange(10, dtype=np.uint8), 30))
    images = rng.integers(0, 256, size=(300, 28, 28), dtype=np.uint8)
    write_idx(src / "train-images-idx3-ubyte.gz", images)
    write_idx(src / "train-labels-idx1-ubyte.gz", labels)
    table = {p.name: (p.stat().st_size, sha256(p)) for p in sorted(src.iterdir())}
    return src, table, images, labels


@pytest.fixture
def http_server():
    """Serve a directory from 127.0.0.1 on a free port, in a thread; yields a start(dir) fn."""
    servers = []

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):   # keep pytest output clean
            pass

    def start(directory: Path) -> str:
        handler = functools.partial(QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        # A short poll interval makes shutdown() quick (default 0.5 s per test).
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                                  daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _base_url(kind: str, src: Path, http_server) -> str:
    return http_server(src) if kind == "http" else src.as_uri() + "/"


@pytest.mark.parametrize("kind", ["http", "file"])
def test_download_success_atomic_and_verified(tmp_path, fake_mnist, http_server, monkeypatch, kind):
    src, table, images, labels = fake_mnist
    dest = tmp_path / "dest"
    replaced = []
    real_replace = os.replace

    def spy(a, b):
        replaced.append((Path(a), Path(b)))
        return real_replace(a, b)

    monkeypatch.setattr(aio.os, "replace", spy)
    paths = dl.download("mnist", dest, base_url=_base_url(kind, src, http_server),
                        files=table, quiet=True)
    assert sorted(p.name for p in (dest / "mnist").iterdir()) == sorted(table)   # no .part left
    for p in paths:
        assert sha256(p) == table[p.name][1]
    # Each file arrived through a temp file in the same folder, then os.replace.
    assert sorted(b.name for _, b in replaced) == sorted(table)
    assert all(a.parent == b.parent and a.name != b.name for a, b in replaced)
    # Present and verified files are not fetched again.
    replaced.clear()
    dl.download("mnist", dest, base_url="http://127.0.0.1:9/unused/", files=table, quiet=True)
    assert replaced == []

    # load_dataset now finds the full data in dest and says so.
    d = load_dataset(seed=0, val_size=50, data_dir=dest)
    assert d.is_full and d.source.startswith("full MNIST (300 official training images)")
    assert str(dest / "mnist") in d.source
    assert d.x_train.shape == (250, 28, 28) and d.x_val.shape == (50, 28, 28)
    np.testing.assert_array_equal(np.bincount(d.y_val, minlength=10), np.full(10, 5))
    # Train + val are exactly the served (image, label) pairs, still aligned.
    x_all = np.concatenate([d.x_train, d.x_val])
    y_all = np.concatenate([d.y_train, d.y_val])
    assert (sorted(zip(map(bytes, x_all), y_all.tolist()))
            == sorted(zip(map(bytes, images), labels.tolist())))
    # prefer_full=False still gives the bundled subset.
    assert not load_dataset(val_size=50, prefer_full=False, data_dir=dest).is_full


@pytest.mark.parametrize("kind", ["http", "file"])
@pytest.mark.parametrize("damage", ["flipped_byte", "truncated"])
def test_download_refuses_bad_file_and_leaves_nothing(tmp_path, fake_mnist, http_server,
                                                      kind, damage):
    src, table, _, _ = fake_mnist
    victim = src / "train-labels-idx1-ubyte.gz"
    data = bytearray(victim.read_bytes())
    if damage == "flipped_byte":
        data[len(data) // 2] ^= 0x01
    else:
        del data[len(data) // 2:]
    victim.write_bytes(bytes(data))
    received = hashlib.sha256(bytes(data)).hexdigest()
    dest = tmp_path / "dest"
    labels_only = {victim.name: table[victim.name]}
    with pytest.raises(ValueError) as info:
        dl.download("mnist", dest, base_url=_base_url(kind, src, http_server),
                    files=labels_only, quiet=True)
    msg = str(info.value)
    assert victim.name in msg and table[victim.name][1] in msg and received in msg
    assert list((dest / "mnist").iterdir()) == []                          # nothing partial


def test_download_refuses_oversized_stream(tmp_path, fake_mnist, http_server):
    src, table, _, _ = fake_mnist
    name = "train-images-idx3-ubyte.gz"
    small = {name: (100, table[name][1])}                                 # claims 100 bytes
    with pytest.raises(ValueError, match=f"{name}.*expected 100 bytes"):
        dl.download("mnist", tmp_path / "d", base_url=http_server(src), files=small, quiet=True)
    assert list((tmp_path / "d" / "mnist").iterdir()) == []


def test_download_cli(tmp_path, fake_mnist, capsys):
    src, _, _, _ = fake_mnist
    # The built-in table holds the real MNIST hashes, so the fake files are refused.
    rc = dl.main(["--dest", str(tmp_path / "d"), "--base-url", src.as_uri()])
    assert rc == 1
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte.gz" in err and dl.DATASETS["mnist"]["files"][
        "train-images-idx3-ubyte.gz"][1] in err
    assert list((tmp_path / "d" / "mnist").iterdir()) == []
    with pytest.raises(SystemExit):
        dl.main(["--dataset", "all", "--base-url", src.as_uri()])
    with pytest.raises(ValueError, match="dataset"):
        dl.download("cifar", tmp_path)


def test_download_table_is_complete():
    for name, spec in dl.DATASETS.items():
        assert set(spec["files"]) == {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                      "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}
        for size, digest in spec["files"].values():
            assert size > 0 and re.fullmatch(r"[0-9a-f]{64}", digest)


# ---------------------------------------------------------------- source selection

def test_load_dataset_source_selection(tmp_path):
    assert not load_dataset(data_dir=tmp_path).is_full                    # nothing there
    folder = tmp_path / "mnist"
    folder.mkdir()
    # Plain (already gunzipped) IDX files are accepted too.
    rng = np.random.default_rng(1)
    write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 256, (40, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte"):      # half a download
        load_dataset(data_dir=tmp_path)
    write_idx(folder / "train-labels-idx1-ubyte", np.repeat(np.arange(10, dtype=np.uint8), 4))
    d = load_dataset(val_size=10, data_dir=tmp_path)
    assert d.is_full and "full MNIST (40 official" in d.source and d.x_train.shape[0] == 30
    with pytest.raises(FileNotFoundError, match="fashion"):
        load_dataset(data_dir=tmp_path, dataset="fashion")
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(39, np.uint8))  # wrong count
    with pytest.raises(ValueError, match="40"):
        load_dataset(data_dir=tmp_path)
