"""Quatrains measured as poems: form, novelty, copies; many poems sampled at once, acrostics too.

A Tang quatrain (绝句) is four lines of five or seven Han characters, the
lines ending in "，。，。":

    白日依山尽，黄河入海流。欲穷千里目，更上一层楼。

* **form**: the share of sampled poems that are such quatrains (all four
  lines the same length);
* **novelty**: the share of sampled lines (the text between punctuation
  marks) that occur in no training poem: a model that memorizes scores low;
* **copies**: the share of sampled poems that are whole poems of the corpus.

An **acrostic** (藏头诗) makes line k begin with the k-th character asked
for: the sampler puts that character at each line start instead of drawing
one, and draws every other character freely. Measures of acrostics are
reported apart from free sampling, since the forced characters steer it.
"""
from __future__ import annotations

import re

import numpy as np

from .sampling import sample_next

__all__ = ["LINE_MARKS", "is_quatrain", "poem_lines", "poem_scores", "acrostic_hits", "check_acrostic",
           "sample_poems", "corpus_poems", "poem_report"]

HAN = "\u4e00-\u9fff"                      # the Unicode block "CJK Unified Ideographs": every corpus character
LINE_MARKS = "，。"                         # a line ends with one of these
_QUATRAIN = re.compile(f"(?:[{HAN}]{{5}}，[{HAN}]{{5}}。){{2}}|(?:[{HAN}]{{7}}，[{HAN}]{{7}}。){{2}}")
_LINE_END = re.compile(f"[{LINE_MARKS}]")
MAX_ACROSTIC = 4                           # a quatrain has four line starts


def is_quatrain(poem: str) -> bool:
    """Four lines of 5 or 7 Han characters each (all the same), punctuated "，。，。", nothing else."""
    return _QUATRAIN.fullmatch(poem) is not None


def poem_lines(poem: str) -> list[str]:
    """The lines of a poem: the non-empty pieces between "，" and "。"."""
    return [line for line in _LINE_END.split(poem) if line]


def poem_scores(poems: list[str], train_poems, corpus_poems) -> dict:
    """form, novelty and copies (shares in [0, 1]) of sampled ``poems``.

    novelty counts the lines of every sampled poem (well-formed or not) that
    are no line of ``train_poems``; copies counts the sampled poems that are
    whole poems of ``corpus_poems`` (every split).
    """
    if not poems:
        raise ValueError("poem_scores: needs at least one sampled poem")
    known_lines = {line for poem in train_poems for line in poem_lines(poem)}
    known_poems = set(corpus_poems)
    lines = [line for poem in poems for line in poem_lines(poem)]
    return {"poems": len(poems), "lines": len(lines),
            "form": sum(map(is_quatrain, poems)) / len(poems),
            "novelty": sum(line not in known_lines for line in lines) / max(len(lines), 1),
            "copies": sum(poem in known_poems for poem in poems) / len(poems)}


def acrostic_hits(poem: str, heads: str) -> int:
    """How many of the first len(heads) lines of ``poem`` begin with the character asked for."""
    lines = poem_lines(poem)
    return sum(k < len(lines) and lines[k][0] == head for k, head in enumerate(heads))


def check_acrostic(heads: str, vocab, what: str = "--acrostic") -> str:
    """``heads`` if it is 1..4 Han characters the vocabulary holds, else a ValueError naming the rest."""
    if not 1 <= len(heads) <= MAX_ACROSTIC:
        raise ValueError(f"{what} {heads!r}: expected 1 to {MAX_ACROSTIC} characters (one per line of a "
                         f"quatrain), got {len(heads)}")
    not_han = sorted({c for c in heads if not re.fullmatch(f"[{HAN}]", c)})
    if not_han:
        raise ValueError(f"{what} {heads!r}: every character must be a Han character, got "
                         f"{', '.join(map(repr, not_han))}")
    unseen = vocab.unknown(heads)
    if unseen:
        raise ValueError(f"{what} {heads!r}: {len(unseen)} character(s) the model never saw in training: "
                         f"{', '.join(map(repr, unseen))}")
    return heads


def _steps(model, first):
    """Logits (B, V) after ``first`` (B,) ids, then after each id sent: GPT's KV caches, or LSTM states."""
    if hasattr(model, "infer"):
        caches = [{} for _ in model.blocks]
        logits, at = model.infer(first[:, None], caches, 0), 1
        while True:
            new = yield logits[:, -1]
            logits, at = model.infer(new[:, None], caches, at), at + 1
    logits = model.forward(first[:, None])
    while True:
        new = yield logits[:, -1]
        logits = model.forward(new[:, None], model.states)


