"""Lesson 19: tokenization: byte-pair encoding from UTF-8 bytes, what the merges learn, bits per character.

Lessons 12-14 fed models one character at a time. Today's language models
read tokens: pieces of text found by byte-pair encoding (BPE; Sennrich et
al. 2016), in GPT-2's byte-level form: start from the 256 byte values of
UTF-8, and repeatedly make the most frequent adjacent pair one new token.
Any string then encodes, in any script, and common words become one token.
This lesson trains BPE on Shakespeare and on Tang poems, looks at the
merges, and compares a character GPT with a BPE GPT at the same wall-clock
budget, on the one scale both share: bits per character.

Expected: about 6.5 minutes on one thread (two trainings of about 150 s);
256 merges of tiny Shakespeare learned in about 2 s, 1.96 characters a
token; on validation, the BPE GPT about 0.2 bits per character below the
character GPT (2.76 against 3.00; each run prints the seconds it actually
took, which a shared machine's load moves). --quick: under 30 s, numbers
not results.

Run:  python lessons/19_tokenization.py [--quick] [--budget 150] [--vocab-size 512] [--out out/19_tokenization]
"""
# %% [markdown]
# ## 1. Text is bytes
# UTF-8 writes an ASCII character as one byte and a Chinese character as
# three. A byte-level tokenizer starts from these 256 values, so it never
# meets an unknown symbol: an emoji is four bytes, not an error.

# %%
import time

import numpy as np

from aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result
from aigc_np.kinds import KINDS
from aigc_np.text.bpe import BPE
from aigc_np.text.data import TextSplits, load_shakespeare, load_tang
from aigc_np.text.evaluation import model_loss, to_bits
from aigc_np.training import train

parser = lesson_parser(__doc__, out="out/19_tokenization")
parser.add_argument("--budget", type=float, default=150.0, help="seconds of training for each model")
parser.add_argument("--vocab-size", type=int, default=512)
args = parse_lesson_args(parser)
budget = 5.0 if args.quick else args.budget

for text in ("To be", "春眠", "🙂"):
    print(f"{text!r}: {len(text)} characters -> UTF-8 bytes {list(text.encode('utf-8'))}")

# %% [markdown]
# ## 2. Learning merges
# Count every adjacent pair of tokens, make the most frequent one (the
# smallest on ties) a new token, replace it everywhere, repeat. Both steps
# are vectorized (aigc_np/text/bpe.py): the pairs are codes a * V + b of an
# int array counted by ``np.bincount``, and a merge rewrites all of its
# occurrences at once. Encoding new text replays the merges in order.

# %%
shakespeare = load_shakespeare()
text = shakespeare.vocab.decode(shakespeare.train[:100_000] if args.quick else shakespeare.train)
vocab_size = 300 if args.quick else args.vocab_size
tic = time.perf_counter()
bpe, train_ids = BPE.learn(text, vocab_size)
learn_seconds = time.perf_counter() - tic
print(f"{vocab_size - 256} merges of {len(text.encode('utf-8')):,} bytes in {learn_seconds:.1f} s; "
      f"{len(text) / len(train_ids):.2f} characters a token")
print("first merges:", " ".join(repr(bpe.pieces[i].decode()) for i in range(256, 276)))
longest = sorted(range(256, bpe.size), key=lambda i: -len(bpe.pieces[i]))[:10]
print("longest tokens:", " ".join(repr(bpe.pieces[i].decode("utf-8", "replace")) for i in longest))
unseen = "Привет, 世界! 🙂 naïve café"
ids = bpe.encode(unseen)
assert bpe.decode(ids, errors="strict") == unseen
print(f"never seen: {unseen!r} -> {len(ids)} tokens, decoded back exactly")

# %% [markdown]
# ## 3. The same on Chinese
# A Han character is three bytes, so the first merges of the Tang poems
# rebuild characters: byte pairs, then the pair plus its third byte. Only
# later do merges join characters into frequent words.

# %%
tang = load_tang()
poems = tang.vocab.decode(tang.train[:30_000] if args.quick else tang.train[:300_000])
poem_bpe, poem_ids = BPE.learn(poems, 300 if args.quick else 1024)
shown = [poem_bpe.pieces[i].decode("utf-8", "replace") for i in range(256, poem_bpe.size)]
complete = [piece for piece in shown if "\ufffd" not in piece]          # whole characters, not cut bytes
print(f"tang: {len(poems) / len(poem_ids):.2f} characters a token; {len(complete)} of {len(shown)} merges are "
      f"whole characters or more; the first: {' '.join(complete[:12])!r}; multi-character: "
      f"{' '.join(p for p in complete if len(p) > 1)[:60]!r}")

