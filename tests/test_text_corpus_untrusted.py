"""A user's corpus is untrusted input: one bounded reader, one clear error, bounded memory."""
import os
import re
import tracemalloc

import numpy as np
import pytest

from aigc_np.text.data import (CORPORA, MAX_CORPUS_BYTES, UnknownCorpus, encode_text_file, load_corpus,
                               load_text_file)
from guards import within

SHAKESPEARE = os.path.join(os.path.dirname(__file__), "..", "data", "tinyshakespeare.txt")
GBK_TEXT = "床前明月光，疑是地上霜。举头望明月，低头思故乡。\n" * 60


def _refusal(corpus) -> str:
    with within(5), pytest.raises(ValueError) as refused:
        load_corpus(str(corpus))
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_a_pipe_a_folder_and_a_device_are_refused_at_once(tmp_path):
    pipe = tmp_path / "corpus.txt"
    os.mkfifo(pipe)
    assert _refusal(pipe) == f"--corpus {pipe}: expected a regular file, got a named pipe"
    assert _refusal(tmp_path) == f"--corpus {tmp_path}: expected a regular file, got a directory"
    if os.path.exists("/dev/zero"):      # endless: read, it would fill the memory
        tracemalloc.start()
        try:
            assert _refusal("/dev/zero") == "--corpus /dev/zero: expected a regular file, got a character device"
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 1 << 20


def test_the_corpus_path_stored_in_a_checkpoint_goes_through_the_same_reader(tmp_path):
    pipe = tmp_path / "stored.txt"
    os.mkfifo(pipe)
    with within(5), pytest.raises(ValueError, match=rf"^{re.escape(f'the checkpoint corpus {pipe}')}: "
                                                     r"expected a regular file, got a named pipe$"):
        load_corpus(str(pipe), what="the checkpoint corpus")


def test_an_oversize_corpus_is_refused_before_reading(tmp_path):
    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as f:
        f.truncate(MAX_CORPUS_BYTES + 1)          # sparse: costs no disk
    tracemalloc.start()
    try:
        message = _refusal(huge)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message == (f"--corpus {huge}: the file holds {MAX_CORPUS_BYTES + 1:,} bytes, more than the "
                       f"{MAX_CORPUS_BYTES:,} this reader accepts")
    assert peak < 1 << 20


def test_an_unknown_corpus_name_lists_the_built_in_ones(tmp_path):
    with pytest.raises(UnknownCorpus) as refused:
        load_corpus("shakespear")
    assert isinstance(refused.value, ValueError)
    assert str(refused.value) == ("--corpus shakespear: not a built-in corpus (shakespeare, names, tang) and no such "
                                  "file; a path must name an existing UTF-8 text file; did you mean "
                                  "'shakespeare'?")
    with pytest.raises(UnknownCorpus, match=r"\(shakespeare, names, tang\) and no such file; a path must name an "
                                            r"existing UTF-8 text file$"):
        load_corpus(str(tmp_path / "missing.txt"))
    assert CORPORA == ("shakespeare", "names", "tang")


def test_gbk_text_says_so_and_how_to_fix_it(tmp_path):
    path = tmp_path / "poem.txt"
    raw = ("Li Bai, Quiet Night Thought\n" + GBK_TEXT).encode("gbk")
    path.write_bytes(raw)
    message = _refusal(path)
    assert message.startswith(f"--corpus {path}: not UTF-8 text: byte 0x{raw[28]:02x} at offset 28 cannot "
                              f"be decoded (it reads as Chinese GBK/GB18030"), message
    assert message.endswith("save it as UTF-8 and try again (请将文件另存为 UTF-8 编码后重试)"), message
    assert "binary" not in message
    # The same poem as UTF-8 trains.
    path.write_text(GBK_TEXT, encoding="utf-8")
    data = load_corpus(str(path))
    assert data.vocab.decode(np.concatenate([data.train, data.val])) == GBK_TEXT


def test_other_non_utf8_text_is_named_without_a_gbk_guess(tmp_path):
    # Windows-1252 French. Here every accented letter is followed by a letter, so the bytes also
    # decode as GB18030 ("é" + "e" is a valid pair), but into rare characters, not common Chinese.
    path = tmp_path / "french.txt"
    raw = ("Une idée naïve " * 60).encode("cp1252")
    assert raw.decode("gb18030")
    path.write_bytes(raw)
    message = _refusal(path)
    assert message == (f"--corpus {path}: not UTF-8 text: byte 0xe9 at offset 6 cannot be decoded; "
                       f"save it as UTF-8 and try again (请将文件另存为 UTF-8 编码后重试)")
    utf16 = tmp_path / "notepad.txt"
    utf16.write_bytes(("to be or not to be " * 60).encode("utf-16"))
    assert _refusal(utf16).startswith(f"--corpus {utf16}: not UTF-8 text: it starts with the byte-order mark "
                                      f"of UTF-16")


def test_binary_files_are_still_called_binary(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(bytes(range(256)) * 8)
    assert _refusal(path) == (f"--corpus {path}: holds NUL bytes (the first at offset 0), so it looks binary; "
                              f"expected UTF-8 text")


def test_a_utf8_byte_order_mark_is_not_a_character(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + b"abc " * 300)
    data = load_text_file(path)
    assert data.vocab.chars == " abc" and len(data.train) + len(data.val) == 1200


def test_a_corpus_is_encoded_in_a_few_bytes_per_character(tmp_path):
    text = open(SHAKESPEARE, encoding="utf-8").read()
    english = tmp_path / "english.txt"
    with open(english, "w", encoding="utf-8") as f:
        for _ in range(15):                                  # 16.7 MB
            f.write(text)
    rng = np.random.default_rng(0)
    alphabet = np.array([chr(c) for c in range(0x4E00, 0x4E00 + 3000)] + ["，", "。", "\n"])
    chinese = tmp_path / "chinese.txt"
    chinese.write_text("".join(alphabet[rng.integers(0, len(alphabet), 3_000_000)]), encoding="utf-8")
    for path, n_chars in ((english, 15 * len(text)), (chinese, 3_000_000)):
        size = os.path.getsize(path)
        tracemalloc.start()
        try:
            vocab, ids = encode_text_file(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert ids.dtype == np.uint16 and len(ids) == n_chars
        # The file's bytes + 2 bytes of ids per character + a few MB of pieces. Reading the
        # whole text as a str and mapping it through int64 arrays took 27 bytes per byte.
        assert peak < size + 2 * n_chars + (8 << 20), (path.name, peak / n_chars)
    assert vocab.size == 3003
