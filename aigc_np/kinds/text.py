"""The text family: character-level ``gpt`` and ``lstm`` language models (lessons 12-14).

A text config holds the architecture, the optimizer, the vocabulary
(``vocab``: the characters in id order) and the corpus, so the checkpoint
file alone rebuilds the model. They train in steps of random windows; every
``eval_every`` steps the model is scored on the same fixed validation
batches and best.npz is picked by the lowest validation loss.
"""
from __future__ import annotations

import math

import numpy as np

from ..optimizers import warmup_cosine
from ..plan import Plan
from ..text.bpe import BPE, BYTES, MAX_BPE_VOCAB, MAX_MERGES_TEXT
from ..text.data import BOUNDARY, TextSplits, Vocab, check_block_size, load_corpus, random_windows
from ..text.evaluation import fixed_batches
from ..text.models import GPT, CharLSTM, gpt_param_count, lstm_param_count
from .kind import Kind, Recipe
from .schema import Choice, Flag, Float, Int, Text

__all__ = ["TEXT", "TEXT_KINDS", "MAX_VOCAB", "start_text", "tokenizer_of", "n_tokens"]

MAX_VOCAB = 1 << 16      # distinct characters: a Chinese corpus has a few thousand
MAX_CORPUS_NAME = 4096   # a built-in corpus name or a file's absolute path

_OPTIMIZER = {"lr": Float(0.0, 10.0, open_low=True), "weight_decay": Float(0.0, 10.0),
              "beta1": Float(0.0, 1.0, open_high=True), "beta2": Float(0.0, 1.0, open_high=True),
              "grad_clip": Float(0.0, 1e6), "vocab": Text(max_len=MAX_VOCAB), "corpus": Text(max_len=MAX_CORPUS_NAME)}
_ADAMW = {"lr": 1e-3, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.99, "grad_clip": 1.0, "vocab": "",
          "corpus": "shakespeare"}


_TOKENIZER = {"tokenizer": Choice(options=("char", "bpe")), "vocab_size": Int(0, MAX_BPE_VOCAB),
              "merges": Text(min_len=0, max_len=MAX_MERGES_TEXT)}
_CHARS = {"tokenizer": "char", "vocab_size": 0, "merges": ""}


def n_tokens(c: dict) -> int:
    """The model's vocabulary size: the corpus's characters, or the BPE tokenizer's tokens."""
    return c["vocab_size"] if c.get("tokenizer") == "bpe" else len(c["vocab"])


def tokenizer_of(config: dict):
    """What maps text to the model's ids and back: a ``Vocab`` of characters or a ``BPE``."""
    if config.get("tokenizer") == "bpe":
        return BPE.from_text(config["merges"], "config['merges']")
    return Vocab(config["vocab"])


def _tokenizer_problem(c: dict, learned: bool = True) -> str | None:
    """What is wrong with the tokenizer settings, or None; ``learned=False``: before the merges are
    learned (``merges`` may still be empty)."""
    if c.get("tokenizer", "char") == "char":
        if c.get("vocab_size", 0) or c.get("merges", ""):
            return "vocab_size and merges belong to tokenizer 'bpe' (a char model's vocabulary is its characters)"
        return None
    if c["vocab_size"] < BYTES:
        return f"tokenizer 'bpe' needs vocab_size >= {BYTES} (the byte values), got {c['vocab_size']}"
    try:
        bpe = BPE.from_text(c["merges"])
    except ValueError as e:
        return str(e)
    if (learned or c["merges"]) and bpe.size != c["vocab_size"]:
        return f"merges make {bpe.size} tokens, but vocab_size is {c['vocab_size']}"
    return None


def _relations(c: dict) -> str | None:
    if len(set(c["vocab"])) != len(c["vocab"]):
        return "vocab must list distinct characters"
    problem = _tokenizer_problem(c)
    if problem:
        return problem
    if "n_head" in c and c["n_embd"] % c["n_head"]:
        return f"n_embd {c['n_embd']} must be divisible by n_head {c['n_head']} (each head gets n_embd / n_head)"
    return None


