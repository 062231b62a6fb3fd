"""Lesson 13: an LSTM writes Shakespeare: memory, and backpropagation through time.

Lesson 12's MLP saw a fixed window of 3 characters. A recurrent network reads
a text one character at a time and carries a state from step to step, so in
principle it can remember anything it has read. This lesson derives how to
train one (backpropagation through time), trains an LSTM on tiny Shakespeare
(1.1 M characters, bundled), prints samples as it learns, and looks inside:
what do its gates do on a line of text?

Run:  python lessons/13_lstm.py [--quick] [--steps 2000] [--out out/13_lstm]
"""
# %% [markdown]
# ## 1. Backpropagation through time, on paper
# A recurrent cell computes h_t = f(x_t, h_{t-1}; theta) with the *same*
# theta at every step. Unrolled over T steps it is a deep network of T layers
# that share weights, so the chain rule runs backwards through time:
#
#     dL/dh_t = dL_t/dh_t  +  (dh_{t+1}/dh_t)^T dL/dh_{t+1}     (its own loss + the future's)
#     dL/dtheta = sum_t (dh_t/dtheta)^T dL/dh_t                  (shared weights: gradients add)
#
# For a plain RNN, h_t = tanh(x_t Wx + h_{t-1} Wh + b), the factor
# dh_{t+1}/dh_t = diag(1 - h_{t+1}^2) Wh^T is applied once per step: over
# 50 steps the gradient is multiplied by 50 such matrices, and it vanishes
# (or explodes). The LSTM (Hochreiter & Schmidhuber 1997) adds a cell c_t
# updated by *addition*:
#
#     i, f, o = sigmoid(.),  g = tanh(.)      four gates from [x_t, h_{t-1}], one matmul
#     c_t = f * c_{t-1} + i * g               forget some, write some
#     h_t = o * tanh(c_t)
#
# so dc_t/dc_{t-1} = f, element-wise: where the forget gate is near 1, the
# gradient flows back through many steps unchanged. Backward per step
# (aigc_np/layers/recurrent.py, Exercise 11):
#
#     dh = dY_t + dh_next;   dc = dc_next + dh o (1 - tanh^2 c_t)
#     do = dh tanh c_t,  di = dc g,  dg = dc i,  df = dc c_{t-1}
#     da = [di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)];  dh_next = da Wh^T,  dc_next = dc f
#
# The test suite proves it against finite differences over 6 steps,
# including the gradient with respect to the initial state.

# %%
import os
import time

import numpy as np

from aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result
from aigc_np.kinds import KINDS
from aigc_np.optimizers import warmup_cosine
from aigc_np.plotting import plot_curves, plt, save_figure
from aigc_np.text.data import load_shakespeare, random_windows
from aigc_np.text.evaluation import baselines, fixed_batches, to_bits

parser = lesson_parser(__doc__, out="out/13_lstm")
parser.add_argument("--steps", type=int, default=2000)
parser.add_argument("--hidden", type=int, default=256)
args = parse_lesson_args(parser)
if args.quick:
    args.steps, args.hidden = 30, 32
rng = np.random.default_rng(args.seed)

data = load_shakespeare()
vocab = data.vocab
print(f"{vocab.size} characters; train {len(data.train):,}, validation {len(data.val):,}")

# %% [markdown]
# ## 2. The model and its training
# Embedding (64 numbers per character) -> LSTM (256 units) -> Dense (65
# logits) at every position. Each step takes 32 random windows of 64
# characters; every window starts from a zero state, and BPTT runs over its
# 64 steps (truncated BPTT). AdamW with a short warm-up and a cosine decay of
# the learning rate; gradients are clipped to a global norm of 1 -- cheap
# insurance against the exploding gradients of section 1.

# %%
config, settings = KINDS["lstm"].recipe("default")  # the model's config, and the training settings
config.update(hidden=args.hidden, vocab=vocab.chars)
settings["steps"] = args.steps
if args.quick:
    config["block_size"] = 32
    settings.update(batch_size=8, eval_batches=2)
model = KINDS["lstm"].build_model(config, np.random.default_rng(args.seed + 1))
print(f"CharLSTM: {model.num_params():,} parameters; {settings['steps']} steps of {settings['batch_size']} x "
      f"{config['block_size']} characters")
val_batches = fixed_batches(data.val, settings["eval_batches"], settings["batch_size"], config["block_size"])


def val_loss() -> float:
    model.eval()
    return float(np.mean([model.loss(x, y) for x, y in val_batches]))


def sample(n: int = 200) -> str:
    return vocab.decode(model.generate(vocab.encode("\n"), n, temperature=0.8,
                                       rng=np.random.default_rng(args.seed)))[1:]


