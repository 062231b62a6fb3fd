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


# ---------------------------------------------------------------- a download cut mid-file
import hashlib  # noqa: E402
import http.server  # noqa: E402
import threading  # noqa: E402

from aigc_np.data import download as dl  # noqa: E402
from aigc_np.data import load_dataset, write_idx  # noqa: E402


@pytest.fixture
def cutting_server(tmp_path):
    """127.0.0.1 server: files listed in ``good`` are served whole; any other name is sent
    chunked (HTTP/1.1) and the connection is closed in the middle of a chunk."""
    good = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            name = self.path.rsplit("/", 1)[-1]
            if name in good:
                self.send_response(200)
                self.send_header("Content-Length", str(len(good[name])))
                self.end_headers()
                self.wfile.write(good[name])
                return
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"1000\r\n" + bytes(1500))   # a 4096-byte chunk, cut after 1500
            self.wfile.flush()
            self.close_connection = True

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", good
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_download_cut_mid_file_is_one_clear_error_and_keeps_nothing(tmp_path, cutting_server):
    url, _ = cutting_server
    name = "train-images-idx3-ubyte.gz"
    table = {name: (9000, "0" * 64)}
    with pytest.raises(ValueError) as refused:
        dl.download("mnist", tmp_path / "d", base_url=url, files=table, quiet=True, timeout=5)
    message = str(refused.value)
    assert "\n" not in message
    assert re.fullmatch(rf"download: {name} from {re.escape(url + name)}: the transfer broke off after "
                        r"\d+ of 9000 bytes \(IncompleteRead\); nothing was kept, run the download again",
                        message), message
    assert list((tmp_path / "d" / "mnist").iterdir()) == []


def _fake_idx_files(folder):
    rng = np.random.default_rng(0)
    write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (20, 28, 28), np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.repeat(np.arange(10, dtype=np.uint8), 2))
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("served, hint", [
    # Nothing arrived: load_dataset really falls back to the bundled subset.
    ((), r"no MNIST training files are in .*: load_dataset\(data_dir=.*\) uses the bundled 5,000-image subset"),
    # The images arrived, the labels were cut: load_dataset refuses half a download.
    (("train-images-idx3-ubyte.gz",),
     r"has train-images-idx3-ubyte.gz but not train-labels-idx1-ubyte.gz: load_dataset\(data_dir=.*\) refuses "
     r"to start; run the download again \(or delete train-images-idx3-ubyte.gz to use the bundled subset\)"),
    # Both training files arrived, a test file was cut: training uses the full data.
    (("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
     r"the training files are complete: load_dataset\(data_dir=.*\) uses full MNIST \(the missing test files "
     r"are not used for training\)"),
])
def test_download_cli_hint_after_a_partial_download_is_true(tmp_path, cutting_server, monkeypatch, capsys,
                                                            served, hint):
    url, good = cutting_server
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    files = _fake_idx_files(mirror)
    files["t10k-labels-idx1-ubyte.gz"] = b"never sent whole"
    good.update({name: files[name] for name in served})
    table = {name: (len(data), hashlib.sha256(data).hexdigest()) for name, data in files.items()}
    monkeypatch.setitem(dl.DATASETS["mnist"], "files", table)
    dest = tmp_path / "d"
    assert dl.main(["--dest", str(dest), "--base-url", url, "--timeout", "5"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: download: ") and "IncompleteRead" in lines[0], lines
    assert re.search(hint, lines[1]), lines[1]
    # ... and the hint says what load_dataset really does with that folder.
    if not served:
        assert not load_dataset(data_dir=dest).is_full
    elif len(served) == 1:
        with pytest.raises(ValueError, match="train-labels-idx1-ubyte"):
            load_dataset(data_dir=dest)
    else:
        assert load_dataset(data_dir=dest, val_size=10).is_full


def test_download_names_the_file_when_the_server_cannot_be_reached(tmp_path, capsys):
    # Port 9 (discard) on 127.0.0.1: nothing listens, the connection is refused at once.
    rc = dl.main(["--dest", str(tmp_path / "d"), "--base-url", "http://127.0.0.1:9/", "--timeout", "5"])
    assert rc == 1
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith("error: download: train-images-idx3-ubyte.gz from http://127.0.0.1:9/"
                            "train-images-idx3-ubyte.gz: cannot fetch it ("), first


def test_download_removes_the_temp_files_of_a_killed_download(tmp_path, cutting_server):
    url, good = cutting_server
    folder = tmp_path / "d" / "mnist"
    folder.mkdir(parents=True)
    stale = folder / ".train-labels-idx1-ubyte.gz.abcd_123.part"
    stale.write_bytes(b"the first half of a file")
    good["train-labels-idx1-ubyte.gz"] = data = b"labels"
    table = {"train-labels-idx1-ubyte.gz": (len(data), hashlib.sha256(data).hexdigest())}
    dl.download("mnist", tmp_path / "d", base_url=url, files=table, quiet=True, timeout=5)
    assert sorted(p.name for p in folder.iterdir()) == ["train-labels-idx1-ubyte.gz"]
