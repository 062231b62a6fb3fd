"""The command line's text commands (``aigc_np.cli`` dispatches here for kinds lstm and gpt).

    python -m aigc_np train gpt --corpus shakespeare --preset nanogpt-cpu --out runs/gpt
    python -m aigc_np train lstm --corpus names --steps 3000 --out runs/names_lstm
    python -m aigc_np sample runs/gpt/best.npz --prompt "ROMEO:" --n 500 --temperature 0.8 --top-k 20
    python -m aigc_np evaluate runs/gpt/best.npz --json
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from ..argtypes import FINITE, NON_NEGATIVE_FLOAT, POSITIVE, _number, positive_float
from ..checkpoint import load_checkpoint, read_metadata, validate_checkpoint
from ..io import atomic_write
from .data import Vocab, load_corpus
from .evaluation import baselines, model_loss, sliding_loss, to_bits
from .registry import build_text_model, text_config
from .sampling import check_sampling
from .training import resume_text, train_text

__all__ = ["add_text_arguments", "cmd_train_text", "cmd_sample_text", "cmd_evaluate_text", "load_text_model",
           "TextUsageError"]


class TextUsageError(ValueError):
    """A text command line that cannot work (aigc_np.cli turns it into exit code 2)."""


def add_text_arguments(train, sample) -> None:
    """The text flags of ``train`` and ``sample`` (aigc_np.cli calls this while building its parser)."""
    g = train.add_argument_group("text models (lstm, gpt)")
    g.add_argument("--corpus", default="shakespeare", help="shakespeare, names, or the path of a UTF-8 text file")
    g.add_argument("--steps", type=POSITIVE, help="training steps (default per kind and corpus)")
    g.add_argument("--preset", help="a named configuration: nanogpt-cpu (4 layers, 4 heads, 128 embd, "
                                    "context 64, batch 12, 2,000 steps, dropout 0)")
    g.add_argument("--n-layer", type=POSITIVE)
    g.add_argument("--n-head", type=POSITIVE, help="gpt only")
    g.add_argument("--n-embd", type=POSITIVE)
    g.add_argument("--block-size", type=POSITIVE, help="context length in characters")
    g.add_argument("--dropout", type=NON_NEGATIVE_FLOAT, help="gpt only")
    g.add_argument("--lr", type=positive_float, help="peak learning rate")
    s = sample.add_argument_group("text models (lstm, gpt)")
    s.add_argument("--prompt", default="\n", help='the text to continue (default: a newline), e.g. "ROMEO:"')
    s.add_argument("--temperature", type=FINITE, default=1.0,
                   help="divide the logits by T before sampling; 0 means greedy decoding (argmax)")
    s.add_argument("--top-k", type=_number(int, None, "an integer"), help="sample only among the K most likely characters")
    s.add_argument("--top-p", type=FINITE, help="sample only among the most likely characters whose "
                                                "probabilities add up to P, in (0, 1]")


# ------------------------------------------------------------------ train
def cmd_train_text(args) -> int:
    kind = args.kind
    if args.resume:
        if os.path.abspath(os.path.dirname(args.resume)) != os.path.abspath(args.out):
            raise TextUsageError(f"--resume {args.resume}: resume continues the run in --out; "
                                 f"pass a checkpoint inside {args.out}")
        meta = validate_checkpoint(args.resume)
        if meta["kind"] != kind:
            raise TextUsageError(f"--resume {args.resume}: holds a {meta['kind']!r} model, not {kind!r}")
        config = dict(meta["config"])
        if args.steps:
            config["steps"] = args.steps
        splits = load_corpus(config["corpus"])
        _check_vocab(splits.vocab, config, args.resume)
    else:
        if kind == "lstm" and (args.n_head is not None or args.dropout is not None):
            raise TextUsageError("--n-head and --dropout apply to gpt only")
        splits = load_corpus(args.corpus)
        overrides = dict(steps=args.steps, n_layer=args.n_layer, n_embd=args.n_embd, block_size=args.block_size,
                         lr=args.lr, batch_size=args.batch_size)
        if kind == "gpt":
            overrides.update(n_head=args.n_head, dropout=args.dropout)
        if args.quick:
            overrides.update(steps=args.steps or 20, eval_every=10, eval_batches=2)
        config = text_config(kind, _corpus_name(args.corpus), args.preset, **overrides)
        config["vocab"] = splits.vocab.chars
    model = build_text_model(kind, config, rng=np.random.default_rng(args.seed + 1))
    rng = np.random.default_rng(args.seed)
    print(f"training {kind} ({model.num_params():,} parameters) on {splits.name}: {config['steps']} steps, "
          f"batch {config['batch_size']} x {config['block_size']} characters, out {args.out}")
    start = time.perf_counter()
    if args.resume:
        history = resume_text(model, splits, rng=rng, out_dir=args.out)
    else:
        history = train_text(model, splits, rng=rng, out_dir=args.out)
    last = history[-1]
    print(f"done in {time.perf_counter() - start:.0f} s: step {last['step']}: train {last['train_loss']:.4f}, "
          f"val {last['val_loss']:.4f} nats/char ({to_bits(last['val_loss']):.3f} bits)")
    print(f"wrote {os.path.join(args.out, 'last.npz')}, best.npz and history.csv")
    return 0


def _corpus_name(corpus: str) -> str:
    """The built-in corpus names are kept; a user's path is stored as given (absolute)."""
    return corpus if corpus in ("shakespeare", "names") else os.path.abspath(corpus)


