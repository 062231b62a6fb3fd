"""Lesson 20: Tang poems: a 5,000-character vocabulary, poems measured as poems, and acrostics.

Lessons 12-14 wrote English from 27 or 65 characters. Classical Chinese
verse needs 5,037: one output per character, so the GPT's last layer is as
large as all its blocks. This lesson trains lesson 14's GPT on 13,740 Tang
quatrains (绝句) and measures what it writes as poems: form (four lines of 5
or 7 characters, "，。，。"), novelty (lines in no training poem) and copies
(whole poems of the corpus, i.e. memorization). Then it writes acrostics
(藏头诗): line k begins with a character the user chose.

Expected: 1,200 steps in about 7 minutes on one thread (405 s of training
at load 2-2.5); of 1,000 poems at temperature 1, form about 97%, novel
lines 100%, no copies; acrostics begin 100% of their lines as asked, form
about 97.5%.
--quick: under 30 s, numbers not results.

Run:  python lessons/20_poems.py [--quick] [--steps 1200] [--out out/20_poems]
"""
# %% [markdown]
# ## 1. The corpus: few poems, many characters
# 13,740 quatrains, 3,656 of five characters a line and 10,084 of seven
# (data/README.md: provenance, licence, filtering). They are split 90/5/5 by
# *poem*, so no test poem was ever seen in part. The alphabet is long-tailed:
# 887 characters occur once, and the 1,000 most common cover 87% of the text.

# %%
import os
import time

import numpy as np

from aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result
from aigc_np.kinds import KINDS
from aigc_np.layers import backend
from aigc_np.text.data import load_tang, random_windows
from aigc_np.text.evaluation import baselines, framed_loss, to_bits
from aigc_np.text.poems import acrostic_hits, corpus_poems, poem_report, sample_poems
from aigc_np.training import train

parser = lesson_parser(__doc__, out="out/20_poems")
parser.add_argument("--steps", type=int, default=1200)
args = parse_lesson_args(parser)

data = load_tang()
vocab = data.vocab
counts = np.bincount(data.train, minlength=vocab.size)
top = np.argsort(-counts)[:12]
print(f"{vocab.size:,} distinct characters; train {len(data.train):,} characters, "
      f"{len(corpus_poems(vocab, data.train)):,} poems")
print("most common:", " ".join(f"{vocab.chars[i]!r}:{counts[i]}" for i in top))
print(f"characters seen once in training: {(counts == 1).sum()}, never: {(counts == 0).sum()}")

# %% [markdown]
# ## 2. The output layer is the expensive part
# The head maps each position's 128 numbers to 5,037 logits: a (B*T, 128) x
# (128, 5,037) product, then a softmax over 5,037 entries, then two products
# backward. That is as many operations as all four blocks together. The
# fast path (aigc_np/text/fast_head.py) fuses the head with the cross-entropy:
# one (B*T, V) buffer holds the logits, then exp(z - max), then the
# gradient dz = softmax - onehot, instead of a fresh array at every step.
# It is held equal to the reference in float64 (tests/test_text_fast_head.py);
# here we time a training step both ways.

# %%
kind = KINDS["gpt"]
config, settings = kind.recipe("tang")
config["vocab"] = vocab.chars
settings["steps"] = args.steps
if args.quick:
    config.update(n_layer=1, n_embd=32)
    settings.update(steps=20, eval_every=10, eval_batches=2, batch_size=8, quick=True)
model = kind.build_model(config, np.random.default_rng(args.seed + 1))
head = config["n_embd"] * vocab.size + vocab.size
print(f"GPT: {model.num_params():,} parameters, of which the head holds {head:,} and the token embedding "
      f"{config['n_embd'] * vocab.size:,}")
batch = random_windows(data.train, settings["batch_size"], config["block_size"], np.random.default_rng(0),
                       starts=data.starts("train", config["block_size"]))
timing = {}
for path in ("reference", "fast"):
    backend.use_fast(path == "fast")
    probe = kind.build_model(config, np.random.default_rng(0))
    probe.train_step(*batch)
    tic = time.perf_counter()
    for _ in range(2 if args.quick else 5):
        probe.train_step(*batch)
    timing[path] = (time.perf_counter() - tic) / (2 if args.quick else 5)
