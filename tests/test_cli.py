"""python -m aigc_np: train, sample and evaluate, and its exit codes."""
import contextlib
import io
import json
import subprocess
import sys

import numpy as np
import pytest

from aigc_np.cli import main

KINDS_TRAINED = ("vae", "gan", "dcgan", "ae", "cgan", "cvae", "wgan-gp")


def run_or_fail(argv):
    """main(argv), failing with the command and its stderr (not a bare `assert 1 == 0`) unless it exits 0."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:  # a usage error
            code = e.code
    if code != 0:
        pytest.fail(f"`python -m aigc_np {' '.join(argv)}` exited with {code}; its stderr:\n"
                    f"{err.getvalue().strip()}", pytrace=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for kind in KINDS_TRAINED:
        run_or_fail(["train", kind, "--out", str(root / kind), "--quick"])
    return root


@pytest.mark.parametrize("kind", KINDS_TRAINED)
def test_train_writes_the_run_folder(runs, kind):
    names = {p.name for p in (runs / kind).iterdir()}
    assert {"last.npz", "best.npz", "history.csv", "samples_epoch_001.png", "samples_epoch_002.png"} <= names


@pytest.mark.parametrize("kind", KINDS_TRAINED)
def test_sample_png_and_npy(runs, kind, tmp_path):
    assert main(["sample", str(runs / kind / "best.npz"), "--n", "16", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["sample", str(runs / kind / "last.npz"), "--n", "7", "--out", str(tmp_path / "s.npy")]) == 0
    arr = np.load(tmp_path / "s.npy", allow_pickle=False)
    assert arr.shape == (7, 28, 28) and arr.dtype == np.float32 and 0 <= arr.min() and arr.max() <= 1


@pytest.mark.parametrize("kind", ["vae", "gan", "cgan", "cvae"])
def test_evaluate_json_has_metrics_and_baselines(runs, kind, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(runs / kind / "best.npz"), "--n", "300", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("model", "n", "fd", "fd_real_baseline", "inception_score", "classes_covered", "class_kl",
                "precision", "recall"):
        assert key in result, key
    assert result["model"] == kind and result["n"] == 300
    assert ("elbo" in result) == (kind == "vae")
    # Conditional models: the judge's accuracy on the requested labels (cycling 0..9).
    assert ("label_accuracy" in result) == (kind in ("cgan", "cvae"))
    if kind in ("cgan", "cvae"):
        assert 0.0 <= result["label_accuracy"] <= 1.0


@pytest.mark.parametrize("kind", ["cgan", "cvae"])
def test_sample_label_draws_the_requested_digit(runs, kind, tmp_path):
    from aigc_np.checkpoint import load_model
    from aigc_np.kinds.image import generate_images

    ckpt = str(runs / kind / "best.npz")
    assert main(["sample", ckpt, "--label", "7", "--n", "6", "--out", str(tmp_path / "seven.npy"), "--seed", "3"]) == 0
    assert main(["sample", ckpt, "--n", "12", "--out", str(tmp_path / "cycle.npy"), "--seed", "3"]) == 0
    model, _ = load_model(ckpt)
    sevens, cycle = np.load(tmp_path / "seven.npy"), np.load(tmp_path / "cycle.npy")
    np.testing.assert_array_equal(sevens, generate_images(model, 6, np.random.default_rng(3), labels=[7] * 6))
    np.testing.assert_array_equal(cycle, generate_images(model, 12, np.random.default_rng(3),
                                                         labels=np.arange(12) % 10))
    assert not np.array_equal(sevens, cycle[:6])  # the label changes the samples
    assert main(["sample", ckpt, "--label", "2", "--n", "4", "--out", str(tmp_path / "two.png")]) == 0


def test_label_is_a_usage_error_for_unconditional_models_and_out_of_range(runs, tmp_path, capsys):
    for argv in (["sample", str(runs / "vae" / "best.npz"), "--label", "3", "--out", str(tmp_path / "x.png")],
                 ["sample", str(runs / "cgan" / "best.npz"), "--label", "10", "--out", str(tmp_path / "x.png")]):
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--label 10: expected a digit 0..9" in err
    assert not (tmp_path / "x.png").exists()
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["sample", str(runs / "vae" / "best.npz"), "--label", "3", "--out", str(tmp_path / "x.png")])
    assert "--label: a vae model does not read this option (it is read by cvae, cgan, cddpm, cldm)" in capsys.readouterr().err


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
    assert lines[0].startswith("step,epoch,") and [line.split(",")[1] for line in lines[1:]] == ["1", "2", "3"]


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
