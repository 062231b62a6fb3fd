"""The command line attacked with bad input: every bad flag, folder or resume is a one-line
usage error (exit 2) naming the flag, before any training starts; recipes come from the registry."""
import os

import numpy as np
import pytest

from aigc_np.checkpoint import read_metadata
from aigc_np.cli import main
from aigc_np.kinds import KINDS, recipe
from aigc_np.threads import blas_threads, choose_threads
from cli_helpers import usage_error


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "gan"
    assert main(["train", "gan", "--out", str(out), "--quick", "--threads", "1"]) == 0
    return out


@pytest.mark.parametrize("flag,value,expected", [
    ("--epochs", "0", "--epochs: expected an integer >= 1"),
    ("--epochs", "-1", "--epochs: expected an integer >= 1"),
    ("--batch-size", "0", "--batch-size: expected an integer >= 1"),
    ("--seed", "-1", "--seed: expected an integer >= 0"),
    ("--width", "nan", "--width: expected a finite number"),
    ("--width", "0", "--width: expected a number > 0"),
    ("--latent-dim", "2.5", "--latent-dim: expected an integer"),
    ("--threads", "0", "--threads: expected 'auto' or an integer >= 1"),
    ("--steps", "0", "--steps: expected an integer >= 1"),          # the language models' flags too
    ("--n-layer", "-2", "--n-layer: expected an integer >= 1"),
    ("--lr", "inf", "--lr: expected a finite number"),
])
def test_numeric_flags_are_validated_naming_the_flag_and_range(flag, value, expected, tmp_path, capsys):
    err = usage_error(["train", "dcgan", "--out", str(tmp_path / "r"), flag, value], capsys)
    assert expected in err
    assert not (tmp_path / "r").exists()


def test_sampling_flags_are_validated_naming_the_flag(tmp_path, capsys):
    for flag in ("--temperature", "--eta", "--guidance"):
        err = usage_error(["sample", str(tmp_path / "x.npz"), "--out", str(tmp_path / "x.png"), flag, "nan"], capsys)
        assert f"{flag}: expected a finite number" in err


def test_batch_larger_than_the_data_is_a_usage_error(tmp_path, capsys):
    err = usage_error(["train", "vae", "--out", str(tmp_path / "r"), "--batch-size", "5000"], capsys)
    assert "--batch-size 5000: larger than the 4500 training images" in err


def test_empty_out_and_a_file_as_out_are_usage_errors(tmp_path, capsys):
    assert "--out: expected a folder name, got an empty string" in usage_error(["train", "vae", "--out", ""], capsys)
    (tmp_path / "file").write_text("x")
    err = usage_error(["train", "vae", "--out", str(tmp_path / "file")], capsys)
    assert "expected a folder, but this is an existing file" in err


def test_read_only_check_uses_access(tmp_path, capsys, monkeypatch):
    """A read-only --out fails before training (os.access says no: the suite may run as root)."""
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert main(["train", "vae", "--out", str(tmp_path / "run"), "--quick"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not writable" in err and "training" not in err


def test_an_existing_run_is_not_overwritten_without_overwrite_or_resume(gan_run, capsys):
    before = (gan_run / "last.npz").read_bytes()
    err = usage_error(["train", "gan", "--out", str(gan_run), "--quick"], capsys)
    assert "already holds a run" in err and "--overwrite" in err and "--resume" in err
    assert (gan_run / "last.npz").read_bytes() == before


def test_resume_refuses_another_kind_best_npz_and_changed_flags(gan_run, tmp_path, capsys):
    err = usage_error(["train", "vae", "--out", str(gan_run), "--resume", str(gan_run / "last.npz")], capsys)
    assert "holds a 'gan' model, but the command trains 'vae'" in err
    err = usage_error(["train", "gan", "--out", str(gan_run), "--resume", str(gan_run / "best.npz")], capsys)
    assert "continues from a run's last.npz" in err and "not from best.npz" in err
    err = usage_error(["train", "gan", "--out", str(gan_run), "--resume", str(gan_run / "last.npz"),
                       "--latent-dim", "7"], capsys)
    assert "latent_dim = 100" in err and "--latent-dim 7" in err
    err = usage_error(["train", "gan", "--out", str(gan_run), "--resume", str(gan_run / "last.npz"),
                       "--recipe", "article"], capsys)
    assert "--recipe article: a resumed run keeps" in err


def test_train_uses_the_registry_recipe_and_prints_fd_beside_confidence(gan_run):
    meta = read_metadata(gan_run / "last.npz")
    assert meta["config"] == recipe("gan")[0] and meta["train"] == {**recipe("gan")[1], "epochs": 2, "eval_every": 1,
                                                                     "quick": True}
    header = (gan_run / "history.csv").read_text().splitlines()[0].split(",")
    assert {"fd", "min_class", "confident", "selection", "precision", "recall"} <= set(header)


def test_recipe_article_is_the_plain_recipe(tmp_path, capsys):
    out = tmp_path / "plain"
    assert main(["train", "gan", "--recipe", "article", "--out", str(out), "--quick", "--threads", "1"]) == 0
    config = read_metadata(out / "last.npz")["config"]
    assert config == recipe("gan", "article")[0] and config["lr"] == 2e-4 and config["ema"] == 0.0
    printed = capsys.readouterr().out
    assert "FD" in printed and printed.index("FD") < printed.index("confident")
    err = usage_error(["train", "gan", "--recipe", "nosuch", "--out", str(tmp_path / "y")], capsys)
    assert "--recipe nosuch: gan has no such recipe" in err


def test_help_lists_every_recipe_with_its_result(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for kind in KINDS.values():
        assert f"  {kind.name} ({kind.family.name}):" in out
        for name, r in kind.recipes.items():
            assert f"      {name}: {r.about}" in out


def test_debug_after_the_subcommand_and_case_insensitive_extensions(gan_run, tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"junk")
    with pytest.raises(ValueError):
        main(["sample", str(bad), "--out", str(tmp_path / "x.png"), "--debug"])
    assert main(["sample", str(gan_run / "best.npz"), "--n", "4", "--out", str(tmp_path / "x.PNG")]) == 0
    assert (tmp_path / "x.PNG").read_bytes()[:4] == b"\x89PNG"
    err = usage_error(["sample", str(gan_run / "best.npz"), "--out", str(tmp_path / "x.jpg")], capsys)
    assert "--out " + str(tmp_path / "x.jpg") + ": images go to a file ending in .png or .npy" in err


def test_threads_flag_sets_and_prints_the_blas_thread_count(tmp_path, capsys):
    before = blas_threads()
    try:
        assert main(["sample", "nosuchfile.npz", "--out", str(tmp_path / "x.png"), "--threads", "1"]) == 1
        if before is not None:
            assert blas_threads() == 1
    finally:
        if before is not None:
            from aigc_np.threads import set_blas_threads
            set_blas_threads(before)
    assert choose_threads("auto", cores=2, load=1.5) == 1   # busy: one thread
    assert choose_threads("auto", cores=2, load=0.2) == 2   # idle: every core
    assert choose_threads(3, cores=2, load=9.0) == 3        # explicit wins
    with pytest.raises(ValueError, match="--threads"):
        choose_threads(0)


def test_quick_train_prints_the_thread_count(gan_run, tmp_path, capsys):
    capsys.readouterr()
    assert main(["train", "vae", "--out", str(tmp_path / "v"), "--quick", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "BLAS threads: 1 (--threads)" in out or "BLAS threads: not settable" in out
    assert np.isfinite(float((tmp_path / "v" / "history.csv").read_text().splitlines()[1].split(",")[1]))