checkpoints = sorted({0, settings["steps"] // 10, settings["steps"] // 3, settings["steps"]})
curve, points, start = [], [], time.perf_counter()
for step in range(settings["steps"] + 1):
    if step in checkpoints:
        points.append((step, val_loss()))
        print(f"\n--- step {step}, validation loss {points[-1][1]:.4f} nats/char, sample:\n{sample()}\n")
    if step == settings["steps"]:
        break
    model.optimizer.lr = warmup_cosine(step, config["lr"], min(settings["warmup"], settings["steps"]),
                                       settings["steps"], settings["min_lr"])
    x, y = random_windows(data.train, settings["batch_size"], config["block_size"], rng)
    curve.append(model.train_step(x, y)["loss"])
    if (step + 1) % 250 == 0:
        elapsed = time.perf_counter() - start
        print(f"  step {step + 1}/{settings['steps']}: loss {curve[-1]:.4f}, {elapsed:.0f} s, "
              f"ETA {elapsed / (step + 1) * (settings['steps'] - step - 1):.0f} s")
seconds = time.perf_counter() - start
print("wrote", plot_curves({"train batch": curve, "validation": tuple(map(list, zip(*points)))},
                           os.path.join(args.out, "loss.png"), xlabel="step", ylabel="nats/char",
                           title="CharLSTM on tiny Shakespeare"))

# %% [markdown]
# ## 3. What the gates do
# Run the trained model over one line and read the LSTM's gates (`LSTM.gates`:
# i, f, g, o after their nonlinearities); the cell states follow from them by
# c_t = f_t * c_{t-1} + i_t * g_t, starting from c_0 = 0. Below: the mean
# input and forget gate per character, and the cell state of the 8 units
# whose cells change most along the line. Units that count positions, or
# switch at spaces and line ends, are often visible by eye.

# %%
line = "KING RICHARD III:\nNow is the winter of our discontent\n"
model.eval()
model.forward(vocab.encode(line)[None])
gates = {name: gate[0] for name, gate in model.lstms[0].gates.items()}     # each (T, units)
i_gate, f_gate = gates["i"], gates["f"]
cells, c = np.empty_like(f_gate), np.zeros(f_gate.shape[1], f_gate.dtype)
for t in range(len(line)):
    cells[t] = c = f_gate[t] * c + i_gate[t] * gates["g"][t]
busy = np.argsort(-cells.std(axis=0))[:8]
fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(12, 6), sharex=True)
ax1.plot(i_gate.mean(axis=1), label="input gate i (mean over units)")
ax1.plot(f_gate.mean(axis=1), label="forget gate f (mean over units)")
ax1.set_ylim(0, 1)
ax1.legend(loc="lower right")
ax2.imshow(cells[:, busy].T, aspect="auto", cmap="RdBu", vmin=-3, vmax=3)
ax2.set_ylabel("cell c_t, 8 units")
shown = [c if c != "\n" else "\\n" for c in line]
ax2.set_xticks(range(len(line)), shown, fontsize=7)
ax1.set_title("LSTM gates and cells along a line of text")
print("wrote", save_figure(fig, os.path.join(args.out, "gates.png")))
print(f"forget gate: mean {f_gate.mean():.3f}; fraction of units above 0.9: {(f_gate > 0.9).mean():.3f}")

# %% [markdown]
# ## 4. Results
# The validation loss over all the steps, next to the baselines counted from
# the training split (unigram and bigram with add-one smoothing).

# %%
base = baselines(data.train, data.val, vocab.size)
final = points[-1][1]
print(f"\n{'model':<30}{'nats/char':>10}{'bits/char':>10}")
for name, value in (("uniform, ln 65", base["uniform"]), ("unigram (add-one)", base["unigram"]),
                    ("bigram (add-one)", base["bigram"]), (f"CharLSTM, {settings['steps']} steps", final)):
    print(f"{name:<30}{value:>10.4f}{to_bits(value):>10.3f}")
print(f"training took {seconds:.0f} s")

# %% [markdown]
# ## Summary
# * A recurrent network is a deep network unrolled in time with shared
#   weights; BPTT is the chain rule along that unrolling, and shared weights
#   sum their gradients over steps.
# * The LSTM's additive cell, scaled by a forget gate, lets gradients survive
#   many steps; clipping handles the rare explosion.
# * Generation carries (h, c) from one character to the next: each new
#   character costs one step, whatever the length of the text so far.
#
# Extensions: two stacked layers (`n_layer=2` in the config); carry the state
# across consecutive training windows instead of resetting it; replace the
# LSTM by a tanh RNN and watch the loss stall.

# %%
print_result(args, "13", f"CharLSTM ({model.num_params():,} parameters) on tiny Shakespeare, {settings['steps']} "
             f"steps in {seconds:.0f} s: validation {final:.4f} nats/char ({to_bits(final):.3f} bits; "
             f"bigram {base['bigram']:.4f})", f"python lessons/13_lstm.py --seed {args.seed}")
