"""The text family's options, ``sample`` (text to stdout or a .txt) and ``evaluate`` (nats per character).

    python -m aigc_np train gpt --corpus shakespeare --out runs/gpt
    python -m aigc_np train lstm --corpus names --out runs/names_lstm
    python -m aigc_np sample runs/gpt/best.npz --prompt "ROMEO:" --n 500 --temperature 0.8 --top-k 20
    python -m aigc_np evaluate runs/gpt/best.npz --json
    python -m aigc_np train gpt --recipe tang --out runs/tang
    python -m aigc_np sample runs/tang/best.npz --acrostic 春眠不觉 --n 5     # five acrostic poems
    python -m aigc_np evaluate runs/tang/best.npz     # + form, novelty, copies of 1,000 sampled poems
"""
from __future__ import annotations

import json
import sys

import numpy as np

from ..checkpoint import load_model
from ..io import atomic_write
from ..kinds import KINDS
from ..kinds.text import start_text, tokenizer_of
from ..text.data import CORPORA, Vocab, load_corpus
from ..text.evaluation import baselines, framed_loss, model_loss, sliding_loss, to_bits
from ..text.poems import check_acrostic, poem_report, sample_poems
from ..text.sampling import check_sampling
from .argtypes import FINITE, NON_NEGATIVE_FLOAT, POSITIVE, _number
from .common import UsageError, check_out_file
from .options import Option, kinds_of

__all__ = ["OPTIONS", "sample", "evaluate"]

TEXT_KINDS = kinds_of("text")

OPTIONS = [
    Option("--corpus", ("train",), f"{', '.join(CORPORA)}, or the path of a UTF-8 text file (default: the recipe's)",
           kinds=TEXT_KINDS, setting="corpus"),
    Option("--steps", ("train",), "training steps (default: the recipe's)", kinds=TEXT_KINDS, setting="steps",
           argparse={"type": POSITIVE}),
    Option("--n-layer", ("train",), "layers (Transformer blocks or LSTM layers)", kinds=TEXT_KINDS,
           setting="n_layer", argparse={"type": POSITIVE}),
    Option("--n-head", ("train",), "attention heads per block", kinds=("gpt",), setting="n_head",
           argparse={"type": POSITIVE}),
    Option("--n-embd", ("train",), "embedding width", kinds=TEXT_KINDS, setting="n_embd", argparse={"type": POSITIVE}),
    Option("--hidden", ("train",), "LSTM state width", kinds=("lstm",), setting="hidden", argparse={"type": POSITIVE}),
    Option("--block-size", ("train",), "context length in characters", kinds=TEXT_KINDS, setting="block_size",
           argparse={"type": POSITIVE}),
    Option("--dropout", ("train",), "dropout probability in the blocks", kinds=("gpt",), setting="dropout",
           argparse={"type": NON_NEGATIVE_FLOAT}),
    Option("--tokenizer", ("train",), "char (default): one token per character; bpe: byte-pair tokens learned "
                                      "from the training split's UTF-8 bytes", kinds=("gpt",), setting="tokenizer",
           argparse={"choices": ("char", "bpe")}),
    Option("--vocab-size", ("train",), "with --tokenizer bpe: the tokens, 256 byte values plus the merges learned "
                                       "(e.g. 512)", kinds=("gpt",), setting="vocab_size",
           argparse={"type": POSITIVE}),
    Option("--prompt", ("sample",), "the text to continue (default: the start of a name for the names corpus, "
                                    r"else a newline); \n stands for a newline", kinds=TEXT_KINDS),
    Option("--acrostic", ("sample",), "write poems (--n of them, default 5) whose line k begins with the k-th of "
                                      "these 1-4 characters (an acrostic, cangtoushi)", kinds=TEXT_KINDS),
    Option("--temperature", ("sample", "evaluate"), "divide the logits by T before sampling (evaluate: a poem "
                                                    "model's sampled poems); 0 means greedy (default 1)",
           kinds=TEXT_KINDS, argparse={"type": FINITE, "metavar": "T"}),
    Option("--top-k", ("sample", "evaluate"), "sample only among the K most likely characters", kinds=TEXT_KINDS,
           argparse={"type": _number(int, None, "an integer"), "metavar": "K"}),
    Option("--top-p", ("sample", "evaluate"), "sample only among the most likely characters whose probabilities "
                                               "add up to P, in (0, 1]", kinds=TEXT_KINDS, argparse={"type": FINITE, "metavar": "P"}),
]


