"""Byte-pair encoding over UTF-8 bytes (Sennrich et al. 2016, in the byte-level form of GPT-2).

Tokens 0..255 are the 256 byte values, so every string encodes, whatever
its script. Training repeats, until the vocabulary has the size asked:

    count every adjacent pair of tokens (a, b) in the training text;
    the most frequent pair (the smallest a, then b, among ties) becomes token 256 + i;
    replace every occurrence of (a, b), left to right, by the new token.

Encoding a new text applies the learned merges in the order they were
learned; decoding joins the tokens' bytes. Unlike GPT-2 the text is not
pre-split into words, so a merge may span a space or a line end.

Both loops are vectorized over the text: pairs are counted with
``np.bincount`` on codes a * V + b of an int array, and each merge is applied
to all of its occurrences at once.

    bpe = BPE.train("low lower lowest", vocab_size=260)
    bpe.encode("lowest") -> array([258, 101, 115, 116]);  bpe.decode(bpe.encode(s)) == s
"""
from __future__ import annotations

import numpy as np

__all__ = ["BPE", "MAX_BPE_VOCAB", "BYTES", "MAX_MERGES_TEXT"]

BYTES = 256
MAX_BPE_VOCAB = 8192          # merges are stored as text in a checkpoint's config: about 10 characters each
_MAX_DIGITS = 4               # a token id below MAX_BPE_VOCAB has at most 4 digits
MAX_MERGES_TEXT = (_MAX_DIGITS + 1) * 2 * MAX_BPE_VOCAB    # the longest merges text a checkpoint may hold
_DENSE_PAIRS = 1 << 22        # up to a vocabulary of 2,048 every pair code gets a counter (32 MB)


def _merge(ids: np.ndarray, a: int, b: int, new: int) -> np.ndarray:
    """``ids`` with every occurrence of the pair (a, b) replaced by ``new``, left to right.

    For a == b a run "a a a" holds the overlapping pairs at 0 and 1: only every
    other pair of a run is merged, starting from its left end, as a left-to-right scan does.
    """
    at = np.flatnonzero((ids[:-1] == a) & (ids[1:] == b))
    if at.size == 0:
        return ids
    if a == b:
        starts_run = np.r_[True, np.diff(at) != 1]
        run_start = at[starts_run][np.cumsum(starts_run) - 1]
        at = at[(at - run_start) % 2 == 0]
    out = ids.copy()
    out[at] = new
    keep = np.ones(len(ids), dtype=bool)
    keep[at + 1] = False
    return out[keep]


