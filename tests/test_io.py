"""aigc_np.io: the temp files of a killed save, one reader for every user path (regular files of a
bounded size only), atomic_write never replacing a pipe, device or folder, and load_npy."""
import os
import re

import pytest

import aigc_np.io as aio


def test_remove_stale_parts_removes_only_the_named_temp_files(tmp_path, monkeypatch):
    # A save killed after mkstemp and before os.replace leaves exactly such a file.
    monkeypatch.setattr(aio.os, "replace", lambda *a: (_ for _ in ()).throw(SystemExit("killed")))
    monkeypatch.setattr(aio.os, "remove", lambda *a: None)  # ... and the cleanup never ran
    with pytest.raises(SystemExit):
        with aio.atomic_write(tmp_path / "last.npz") as f:
            f.write(b"half a checkpoint")
    monkeypatch.undo()
    (stale,) = [p for p in os.listdir(tmp_path)]
    assert stale.startswith(".last.npz.") and stale.endswith(".part")
    keep = [".best.npz.abcd1234.part",          # another name: not ours to remove
            ".last.npz.bak.abcd1234.part",      # a different final name that merely starts alike
            "last.npz", "notes.part", "last.npz.part", ".last.npz.part"]
    for name in keep:
        (tmp_path / name).write_bytes(b"x")
    os.mkdir(tmp_path / ".last.npz.dir12345.part")  # a folder is never removed
    removed = aio.remove_stale_parts(tmp_path, ["last.npz", "history.csv"])
    assert [os.path.basename(p) for p in removed] == [stale]
    assert sorted(os.listdir(tmp_path)) == sorted(keep + [".last.npz.dir12345.part"])
    assert aio.remove_stale_parts(tmp_path / "missing", ["last.npz"]) == []


def test_remove_stale_parts_refuses_paths_as_names(tmp_path):
    with pytest.raises(ValueError, match=r"remove_stale_parts: expected plain file names, got '../last.npz'"):
        aio.remove_stale_parts(tmp_path, ["../last.npz"])


# ---------------------------------------------------------------- one reader for every user path
import stat  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402
from guards import within  # noqa: E402


def test_read_regular_bytes_reads_a_file_within_its_bound(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"0123456789")
    assert aio.read_regular_bytes(path, 10, "--corpus") == b"0123456789"
    assert aio.read_regular_bytes(tmp_path / "a.bin", 1 << 30, "x") == b"0123456789"
    (tmp_path / "empty").write_bytes(b"")
    assert aio.read_regular_bytes(tmp_path / "empty", 0, "x") == b""


def test_read_regular_bytes_refuses_what_is_not_a_regular_file_without_reading(tmp_path):
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    cases = {pipe: "a named pipe", tmp_path: "a directory"}
    if os.path.exists("/dev/zero"):
        cases["/dev/zero"] = "a character device"       # endless: must be refused, not read
    for path, kind in cases.items():
        with within(5), pytest.raises(ValueError) as refused:
            aio.read_regular_bytes(path, 1 << 20, "--corpus")
        assert str(refused.value) == f"--corpus {path}: expected a regular file, got {kind}"
    with pytest.raises(ValueError, match=rf"^--real {re.escape(str(tmp_path))}/missing.npy: no such file$"):
        aio.read_regular_bytes(tmp_path / "missing.npy", 100, "--real")


def test_read_regular_bytes_checks_the_size_before_reading(tmp_path):
    path = tmp_path / "huge.txt"
    with open(path, "wb") as f:
        f.truncate(3 << 30)                 # sparse: 3 GiB declared, no disk used
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as refused:
            aio.read_regular_bytes(path, 1 << 20, "--corpus")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(refused.value) == (f"--corpus {path}: the file holds 3,221,225,472 bytes, more than the "
                                  f"1,048,576 this reader accepts")
    assert peak < 1 << 20


def test_read_regular_bytes_stays_bounded_when_the_file_grows_while_read(tmp_path, monkeypatch):
    path = tmp_path / "growing.log"
    path.write_bytes(b"x" * 5000)
    real_fstat = os.fstat

    def stale_fstat(fd):  # the size fstat saw before a writer appended 4,900 bytes
        st = real_fstat(fd)
        if stat.S_ISREG(st.st_mode):
            return os.stat_result((st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid,
                                   100, st.st_atime, st.st_mtime, st.st_ctime))
        return st
    monkeypatch.setattr(aio.os, "fstat", stale_fstat)
    assert aio.read_regular_bytes(path, 5000, "x") == b"x" * 5000        # grew, but still within the bound
    with pytest.raises(ValueError, match=r"^x .*growing.log: the file grew past the 4,999 bytes"):
        aio.read_regular_bytes(path, 4999, "x")