class _Windows:
    """The loop's batches: B random windows of the training split and their targets."""

    def __init__(self, ids, batch_size: int, block_size: int, starts=None):
        self.ids, self.batch_size, self.block_size, self.starts = ids, batch_size, block_size, starts

    def batch(self, step: int, rng) -> tuple:
        return random_windows(self.ids, self.batch_size, self.block_size, rng, starts=self.starts)


def start_text(config: dict) -> str:
    """What sampling continues when no --prompt is given: the names corpus's boundary token
    (a new name), else a newline, else the vocabulary's first character."""
    vocab = config["vocab"]
    for start in ((BOUNDARY,) if config["corpus"] == "names" else ()) + ("\n",):
        if start in vocab:
            return start
    return vocab[0]


class TextFamily:
    """What the text kinds share: steps of random windows, a warm-up and cosine schedule, text samples."""
    name = "text"
    about = "character-level language models, trained in steps"
    train_settings = {"steps": Int(1, 10 ** 8), "batch_size": Int(1, 1 << 16), "eval_every": Int(1, 10 ** 8),
                      "eval_batches": Int(1, 10 ** 4), "warmup": Int(0, 10 ** 8),
                      "min_lr": Float(0.0, 10.0), "quick": Flag()}
    train_defaults = {"steps": 2000, "batch_size": 12, "eval_every": 250, "eval_batches": 20, "warmup": 100,
                      "min_lr": 1e-4, "quick": False}
    epochs = False       # --steps and --eval-every count steps
    unit = "char"
    seeds = {"model": 1, "batches": 0, "score": 0, "grid": 0}   # offsets from --seed, as lessons 13-14 draw them

    def quick(self, config: dict, train: dict) -> tuple[dict, dict]:
        """--quick: 20 steps, scored every 10 on 2 validation batches."""
        return config, {**train, "steps": 20, "eval_every": 10, "eval_batches": 2, "quick": True}

    def data(self, kind: Kind, config: dict):
        """The corpus splits (the loop's window batches are made in :meth:`batches`); with tokenizer
        'bpe', as BPE tokens, the merges learned from the training split unless the config has them."""
        splits = load_corpus(config["corpus"])
        if config.get("tokenizer") != "bpe":
            return splits, splits
        problem = _tokenizer_problem(config, learned=False)
        if problem:
            raise ValueError(f"train {kind.name}: {problem}")
        text = {name: splits.vocab.decode(ids) for name, ids in splits.splits().items()}
        if config["merges"]:
            bpe = BPE.from_text(config["merges"], "config['merges']")
            train = bpe.encode(text["train"])
        else:
            bpe, train = BPE.learn(text["train"], config["vocab_size"])
        tokens = {name: bpe.encode(t) for name, t in text.items() if name != "train"}
        dtype = np.uint16 if bpe.size <= 1 << 16 else np.int32
        tokenized = TextSplits(splits.name, splits.vocab, train.astype(dtype), tokens["val"].astype(dtype),
                               tokens["test"].astype(dtype) if "test" in tokens else None, tokenizer=bpe)
        return tokenized, tokenized

    def fill(self, config: dict, splits) -> dict:
        """The corpus's vocabulary (and BPE merges) go into the config (a resumed run's corpus must
        still have them)."""
        chars = splits.vocab.chars
        if config["vocab"] and config["vocab"] != chars:
            raise ValueError(f"corpus {config['corpus']!r}: its vocabulary ({len(chars)} characters) is not the "
                             f"checkpoint's ({len(config['vocab'])}); the file changed since the run started")
        if splits.tokenizer is not None:
            return {**config, "vocab": chars, "merges": splits.tokenizer.to_text()}
        return {**config, "vocab": chars}

    def check_data(self, splits, train: dict, config: dict) -> None:
        """Every split must hold a window of block_size characters and its next-character target."""
        check_block_size(splits, config["block_size"])

    def plan(self, train: dict, splits, config: dict, quick: bool = False, patience: int | None = None) -> Plan:
        steps, warmup = train["steps"], min(train["warmup"], train["steps"])   # a short run only warms up
        return Plan(steps=steps, batch_size=train["batch_size"], every=min(train["eval_every"], steps),
                    eval_every=min(train["eval_every"], steps), patience=patience,
                    lr_at=lambda step, lr: warmup_cosine(step, lr, warmup, steps, train["min_lr"]))

    def batches(self, splits, train: dict, config: dict) -> _Windows:
        return _Windows(splits.train, train["batch_size"], config["block_size"],
                        splits.starts("train", config["block_size"]))

    def limit(self, config: dict) -> tuple:
        v = max(2, n_tokens(config))
        return 4 * math.log(v), f"4 ln V: four times the loss of a uniform guess over {v} tokens"

    def score(self, kind: Kind, splits, config: dict, train: dict, seed: int, quick: bool = False):
        val = fixed_batches(splits.val, train["eval_batches"], train["batch_size"], config["block_size"],
                            starts=splits.starts("val", config["block_size"]))

        def score(model):
            model.eval()
            return {"val_loss": float(np.mean([model.loss(x, y) for x, y in val]))}
        return score

    def grid(self, kind: Kind, data, seed: int):
        return None

    def generate(self, model, n: int, rng, prompt=None, temperature=None, top_k=None, top_p=None, **_) -> str:
        """``n`` characters continuing ``prompt`` (default: :func:`start_text`), prompt included."""
        tokens = tokenizer_of(model.config)
        prompt = start_text(model.config) if prompt is None else prompt
        ids = model.generate(tokens.encode(prompt), n, temperature=1.0 if temperature is None else temperature,
                             top_k=top_k, top_p=top_p, rng=rng)
        return tokens.decode(ids)


