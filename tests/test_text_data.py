"""The text corpora: vocabulary, splits, boundary framing, windows and a user's own file."""
import numpy as np
import pytest

from aigc_np.text.data import Vocab, load_names, load_shakespeare, load_text_file, random_windows


def test_vocab_round_trips_and_names_unknown_characters():
    vocab = Vocab.from_text("hello world")
    assert vocab.chars == " dehlorw"
    ids = vocab.encode("hold")
    assert ids.dtype == np.int64 and vocab.decode(ids) == "hold"
    with pytest.raises(ValueError, match=r"2 character\(s\) not in the vocabulary: 'Z', 'q'"):
        vocab.encode("qhZ")
    with pytest.raises(ValueError, match="ids must lie in"):
        vocab.decode([8])


def test_shakespeare_split_is_nanogpts():
    data = load_shakespeare()
    assert (len(data.train), len(data.val)) == (1_003_854, 111_540)
    assert data.vocab.size == 65
    assert data.vocab.decode(data.train[:14]) == "First Citizen:"


def test_names_are_framed_and_split_by_seed():
    data = load_names(seed=0)
    names = [w for w in data.vocab.decode(np.concatenate([data.train, data.val, data.test])).split(".") if w]
    assert len(names) == 32_033
    assert data.vocab.chars[0] == "." and data.vocab.size == 27
    for split in (data.train, data.val, data.test):
        text = data.vocab.decode(split)
        assert text.startswith(".") and text.endswith(".") and ".." not in text
    counts = [data.vocab.decode(s).count(".") - 1 for s in (data.train, data.val, data.test)]
    assert counts == [25_626, 3_203, 3_204]
    assert np.array_equal(load_names(seed=0).val, data.val)
    assert not np.array_equal(load_names(seed=1).val, data.val)


def test_windows_are_shifted_by_one_and_reproducible():
    ids = np.arange(100)
    x, y = random_windows(ids, 4, 8, np.random.default_rng(0))
    assert x.shape == y.shape == (4, 8)
    assert np.array_equal(y, x + 1) and y.max() <= 99
    x2, _ = random_windows(ids, 4, 8, np.random.default_rng(0))
    assert np.array_equal(x, x2)
    with pytest.raises(TypeError, match="Generator"):
        random_windows(ids, 4, 8, 0)


def test_a_users_file_trains_and_bad_files_are_named(tmp_path):
    good = tmp_path / "mine.txt"
    good.write_text("to be or not to be, " * 100, encoding="utf-8")
    data = load_text_file(good)
    assert len(data.train) == 1800 and len(data.val) == 200
    cases = {"empty.txt": b"", "binary.bin": b"\xff\xfe\x00\x81" * 400, "nul.txt": b"ab\x00" * 500,
             "short.txt": b"too short"}
    messages = {"empty.txt": "empty", "binary.bin": "not UTF-8", "nul.txt": "NUL", "short.txt": "too short"}
    for name, raw in cases.items():
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(ValueError, match=f"{name}.*{messages[name]}"):
            load_text_file(tmp_path / name)
    with pytest.raises(ValueError, match="missing.txt: cannot read"):
        load_text_file(tmp_path / "missing.txt")
