"""Character-level text data: a vocabulary, the bundled corpora, their splits and (B, T) windows.

Two corpora are bundled in ``data/`` (provenance in ``data/README.md``):

* ``tinyshakespeare.txt`` -- one long text; nanoGPT's split: the first 90% of
  the characters train, the last 10% validate (1,003,854 / 111,540).
* ``names.txt`` -- 32,033 first names, one per line; a seeded 80/10/10 split
  of the *names*, each framed by the boundary token ``.`` as makemore does
  (``emma`` -> ``.emma.``), so a model learns where names start and stop.

A language model is trained on windows: ``x = text[i : i + T]`` and the
targets ``y = text[i + 1 : i + T + 1]``, the same window shifted by one.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DATA_DIR", "BOUNDARY", "Vocab", "TextSplits", "load_shakespeare", "load_names",
           "load_text_file", "load_corpus", "random_windows", "CORPORA"]

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
BOUNDARY = "."          # the token that opens and closes every name
CORPORA = ("shakespeare", "names")


class Vocab:
    """The characters of a training text, each mapped to an integer id (sorted order).

        vocab = Vocab.from_text("hello")      # chars 'ehlo' -> ids 0..3
        vocab.encode("hole") -> array([2, 3, 1, 0]);  vocab.decode([2, 3]) -> "ho"

    It is saved in checkpoints as the string ``vocab.chars``, so a model
    rebuilds with the same ids from its file alone.
    """

    def __init__(self, chars: str):
        chars = str(chars)
        if not chars:
            raise ValueError("Vocab: needs at least one character, got an empty string")
        if len(set(chars)) != len(chars):
            raise ValueError(f"Vocab: characters must be distinct, got {chars!r}")
        self.chars = chars
        self._ids = {c: i for i, c in enumerate(chars)}
        # A lookup table from code point to id (-1: not in the vocabulary) encodes a text in one pass.
        self._table = np.full(max(map(ord, chars)) + 1, -1, dtype=np.int64)
        self._table[[ord(c) for c in chars]] = np.arange(len(chars))

    @classmethod
    def from_text(cls, text: str) -> "Vocab":
        return cls("".join(sorted(set(text))))

    @property
    def size(self) -> int:
        return len(self.chars)

    def __len__(self) -> int:
        return len(self.chars)

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of ``text`` that are not in the vocabulary, sorted."""
        return sorted(set(text) - set(self._ids))

    def encode(self, text: str) -> np.ndarray:
        """str -> int64 ids (len(text),). Unknown characters: ValueError listing them."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        ids = np.where(codes < len(self._table), self._table[np.minimum(codes, len(self._table) - 1)], -1)
        if (ids < 0).any():
            missing = self.unknown(text)
            raise ValueError(f"Vocab: {len(missing)} character(s) not in the vocabulary: "
                             f"{', '.join(map(repr, missing))} (known: {self.chars!r})")
        return ids

    def decode(self, ids) -> str:
        """int ids -> str."""
        ids = np.asarray(ids).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.size):
            raise ValueError(f"Vocab: ids must lie in [0, {self.size}), got [{ids.min()}, {ids.max()}]")
        return "".join(self.chars[i] for i in ids)

    def __repr__(self) -> str:
        return f"Vocab({self.size} chars)"


@dataclass
class TextSplits:
    """A corpus as id arrays: ``train``, ``val`` and (names only) ``test``."""

    name: str
    vocab: Vocab
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray | None = None

    def split(self, which: str) -> np.ndarray:
        data = {"train": self.train, "val": self.val, "test": self.test}.get(which)
        if data is None:
            raise ValueError(f"{self.name}: no {which!r} split (has: train, val"
                             f"{', test' if self.test is not None else ''})")
        return data


def _read(path) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def load_shakespeare(path=None) -> TextSplits:
    """Tiny Shakespeare: the first 90% of the characters train, the last 10% validate."""
    text = _read(DATA_DIR / "tinyshakespeare.txt" if path is None else path)
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text)
    n = int(0.9 * len(ids))
    return TextSplits("shakespeare", vocab, ids[:n], ids[n:])


def load_names(seed: int = 0, path=None) -> TextSplits:
    """names.txt: a seeded 80/10/10 split of the names, each framed as ``.name.``.

    Each split is the concatenation of its framed names with the boundaries
    shared, ``.emma.olivia.ava.``, so a window across a boundary teaches the
    model both "a name ends here" and "a name starts after a dot".
    """
    names = [w for w in _read(DATA_DIR / "names.txt" if path is None else path).split() if w]
    order = np.random.default_rng(seed).permutation(len(names))
    n_train, n_val = int(0.8 * len(names)), int(0.1 * len(names))
    parts = np.split(order, [n_train, n_train + n_val])
    vocab = Vocab(BOUNDARY + "".join(sorted(set("".join(names)))))
    framed = [BOUNDARY + BOUNDARY.join(names[i] for i in part) + BOUNDARY for part in parts]
    train, val, test = (vocab.encode(s) for s in framed)
    return TextSplits("names", vocab, train, val, test)


def load_text_file(path, min_chars: int = 1000) -> TextSplits:
    """A user's own UTF-8 text file, split 90/10 like Shakespeare.

    Raises a one-line ValueError naming the file if it is missing, empty,
    binary (not UTF-8, or holding NUL bytes), or shorter than ``min_chars``.
    """
    path = os.fspath(path)
    try:
        raw = open(path, "rb").read()
    except OSError as e:
        raise ValueError(f"--corpus {path}: cannot read the file ({e.strerror})") from e
    if not raw.strip():
        raise ValueError(f"--corpus {path}: the file is empty; expected UTF-8 text of >= {min_chars} characters")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"--corpus {path}: not UTF-8 text (byte {e.start} cannot be decoded); "
                         "binary files cannot be trained on") from e
    if "\x00" in text:
        raise ValueError(f"--corpus {path}: holds NUL bytes, so it looks binary; expected UTF-8 text")
    if len(text) < min_chars:
        raise ValueError(f"--corpus {path}: too short: {len(text)} characters, need at least {min_chars}")
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text)
    n = int(0.9 * len(ids))
    return TextSplits(os.path.basename(path), vocab, ids[:n], ids[n:])


def load_corpus(corpus: str, seed: int = 0) -> TextSplits:
    """``"shakespeare"``, ``"names"`` or the path of a UTF-8 text file."""
    if corpus == "shakespeare":
        return load_shakespeare()
    if corpus == "names":
        return load_names(seed)
    return load_text_file(corpus)


def random_windows(ids: np.ndarray, batch_size: int, block_size: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """B random windows of T ids and their next-character targets, both (B, T) int64.

    x[b] = ids[s_b : s_b + T],  y[b] = ids[s_b + 1 : s_b + T + 1],  s_b ~ U{0, len - T - 1}.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"random_windows: rng must be a np.random.Generator, got {type(rng).__name__}")
    if len(ids) < block_size + 1:
        raise ValueError(f"random_windows: a text of {len(ids)} ids is too short for windows of "
                         f"{block_size} (+1 target)")
    starts = rng.integers(0, len(ids) - block_size, size=batch_size)
    offsets = starts[:, None] + np.arange(block_size)
    return ids[offsets], ids[offsets + 1]
