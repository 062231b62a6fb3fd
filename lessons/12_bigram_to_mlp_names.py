"""Lesson 12: from counting to a neural network: three models that write names.

The image half of the course generated pixels; from here on we generate text,
one character at a time. A language model gives the probability of the next
character given the ones before it, p(x_t | x_<t); to write, we sample a
character, append it, and ask again. This lesson builds three such models on
32,033 first names (names.txt, bundled), following makemore's path:

1. a bigram model by *counting*: p(next | previous) from a table of pair counts;
2. the same model as a one-layer network trained by gradient descent, which
   learns the same table (and so the same loss);
3. a multilayer perceptron over a window of 3 characters (Bengio et al. 2003),
   which sees more context and beats both.

Run:  python lessons/12_bigram_to_mlp_names.py [--quick] [--steps 6000] [--out out/12_bigram_to_mlp_names]
"""
# %% [markdown]
# ## 1. The data: names framed by a boundary token
# Each name is written `.emma.`: the dot marks both "a name starts" (the
# context before the first letter) and "the name ends" (the last prediction).
# So 27 symbols: `.` and a-z. The names are split 80/10/10 by a seeded
# permutation; everything is fitted on train and scored on test.

# %%
import os

import numpy as np

from aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result
from aigc_np.layers import Dense, Embedding, Flatten, Sequential, Tanh
from aigc_np.losses import SparseCategoricalCrossentropy
from aigc_np.optimizers import Adam
from aigc_np.plotting import plot_curves, plt, save_figure
from aigc_np.text.data import load_names
from aigc_np.text.evaluation import baselines, to_bits

parser = lesson_parser(__doc__, out="out/12_bigram_to_mlp_names")
parser.add_argument("--steps", type=int, default=6000, help="MLP training steps")
args = parse_lesson_args(parser)
if args.quick:
    args.steps = 60
rng = np.random.default_rng(args.seed)

data = load_names(seed=0)  # whatever --seed: one fixed split, so every run is scored on the same test names
vocab, V = data.vocab, data.vocab.size
print(f"vocabulary {vocab.chars!r} ({V} symbols); train {len(data.train):,} ids, test {len(data.test):,} ids")
print("the start of the training split:", vocab.decode(data.train[:40]))

# %% [markdown]
# ## 2. A bigram model by counting
# Count every pair (a, c) of neighbours in the training split: N[a, c]. The
# maximum-likelihood estimate of p(c | a) is N[a, c] / sum_c N[a, c]; adding one
# to every count first (add-one, or Laplace, smoothing) keeps unseen pairs from
# getting probability 0 (and the loss from being infinite). The loss is the
# mean negative log-probability of each test character given its predecessor,
# in nats per character (divide by ln 2 for bits).

# %%
counts = np.bincount(data.train[:-1] * V + data.train[1:], minlength=V * V).reshape(V, V) + 1.0
bigram = counts / counts.sum(axis=1, keepdims=True)
base = baselines(data.train, data.test, V)
print(f"test loss: uniform ln V = {base['uniform']:.4f}, unigram {base['unigram']:.4f}, "
      f"bigram {base['bigram']:.4f} nats/char")


def sample_names(next_probs, n: int, context: int, gen: np.random.Generator) -> list[str]:
    """Draw n names: start from `context` dots, sample until the closing dot (at most 20 letters)."""
    names = []
    for _ in range(n):
        ids = [0] * context
        while len(ids) < context + 20:
            p = next_probs(np.array(ids[-context:]))
            ids.append(int(gen.choice(V, p=p)))
            if ids[-1] == 0:
                break
        names.append(vocab.decode([i for i in ids[context:] if i]))
    return names


print("bigram samples:",
      ", ".join(sample_names(lambda ctx: bigram[ctx[-1]], 10, 1, np.random.default_rng(args.seed + 1))))

fig, ax = plt.subplots(figsize=(7, 7))
ax.imshow(np.log(bigram), cmap="Blues")
ax.set_xticks(range(V), list(vocab.chars))
ax.set_yticks(range(V), list(vocab.chars))
ax.set(xlabel="next character c", ylabel="previous character a", title="log p(c | a), counted")
print("wrote", save_figure(fig, os.path.join(args.out, "bigram_table.png")))

# %% [markdown]
# ## 3. The same model as a network
# Feed the previous character as a one-hot vector x (27 numbers, a single 1)
# into one linear layer: logits = x W. Multiplying a one-hot row by W just
# picks row a of W, which is exactly an `Embedding(27, 27)` lookup. Softmax
# turns the logits into p(c | a) = exp(W[a, c]) / sum_c' exp(W[a, c']), and
# cross-entropy's gradient is softmax - onehot(c), summed into row a.
#
# Gradient descent on the training pairs then drives exp(W[a]) towards the
# counts: the loss should approach the counting model's (not beat it -- the
# network can represent exactly the bigram table and nothing more).

