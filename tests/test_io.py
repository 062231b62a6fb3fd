"""io.remove_stale_parts: the temp files of a killed save, and nothing else."""
import os

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
