"""Lesson 14: a small GPT from scratch: attention, the transformer block, and sampling.

Lesson 13's LSTM squeezes everything it has read into one state vector. A
transformer instead lets every position look back at every earlier position
directly and choose what to read: attention. Stacking attention with small
MLPs gives GPT (Radford et al. 2018, 2019), the architecture behind today's
text generators. This lesson derives attention's gradient, trains a 0.8 M
parameter GPT on tiny Shakespeare, samples it at several temperatures, and
looks at what one head attends to.

Run:  python lessons/14_gpt.py [--quick] [--steps 4500] [--out out/14_gpt]
"""
# %% [markdown]
# ## 1. Attention, on paper
# Each position t emits a query q_t, a key k_t and a value v_t (three linear
# maps of its input, size d per head). Position t reads a weighted mean of
# the values, weighted by how well its query matches each key:
#
#     S = Q K^T / sqrt(d),   P = softmax(S) row by row,   Y = P V
#
# **The mask.** A language model predicts x_{t+1} from x_1..x_t, so position t
# must not see later positions: set S_ts = -inf for s > t, so P_ts = 0. All T
# predictions of a window then train in one pass, each with its own context.
#
# **Why 1/sqrt(d).** If q and k have unit-variance entries, q.k sums d
# products and has variance d. Unscaled, the scores grow with the head size,
# the softmax saturates into a one-hot, and its gradient vanishes.
#
# **The softmax Jacobian.** For one row p = softmax(s): dp_t/ds_u = p_t (delta_tu - p_u), so
#
#     ds_u = sum_t dp_t p_t (delta_tu - p_u) = p_u (dp_u - sum_t p_t dp_t)
#
# i.e. dS = P * (dP - rowsum(P * dP)); masked entries have P = 0 and get no
# gradient. With dP = dY V^T, dV = P^T dY, dQ = dS K / sqrt(d) and
# dK = dS^T Q / sqrt(d), that is the whole backward pass
# (aigc_np/layers/attention.py, Exercise 10), proven against finite differences.

# %%
import os
import time

import numpy as np

from aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result
from aigc_np.kinds import KINDS
from aigc_np.plotting import plot_curves, plt, save_figure
from aigc_np.text.data import load_shakespeare
from aigc_np.text.evaluation import baselines, model_loss, to_bits
from aigc_np.training import train

parser = lesson_parser(__doc__, out="out/14_gpt")
parser.add_argument("--steps", type=int, default=4500)
parser.add_argument("--batch-size", type=int, default=16)
parser.add_argument("--lr", type=float, default=2e-3)
args = parse_lesson_args(parser)

data = load_shakespeare()
vocab = data.vocab
print(f"{vocab.size} characters; train {len(data.train):,}, validation {len(data.val):,}")

# %% [markdown]
# ## 2. The transformer block and the GPT
# One block (aigc_np/layers/transformer.py), pre-LayerNorm as in GPT-2:
#
#     h = x + Attention(LN(x))          residual: the block adds to its input
#     y = h + W2 GELU(W1 LN(h))         an MLP 4x as wide, applied per position
#
# The residual sums give the gradient a direct path to every layer (d(x + F(x))/dx = I + dF/dx).
# The GPT: token embedding + learned positional embedding, 4 blocks of 4
# heads at width 128, a final LayerNorm and a linear head to 65 logits.
# Training: AdamW (weight decay 0.1 on matrices only), warm-up then cosine
# learning rate, clipping at global norm 1; 16 windows of 64 characters a step.

# %%
kind = KINDS["gpt"]  # nanoGPT's CPU model: the "default" recipe's config and training settings
config, settings = kind.recipe("default")
config.update(lr=args.lr, vocab=vocab.chars)
settings.update(steps=args.steps, batch_size=args.batch_size, min_lr=args.lr / 10, eval_every=500)
if args.quick:
    config.update(n_layer=2, n_embd=32)
    settings.update(steps=20, eval_every=10, eval_batches=2, batch_size=4, quick=True)
model = kind.build_model(config, np.random.default_rng(args.seed + 1))
print(f"GPT: {model.num_params():,} parameters, {config['n_layer']} blocks x {config['n_head']} heads, "
      f"width {config['n_embd']}, context {config['block_size']}")
# The text family's plan (warm-up + cosine learning rate, a row every eval_every steps), random windows
# of the training split as batches, and the score: the loss on fixed validation batches (best.npz keeps the lowest).
family = kind.family
start = time.perf_counter()
history = train(model, family.batches(data, settings, config), family.plan(settings, data, config),
                rng=np.random.default_rng(args.seed), out_dir=args.out,
                score=family.score(kind, data, config, settings, args.seed), select=kind.select,
                limit=family.limit(config), train_settings=settings, label="GPT ", unit="char")