# %%
loss_fn = SparseCategoricalCrossentropy()
one_layer = Sequential([Embedding(V, V)], input_shape=(1,), rng=rng)
one_layer.layers[0].params["table"][...] = 0            # start from the uniform model
opt = Adam(one_layer, lr=0.1)
pairs_x, pairs_y = data.train[:-1, None], data.train[1:]
curve_net = []
for step in range(1, (40 if args.quick else 400) + 1):
    batch = rng.integers(0, len(pairs_y), 4096)
    loss = loss_fn.forward(one_layer.forward(pairs_x[batch])[:, 0], pairs_y[batch])
    one_layer.backward(loss_fn.backward()[:, None])
    opt.step()
    curve_net.append(loss)
net_test = loss_fn.forward(one_layer.forward(data.test[:-1, None])[:, 0], data.test[1:])
print(f"one-layer network: test {net_test:.4f} nats/char (counting: {base['bigram']:.4f})")

# %% [markdown]
# ## 4. An MLP over three characters (Bengio et al. 2003)
# A bigram sees one character; names need more. Embed each of the last 3
# characters as a 10-number vector (one shared table), concatenate them (30
# numbers), then Dense(200) + tanh + Dense(27) logits:
#
#     logits = W2 tanh(W1 [e(x_{t-3}); e(x_{t-2}); e(x_{t-1})] + b1) + b2
#
# The context of a name's first letter is "..." (padding with the boundary
# token). A count table over 3 characters would need 27^3 = 19,683 rows, most
# never seen; the embedding lets similar characters share what they learn.

# %%
CONTEXT = 3


def windows(split: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (3 previous ids, next id) pair of every name, the context padded with dots."""
    xs, ys = [], []
    for name in vocab.decode(split).strip(".").split("."):
        ids = [0] * CONTEXT + list(vocab.encode(name)) + [0]
        for t in range(CONTEXT, len(ids)):
            xs.append(ids[t - CONTEXT:t])
            ys.append(ids[t])
    return np.array(xs), np.array(ys)


x_train, y_train = windows(data.train)
x_test, y_test = windows(data.test)
mlp = Sequential([Embedding(V, 10), Flatten(), Dense(200), Tanh(), Dense(V)], input_shape=(CONTEXT,), rng=rng)
opt = Adam(mlp, lr=3e-3)
print(mlp.summary())
curve_mlp = []
for step in range(1, args.steps + 1):
    opt.lr = 3e-3 if step < 0.7 * args.steps else 3e-4     # a step decay for the last 30%
    batch = rng.integers(0, len(y_train), 128)
    loss = loss_fn.forward(mlp.forward(x_train[batch]), y_train[batch])
    mlp.backward(loss_fn.backward())
    opt.step()
    curve_mlp.append(loss)
    if step % 1000 == 0 or step == args.steps:
        print(f"  step {step}/{args.steps}: train batch loss {loss:.4f}")
mlp.eval()
mlp_test = loss_fn.forward(mlp.forward(x_test), y_test)
print(f"MLP: test {mlp_test:.4f} nats/char")


def mlp_probs(ctx):
    z = mlp.forward(ctx[None])[0].astype(np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


print("MLP samples:", ", ".join(sample_names(mlp_probs, 10, CONTEXT, np.random.default_rng(args.seed + 1))))

smooth = lambda c: np.convolve(c, np.ones(50) / 50, mode="valid") if len(c) > 50 else np.array(c)  # noqa: E731
print("wrote", plot_curves({"one-layer network (bigram)": smooth(curve_net), "MLP, 3 characters": smooth(curve_mlp)},
                           os.path.join(args.out, "training_loss.png"), xlabel="step",
                           ylabel="train batch loss (nats/char)", title="names: training loss"))

# %% [markdown]
# ## 5. Results
# The three losses on the test names, next to the uniform guess:

# %%
print(f"\n{'model':<34}{'nats/char':>10}{'bits/char':>10}")
for name, value in (("uniform, ln 27", base["uniform"]), ("bigram, counted (add-one)", base["bigram"]),
                    ("bigram, one-layer network", net_test), ("MLP over 3 characters", mlp_test)):
    print(f"{name:<34}{value:>10.4f}{to_bits(value):>10.3f}")

# %% [markdown]
# ## Summary
# * A language model is a next-character distribution; its test loss in nats
#   per character is the average surprise, and sampling it writes text.
# * Counting and gradient descent reach the same bigram model: the network is
#   the count table in disguise (one-hot x W = a row lookup = an Embedding).
# * More context needs a model that generalizes across contexts: embeddings
#   plus an MLP. Its window is fixed, though; lesson 13's LSTM carries a
#   memory across any length, and lesson 14's GPT attends to the whole context.
#
# Extensions: a trigram count table (how many of its rows are empty?); an
# embedding of 2 numbers per character, plotted (vowels cluster); a wider
# context window.

# %%
print_result(args, "12", f"names test loss: bigram counted {base['bigram']:.4f}, one-layer network "
             f"{net_test:.4f}, MLP (3 characters) {mlp_test:.4f} nats/char (uniform {base['uniform']:.4f})",
             f"python lessons/12_bigram_to_mlp_names.py --seed {args.seed}")