def sample(args, meta) -> int:
    try:
        check_sampling(1.0 if args.temperature is None else args.temperature, args.top_k, args.top_p)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.out is not None:
        check_out_file(args.out, (".txt",), "text samples")
    vocab = Vocab(meta["config"]["vocab"])
    prompt = start_text(meta["config"]) if args.prompt is None else args.prompt.replace("\\n", "\n")
    if not prompt:
        raise UsageError("--prompt: needs at least one character")
    bpe = meta["config"].get("tokenizer") == "bpe"
    if bpe and args.acrostic is not None:
        raise UsageError("--acrostic: needs a character-level model (this one reads BPE tokens)")
    missing = [] if bpe else vocab.unknown(prompt)          # BPE encodes any text
    if missing:
        raise UsageError(f"--prompt: {len(missing)} character(s) not in the model's vocabulary: "
                         f"{', '.join(map(repr, missing))}")
    model, meta = load_model(args.checkpoint)
    if args.acrostic is not None:
        return _acrostics(args, model, vocab)
    n = args.n or 500
    text = KINDS[meta["kind"]].family.generate(model, n, np.random.default_rng(args.seed or 0), prompt=prompt,
                                               temperature=args.temperature, top_k=args.top_k, top_p=args.top_p)
    if args.out:
        with atomic_write(args.out, "w") as f:
            f.write(text)
        print(f"wrote {len(text)} characters ({n} generated) from {args.checkpoint} to {args.out}")
    else:
        sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))
    return 0