seconds = time.perf_counter() - start
print("wrote", plot_curves({"train (mean since last point)": ([r["step"] for r in history],
                                                             [r["loss"] for r in history]),
                            "validation (fixed batches)": ([r["step"] for r in history],
                                                           [r["val_loss"] for r in history])},
                           os.path.join(args.out, "loss.png"), xlabel="step", ylabel="nats/char",
                           title="GPT on tiny Shakespeare"))

# %% [markdown]
# ## 3. Sampling: temperature and top-k
# Dividing the logits by a temperature T before the softmax sharpens (T < 1)
# or flattens (T > 1) the distribution; T -> 0 is greedy decoding. Top-k
# keeps only the k most likely characters. Generation uses a KV cache: each
# block keeps the keys and values of the positions already seen, so every
# new character is one position's worth of work, not a whole forward pass.

# %%
model.eval()
prompt = vocab.encode("ROMEO:")
n_chars = 60 if args.quick else 300
for label, options in (("temperature 0.5", dict(temperature=0.5)), ("temperature 0.8", dict(temperature=0.8)),
                       ("temperature 1.0", dict(temperature=1.0)),
                       ("temperature 1.0, top-k 10", dict(temperature=1.0, top_k=10))):
    text = vocab.decode(model.generate(prompt, n_chars, rng=np.random.default_rng(args.seed + 1), **options))
    print(f"\n--- {label}:\n{text}")
tic = time.perf_counter()
model.generate(prompt, n_chars, rng=np.random.default_rng(args.seed + 2))
cached = n_chars / (time.perf_counter() - tic)
tic = time.perf_counter()
model.generate(prompt, n_chars, rng=np.random.default_rng(args.seed + 2), use_cache=False)
plain = n_chars / (time.perf_counter() - tic)
print(f"\nsampling speed: {cached:,.0f} characters/s with the KV cache, {plain:,.0f} without")

# %% [markdown]
# ## 4. What one head looks at
# The attention weights P of the first block's heads over a line of text:
# row t is where position t reads from (only columns s <= t are nonzero).
# Some heads look at the previous character or two; others at the start of
# the word or the line.

# %%
line = "First Citizen:\nBefore we proceed any further, hear me speak."[:config["block_size"]]
model.forward(vocab.encode(line)[None])
p = model.blocks[0].children["attn"].attention_weights[0]       # (heads, T, T)
shown = [c if c != "\n" else "\\n" for c in line]
fig, axes = plt.subplots(1, 2, figsize=(14, 7))
for head, ax in enumerate(axes):
    ax.imshow(p[head], cmap="Greys")
    ax.set_xticks(range(len(line)), shown, fontsize=6)
    ax.set_yticks(range(len(line)), shown, fontsize=6)
    ax.set(title=f"block 1, head {head + 1}: row t attends to column s", xlabel="s (key)", ylabel="t (query)")
print("wrote", save_figure(fig, os.path.join(args.out, "attention.png")))

# %% [markdown]
# ## 5. Results: loss against the baselines
# The validation loss of the final model over the *whole* validation split
# (every character predicted once, from its window), next to baselines
# counted from the training split.

# %%
heldout = data.val[:2000] if args.quick else data.val
final = model_loss(model, heldout)
base = baselines(data.train, heldout, vocab.size)
print(f"\n{'model':<32}{'nats/char':>10}{'bits/char':>10}")
for name, value in (("uniform, ln 65", base["uniform"]), ("unigram (add-one)", base["unigram"]),
                    ("bigram (add-one)", base["bigram"]), (f"GPT, {settings['steps']} steps", final)):
    print(f"{name:<32}{value:>10.4f}{to_bits(value):>10.3f}")
print(f"training took {seconds:.0f} s; checkpoints in {args.out} (sample with: python -m aigc_np sample "
      f"{os.path.join(args.out, 'best.npz')} --prompt ROMEO: --n 500 --temperature 0.8)")

# %% [markdown]
# ## Summary
# * Attention is a learned, content-based lookup over the past; the causal
#   mask makes one forward pass train every position at once.
# * Its backward is matmul transposes plus the softmax Jacobian,
#   dS = P * (dP - rowsum(P * dP)).
# * A KV cache turns generation into one position of work per character.
#
# Extensions: tie the head's weights to the token embedding; a context of
# 128; count how the loss falls with n_embd at a fixed time budget, and
# compare with lesson 13's LSTM at the same budget.

# %%
print_result(args, "14", f"GPT ({model.num_params():,} parameters) on tiny Shakespeare, {settings['steps']} steps "
             f"in {seconds:.0f} s: validation {final:.4f} nats/char ({to_bits(final):.3f} bits; bigram "
             f"{base['bigram']:.4f}); sampling {cached:,.0f} chars/s cached vs {plain:,.0f} uncached",
             f"python lessons/14_gpt.py --seed {args.seed}")