# ---------------------------------------------------------------- atomic_write never replaces a device
def test_atomic_write_refuses_to_replace_a_pipe_or_a_folder(tmp_path):
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    folder = tmp_path / "folder"
    folder.mkdir()
    link = tmp_path / "link"
    os.symlink(pipe, link)
    for path, kind in ((pipe, "a named pipe"), (folder, "a directory"), (link, "a named pipe")):
        with within(5), pytest.raises(ValueError) as refused:
            with aio.atomic_write(path, "w") as f:
                f.write("text")
        assert str(refused.value) == (f"{path}: expected a regular file or a new path to write, got {kind}; "
                                      f"refusing to replace it")
    assert stat.S_ISFIFO(os.stat(pipe).st_mode) and os.path.islink(link) and folder.is_dir()
    assert sorted(os.listdir(tmp_path)) == ["folder", "link", "pipe"]     # no temporary file was made
    # A regular file and a new path are written as before.
    for path in (tmp_path / "new.txt", tmp_path / "new.txt"):
        with aio.atomic_write(path, "w") as f:
            f.write("text")
        assert path.read_text() == "text"


# ---------------------------------------------------------------- load_npy
def _npy_bytes(array) -> bytes:
    import io
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def test_load_npy_round_trips_c_and_fortran_arrays(tmp_path):
    rng = np.random.default_rng(0)
    for i, array in enumerate([rng.random((3, 28, 28), dtype=np.float32), np.asfortranarray(rng.random((4, 5))),
                               np.arange(6, dtype=">i4"), np.zeros((0, 28, 28))]):
        path = tmp_path / f"{i}.npy"
        path.write_bytes(_npy_bytes(array))
        loaded = aio.load_npy(path, 1 << 20, "--real")
        assert loaded.dtype == array.dtype and np.array_equal(loaded, array) and loaded.flags.writeable


@pytest.mark.parametrize("case, message", [
    ("pickle", r"refused: the file contains pickled objects"),
    ("npz", r"expected a single .npy array, got an .npz archive"),
    ("text", r"expected a .npy array \(starting with b'\\x93NUMPY'\), got a file starting with b'hello "),
    ("empty", r"got an empty file"),
    ("truncated", r"its header declares shape \(10, 28, 28\) of float32 \(31360 bytes\), the file holds 15680"),
    ("extra", r"its header declares shape \(2,\) of float64 \(16 bytes\), the file holds 24 data bytes"),
    ("huge", r"its header declares shape \(1000000000, 28, 28\) of float64 \(6272000000000 bytes\), "
             r"the file holds 8 data bytes"),
    ("header", r"no readable .npy header"),
    ("structured", r"the array has dtype \[\('a', '<i4'\)\]; expected numbers or text"),
])
def test_load_npy_refuses_bad_files_before_allocating(tmp_path, case, message):
    path = tmp_path / f"{case}.npy"
    if case == "pickle":
        raw = _npy_bytes(np.array([{"evil": 1}], dtype=object))
    elif case == "npz":
        np.savez(tmp_path / "a.npz", x=np.zeros(3))
        raw = (tmp_path / "a.npz").read_bytes()
    elif case == "text":
        raw = b"hello world"
    elif case == "empty":
        raw = b""
    elif case == "truncated":
        raw = _npy_bytes(np.zeros((10, 28, 28), np.float32))
        raw = raw[:len(raw) - 15680]
    elif case == "extra":
        raw = _npy_bytes(np.zeros(2)) + bytes(8)
    elif case == "huge":                        # the header promises 6 TB; the file holds 8 bytes
        small = _npy_bytes(np.zeros(1))
        raw = small.replace(b"(1,),", b"(1000000000, 28, 28),")
        raw = raw[:8] + (len(raw[10:-8])).to_bytes(2, "little") + raw[10:]
    elif case == "header":
        raw = b"\x93NUMPY\x01\x00\x10\x00{'descr': 'xx'}\n"
    elif case == "structured":
        raw = _npy_bytes(np.zeros(2, dtype=[("a", "<i4")]))
    path.write_bytes(raw)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as refused:
            aio.load_npy(path, 1 << 20, "--real")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(refused.value).startswith(f"--real {path}: "), str(refused.value)
    assert re.search(message, str(refused.value)), str(refused.value)
    assert peak < 1 << 20


def test_load_npy_refuses_a_pipe_a_device_and_an_oversize_file(tmp_path):
    pipe = tmp_path / "real.npy"
    os.mkfifo(pipe)
    with within(5), pytest.raises(ValueError, match="expected a regular file, got a named pipe"):
        aio.load_npy(pipe, 1 << 20, "--real")
    if os.path.exists("/dev/zero"):
        with within(5), pytest.raises(ValueError, match="/dev/zero: expected a regular file, got a character"):
            aio.load_npy("/dev/zero", 1 << 20, "--real")
    big = tmp_path / "big.npy"
    big.write_bytes(_npy_bytes(np.zeros(1000)))
    with pytest.raises(ValueError, match=r"big.npy: the file holds 8,128 bytes, more than the 8,000"):
        aio.load_npy(big, 8000, "--real")


def test_every_reader_of_user_files_refuses_a_pipe(tmp_path):
    from aigc_np.data.idx import read_idx
    from aigc_np.data.mnist import load_mnist
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    readers = [read_idx, load_mnist, aio.sha256_file, lambda p: aio.open_npz(p).__enter__()]
    for read in readers:
        with within(5), pytest.raises(ValueError, match=f"{re.escape(str(pipe))}: expected a regular file, "
                                                         f"got a named pipe"):
            read(pipe)
