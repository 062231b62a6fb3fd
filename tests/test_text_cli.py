"""The text commands end to end: train, resume, sample, evaluate; checkpoints rebuild from the file alone."""
import csv
import json

import numpy as np
import pytest

from aigc_np.checkpoint import load_model, read_metadata
from aigc_np.cli import main
from aigc_np.kinds import KINDS, build_model
from aigc_np.text.data import load_names, load_shakespeare
from aigc_np.text.evaluation import baselines
from aigc_np.training import train

TINY = {"gpt": ["--n-layer", "1", "--n-head", "2", "--n-embd", "8"], "lstm": ["--n-embd", "4"]}


def train_argv(kind, out, steps=20, *extra):
    return ["train", kind, "--corpus", "names", "--out", str(out), "--steps", str(steps), "--batch-size", "4",
            "--block-size", "8", *TINY[kind], *extra]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("text_runs")
    for kind in ("gpt", "lstm"):
        assert main(train_argv(kind, root / kind)) == 0
    return root


@pytest.mark.parametrize("kind", ["gpt", "lstm"])
def test_train_writes_the_run_folder_and_the_checkpoint_rebuilds_alone(runs, kind):
    for name in ("last.npz", "best.npz", "history.csv"):
        assert (runs / kind / name).exists()
    rows = list(csv.DictReader(open(runs / kind / "history.csv")))
    assert [int(r["step"]) for r in rows] == [20] and float(rows[0]["val_loss"]) > 0
    meta = read_metadata(runs / kind / "last.npz")
    assert meta["kind"] == kind and meta["config"]["vocab"] == load_names().vocab.chars
    model, _ = load_model(runs / kind / "last.npz")
    assert model.num_params() == KINDS[kind].counts(meta["config"])[0]
    assert meta["train"]["steps"] == 20 and meta["step"] == 20
    rebuilt = build_model(kind, meta["config"])                       # through the table of kinds
    assert rebuilt.params.keys() == model.params.keys()


def test_param_count_matches_every_recipe():
    for kind in ("gpt", "lstm"):
        for name in KINDS[kind].recipes:
            config = {**KINDS[kind].recipe(name)[0], "vocab": "abcdefg"}
            assert build_model(kind, config).num_params() == KINDS[kind].counts(config)[0]


def run(model, data, train_settings, config, rng, out, resume=False, stop=None):
    family = KINDS["gpt"].family
    plan = family.plan(train_settings, data, config)
    if stop:
        import dataclasses
        plan = dataclasses.replace(plan, steps=stop, lr_at=plan.lr_at)
    return train(model, family.batches(data, train_settings, config), plan, rng=rng, out_dir=str(out),
                 score=family.score(KINDS["gpt"], data, config, train_settings, 0), select=("val_loss", False),
                 train_settings=train_settings, resume=resume)


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    data = load_names()
    config, settings = KINDS["gpt"].recipe("names")
    config.update(n_layer=1, n_head=2, n_embd=8, block_size=8, dropout=0.1, vocab=data.vocab.chars)
    settings.update(batch_size=4, steps=12, eval_every=4, eval_batches=2)
    straight = build_model("gpt", config, rng=np.random.default_rng(1))
    history = run(straight, data, settings, config, np.random.default_rng(0), tmp_path / "straight")
    split = build_model("gpt", config, rng=np.random.default_rng(1))
    run(split, data, settings, config, np.random.default_rng(0), tmp_path / "split", stop=8)   # stopped at step 8
    resumed = build_model("gpt", read_metadata(tmp_path / "split" / "last.npz")["config"], rng=np.random.default_rng(99))
    resumed_history = run(resumed, data, settings, config, np.random.default_rng(99), tmp_path / "split", resume=True)
    for key in straight.params:
        np.testing.assert_array_equal(straight.params[key], resumed.params[key], err_msg=key)
    assert [r["val_loss"] for r in resumed_history] == [r["val_loss"] for r in history]
    # the command line continues a run from its own folder, with its own settings
    assert main(["train", "gpt", "--out", str(tmp_path / "split"), "--resume",
                 str(tmp_path / "split" / "last.npz"), "--steps", "14"]) == 0
    meta = read_metadata(tmp_path / "split" / "last.npz")
    assert meta["step"] == 14 and meta["train"]["batch_size"] == 4


def test_sample_prints_or_writes_and_checks_its_options(runs, tmp_path, capsys):
    ckpt = str(runs / "gpt" / "best.npz")
    assert main(["sample", ckpt, "--prompt", "em", "--n", "30", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("em") and len(printed.rstrip("\n")) >= 32 - 1
    out = tmp_path / "names.txt"
    assert main(["sample", ckpt, "--prompt", "em", "--n", "30", "--seed", "1", "--out", str(out)]) == 0
    assert out.read_text() == printed.rstrip("\n") or out.read_text() + "\n" == printed
    assert main(["sample", str(runs / "lstm" / "last.npz"), "--prompt", ".", "--n", "10", "--temperature", "0"]) == 0
    capsys.readouterr()
    for argv, message in ((["--prompt", "EMMA"], "'A', 'E', 'M'"), (["--temperature", "-1"], "--temperature"),
                          (["--top-k", "0"], "--top-k"), (["--top-p", "1.5"], "--top-p")):
        with pytest.raises(SystemExit) as e:
            main(["sample", ckpt, *argv])
        assert e.value.code == 2 and message in capsys.readouterr().err


def test_evaluate_json_reports_nats_bits_and_exact_baselines(runs, capsys):
    assert main(["evaluate", str(runs / "lstm" / "best.npz"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    data = load_names()
    for split in ("val", "test"):
        r = result[split]
        assert r["bits_per_char"] == pytest.approx(r["nats_per_char"] / np.log(2))
        assert r["baselines_nats_per_char"] == baselines(data.train, getattr(data, split), 27)
        assert r["baselines_nats_per_char"]["uniform"] == pytest.approx(np.log(27))
    assert main(["evaluate", str(runs / "lstm" / "best.npz")]) == 0
    assert "add-one" in capsys.readouterr().out


def test_the_baselines_of_the_bundled_corpora():
    names = load_names()
    b = baselines(names.train, names.test, names.vocab.size)
    assert 2.44 <= b["bigram"] <= 2.50 and b["unigram"] > b["bigram"]
    shakespeare = load_shakespeare()
    b = baselines(shakespeare.train, shakespeare.val, 65)
    assert b["uniform"] > b["unigram"] > b["bigram"] > 2.0


def test_a_bad_corpus_is_one_line_naming_the_file(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert main(["train", "gpt", "--corpus", str(empty), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "empty.txt" in err and "empty" in err
