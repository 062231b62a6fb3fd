"""A tang model from the command line: acrostic sampling, its errors, and evaluate's poem measures."""
import json

import numpy as np
import pytest

from aigc_np.cli import main
from aigc_np.cli import text as cli_text
from aigc_np.text.data import load_corpus
from aigc_np.text.poems import poem_lines


@pytest.fixture(scope="module")
def tang(tmp_path_factory):
    out = tmp_path_factory.mktemp("tang_run")
    assert main(["train", "gpt", "--recipe", "tang", "--out", str(out), "--steps", "3", "--batch-size", "2",
                 "--n-layer", "1", "--n-head", "1", "--n-embd", "4", "--eval-every", "3"]) == 0
    return str(out / "best.npz")


def test_acrostics_begin_their_lines_as_asked_and_unseen_characters_are_named(tang, capsys):
    capsys.readouterr()
    assert main(["sample", tang, "--acrostic", "春眠不觉", "--n", "3", "--seed", "2"]) == 0
    poems = capsys.readouterr().out.split("\n")[:-1]
    assert len(poems) == 3
    for poem in poems:
        lines = poem_lines(poem)
        assert [line[0] for line in lines[:4]] == list("春眠不觉")[:len(lines)]
    for heads, message in (("春眠不龘", "1 character(s) the model never saw in training: '龘'"),
                           ("春眠不觉晓", "expected 1 to 4 characters"), ("春a", "must be a Han character")):
        with pytest.raises(SystemExit) as e:
            main(["sample", tang, "--acrostic", heads])
        assert e.value.code == 2 and message in capsys.readouterr().err


def _short_heldout(corpus, **kw):
    """The tang splits with val and test cut to their first 40 poems: scoring 21,000 held-out
    characters over 5,037 outputs is most of an evaluate, and not what this test is about."""
    splits = load_corpus(corpus, **kw)
    for name in ("val", "test"):
        ids = getattr(splits, name)
        setattr(splits, name, ids[:np.flatnonzero(ids == ids[0])[40] + 1])
    return splits


def test_evaluate_reports_form_novelty_and_copies_of_free_and_acrostic_poems(tang, capsys, monkeypatch):
    monkeypatch.setattr(cli_text, "load_corpus", _short_heldout)
    capsys.readouterr()
    assert main(["evaluate", tang, "--json", "--n", "7"]) == 0
    poems = json.loads(capsys.readouterr().out)["poems"]
    assert poems["free"]["poems"] == 7 and len(poems["examples"]) == 7
    assert poems["acrostic"]["poems"] == 7 and poems["acrostic"]["heads"] >= 0.25
    for scores in (poems["free"], poems["acrostic"]):
        assert all(0 <= scores[k] <= 1 for k in ("form", "novelty", "copies"))
    assert main(["evaluate", tang, "--n", "3", "--temperature", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert "form" in printed and "temperature 0.5: 3 poems" in printed