def _check_vocab(vocab: Vocab, config: dict, path: str) -> None:
    if vocab.chars != config["vocab"]:
        raise ValueError(f"{path}: the corpus {config['corpus']!r} no longer has the checkpoint's vocabulary")


# ----------------------------------------------------------------- sample
def load_text_model(path, meta: dict | None = None):
    """Rebuild a text model from its checkpoint file alone (eval mode); returns (model, vocab, meta)."""
    meta = validate_checkpoint(path)  # nothing is built before the file is checked
    model = build_text_model(meta["kind"], meta["config"])
    load_checkpoint(model, path)
    return model.eval(), Vocab(meta["config"]["vocab"]), meta


def cmd_sample_text(args, meta: dict) -> int:
    try:
        check_sampling(args.temperature, args.top_k, args.top_p)
    except ValueError as e:
        raise TextUsageError(str(e)) from None
    model, vocab, meta = load_text_model(args.checkpoint, meta)
    prompt = args.prompt.replace("\\n", "\n")
    missing = vocab.unknown(prompt)
    if missing:
        raise TextUsageError(f"--prompt: {len(missing)} character(s) not in the model's vocabulary: "
                             f"{', '.join(map(repr, missing))}")
    if not prompt:
        raise TextUsageError("--prompt: needs at least one character")
    ids = model.generate(vocab.encode(prompt), args.n, temperature=args.temperature, top_k=args.top_k,
                         top_p=args.top_p, rng=np.random.default_rng(args.seed))
    text = vocab.decode(ids)
    if args.out:
        with atomic_write(args.out, "w") as f:
            f.write(text)
        print(f"wrote {len(text)} characters ({args.n} generated) from {args.checkpoint} to {args.out}")
    else:
        sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))
    return 0


# --------------------------------------------------------------- evaluate
def cmd_evaluate_text(args, meta: dict) -> int:
    model, vocab, meta = load_text_model(args.checkpoint, meta)
    splits = load_corpus(meta["config"]["corpus"])
    _check_vocab(splits.vocab, meta["config"], args.checkpoint)
    result = {"model": meta["kind"], "checkpoint": args.checkpoint, "step": meta["epoch"],
              "corpus": splits.name, "parameters": model.num_params(), "vocab_size": vocab.size}
    for name in ("val", "test"):
        heldout = getattr(splits, name)
        if heldout is None:
            continue
        nats, sliding = model_loss(model, heldout), sliding_loss(model, heldout)
        result[name] = {"nats_per_char": nats, "bits_per_char": to_bits(nats),
                        "sliding_nats_per_char": sliding, "sliding_bits_per_char": to_bits(sliding),
                        "characters": int(len(heldout)),
                        "baselines_nats_per_char": baselines(splits.train, heldout, vocab.size)}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{meta['kind']} from {args.checkpoint} (step {meta['epoch']}, {result['parameters']:,} parameters), "
          f"corpus {splits.name}, vocabulary {vocab.size}")
    print("  baselines are fitted on the training split; unigram and bigram use add-one smoothing")
    print(f"  {'split':<6}{'model':>22}{'uniform ln V':>16}{'unigram':>10}{'bigram':>10}")
    for name in ("val", "test"):
        if name in result:
            r, b = result[name], result[name]["baselines_nats_per_char"]
            shown = f"{r['nats_per_char']:.4f} ({r['bits_per_char']:.3f} bits)"
            print(f"  {name:<6}{shown:>22}{b['uniform']:>16.4f}{b['unigram']:>10.4f}{b['bigram']:>10.4f}")
    print(f"  (nats per character; bits = nats / ln 2. model: non-overlapping windows of {model.block_size}, "
          f"contexts 1..{model.block_size} as in training;")
    print(f"   sliding, every character with >= {model.block_size // 2} characters of context: "
          + ", ".join(f"{name} {result[name]['sliding_nats_per_char']:.4f}" for name in ("val", "test")
                      if name in result) + ")")
    return 0
