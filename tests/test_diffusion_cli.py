"""The diffusion kinds on the command line and in checkpoints: ddpm and cddpm."""
import json

import numpy as np
import pytest

from aigc_np.cli import main
from aigc_np.kinds import KINDS, build_model, generate


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("diffusion_runs")
    for kind in ("ddpm", "cddpm"):
        assert main(["train", kind, "--out", str(root / kind), "--quick"]) == 0
    return root


def test_param_count_from_the_config_matches_the_built_model():
    for kind in ("ddpm", "cddpm"):
        for config in ({}, {"width": 8, "groups": 4}, {"width": 8, "groups": 2, "ema": 0.0}):
            full = {**KINDS[kind].defaults, **config}
            assert KINDS[kind].counts(full)[0] == build_model(kind, config).num_params(), (kind, config)


def test_registry_builds_diffusion_kinds_and_the_config_holds_the_schedule():
    model = build_model("cddpm", {"width": 8, "T": 50, "schedule": "linear"})
    assert model.kind == "cddpm" and model.config["T"] == 50 and model.schedule.T == 50
    assert model.schedule.kind == "linear" and set(model.config) == set(KINDS["cddpm"].settings)
    with pytest.raises(ValueError, match=r"unknown ddpm config keys \['guidance'\]"):
        build_model("ddpm", {"guidance": 1.0})
    model.config["steps"] = 3
    images = generate(model, 4, np.random.default_rng(0), labels=[1, 2, 3, 4])
    assert images.shape == (4, 28, 28) and images.dtype == np.float32 and 0 <= images.min() <= images.max() <= 1


def test_train_writes_the_run_folder_and_sampling_needs_only_the_file(runs, tmp_path, capsys):
    for kind in ("ddpm", "cddpm"):
        names = {p.name for p in (runs / kind).iterdir()}
        assert {"last.npz", "best.npz", "history.csv", "samples_epoch_002.png"} <= names
        out = tmp_path / f"{kind}.npy"
        assert main(["sample", str(runs / kind / "last.npz"), "--n", "5", "--sampling-steps", "3", "--out", str(out)]) == 0
        first = np.load(out, allow_pickle=False)
        assert first.shape == (5, 28, 28) and first.dtype == np.float32
        assert main(["sample", str(runs / kind / "last.npz"), "--n", "5", "--sampling-steps", "3", "--out", str(out)]) == 0
        np.testing.assert_array_equal(np.load(out, allow_pickle=False), first)   # same seed, same samples
    assert main(["sample", str(runs / "cddpm" / "last.npz"), "--n", "3", "--sampler", "ddpm", "--label", "7",
                 "--guidance", "1.5", "--out", str(tmp_path / "sevens.png")]) == 0
    assert (tmp_path / "sevens.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_json_has_metrics_and_label_accuracy_for_cddpm(runs, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(runs / "cddpm" / "last.npz"), "--n", "40", "--sampling-steps", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "cddpm" and result["n"] == 40
    for key in ("fd", "fd_real_baseline", "inception_score", "confident", "precision", "recall", "label_accuracy"):
        assert np.isfinite(result[key]), key


@pytest.mark.parametrize("kind,flags,message", [
    ("ddpm", ["--guidance", "1"], "--guidance: a ddpm model does not read this option (it is read by cddpm, ldm, cldm)"),
    ("ddpm", ["--label", "3"], "--label: a ddpm model does not read this option (it is read by cvae, cgan, cddpm, cldm)"),
    ("cddpm", ["--label", "10"], "expected a digit 0..9"),
    ("cddpm", ["--sampling-steps", "0"], r"expected 1..T=100"),
    ("cddpm", ["--sampling-steps", "101"], r"expected 1..T=100"),
    ("ddpm", ["--sampler", "ddpm", "--sampling-steps", "10"], "the ddpm sampler takes all T steps"),
    ("ddpm", ["--eta", "-1"], "expected eta >= 0"),
    ("vae", ["--sampling-steps", "10"], "--sampling-steps: a vae model does not read this option"),
    ("vae", ["--guidance", "2"], "--guidance: a vae model does not read this option"),
], ids=["ddpm-guidance", "ddpm-label", "cddpm-label-10", "cddpm-steps-0", "cddpm-steps-101", "ddpm-sampler-steps",
        "ddpm-eta", "vae-steps", "vae-guidance"])
def test_flags_a_model_cannot_use_are_usage_errors(runs, tmp_path, capsys, kind, flags, message):
    if kind == "vae":
        assert main(["train", "vae", "--out", str(tmp_path / "vae"), "--quick", "--epochs", "1"]) == 0
        ckpt = tmp_path / "vae" / "last.npz"
    else:
        ckpt = runs / kind / "last.npz"
    capsys.readouterr()
    commands = [["sample", str(ckpt), "--out", str(tmp_path / "x.png")], ["evaluate", str(ckpt)]]
    for command in commands[:1] if "--label" in flags else commands:   # evaluate has no --label
        with pytest.raises(SystemExit) as e:
            main(command + flags)
        assert e.value.code == 2
        assert message in capsys.readouterr().err
