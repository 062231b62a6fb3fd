"""``python -m aigc_np serve``: bad files refused at start in one line, a non-local host warned about,
and Ctrl-C (SIGINT) stops it cleanly."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aigc_np.cli import main
from cli_helpers import edited_checkpoint, one_line_error, usage_error
from serve_helpers import call, tiny_checkpoints

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tiny_checkpoints(tmp_path_factory.mktemp("serve_cli"), ["vae", "gpt"])


def test_a_bad_file_is_refused_at_start_before_anything_listens(runs, tmp_path, capsys):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a checkpoint")
    err = one_line_error(["serve", str(runs["vae"]), str(junk)], capsys)
    assert "junk.npz" in err
    err = one_line_error(["serve", str(tmp_path)], capsys)
    assert f"{tmp_path}: a folder without best.npz" in err
    err = one_line_error(["serve", str(tmp_path / "missing.npz")], capsys)
    assert "missing.npz" in err
    edited = edited_checkpoint(runs["vae"], tmp_path / "edited.npz", latent_dim=3)
    assert "edited.npz" in one_line_error(["serve", str(edited)], capsys)


def test_a_bad_port_is_a_usage_error_and_a_taken_one_a_one_line_error(runs, capsys):
    assert "--port: expected an integer in 0..65535, got '70000'" in usage_error(
        ["serve", str(runs["vae"]), "--port", "70000"], capsys)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = one_line_error(["serve", str(runs["vae"]), "--port", str(port)], capsys)
    assert f"--port {port}: cannot listen there" in err


def test_the_command_serves_warns_about_a_non_local_host_and_stops_on_ctrl_c(runs):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "aigc_np", "serve", str(runs["vae"].parent), str(runs["gpt"]),
                             "--host", "0.0.0.0", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=ROOT,
                            # started as a shell starts a background job, with SIGINT ignored: Ctrl-C must still stop it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        lines = []
        deadline = time.monotonic() + 60
        while not (lines and lines[-1].startswith("serving")) and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, f"serve exited: {proc.wait()} {proc.stderr.read()}"
            lines.append(line)
        port = int(lines[-1].split(":")[2].split("/")[0])
        assert "serving 2 model(s) on http://0.0.0.0:" in lines[-1]
        assert any("0: vae (vae, step 0)" in ln for ln in lines)
        status, out = call(f"http://127.0.0.1:{port}/api/models")
        assert status == 200 and [m["name"] for m in out["models"]] == ["vae", "gpt"]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and out.strip().endswith("stopped"), (out, err)
    assert err.startswith("warning: --host 0.0.0.0: other machines can reach this server") and "Traceback" not in err
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
