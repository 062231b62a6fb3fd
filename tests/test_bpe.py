"""The byte-level BPE tokenizer: exact round trips on any string, the merges of a plain-Python
reference, deterministic training, the vocabulary size asked, and the checkpoint text form."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aigc_np.text.bpe import BPE, MAX_BPE_VOCAB, _merge

TRAIN = "春眠不觉晓，处处闻啼鸟。the lower the lowest, the newer the newest.\n" * 3 + "ça été, 🙂🙂 naïve"
TOKENIZER = BPE.train(TRAIN, 300)


def reference_train(text: str, vocab_size: int) -> list:
    """BPE as a loop over a Python list: count pairs, merge the most frequent (smallest on ties)."""
    ids, merges = list(text.encode("utf-8")), []
    for new in range(256, vocab_size):
        counts = {}
        for pair in zip(ids, ids[1:]):
            counts[pair] = counts.get(pair, 0) + 1
        pair = min(counts, key=lambda p: (-counts[p], p))
        merges.append(pair)
        out, i = [], 0
        while i < len(ids):
            if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
                out.append(new)
                i += 2
            else:
                out.append(ids[i])
                i += 1
        ids = out
    return merges


@settings(max_examples=60, deadline=None)
@given(st.text())
def test_any_string_round_trips_exactly_even_with_characters_never_seen(text):
    ids = TOKENIZER.encode(text)
    assert ids.dtype == np.int64 and TOKENIZER.decode(ids, errors="strict") == text
    assert len(ids) <= len(text.encode("utf-8"))


@settings(max_examples=15, deadline=None)
@given(st.text(alphabet="abc 春眠", min_size=30, max_size=120), st.integers(256, 290))
def test_merges_are_deterministic_equal_the_reference_and_encode_replays_them(text, vocab_size):
    try:
        bpe, ids = BPE.learn(text, vocab_size)
    except ValueError as e:                            # a text that runs out of pairs says so
        assert "ran out of pairs" in str(e)
        return
    assert bpe.size == vocab_size and len(bpe.merges) == vocab_size - 256
    assert [tuple(m) for m in bpe.merges.tolist()] == reference_train(text, vocab_size)
    assert np.array_equal(BPE.train(text, vocab_size).merges, bpe.merges)
    assert np.array_equal(bpe.encode(text), ids) and bpe.decode(ids, errors="strict") == text


def test_a_run_of_one_token_merges_left_to_right_in_pairs():
    assert _merge(np.array([7, 7, 7]), 7, 7, 300).tolist() == [300, 7]
    assert _merge(np.array([7, 7, 7, 7, 1, 7, 7]), 7, 7, 300).tolist() == [300, 300, 1, 300]
    assert _merge(np.array([1, 2, 1, 2, 2]), 1, 2, 300).tolist() == [300, 300, 2]
    bpe = BPE.train("aaaaaaaa", 258)
    assert bpe.pieces[256:] == [b"aa", b"aaaa"] and bpe.encode("aaaaaaaaa").tolist() == [257, 257, 97]


def test_the_checkpoint_text_round_trips_and_bad_merges_are_refused():
    again = BPE.from_text(TOKENIZER.to_text())
    assert np.array_equal(again.merges, TOKENIZER.merges) and again.size == 300
    assert BPE.from_text("").size == 256
    for text, message in (("97", "pairs of token ids"), ("97 x", "pairs of token ids"), ("-1 2", "pairs"),
                          ("97 256", r"merge 0 joins tokens \[97, 256\]"), ("97 98 97 98", "merged twice"),
                          ("1" * 100000, "at most")):
        with pytest.raises(ValueError, match=message):
            BPE.from_text(text, "merges")
    with pytest.raises(ValueError, match=f"vocab_size must lie in 256..{MAX_BPE_VOCAB}, got 255"):
        BPE.train("abc", 255)
    with pytest.raises(ValueError, match="ran out of pairs after 2 merges"):
        BPE.train("abc", 260)
    with pytest.raises(ValueError, match=r"token ids must be integers in \[0, 300\)"):
        TOKENIZER.decode([300])
    assert TOKENIZER.decode(TOKENIZER.encode("龘")[:1]) == "\ufffd"      # a cut character: U+FFFD


def test_a_bpe_gpt_trains_from_the_command_line_and_its_merges_are_checked_in_the_checkpoint(tmp_path, capsys):
    import json

    from aigc_np.checkpoint import load_model, read_metadata, validate_checkpoint
    from aigc_np.cli import main
    from tests.cli_helpers import edited_checkpoint
    out = tmp_path / "run"
    assert main(["train", "gpt", "--tokenizer", "bpe", "--vocab-size", "262", "--corpus", "names", "--out", str(out),
                 "--steps", "2", "--batch-size", "2", "--block-size", "8", "--n-layer", "1", "--n-head", "1",
                 "--n-embd", "4"]) == 0
    config = read_metadata(out / "best.npz")["config"]
    bpe = BPE.from_text(config["merges"])
    assert config["tokenizer"] == "bpe" and config["vocab_size"] == bpe.size == 262
    assert load_model(out / "best.npz")[0].vocab_size == 262
    capsys.readouterr()
    assert main(["evaluate", str(out / "best.npz"), "--json"]) == 0
    test = json.loads(capsys.readouterr().out)["test"]
    assert test["bits_per_char"] == pytest.approx(test["nats_per_token"] * test["tokens"] / test["characters"]
                                                  / np.log(2))
    assert test["tokens"] < test["characters"]
    for edit, message in (({"merges": "97 300"}, r"merge 0 joins tokens \[97, 300\]"),
                          ({"merges": config["merges"] + " 97 98"}, "merges make 263 tokens, but vocab_size is 262"),
                          ({"merges": ""}, "merges make 256 tokens, but vocab_size is 262"),
                          ({"tokenizer": "char"}, "vocab_size and merges belong to tokenizer 'bpe'"),
                          ({"merges": "9" * 90000}, "merges")):
        with pytest.raises(ValueError, match=message):
            validate_checkpoint(edited_checkpoint(out / "best.npz", tmp_path / "edited.npz", **edit))


@pytest.mark.parametrize("name", ["tinyshakespeare.txt", "names.txt", "tang_quatrains.txt"])
def test_the_round_trip_is_exact_on_the_bundled_corpora(name):
    from aigc_np.text.data import DATA_DIR
    text = (DATA_DIR / name).read_text(encoding="utf-8")
    bpe = BPE.train(text[:50_000], 262)                                          # merges of the corpus itself
    ids = bpe.encode(text)
    assert bpe.decode(ids, errors="strict") == text and len(ids) < len(text.encode("utf-8"))
    assert TOKENIZER.decode(TOKENIZER.encode(text), errors="strict") == text      # merges learned elsewhere
