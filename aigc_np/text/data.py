"""Character-level text data: a vocabulary, the bundled corpora, their splits and (B, T) windows.

Three corpora are bundled in ``data/`` (provenance in ``data/README.md``):

* ``tinyshakespeare.txt`` -- one long text; nanoGPT's split: the first 90% of
  the characters train, the last 10% validate (1,003,854 / 111,540).
* ``names.txt`` -- 32,033 first names, one per line; a seeded 80/10/10 split
  of the *names*, each framed by the boundary token ``.`` as makemore does
  (``emma`` -> ``.emma.``), so a model learns where names start and stop.
  Its windows start at a name's opening ``.``, as makemore's rows do.
* ``tang_quatrains.txt`` -- 13,740 Tang quatrains, one poem per line; a seeded
  90/5/5 split of the *poems* (never of characters, so no poem is cut in two),
  each poem followed by a newline, the token that opens and closes a poem.

A language model is trained on windows: ``x = text[i : i + T]`` and the
targets ``y = text[i + 1 : i + T + 1]``, the same window shifted by one.

A user's own file is untrusted input: it is read by ``aigc_np.io.read_regular_bytes``
(regular files of at most ``MAX_CORPUS_BYTES`` only), must be UTF-8, and is
encoded chunk by chunk into the smallest id dtype that holds its vocabulary,
so a corpus costs a few bytes per character, whatever its alphabet.
"""
from __future__ import annotations

import codecs
import difflib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import read_regular_bytes

__all__ = ["DATA_DIR", "BOUNDARY", "Vocab", "TextSplits", "load_shakespeare", "load_names", "load_tang",
           "load_text_file", "load_corpus", "read_text", "encode_text_file", "random_windows", "check_block_size", "window_error",
           "CORPORA",
           "UnknownCorpus", "MAX_CORPUS_BYTES"]

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
BOUNDARY = "."          # the token that opens and closes every name
CORPORA = ("shakespeare", "names", "tang")
# The largest text file accepted: 60 times Tiny Shakespeare (1.1 MB), more than a NumPy character
# model sees in any run of this course, and small enough that encoding it (the file's bytes plus
# 2 bytes of ids per character, about 3 bytes per byte) stays near 200 MB on a student's laptop.
MAX_CORPUS_BYTES = 64 << 20
_CHUNK = 1 << 18        # characters encoded at a time: bounds the temporaries (about 16 bytes each)
_CODE_POINTS = 0x110000


class UnknownCorpus(ValueError):
    """``--corpus`` named neither a built-in corpus nor an existing file."""


def _code_chunks(text: str):
    """The code points of ``text`` as uint32 arrays of at most ``_CHUNK`` characters each.

    ``surrogatepass``: a lone surrogate (possible in a str, never in decoded UTF-8) still has a code.
    """
    for start in range(0, len(text), _CHUNK):
        yield start, np.frombuffer(text[start:start + _CHUNK].encode("utf-32-le", "surrogatepass"),
                                   dtype=np.uint32)