backend.use_fast(True)
print(f"one training step: reference {timing['reference'] * 1e3:.0f} ms, fused head "
      f"{timing['fast'] * 1e3:.0f} ms ({timing['reference'] / timing['fast']:.2f}x)")

# %% [markdown]
# ## 3. Training: windows that start where a poem starts
# Every training window starts at a poem's opening newline, so position t of
# the window is position t of the poem: the punctuation the form needs sits
# at fixed positions (6, 12, ... or 8, 16, ...), which the learned position
# embedding can hold. Sampling also starts from a newline, at position 0.

# %%
family = kind.family
start = time.perf_counter()
history = train(model, family.batches(data, settings, config), family.plan(settings, data, config),
                rng=np.random.default_rng(args.seed), out_dir=args.out,
                score=family.score(kind, data, config, settings, args.seed), select=kind.select,
                limit=family.limit(config), train_settings=settings, label="poems ", unit="char")
seconds = time.perf_counter() - start
heldout = data.test[:np.flatnonzero(data.test == data.boundary)[50] + 1] if args.quick else data.test
nats, base = framed_loss(model, heldout, data.boundary), baselines(data.train, heldout, vocab.size)
print(f"\ntest: {nats:.3f} nats/char ({to_bits(nats):.2f} bits); unigram {base['unigram']:.3f}, "
      f"bigram {base['bigram']:.3f}; training took {seconds:.0f} s")

# %% [markdown]
# ## 4. Measured as poems: form, novelty, copies
# Free sampling: from a newline until the next, at temperature 1, nothing
# forced. A model that only memorized would score high on form and low on
# novelty, with many copies; a model that learned nothing would fail form.

# %%
n_poems = 50 if args.quick else 1000
report = poem_report(model, data, n_poems, np.random.default_rng(args.seed + 2))
free, acro = report["free"], report["acrostic"]
print(f"{free['poems']} free poems: form {free['form']:.1%}, novel lines {free['novelty']:.1%}, "
      f"copies {free['copies']:.1%}")
for poem in report["examples"]:
    print("   ", poem)
print(f"{acro['poems']} acrostics (heads from test poems): lines begun as asked {acro['heads']:.1%}, "
      f"form {acro['form']:.1%}, novel lines {acro['novelty']:.1%}")

# %% [markdown]
# ## 5. Acrostics (藏头诗)
# At each line start the sampler puts the asked character in place of the
# drawn one and lets the model continue freely: the model's job is to make
# a line that follows from a start it did not choose.

# %%
for heads in ("春眠不觉", "明月清风", "白云"):
    poems = sample_poems(model, vocab, 2, np.random.default_rng(args.seed + 3), acrostic=heads)
    for poem in poems:
        print(f"  {heads}: {poem}   (lines as asked: {acrostic_hits(poem, heads)}/{len(heads)})")
with open(os.path.join(args.out, "poems.txt"), "w", encoding="utf-8") as f:
    f.write("\n".join(report["examples"]) + "\n")

# %% [markdown]
# ## Summary
# * A vocabulary of thousands makes the output layer the largest cost; a
#   fused softmax cross-entropy keeps one buffer for logits and gradient.
# * Measure generated text by what it should be (here: its form), and by how
#   much of it is copied (novelty, copies), not by the loss alone.
# * Steering by forcing tokens is the simplest controllable generation.
#
# Extensions: force the form too (sample "，"/"。" only at line ends) and
# report it apart from free sampling; a 7-character-only model; regulated
# verse (律诗, 8 lines); rhyme: do lines 2 and 4 end on the same final?

# %%
print_result(args, "20", f"GPT ({model.num_params():,} parameters) on Tang quatrains, {settings['steps']} steps in "
             f"{seconds:.0f} s: {free['poems']} free poems at temperature 1 have form {free['form']:.1%}, "
             f"novel lines {free['novelty']:.1%}, copies {free['copies']:.1%}; acrostics begin "
             f"{acro['heads']:.1%} of lines as asked with form {acro['form']:.1%}; test {nats:.3f} nats/char",
             f"python lessons/20_poems.py --seed {args.seed}")
