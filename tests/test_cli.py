"""python -m aigc_np: train, sample and evaluate, and its exit codes."""
import json
import subprocess
import sys

import numpy as np
import pytest

from aigc_np.cli import main


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for kind in ("vae", "gan", "dcgan", "ae"):
        assert main(["train", kind, "--out", str(root / kind), "--quick"]) == 0
    return root


@pytest.mark.parametrize("kind", ["vae", "gan", "dcgan", "ae"])
def test_train_writes_the_run_folder(runs, kind):
    names = {p.name for p in (runs / kind).iterdir()}
    assert {"last.npz", "best.npz", "history.csv", "samples_epoch_001.png", "samples_epoch_002.png"} <= names


@pytest.mark.parametrize("kind", ["vae", "gan", "dcgan", "ae"])
def test_sample_png_and_npy(runs, kind, tmp_path):
    assert main(["sample", str(runs / kind / "best.npz"), "--n", "16", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["sample", str(runs / kind / "last.npz"), "--n", "7", "--out", str(tmp_path / "s.npy")]) == 0
    arr = np.load(tmp_path / "s.npy", allow_pickle=False)
    assert arr.shape == (7, 28, 28) and arr.dtype == np.float32 and 0 <= arr.min() and arr.max() <= 1


@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_evaluate_json_has_metrics_and_baselines(runs, kind, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(runs / kind / "best.npz"), "--n", "300", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("model", "n", "fd", "fd_real_baseline", "inception_score", "classes_covered", "class_kl",
                "precision", "recall"):
        assert key in result, key
    assert result["model"] == kind and result["n"] == 300
    assert ("elbo" in result) == (kind == "vae")


def test_evaluate_with_user_reference_images(runs, tmp_path, capsys):
    real = np.random.default_rng(0).uniform(0, 1, (60, 28, 28)).astype(np.float32)
    np.save(tmp_path / "real.npy", real)
    assert main(["evaluate", str(runs / "vae" / "best.npz"), "--n", "60", "--real", str(tmp_path / "real.npy")]) == 0
    assert "real.npy" in capsys.readouterr().out
    np.save(tmp_path / "bad.npy", real[:, :10])
    assert main(["evaluate", str(runs / "vae" / "best.npz"), "--real", str(tmp_path / "bad.npy")]) == 1


def test_resume_continues_the_run(runs):
    assert main(["train", "vae", "--out", str(runs / "vae"), "--epochs", "3", "--quick",
                 "--resume", str(runs / "vae" / "last.npz")]) == 0
    lines = (runs / "vae" / "history.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "2", "3"]


def test_errors_give_one_line_and_exit_1(tmp_path, capsys):
    (tmp_path / "bad.npz").write_bytes(b"not a checkpoint")
    assert main(["sample", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "bad.npz" in err[0]
    with pytest.raises(ValueError):
        main(["--debug", "sample", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "x.png")])


def test_usage_errors_exit_2():
    for argv in (["train", "nosuchmodel", "--out", "x"], ["sample"], ["frobnicate"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2


def test_module_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "aigc_np", "train", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--eval-every" in out.stdout