class Vocab:
    """The characters of a training text, each mapped to an integer id (sorted order).

        vocab = Vocab.from_text("hello")      # chars 'ehlo' -> ids 0..3
        vocab.encode("hole") -> array([2, 3, 1, 0]);  vocab.decode([2, 3]) -> "ho"

    It is saved in checkpoints as the string ``vocab.chars``, so a model
    rebuilds with the same ids from its file alone. Any number of characters
    from all of Unicode works (Chinese text has thousands).
    """

    def __init__(self, chars: str):
        chars = str(chars)
        if not chars:
            raise ValueError("Vocab: needs at least one character, got an empty string")
        if len(set(chars)) != len(chars):
            raise ValueError(f"Vocab: characters must be distinct, got {chars[:200]!r}")
        self.chars = chars
        self._ids = {c: i for i, c in enumerate(chars)}
        self._codes = np.frombuffer(chars.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        # A lookup table from code point to id (-1: not in the vocabulary) encodes a text in one
        # pass; int32 and at most 0x110000 entries, so even an emoji costs no more than 4.5 MB.
        self._table = np.full(int(self._codes.max()) + 1, -1, dtype=np.int32)
        self._table[self._codes] = np.arange(len(chars), dtype=np.int32)

    @classmethod
    def from_text(cls, text: str) -> "Vocab":
        """The distinct characters of ``text`` in code-point order (``sorted(set(text))``),
        found chunk by chunk with a table of every code point, not a set of str objects."""
        seen = np.zeros(_CODE_POINTS, dtype=bool)
        for _, codes in _code_chunks(str(text)):
            seen[codes] = True
        return cls(np.flatnonzero(seen).astype(np.uint32).tobytes().decode("utf-32-le", "surrogatepass"))

    @property
    def size(self) -> int:
        return len(self.chars)

    def __len__(self) -> int:
        return len(self.chars)

    @property
    def id_dtype(self) -> np.dtype:
        """The smallest dtype a corpus's ids are stored in: uint16 up to 65,536 characters, else int32."""
        return np.dtype(np.uint16) if self.size <= 1 << 16 else np.dtype(np.int32)

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of ``text`` that are not in the vocabulary, sorted."""
        return sorted(set(text) - set(self._ids))

    def encode(self, text: str, dtype=np.int64) -> np.ndarray:
        """str -> ids (len(text),) of ``dtype`` (int64 unless asked; corpora use ``id_dtype``).

        Encoded ``_CHUNK`` characters at a time, so the temporaries stay a few MB however long
        the text. Unknown characters: ValueError listing them.
        """
        dtype = np.dtype(dtype)
        if dtype.kind not in "iu" or np.iinfo(dtype).max < self.size - 1:
            raise ValueError(f"Vocab.encode: dtype {dtype} cannot hold ids up to {self.size - 1}")
        text = str(text)
        ids = np.empty(len(text), dtype=dtype)
        last = len(self._table) - 1
        for start, codes in _code_chunks(text):
            part = self._table[np.minimum(codes, last)]
            part[codes > last] = -1
            if (part < 0).any():
                missing = self.unknown(text[start:start + _CHUNK])
                shown = ", ".join(map(repr, missing[:20])) + (", ..." if len(missing) > 20 else "")
                raise ValueError(f"Vocab: {len(missing)} character(s) not in the vocabulary: {shown} "
                                 f"(known: {self.chars[:200]!r}{'...' if self.size > 200 else ''})")
            ids[start:start + len(codes)] = part
        return ids

    def decode(self, ids) -> str:
        """int ids -> str."""
        ids = np.asarray(ids).reshape(-1)
        if ids.size and ids.dtype.kind not in "iu":
            raise ValueError(f"Vocab: ids must be integers, got {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.size):
            raise ValueError(f"Vocab: ids must lie in [0, {self.size}), got [{ids.min()}, {ids.max()}]")
        return self._codes[ids].tobytes().decode("utf-32-le", "surrogatepass")

    def __repr__(self) -> str:
        return f"Vocab({self.size} chars)"


@dataclass
class TextSplits:
    """A corpus as id arrays (``vocab.id_dtype``): ``train``, ``val`` and (names only) ``test``."""

    name: str
    vocab: Vocab
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray | None = None
    boundary: int | None = None     # poems and names: the id that opens each one, where every window starts
    tokenizer: object = None        # a BPE whose tokens the splits hold (None: the ids are characters)

    def starts(self, which: str, block_size: int) -> np.ndarray | None:
        """Poems and names: the positions of the boundaries of split ``which`` that open a window of
        block_size ids plus its target (None for one long text: windows start anywhere)."""
        if self.boundary is None:
            return None
        ids = self.split(which)
        at = np.flatnonzero(ids == self.boundary)
        return at[at + block_size < len(ids)]

    def split(self, which: str) -> np.ndarray:
        data = {"train": self.train, "val": self.val, "test": self.test}.get(which)
        if data is None:
            raise ValueError(f"{self.name}: no {which!r} split (has: train, val"
                             f"{', test' if self.test is not None else ''})")
        return data

    def splits(self) -> dict[str, np.ndarray]:
        """{"train": ..., "val": ..., ("test": ...)}: the splits this corpus has."""
        out = {"train": self.train, "val": self.val}
        if self.test is not None:
            out["test"] = self.test
        return out


# ------------------------------------------------------------------ reading text
_FIX = "save it as UTF-8 and try again (请将文件另存为 UTF-8 编码后重试)"
_PIECE = 1 << 18        # bytes of UTF-8 decoded at a time: a piece's str is at most 1 MiB


def _in_gb2312(ch: str) -> bool:
    try:
        ch.encode("gb2312")
        return True
    except UnicodeEncodeError:
        return False


def _gb18030_hint(raw: bytes, bad: int) -> str:
    """A note that the file reads as GBK/GB18030 Chinese, if the bytes from the line of the first
    bad one decode as GB18030 into mostly common (GB2312) characters; else ""."""
    # GB18030 accepts many byte pairs, including Latin-1 text's "ï" + a letter; Chinese text
    # saved as GBK is mostly GB2312's common characters, Latin-1 text decoded as GBK is not.
    # A line start is a character boundary (no multi-byte sequence contains 0x0A).
    newline = raw.rfind(b"\n", max(0, bad - 4096), bad)
    lo, hi = (newline + 1 if newline >= 0 else bad), min(len(raw), bad + 65536)
    try:
        decoded = codecs.getincrementaldecoder("gb18030")().decode(raw[lo:hi], final=hi == len(raw))
    except UnicodeDecodeError:
        return ""
    wide = [ch for ch in decoded if ord(ch) > 0x7F]
    if not wide or sum(map(_in_gb2312, wide)) < 0.8 * len(wide):
        return ""
    return " (it reads as Chinese GBK/GB18030, what many Windows editors in China save by default)"


def _check_bytes(raw: bytes, where: str) -> None:
    """ValueError for bytes that are plainly not UTF-8 text: UTF-16, or binary (NUL bytes)."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and len(raw) % 2 == 0:
        raise ValueError(f"{where}: not UTF-8 text: it starts with the byte-order mark of UTF-16 "
                         f"(Windows' \"Unicode\"); {_FIX}")
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise ValueError(f"{where}: holds NUL bytes (the first at offset {nul}), so it looks binary; "
                         f"expected UTF-8 text")


def _utf8_pieces(raw: bytes, where: str):
    """``raw`` (a leading UTF-8 byte-order mark skipped) decoded as UTF-8, as str pieces of at
    most ``_PIECE`` bytes each; a ValueError names the first byte that is not UTF-8."""
    view = memoryview(raw)                        # slices of a memoryview copy nothing
    pos = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    while pos < len(raw):
        end = min(pos + _PIECE, len(raw))
        try:
            # final=False keeps a character cut by the piece's end for the next piece.
            piece, used = codecs.utf_8_decode(view[pos:end], "strict", end == len(raw))
        except UnicodeDecodeError as e:
            bad = pos + e.start
            raise ValueError(f"{where}: not UTF-8 text: byte 0x{raw[bad]:02x} at offset {bad} cannot be "
                             f"decoded{_gb18030_hint(raw, bad)}; {_FIX}") from None
        yield piece
        pos += used


def _check_length(where: str, n_chars: int, blank: bool, min_chars: int) -> None:
    if blank:
        raise ValueError(f"{where}: the file is empty; expected UTF-8 text of >= {min_chars} characters")
    if n_chars < min_chars:
        raise ValueError(f"{where}: too short: {n_chars} characters, need at least {min_chars}")


def read_text(path, what: str = "--corpus", min_chars: int = 1) -> str:
    """A UTF-8 text file as str, read through ``read_regular_bytes`` (at most ``MAX_CORPUS_BYTES``).

    One-line ValueErrors start with ``what`` and the path: missing, not a
    regular file (pipe, device, folder), too large, empty, binary (NUL
    bytes), not UTF-8 (naming the first bad byte and its offset, with a
    hint when it looks like GBK), or shorter than ``min_chars``.
    """
    path = os.fspath(path)
    where = f"{what} {path}" if what else path
    raw = read_regular_bytes(path, MAX_CORPUS_BYTES, what)
    _check_bytes(raw, where)
    text = "".join(_utf8_pieces(raw, where))
    _check_length(where, len(text), not text.strip(), min_chars)
    return text


def encode_text_file(path, what: str = "--corpus", min_chars: int = 1) -> tuple[Vocab, np.ndarray]:
    """A UTF-8 text file's vocabulary and its ids (``vocab.id_dtype``), in bounded memory.

    Checked as ``read_text`` checks, but the whole text never exists as one
    str: the bytes are decoded piece by piece twice, once to find the
    characters, once to encode them. Peak memory: the file's bytes plus
    the ids (2 bytes per character) plus a few MB.
    """
    path = os.fspath(path)
    where = f"{what} {path}" if what else path
    raw = read_regular_bytes(path, MAX_CORPUS_BYTES, what)
    _check_bytes(raw, where)
    seen, n_chars = np.zeros(_CODE_POINTS, dtype=bool), 0
    for piece in _utf8_pieces(raw, where):
        for _, codes in _code_chunks(piece):
            seen[codes] = True
        n_chars += len(piece)
    chars = np.flatnonzero(seen).astype(np.uint32).tobytes().decode("utf-32-le", "surrogatepass")
    _check_length(where, n_chars, not chars.strip(), min_chars)
    vocab = Vocab(chars)
    ids, at = np.empty(n_chars, dtype=vocab.id_dtype), 0
    for piece in _utf8_pieces(raw, where):
        ids[at:at + len(piece)] = vocab.encode(piece, vocab.id_dtype)
        at += len(piece)
    return vocab, ids


def _split_90_10(name: str, vocab: Vocab, ids: np.ndarray) -> TextSplits:
    n = int(0.9 * len(ids))
    return TextSplits(name, vocab, ids[:n], ids[n:])      # views: no copy


def load_shakespeare(path=None) -> TextSplits:
    """Tiny Shakespeare: the first 90% of the characters train, the last 10% validate."""
    return _split_90_10("shakespeare", *encode_text_file(DATA_DIR / "tinyshakespeare.txt" if path is None else path))


def load_names(seed: int = 0, path=None) -> TextSplits:
    """names.txt: a seeded 80/10/10 split of the names, each framed as ``.name.``.

    Each split is the concatenation of its framed names with the boundaries
    shared, ``.emma.olivia.ava.``, so a window across a boundary teaches the
    model both "a name ends here" and "a name starts after a dot".
    """
    names = [w for w in read_text(DATA_DIR / "names.txt" if path is None else path).split() if w]
    order = np.random.default_rng(seed).permutation(len(names))
    n_train, n_val = int(0.8 * len(names)), int(0.1 * len(names))
    parts = np.split(order, [n_train, n_train + n_val])
    vocab = Vocab(BOUNDARY + "".join(sorted(set("".join(names)) - {BOUNDARY})))
    framed = [BOUNDARY + BOUNDARY.join(names[i] for i in part) + BOUNDARY for part in parts]
    train, val, test = (vocab.encode(s, vocab.id_dtype) for s in framed)
    return TextSplits("names", vocab, train, val, test, boundary=0)


def load_tang(seed: int = 0, path=None) -> TextSplits:
    """tang_quatrains.txt: a seeded 90/5/5 split of the poems (12,366 / 687 / 687).

    Each split is ``"\n" + "\n".join(poems) + "\n"``: a poem starts after a
    newline and ends with one, so sampling from a newline writes a whole poem.
    The vocabulary holds every character of the file (about 5,000), so the
    held-out poems have no unknown characters.
    """
    poems = [line for line in read_text(DATA_DIR / "tang_quatrains.txt" if path is None else path).split("\n")
             if line]
    order = np.random.default_rng(seed).permutation(len(poems))
    n_train, n_val = int(0.9 * len(poems)), int(0.05 * len(poems))
    parts = np.split(order, [n_train, n_train + n_val])
    texts = ["\n" + "\n".join(poems[i] for i in part) + "\n" for part in parts]
    vocab = Vocab.from_text("".join(texts))
    train, val, test = (vocab.encode(s, vocab.id_dtype) for s in texts)
    return TextSplits("tang", vocab, train, val, test, boundary=int(vocab.encode("\n")[0]))


def load_text_file(path, min_chars: int = 1000, what: str = "--corpus") -> TextSplits:
    """A user's own UTF-8 text file, split 90/10 like Shakespeare.

    Raises a one-line ValueError starting with ``what`` and the path (see
    ``read_text``). Peak memory is a few bytes per character (``encode_text_file``).
    """
    path = os.fspath(path)
    return _split_90_10(os.path.basename(path), *encode_text_file(path, what, min_chars))


def load_corpus(corpus: str, seed: int = 0, what: str = "--corpus") -> TextSplits:
    """``"shakespeare"``, ``"names"``, ``"tang"`` or the path of a UTF-8 text file.

    A name that is neither a built-in corpus nor an existing path raises
    ``UnknownCorpus`` (a ValueError) listing the built-in corpora.
    """
    corpus = os.fspath(corpus)
    if corpus == "shakespeare":
        return load_shakespeare()
    if corpus == "names":
        return load_names(seed)
    if corpus == "tang":
        return load_tang(seed)
    if not os.path.lexists(corpus):
        close = difflib.get_close_matches(corpus, CORPORA, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UnknownCorpus(f"{what} {corpus}: not a built-in corpus ({', '.join(CORPORA)}) and no such file; "
                            f"a path must name an existing UTF-8 text file{hint}")
    return load_text_file(corpus, what=what)


# ------------------------------------------------------------------ windows
def window_error(block_size: int, split: str, length: int) -> ValueError:
    """The error for a ``split`` (e.g. "val split of names") of ``length`` ids too short for one
    window of ``block_size`` ids plus its target."""
    longest = f"the longest that fits is {length - 1}" if length > 1 else "no block size fits"
    return ValueError(f"block_size {block_size} is too long for the {split}: it holds {length} characters "
                      f"and a window needs block_size + 1 = {block_size + 1}; {longest}")


def check_block_size(splits: TextSplits, block_size: int) -> None:
    """ValueError unless every split of ``splits`` holds at least one window of
    ``block_size`` characters plus its target (len >= block_size + 1): training draws
    from train, validation and ``evaluate`` cut windows from val and test."""
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size < 1:
        raise ValueError(f"block_size: expected a positive integer, got {block_size!r}")
    for name, ids in splits.splits().items():
        if len(ids) < block_size + 1:
            raise window_error(int(block_size), f"{name} split of {splits.name}", len(ids))


def random_windows(ids: np.ndarray, batch_size: int, block_size: int,
                   rng: np.random.Generator, split: str = "train", starts=None) -> tuple[np.ndarray, np.ndarray]:
    """B random windows of T ids and their next-character targets, both (B, T) int64.

    x[b] = ids[s_b : s_b + T],  y[b] = ids[s_b + 1 : s_b + T + 1],  s_b ~ U{0, len - T - 1},
    or s_b drawn uniformly from ``starts`` (poems and names: where each opens, ``TextSplits.starts``).
    ``split`` names the text in the error for a block too long for it.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"random_windows: rng must be a np.random.Generator, got {type(rng).__name__}")
    if len(ids) < block_size + 1 or (starts is not None and not len(starts)):
        raise window_error(block_size, f"{split} split", len(ids))
    if starts is not None:
        starts = np.asarray(starts)[rng.integers(0, len(starts), size=batch_size)]
    else:
        starts = rng.integers(0, len(ids) - block_size, size=batch_size)
    offsets = starts[:, None] + np.arange(block_size)
    # The corpus is stored compactly (uint16); the model gets int64 windows (B * T ids: cheap).
    return ids[offsets].astype(np.int64), ids[offsets + 1].astype(np.int64)
