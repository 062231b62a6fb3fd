"""The text corpora: vocabulary (any size, any code point), compact id storage, splits, boundary framing,
windows (and the error for a block too long for a split) and a user's own file."""
import numpy as np
import pytest

from aigc_np.text.data import (DATA_DIR, Vocab, check_block_size, load_names, load_shakespeare, load_tang, load_text_file,
                               random_windows)
from aigc_np.text.evaluation import fixed_batches


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
    with pytest.raises(ValueError, match="missing.txt: no such file"):
        load_text_file(tmp_path / "missing.txt")


def test_corpora_are_stored_in_the_smallest_id_dtype_and_windows_are_int64():
    for data in (load_shakespeare(), load_names()):
        assert data.train.dtype == data.val.dtype == np.uint16
        x, y = random_windows(data.train, 4, 8, np.random.default_rng(0))
        assert x.dtype == y.dtype == np.int64 and np.array_equal(x[:, 1:], y[:, :-1])
        (xv, yv), = fixed_batches(data.val, 1, 4, 8)
        assert xv.dtype == yv.dtype == np.int64


def test_a_vocabulary_of_thousands_of_characters_round_trips():
    rng = np.random.default_rng(0)
    alphabet = "".join(chr(c) for c in range(0x4E00, 0x4E00 + 5000))
    text = "".join(np.array(list(alphabet))[rng.integers(0, 5000, 50_000)]) + alphabet
    vocab = Vocab.from_text(text)
    assert vocab.size == 5000 and vocab.chars == alphabet and vocab.id_dtype == np.uint16
    ids = vocab.encode(text, vocab.id_dtype)
    assert ids.dtype == np.uint16 and ids.max() == 4999 and vocab.decode(ids) == text
    assert np.array_equal(vocab.encode(text), ids) and vocab.encode(text).dtype == np.int64
    with pytest.raises(ValueError, match=r"1 character\(s\) not in the vocabulary: 'a'"):
        vocab.encode(text[:10] + "a")


def test_code_points_up_to_0x10ffff_and_more_than_65536_characters():
    astral = "a\U0001F600\U0010FFFF\u4e2d"
    vocab = Vocab.from_text(astral * 3)
    assert vocab.chars == "a\u4e2d\U0001F600\U0010FFFF"
    assert vocab.decode(vocab.encode(astral)) == astral
    assert vocab._table.nbytes <= 0x110000 * 4          # a lookup table, never more than 4.5 MB
    with pytest.raises(ValueError, match="not in the vocabulary"):
        vocab.encode("\U0010FFFE")
    # 70,000 characters (no surrogates) need more than uint16.
    many = "".join(chr(c) for c in range(0x10000, 0x10000 + 70_000))
    big = Vocab(many)
    assert big.id_dtype == np.int32
    ids = big.encode(many[::-1], big.id_dtype)
    assert ids.dtype == np.int32 and ids[0] == 69_999 and big.decode(ids) == many[::-1]
    with pytest.raises(ValueError, match="dtype uint16 cannot hold ids up to 69999"):
        big.encode("x", np.uint16)


def test_a_block_too_long_for_a_split_is_named_before_training():
    data = load_names()
    n_val = len(data.val)
    with pytest.raises(ValueError) as refused:
        check_block_size(data, n_val)
    assert str(refused.value) == (f"block_size {n_val} is too long for the val split of names: it holds {n_val} "
                                  f"characters and a window needs block_size + 1 = {n_val + 1}; the longest "
                                  f"that fits is {n_val - 1}")
    check_block_size(data, n_val - 1)
    with pytest.raises(ValueError, match="block_size: expected a positive integer, got 0"):
        check_block_size(data, 0)
    ids = np.arange(100, dtype=np.uint16)
    with pytest.raises(ValueError, match=r"^block_size 100 is too long for the train split: it holds 100 "):
        random_windows(ids, 4, 100, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^block_size 200 is too long for the val split: it holds 100 "):
        fixed_batches(ids, 2, 4, 200)
    x, y = random_windows(ids, 4, 99, np.random.default_rng(0))     # the longest that fits
    assert np.array_equal(x[0], ids[:99]) and np.array_equal(y[0], ids[1:])


def test_tang_is_split_by_poem_deterministically_and_every_poem_is_whole():
    data = load_tang()
    poems = (DATA_DIR / "tang_quatrains.txt").read_text(encoding="utf-8").split("\n")[:-1]
    texts = {name: data.vocab.decode(ids) for name, ids in data.splits().items()}
    parts = {name: text.split("\n") for name, text in texts.items()}
    for name, text in texts.items():
        assert text.startswith("\n") and text.endswith("\n") and "\n\n" not in text
        assert parts[name][0] == parts[name][-1] == ""
    held = {name: part[1:-1] for name, part in parts.items()}
    assert [len(p) for p in held.values()] == [12366, 687, 687]
    assert sorted(sum(held.values(), [])) == sorted(poems)           # every poem once, none cut in two
    assert not set(held["train"]) & set(held["test"]) and not set(held["val"]) & set(held["test"])
    assert data.vocab.size == 5037 and data.train.dtype == np.uint16
    again = load_tang()
    assert all(np.array_equal(again.split(n), data.split(n)) for n in ("train", "val", "test"))
    assert not np.array_equal(load_tang(seed=1).test, data.test)


def test_poem_windows_start_at_an_opening_newline_and_framed_loss_scores_every_character_once():
    from aigc_np.text.data import TextSplits
    from aigc_np.text.evaluation import framed_loss
    from aigc_np.text.models import GPT
    vocab = Vocab("\nabc，。")
    text = "\nab，c。\nabc，ab。\na，b。\n"
    ids = vocab.encode(text, vocab.id_dtype)
    splits = TextSplits("poems", vocab, ids, ids, boundary=0)
    assert splits.starts("train", 9).tolist() == [0, 6] and splits.starts("train", 5).tolist() == [0, 6, 14]
    x, y = random_windows(ids, 50, 5, np.random.default_rng(0), starts=splits.starts("train", 5))
    assert set(x[:, 0].tolist()) == {0} and {tuple(r) for r in x[:, 1:3].tolist()} == {(1, 2), (1, 4)}
    (xv, _), = fixed_batches(ids, 1, 30, 5, starts=splits.starts("val", 5))
    assert set(xv[:, 0].tolist()) == {0}
    model = GPT(n_layer=1, n_head=1, n_embd=4, block_size=9, vocab_size=vocab.size, dtype=np.float64).eval()
    nll = []
    for start, end in ((0, 6), (6, 14), (14, 19)):              # each poem from its opening newline
        logits = model.forward(ids[None, start:end].astype(np.int64))[0]
        logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        nll += [-logp[j, ids[start + j + 1]] for j in range(end - start)]
    assert framed_loss(model, ids, 0, batch_size=2) == pytest.approx(np.mean(nll), rel=1e-10) and len(nll) == 19
    with pytest.raises(ValueError, match="every poem or name must fit in block_size 6; the longest holds 8"):
        framed_loss(GPT(n_layer=1, n_head=1, n_embd=4, block_size=6, vocab_size=vocab.size), ids, 0)