def _acrostics(args, model, vocab) -> int:
    """--acrostic: --n poems (default 5), one per line, each line k starting with the k-th character."""
    try:
        heads = check_acrostic(args.acrostic, vocab)
    except ValueError as e:
        raise UsageError(str(e)) from None
    poems = sample_poems(model, vocab, args.n or 5, np.random.default_rng(args.seed or 0), acrostic=heads,
                         temperature=1.0 if args.temperature is None else args.temperature, top_k=args.top_k,
                         top_p=args.top_p)
    text = "\n".join(poems) + "\n"
    if args.out:
        with atomic_write(args.out, "w") as f:
            f.write(text)
        print(f"wrote {len(poems)} acrostic poems ({heads}) from {args.checkpoint} to {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def evaluate(args, meta) -> int:
    model, meta = load_model(args.checkpoint)
    splits = load_corpus(meta["config"]["corpus"], what=f"{args.checkpoint}: its corpus")   # the bounded reader
    if splits.vocab.chars != meta["config"]["vocab"]:
        raise ValueError(f"{args.checkpoint}: the corpus {meta['config']['corpus']!r} no longer has the "
                         "checkpoint's vocabulary")
    vocab = splits.vocab
    tokens = tokenizer_of(meta["config"])
    bpe = meta["config"].get("tokenizer") == "bpe"
    result = {"model": meta["kind"], "checkpoint": args.checkpoint, "step": meta["step"],
              "corpus": splits.name, "parameters": model.num_params(), "vocab_size": vocab.size,
              "tokenizer": meta["config"].get("tokenizer", "char"), "tokens": tokens.size}
    framed = not bpe and splits.boundary is not None and all(
        np.diff(np.flatnonzero(ids == splits.boundary)).max(initial=0) <= model.block_size
        for ids in (splits.val, splits.test) if ids is not None)           # every poem or name fits a window
    result["protocol"] = "framed" if framed else "windows"
    for name in ("val", "test"):
        heldout = getattr(splits, name)
        if heldout is None:
            continue
        more = {}
        if bpe:                               # nats per token, times tokens per character: nats per character
            ids = tokens.encode(vocab.decode(heldout))
            per_char = len(ids) / len(heldout)
            per_token, sliding = model_loss(model, ids), sliding_loss(model, ids)
            nats, sliding = per_token * per_char, sliding * per_char
            more = {"nats_per_token": per_token, "tokens": len(ids), "sliding_nats_per_char": sliding,
                    "sliding_bits_per_char": to_bits(sliding)}
        elif framed:                          # poems and names: each scored from its opening boundary
            nats = framed_loss(model, heldout, splits.boundary)
        else:
            nats, sliding = model_loss(model, heldout), sliding_loss(model, heldout)
            more = {"sliding_nats_per_char": sliding, "sliding_bits_per_char": to_bits(sliding)}
        result[name] = {"nats_per_char": nats, "bits_per_char": to_bits(nats), **more,
                        "characters": int(len(heldout)),
                        "baselines_nats_per_char": baselines(splits.train, heldout, vocab.size)}
    if splits.name == "tang" and not bpe:
        try:
            check_sampling(1.0 if args.temperature is None else args.temperature, args.top_k, args.top_p)
        except ValueError as e:
            raise UsageError(str(e)) from None
        result["poems"] = poem_report(model, splits, args.n or 1000, np.random.default_rng(args.seed or 0),
                                      temperature=1.0 if args.temperature is None else args.temperature,
                                      top_k=args.top_k, top_p=args.top_p)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"{meta['kind']} from {args.checkpoint} (step {meta['step']}, {result['parameters']:,} parameters), "
          f"corpus {splits.name}, vocabulary {vocab.size}"
          + (f", {tokens.size} BPE tokens" if bpe else ""))
    print("  baselines are fitted on the training split; unigram and bigram use add-one smoothing")
    print(f"  {'split':<6}{'model':>22}{'uniform ln V':>16}{'unigram':>10}{'bigram':>10}")
    for name in ("val", "test"):
        if name in result:
            r, b = result[name], result[name]["baselines_nats_per_char"]
            shown = f"{r['nats_per_char']:.4f} ({r['bits_per_char']:.3f} bits)"
            print(f"  {name:<6}{shown:>22}{b['uniform']:>16.4f}{b['unigram']:>10.4f}{b['bigram']:>10.4f}")
    if bpe:
        print("  (nats per character = nats per token x tokens per character of the split; bits = nats / ln 2;")
        print("   model: non-overlapping windows of tokens; sliding: >= half a window of context: "
              + ", ".join(f"{name} {result[name]['sliding_nats_per_char']:.4f}" for name in ("val", "test")
                          if name in result) + ")")
    elif framed:
        print(f"  (nats per character; bits = nats / ln 2. model: every {'name' if splits.name == 'names' else 'poem'} "
              "scored once, from its opening boundary, as makemore scores names)")
    else:
        print(f"  (nats per character; bits = nats / ln 2. model: non-overlapping windows of {model.block_size}, "
              f"contexts 1..{model.block_size} as in training;")
        print(f"   sliding, every character with >= {model.block_size // 2} characters of context: "
              + ", ".join(f"{name} {result[name]['sliding_nats_per_char']:.4f}" for name in ("val", "test")
                          if name in result) + ")")
    if "poems" in result:
        _print_poems(result["poems"], args.temperature)
    return 0


def _print_poems(report: dict, temperature) -> None:
    free = report["free"]
    print(f"  poems sampled from a newline at temperature {1.0 if temperature is None else temperature:g}: "
          f"{free['poems']} poems, {free['lines']} lines")
    print(f"    form {free['form']:.1%} (four lines of 5 or 7 characters, \"，。，。\"), novel lines "
          f"{free['novelty']:.1%} (in no training poem), copies {free['copies']:.1%} (whole corpus poems)")
    if "acrostic" in report:
        a = report["acrostic"]
        print(f"  acrostics (line starts of {a['poems']} test poems): lines begun as asked {a['heads']:.1%}, "
              f"form {a['form']:.1%}, novel lines {a['novelty']:.1%}, copies {a['copies']:.1%}")
    print("  the first sampled poems:")
    for poem in report["examples"]:
        print(f"    {poem}")
