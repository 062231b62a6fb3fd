"""The command line's protections hold for every kind: unread options, outputs, corpora, untrusted
checkpoints, divergence, resume and the folder lock, for text and diffusion as for images."""
import os
import threading

import numpy as np
import pytest

from aigc_np.checkpoint import read_metadata, save_checkpoint
from aigc_np.cli import main
from aigc_np.kinds import build_model
from cli_helpers import edited_checkpoint, one_line_error, usage_error

TINY_GPT = ["--n-layer", "1", "--n-head", "2", "--n-embd", "8", "--block-size", "8", "--batch-size", "4"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("every_kind")
    for kind in ("vae", "ddpm"):
        assert main(["train", kind, "--out", str(root / kind), "--quick", "--threads", "1"]) == 0
    assert main(["train", "gpt", "--corpus", "names", "--out", str(root / "gpt"), "--quick", *TINY_GPT]) == 0
    return root


# -------------------------------------------------- options a kind does not read
@pytest.mark.parametrize("argv,message", [
    (["train", "gpt", "--recipe", "nosuch", "--epochs", "5", "--width", "2"], "--epochs: a gpt model does not read"),
    (["train", "gpt", "--width", "2"], "--width: a gpt model does not read this option (it is read by dcgan, ddpm, cddpm)"),
    (["train", "ddpm", "--recipe", "nosuch"], "--recipe nosuch: ddpm has no such recipe"),
    (["train", "gan", "--recipe", "nosuch"], "--recipe nosuch: gan has no such recipe"),
    (["train", "ddpm", "--lr", "1e30"], "--lr 1e+30: expected a number in (0, 10] for ddpm"),
    (["train", "vae", "--lr", "1e30"], "--lr 1e+30: expected a number in (0, 10] for vae"),
    (["train", "lstm", "--lr", "1e30"], "--lr 1e+30: expected a number in (0, 10] for lstm"),
    (["train", "vae", "--corpus", "names"], "--corpus: a vae model does not read"),
    (["train", "ddpm", "--width", "2.5"], "--width 2.5: expected an int in 1..256 for ddpm"),
    (["train", "lstm", "--n-head", "2"], "--n-head: a lstm model does not read this option (it is read by gpt)"),
])
def test_train_refuses_what_the_kind_does_not_read_or_allow(argv, message, tmp_path, capsys):
    err = usage_error([*argv, "--out", str(tmp_path / "r")], capsys)
    assert message in err and not (tmp_path / "r").exists()


@pytest.mark.parametrize("run,argv,message", [
    ("gpt", ["--label", "3"], "--label: a gpt model does not read this option (it is read by cvae, cgan, cddpm, cldm)"),
    ("ddpm", ["--prompt", "zz", "--top-k", "0", "--out", "x.png"], "--prompt: a ddpm model does not read"),
    ("vae", ["--prompt", "hi", "--out", "x.png"], "--prompt: a vae model does not read"),
    ("vae", ["--sampling-steps", "3", "--out", "x.png"], "--sampling-steps: a vae model does not read"),
    ("gpt", ["--out", "names.png"], "--out names.png: text samples go to a file ending in .txt"),
    ("vae", ["--out", "vae.txt"], "--out vae.txt: images go to a file ending in .png or .npy"),
])
def test_sample_refuses_what_the_checkpoints_kind_does_not_read(runs, run, argv, message, capsys):
    err = usage_error(["sample", str(runs / run / "best.npz"), *argv], capsys)
    assert message in err and not os.path.exists("names.png")


def test_evaluate_refuses_options_the_kind_does_not_read(runs, capsys):
    err = usage_error(["evaluate", str(runs / "gpt" / "best.npz"), "--real", "x.npy"], capsys)
    assert "--real: a gpt model does not read" in err
    err = usage_error(["evaluate", str(runs / "vae" / "best.npz"), "--guidance", "2"], capsys)
    assert "--guidance: a vae model does not read this option (it is read by cddpm, ldm, cldm)" in err


# ---------------------------------------------------------------- sampling text
def test_sample_of_a_names_gpt_starts_a_new_name_without_options(runs, capsys):
    capsys.readouterr()
    assert main(["sample", str(runs / "gpt" / "best.npz"), "--n", "40"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(".") and len(text.rstrip("\n")) == 41


def test_text_sample_out_refuses_a_fifo_and_never_replaces_it(runs, tmp_path, capsys):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    err = usage_error(["sample", str(runs / "gpt" / "best.npz"), "--out", str(fifo)], capsys)
    assert "expected a regular file or a new name, got a named pipe" in err
    assert os.path.exists(fifo) and not os.path.isfile(fifo)


# ---------------------------------------------------------------- corpora
def test_an_unknown_corpus_is_a_usage_error_listing_the_built_in_ones(tmp_path, capsys):
    err = usage_error(["train", "gpt", "--corpus", "shakespear", "--out", str(tmp_path / "r")], capsys)
    assert "shakespeare" in err and "names" in err and "did you mean 'shakespeare'" in err


def test_a_gbk_corpus_is_named_and_the_fix_is_said(tmp_path, capsys):
    path = tmp_path / "poems.txt"
    path.write_bytes(("床前明月光，疑是地上霜。举头望明月，低头思故乡。\n" * 200).encode("gbk"))
    err = one_line_error(["train", "gpt", "--corpus", str(path), "--out", str(tmp_path / "r"), "--quick"], capsys)
    assert "poems.txt" in err and "UTF-8" in err and "GBK" in err


def test_a_fifo_corpus_is_refused_at_once(tmp_path, capsys):
    fifo = tmp_path / "corpus.txt"
    os.mkfifo(fifo)
    result = {}
    worker = threading.Thread(target=lambda: result.update(code=main(
        ["train", "gpt", "--corpus", str(fifo), "--out", str(tmp_path / "r"), "--quick"])))
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "a named pipe as --corpus hung the command"
    assert result["code"] == 1 and "named pipe" in capsys.readouterr().err


def test_a_block_longer_than_the_validation_split_is_a_usage_error(tmp_path, capsys):
    path = tmp_path / "short.txt"
    path.write_text("abcdefghij" * 150, encoding="utf-8")                        # 1,500 characters: val holds 150
    err = usage_error(["train", "gpt", "--corpus", str(path), "--block-size", "400", "--out", str(tmp_path / "r")],
                      capsys)
    assert "block_size 400" in err and "val split" in err


def test_a_corpus_of_thousands_of_characters_and_a_long_path_trains_and_samples(tmp_path, capsys):
    """More than 200 distinct characters, and a path longer than 200: the checkpoint must hold both."""
    rng = np.random.default_rng(0)
    chars = np.array([chr(0x4E00 + i) for i in range(3000)])
    text = "\n".join("".join(rng.choice(chars, 7)) + "，" + "".join(rng.choice(chars, 7)) + "。" for _ in range(800))
    folder = tmp_path / ("很长的文件夹名" * 10) / ("一个很长的文件夹名" * 8)
    folder.mkdir(parents=True)
    path = folder / "poems.txt"
    path.write_text(text, encoding="utf-8")
    assert len(str(path)) > 200
    out = tmp_path / "run"
    assert main(["train", "gpt", "--corpus", str(path), "--out", str(out), "--quick", *TINY_GPT]) == 0
    meta = read_metadata(out / "best.npz")
    assert len(meta["config"]["vocab"]) > 2000 and meta["config"]["corpus"] == str(path)
    capsys.readouterr()
    assert main(["sample", str(out / "best.npz"), "--n", "20"]) == 0
    assert main(["evaluate", str(out / "best.npz"), "--json"]) == 0


def test_train_refuses_a_model_its_checkpoint_could_not_hold(tmp_path, capsys):
    err = usage_error(["train", "gpt", "--n-layer", "5", "--n-embd", "1024", "--out", str(tmp_path / "r")], capsys)
    assert "more than the 50,000,000 a checkpoint may hold" in err
    assert not (tmp_path / "r" / "last.npz").exists()


# ---------------------------------------------------------------- untrusted checkpoints
def test_a_ddpm_declaring_a_billion_steps_is_refused_naming_the_file(runs, tmp_path, capsys):
    bad = edited_checkpoint(runs / "ddpm" / "best.npz", tmp_path / "huge_t.npz", T=10 ** 9)
    err = one_line_error(["sample", str(bad), "--out", str(tmp_path / "x.png")], capsys)
    assert "huge_t.npz" in err and "config['T']: expected an int in 2..10000" in err


@pytest.mark.parametrize("corpus,what", [("/dev/zero", "character device"), ("fifo", "named pipe")])
def test_evaluate_reads_a_stored_corpus_path_through_the_bounded_reader(runs, tmp_path, capsys, corpus, what):
    if corpus == "fifo":
        corpus = str(tmp_path / "fifo")
        os.mkfifo(corpus)
    bad = edited_checkpoint(runs / "gpt" / "best.npz", tmp_path / "elsewhere.npz", corpus=corpus)
    err = one_line_error(["evaluate", str(bad)], capsys)
    assert what in err and "elsewhere.npz" in err


@pytest.mark.parametrize("config,expected", [({"n_head": 0}, "config['n_head']"), ({"dropout": 5.0}, "config['dropout']"),
                                             ({"vocab": ".abca"}, "vocab must list distinct characters")])
def test_bad_config_values_are_refused_naming_the_file_and_the_field(runs, tmp_path, capsys, config, expected):
    bad = edited_checkpoint(runs / "gpt" / "best.npz", tmp_path / "edited.npz", **config)
    err = one_line_error(["sample", str(bad)], capsys)
    assert "edited.npz" in err and expected in err


# ---------------------------------------------------------------- divergence
def test_a_text_run_that_diverges_stops_at_the_step_naming_the_limit(tmp_path, capsys):
    capsys.readouterr()
    code = main(["train", "gpt", "--corpus", "names", "--lr", "10", "--steps", "40", "--out", str(tmp_path / "r"),
                 *TINY_GPT])
    err = capsys.readouterr().err
    assert code == 1 and "training diverged at step" in err and "4 ln V" in err, err
    assert not (tmp_path / "r" / "best.npz").exists() or read_metadata(tmp_path / "r" / "best.npz")


# ---------------------------------------------------------------- resume and the lock
def test_resume_refuses_best_npz_another_kind_and_changed_architecture(runs, tmp_path, capsys):
    err = usage_error(["train", "gpt", "--out", str(runs / "gpt"), "--resume", str(runs / "gpt" / "best.npz")], capsys)
    assert "continues from a run's last.npz" in err and "not from best.npz" in err
    err = usage_error(["train", "ddpm", "--out", str(runs / "gpt"), "--resume", str(runs / "gpt" / "last.npz")],
                      capsys)
    assert "holds a 'gpt' model, but the command trains 'ddpm'" in err
    err = usage_error(["train", "gpt", "--out", str(runs / "gpt"), "--resume", str(runs / "gpt" / "last.npz"),
                       "--n-embd", "16"], capsys)
    assert "--n-embd 16" in err and "n_embd = 8" in err


def test_a_second_run_into_a_busy_folder_is_refused(tmp_path, capsys):
    from aigc_np.runfolder import RunFolder
    with RunFolder(tmp_path / "r"):
        err = one_line_error(["train", "vae", "--out", str(tmp_path / "r"), "--quick"], capsys)
    assert "another run is training into this folder" in err
    assert not (tmp_path / "r" / "last.npz").exists()


def test_overwrite_removes_the_earlier_runs_best_npz(runs, tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    save_checkpoint(build_model("vae", {"hidden": [4]}), out / "best.npz", step=999)
    (out / ".best.npz.abcd1234.part").write_bytes(b"x")
    assert main(["train", "vae", "--out", str(out), "--quick", "--overwrite", "--eval-every", "5"]) == 0
    assert read_metadata(out / "best.npz")["step"] == 10 and not (out / ".best.npz.abcd1234.part").exists()