TEXT = TextFamily()

_SCHEDULE = {  # nanoGPT's Shakespeare-char recipe
    "steps": (2000, "nanoGPT's CPU run: about 5 minutes here"),
    "batch_size": (12, "nanoGPT's CPU batch"),
    "eval_every": (250, "eight validation scores along the run"),
    "eval_batches": (20, "20 fixed batches: a validation loss steady to about 0.01"),
    "warmup": (100, "a linear warm-up keeps Adam's first, noisy steps small"),
    "min_lr": (1e-4, "the cosine ends at a tenth of the peak rate"),
}

GPT_KIND = Kind(
    "gpt", TEXT, "a character-level GPT (lesson 14): token and position embeddings, n_layer Transformer blocks",
    settings={"n_layer": Int(1, 64), "n_head": Int(1, 64), "n_embd": Int(1, 4096), "block_size": Int(1, 4096),
              "dropout": Float(0.0, 1.0, open_high=True), **_OPTIMIZER, **_TOKENIZER},
    defaults={"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64, "dropout": 0.0, **_ADAMW, **_CHARS},
    build=lambda c, rng: GPT(c["n_layer"], c["n_head"], c["n_embd"], c["block_size"], n_tokens(c),
                             dropout=c["dropout"], rng=rng, lr=c["lr"], weight_decay=c["weight_decay"],
                             beta1=c["beta1"], beta2=c["beta2"], grad_clip=c["grad_clip"]),
    counts=lambda c: (gpt_param_count(c["n_layer"], c["n_embd"], c["block_size"], n_tokens(c)), 0),
    relations=_relations, select=("val_loss", False),
    architecture=("n_layer", "n_head", "n_embd", "block_size", "vocab", "corpus", "tokenizer", "vocab_size",
                  "merges"),
    recipes={
        "default": Recipe("nanoGPT's CPU configuration for Shakespeare: 4 layers, 4 heads, 128 wide, context 64", {
            "n_layer": (4, "nanoGPT's CPU model"), "n_head": (4, "32 dimensions per head"),
            "n_embd": (128, "nanoGPT's CPU model"), "block_size": (64, "a context of 64 characters, about a line"),
            "dropout": (0.0, "2,000 steps see a fraction of the text: no overfitting to fight"),
            "lr": (1e-3, "nanoGPT's peak rate for a small model"), "beta2": (0.99, "few tokens per step: a shorter memory"),
            **_SCHEDULE}),
        "names": Recipe("lesson 14's names model: a context of 16 sees a whole name", {
            "corpus": ("names", "32,033 first names, one per line"),
            "n_layer": (4, "as nanoGPT's CPU model"), "n_head": (4, "16 dimensions per head"),
            "n_embd": (64, "names are short and few: a smaller model suffices"),
            "block_size": (16, "names are at most 15 letters, so 16 sees a whole name"),
            "dropout": (0.1, "9,000 steps pass over the names many times: fight overfitting"),
            "lr": (3e-3, "a small model tolerates a larger rate"), "weight_decay": (0.1, "AdamW's usual decay"),
            "steps": (9000, "the validation loss flattens by then"), "batch_size": (32, "names are short: more per step"),
            "eval_every": (500, "18 validation scores along the run"), "eval_batches": (20, "as the default"),
            "warmup": (100, "as the default"), "min_lr": (3e-4, "a tenth of the peak rate")}),
        "tang": Recipe("lesson 20's poem model: Tang quatrains over 5,037 characters in 10 minutes on one thread", {
            "corpus": ("tang", "13,740 Tang quatrains, one per line"),
            "n_layer": (4, "as nanoGPT's CPU model"), "n_head": (4, "32 dimensions per head"),
            "n_embd": (128, "the head's 128 x 5,037 product already costs as much as the four blocks"),
            "block_size": (48, "a whole poem (at most 34 characters with its newlines) and the end of the one before"),
            "dropout": (0.0, "a few passes over the poems: no overfitting to fight"),
            "lr": (2e-3, "a short run: a larger rate than nanoGPT's"), "weight_decay": (0.1, "AdamW's usual decay"),
            "steps": (1200, "744 s on one thread of a loaded machine, about 500 s idle: form 97.6%"), "batch_size": (32, "1,536 characters a step"),
            "eval_every": (200, "six validation scores along the run"), "eval_batches": (20, "as the default"),
            "warmup": (100, "as the default"), "min_lr": (2e-4, "a tenth of the peak rate")}),
    })

LSTM_KIND = Kind(
    "lstm", TEXT, "a character-level LSTM (lesson 13): embedding, n_layer LSTM layers, a softmax head",
    settings={"n_layer": Int(1, 64), "n_embd": Int(1, 4096), "hidden": Int(1, 8192), "block_size": Int(1, 4096),
              **_OPTIMIZER},
    defaults={"n_layer": 1, "n_embd": 64, "hidden": 256, "block_size": 64, **_ADAMW, "lr": 2e-3,
              "weight_decay": 0.0},
    build=lambda c, rng: CharLSTM(len(c["vocab"]), c["n_embd"], c["hidden"], c["n_layer"], c["block_size"], rng=rng,
                                  lr=c["lr"], weight_decay=c["weight_decay"], beta1=c["beta1"], beta2=c["beta2"],
                                  grad_clip=c["grad_clip"]),
    counts=lambda c: (lstm_param_count(c["n_layer"], c["n_embd"], c["hidden"], len(c["vocab"])), 0),
    relations=_relations, select=("val_loss", False),
    architecture=("n_layer", "n_embd", "hidden", "block_size", "vocab", "corpus"),
    recipes={
        "default": Recipe("lesson 13's Shakespeare LSTM: one layer of 256", {
            "lr": (2e-3, "an LSTM with gradient clipping tolerates twice the GPT's rate"),
            "min_lr": (2e-4, "a tenth of the peak rate"),
            "weight_decay": (0.0, "one small layer: nothing to regularize"),
            "steps": (2000, "the GPT's budget, for comparison"), "batch_size": (32, "more windows per step"),
            "eval_every": (250, "the GPT's schedule, so the curves compare"),
            "eval_batches": (20, "the GPT's validation batches, so the losses compare"),
            "warmup": (100, "the GPT's warm-up, so the runs compare")}),
        "names": Recipe("lesson 13's names LSTM: context 16, a smaller model", {
            "corpus": ("names", "32,033 first names, one per line"),
            "n_embd": (32, "names need few features per letter"), "hidden": (128, "names are short"),
            "block_size": (16, "names are at most 15 letters"),
            "lr": (2e-3, "as the Shakespeare LSTM"), "min_lr": (2e-4, "a tenth of the peak rate"),
            "weight_decay": (0.0, "as the Shakespeare LSTM"),
            "steps": (3000, "the validation loss flattens by then"), "batch_size": (32, "as the Shakespeare LSTM"),
            "eval_every": (250, "12 validation scores"),
            "eval_batches": (20, "the GPT's validation batches, so the losses compare"),
            "warmup": (100, "the GPT's warm-up, so the runs compare")}),
    })

TEXT_KINDS = (GPT_KIND, LSTM_KIND)