def _head_table(acrostic, n: int, vocab) -> np.ndarray:
    """(n, 4) ids of each poem's line heads, -1 where a line is free."""
    table = np.full((int(n), MAX_ACROSTIC), -1, dtype=np.int64)
    if acrostic is None:
        return table
    asked = [acrostic] * int(n) if isinstance(acrostic, str) else list(acrostic)
    if len(asked) != n:
        raise ValueError(f"sample_poems: {len(asked)} acrostics for {n} poems")
    for row, heads in zip(table, asked):
        row[:len(heads)] = vocab.encode(check_acrostic(heads, vocab, "acrostic"))
    return table


def sample_poems(model, vocab, n: int, rng: np.random.Generator, temperature: float = 1.0, top_k=None,
                 top_p=None, acrostic=None, batch_size: int = 100, max_chars: int = 64) -> list[str]:
    """``n`` poems, each drawn from a newline until the next newline (at most ``max_chars``
    characters, and fewer than the model's block_size), ``batch_size`` poems at a time.

    ``acrostic``: None, one string of 1-4 characters for every poem, or a list
    of n such strings, one per poem. At the start of line k (after the opening
    newline or a "，"/"。") the k-th character is put in place of the drawn one,
    and until the last asked line has begun the poem may not end (its newline
    is not drawn), so every asked character gets its line.
    """
    model.eval()
    newline = int(vocab.encode("\n")[0])
    marks = vocab.encode("".join(c for c in LINE_MARKS if c in vocab.chars))
    heads_of = _head_table(acrostic, n, vocab)
    longest = min(int(max_chars), model.block_size - 1)
    poems = []
    for start in range(0, int(n), batch_size):
        b = min(batch_size, int(n) - start)
        heads = np.concatenate([heads_of[start:start + b], np.full((b, 1), -1)], axis=1)   # line 4+: free
        step = _steps(model, np.full(b, newline))
        logits, out = next(step), np.zeros((b, longest), dtype=np.int64)
        line, line_start, done = np.zeros(b, np.int64), np.ones(b, bool), np.zeros(b, bool)
        asked = (heads >= 0).sum(axis=1)
        for t in range(longest):
            logits = np.where((np.arange(logits.shape[-1]) == newline) & (line < asked)[:, None], -np.inf, logits)
            new = sample_next(logits, rng, temperature, top_k, top_p)
            head = heads[np.arange(b), np.minimum(line, MAX_ACROSTIC)]
            forced = line_start & (head >= 0)
            new[forced] = head[forced]
            out[:, t] = new
            done |= new == newline
            if done.all():
                break
            line_start = np.isin(new, marks)
            line += line_start
            logits = step.send(new)
        for row in out:
            ends = np.flatnonzero(row == newline)
            poems.append(vocab.decode(row[:ends[0]] if len(ends) else row))
    return poems


def corpus_poems(vocab, ids) -> list[str]:
    """The poems of a split (ids of newline-separated poems), as strings."""
    return [poem for poem in vocab.decode(ids).split("\n") if poem]


def poem_report(model, splits, n: int, rng: np.random.Generator, n_acrostic: int = 200, **sampling) -> dict:
    """Scores of ``n`` freely sampled poems, and of min(n, ``n_acrostic``) acrostics whose heads are the
    line starts of the first well-formed test poems (``heads``: the share of asked lines that
    begin as asked). ``sampling``: temperature, top_k, top_p."""
    vocab = splits.vocab
    train = corpus_poems(vocab, splits.train)
    everything = train + [p for ids in (splits.val, splits.test) if ids is not None for p in corpus_poems(vocab, ids)]
    free = sample_poems(model, vocab, n, rng, **sampling)
    report = {"free": poem_scores(free, train, everything)}
    heldout = splits.test if splits.test is not None else splits.val
    asked = ["".join(line[0] for line in poem_lines(p)) for p in corpus_poems(vocab, heldout) if is_quatrain(p)]
    asked = asked[:min(n_acrostic, n)]
    if asked:
        drawn = sample_poems(model, vocab, len(asked), rng, acrostic=asked, **sampling)
        hits = sum(acrostic_hits(p, h) for p, h in zip(drawn, asked))
        report["acrostic"] = {**poem_scores(drawn, train, everything),
                              "heads": hits / sum(map(len, asked))}
    report["examples"] = free[:10]
    return report