class BPE:
    """A byte-level BPE tokenizer: ``merges[i] = (a, b)`` made token 256 + i.

    ``size`` = 256 + len(merges). Saved in a checkpoint as the text
    ``to_text()`` ("a b a b ...": the merges' token ids in order) and read back
    by ``from_text``, which checks every id before anything is built.
    """

    def __init__(self, merges):
        merges = np.asarray(merges, dtype=np.int64).reshape(-1, 2)
        if BYTES + len(merges) > MAX_BPE_VOCAB:
            raise ValueError(f"BPE: {len(merges)} merges make a vocabulary of {BYTES + len(merges)}, more than "
                             f"{MAX_BPE_VOCAB}")
        made = BYTES + np.arange(len(merges))
        bad = np.flatnonzero((merges < 0).any(axis=1) | (merges >= made[:, None]).any(axis=1))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"BPE: merge {i} joins tokens {merges[i].tolist()}; a merge may only join tokens "
                             f"0..{BYTES + i - 1} (the bytes and the merges before it)")
        codes = merges[:, 0] * MAX_BPE_VOCAB + merges[:, 1]
        if len(np.unique(codes)) != len(codes):
            raise ValueError("BPE: a pair is merged twice")
        self.merges = merges
        pieces = [bytes([i]) for i in range(BYTES)]
        for a, b in merges.tolist():
            pieces.append(pieces[a] + pieces[b])
        self.pieces = pieces                                  # the bytes each token stands for

    @property
    def size(self) -> int:
        return BYTES + len(self.merges)

    def __len__(self) -> int:
        return self.size

    @classmethod
    def train(cls, text: str, vocab_size: int, progress=None) -> "BPE":
        """Learn vocab_size - 256 merges from ``text``'s UTF-8 bytes (ValueError if it runs out of pairs)."""
        return cls.learn(text, vocab_size, progress)[0]

    @classmethod
    def learn(cls, text: str, vocab_size: int, progress=None) -> tuple["BPE", np.ndarray]:
        """``train``, and the text's token ids (``encode(text)``: the training loop ends with them)."""
        vocab_size = int(vocab_size)
        if not BYTES <= vocab_size <= MAX_BPE_VOCAB:
            raise ValueError(f"BPE: vocab_size must lie in {BYTES}..{MAX_BPE_VOCAB}, got {vocab_size}")
        ids = np.frombuffer(str(text).encode("utf-8"), dtype=np.uint8).astype(np.int32)   # codes < 8192^2 < 2^31
        merges = []
        for new in range(BYTES, vocab_size):
            if len(ids) < 2:
                raise ValueError(f"BPE: the text ran out of pairs after {len(merges)} merges; a vocabulary of "
                                 f"{vocab_size} needs a longer text")
            codes = ids[:-1] * new + ids[1:]
            if new * new <= _DENSE_PAIRS:
                counts = np.bincount(codes, minlength=new * new)
                best = int(np.argmax(counts))                 # ties: the smallest code, so (a, b) in order
            else:                                             # only the pairs that occur: no V^2 table
                present, counts = np.unique(codes, return_counts=True)
                best = int(present[np.argmax(counts)])
            a, b = divmod(best, new)
            merges.append((a, b))
            ids = _merge(ids, a, b, new)
            if progress and (new - BYTES + 1) % 100 == 0:
                progress(new - BYTES + 1, len(ids))
        return cls(np.array(merges, dtype=np.int64).reshape(-1, 2)), ids

    def encode(self, text: str) -> np.ndarray:
        """str -> token ids (int64). The merges are applied in the order they were learned,
        skipping at once to the earliest one that still has a pair in the text."""
        ids = np.frombuffer(str(text).encode("utf-8"), dtype=np.uint8).astype(np.int32)
        rank_of = self._ranks()
        while len(ids) >= 2:
            ranks = rank_of(ids[:-1], ids[1:])                # the merge of each adjacent pair, or len(merges)
            rank = int(ranks.min())
            if rank == len(self.merges):
                break
            a, b = self.merges[rank]
            ids = _merge(ids, int(a), int(b), BYTES + rank)
        return ids.astype(np.int64)

    def _ranks(self):
        """A function (a, b) -> the index of the merge of each pair (len(merges) if none): a table
        over every pair code for a small vocabulary, else a search in the sorted merge codes."""
        v, m = self.size, len(self.merges)
        codes = self.merges[:, 0] * v + self.merges[:, 1]
        if v * v <= _DENSE_PAIRS:
            table = np.full(v * v, m, dtype=np.int32)
            table[codes] = np.arange(m, dtype=np.int32)
            return lambda a, b: table[a * v + b]
        order = np.argsort(codes)
        sorted_codes = np.append(codes[order], np.iinfo(np.int64).max)     # a sentinel: never a pair
        ranks = np.append(order, m)

        def search(a, b):
            pairs = a.astype(np.int64) * v + b
            at = np.searchsorted(sorted_codes, pairs)
            return np.where(sorted_codes[at] == pairs, ranks[at], m)
        return search

    def to_bytes(self, ids) -> bytes:
        ids = np.asarray(ids).reshape(-1)
        if ids.size and (ids.dtype.kind not in "iu" or ids.min() < 0 or ids.max() >= self.size):
            raise ValueError(f"BPE: token ids must be integers in [0, {self.size}), got {ids.dtype} "
                             f"[{ids.min()}, {ids.max()}]")
        return b"".join(self.pieces[i] for i in ids.tolist())

    def decode(self, ids, errors: str = "replace") -> str:
        """token ids -> str. Sampled tokens may cut a character's bytes: by default such bytes
        become U+FFFD; ``errors="strict"`` raises instead."""
        return self.to_bytes(ids).decode("utf-8", errors)

    def to_text(self) -> str:
        """The merges as text, "a b a b ...", for a checkpoint's config."""
        return " ".join(map(str, self.merges.reshape(-1).tolist()))

    @classmethod
    def from_text(cls, text: str, what: str = "merges") -> "BPE":
        """Parse ``to_text``'s form, checking it before building (ValueError naming ``what``)."""
        if not isinstance(text, str) or len(text) > MAX_MERGES_TEXT:
            raise ValueError(f"{what}: expected at most {MAX_BPE_VOCAB - BYTES} merges as text")
        fields = text.split()
        if len(fields) % 2 or not all(f.isascii() and f.isdigit() and len(f) <= _MAX_DIGITS for f in fields):
            raise ValueError(f"{what}: expected pairs of token ids \"a b a b ...\", got {text[:60]!r}")
        try:
            return cls(np.array([int(f) for f in fields], dtype=np.int64).reshape(-1, 2))
        except ValueError as e:
            raise ValueError(f"{what}: {e}") from None

    def __repr__(self) -> str:
        return f"BPE({self.size} tokens)"