# %% [markdown]
# ## 4. Bits per character, at the same wall-clock budget
# A model's loss per *token* cannot be compared across tokenizers: a BPE token
# carries about two characters. Convert: nats per character = nats per token
# x tokens / characters of the same text; bits = nats / ln 2. We train the
# same GPT on characters and on BPE tokens for the same number of seconds:
# the BPE model sees more text per step, but its head has more outputs.

# %%
kind = KINDS["gpt"]
val_text = shakespeare.vocab.decode(shakespeare.val[:5000] if args.quick else shakespeare.val)
runs = {}
for name in ("char", "bpe"):
    config, settings = kind.recipe("default")
    config["vocab"] = shakespeare.vocab.chars
    if name == "bpe":
        config.update(tokenizer="bpe", vocab_size=bpe.size, merges=bpe.to_text())
        val_ids = bpe.encode(val_text).astype(np.uint16)
        data = TextSplits("shakespeare", shakespeare.vocab, train_ids.astype(np.uint16), val_ids, tokenizer=bpe)
    else:
        val_ids = shakespeare.vocab.encode(val_text, np.uint16)
        data = TextSplits("shakespeare", shakespeare.vocab, shakespeare.train, val_ids)
    if args.quick:
        config.update(n_layer=1, n_embd=32)
        settings.update(batch_size=4, eval_batches=2)
    runs[name] = {"config": config, "settings": settings, "data": data, "val_ids": val_ids, "seconds": 0.0,
                  "batches": kind.family.batches(data, settings, config)}
# A step's time sets each model's steps for the budget. The two are timed in turns, so a change in
# the machine's load during the timing falls on both alike.
probe_rng = np.random.default_rng(args.seed)
for name in ("char", "bpe"):
    runs[name]["probe"] = kind.build_model(runs[name]["config"], np.random.default_rng(args.seed + 1))
turns = 4 if args.quick else 12
for turn in range(turns):
    for name in ("char", "bpe"):
        run = runs[name]
        tic = time.perf_counter()
        run["probe"].train_step(*run["batches"].batch(turn, probe_rng))
        run["seconds"] += (time.perf_counter() - tic) if turn >= 2 else 0.0     # two steps warm up
results = {}
for name, run in runs.items():
    config, settings, data, val_ids = run["config"], run["settings"], run["data"], run["val_ids"]
    per_step = run["seconds"] / (turns - 2)
    model = kind.build_model(config, np.random.default_rng(args.seed + 1))
    settings.update(steps=max(10, int(budget / per_step)), quick=args.quick)
    settings["eval_every"] = settings["steps"]
    tic = time.perf_counter()
    train(model, run["batches"], kind.family.plan(settings, data, config), rng=np.random.default_rng(args.seed),
          out_dir=f"{args.out}/{name}", score=kind.family.score(kind, data, config, settings, args.seed),
          select=kind.select, limit=kind.family.limit(config), train_settings=settings, label=f"{name} ",
          unit="char" if name == "char" else "token")
    seconds = time.perf_counter() - tic
    per_token = model_loss(model, val_ids)
    bits = to_bits(per_token * len(val_ids) / len(val_text))
    results[name] = f"{bits:.3f} bits/char ({settings['steps']} steps, {seconds:.0f} s)"
    print(f"{name}: {per_step * 1e3:.0f} ms a step, {settings['steps']} steps in {seconds:.0f} s, "
          f"{len(val_text) / len(val_ids):.2f} characters a token, validation {per_token:.3f} nats/token = "
          f"{bits:.3f} bits/char")

# %% [markdown]
# ## Summary
# * Byte-level BPE: 256 byte tokens plus merges of frequent pairs; every
#   string encodes and decodes exactly, in any script.
# * Merges learn what is frequent: English word endings and short words;
#   for Chinese, first the bytes of single characters.
# * Compare models across tokenizers in bits per character, not per token.
#
# Extensions: GPT-2's pre-split (no merge across a space); the merges' effect
# on the model's head size and speed; a tokenizer trained on both corpora.

# %%
print_result(args, "19", f"BPE of {vocab_size} tokens learned from {len(text):,} characters in {learn_seconds:.1f} s "
             f"({len(text) / len(train_ids):.2f} characters a token); at {budget:.0f} s of training each, "
             f"char GPT {results['char']}, BPE GPT {results['bpe']} on validation",
             f"python lessons/19_tokenization.py --seed {args.seed}")
