"""Lesson 02: an MLP digit classifier on MNIST, trained with SGD and then Adam.

Lesson 01 built and proved the parts. Here they learn something real: a
multilayer perceptron (784 -> 256 -> 128 -> 10) that reads handwritten
digits. On the way we meet the rest of the training machinery every later
model uses: a dataset with a fixed validation split, minibatches, a loss with
its gradient, and optimizers that turn gradients into updates.

Run:  python lessons/02_mlp_classifier.py [--quick] [--epochs 15] [--out out/02_mlp_classifier]
"""
# %% [markdown]
# ## 1. Data
# `load_dataset` returns a fixed, stratified train/validation split (same seed,
# same split). Without a download it is the bundled subset of 5,000 real MNIST
# digits: 4,500 to train on and 500 (50 per digit) we never train on, which
# tell us honestly how well the model generalizes. Pixels go to [0, 1].

# %%
import os
import time

import numpy as np

from aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result
from aigc_np.evaluation.classifier import evaluate, mlp_classifier, train_epoch
from aigc_np.data import load_dataset, to_unit
from aigc_np.losses import SparseCategoricalCrossentropy
from aigc_np.optimizers import SGD, Adam
from aigc_np.plotting import plot_curves, plt, save_figure

parser = lesson_parser(__doc__, out="out/02_mlp_classifier")
parser.add_argument("--epochs", type=int, default=15)
parser.add_argument("--batch-size", type=int, default=64)
args = parse_lesson_args(parser)
rng = np.random.default_rng(args.seed)

data = load_dataset(seed=args.seed)
print("data:", data.source)
x_train, y_train = to_unit(data.x_train), data.y_train.astype(np.int64)
x_val, y_val = to_unit(data.x_val), data.y_val.astype(np.int64)
if args.quick:
    x_train, y_train, args.epochs = x_train[:600], y_train[:600], 2
print(f"train {x_train.shape}, validation {x_val.shape}, pixels in [{x_train.min()}, {x_train.max()}]")

# %% [markdown]
# ## 2. The model and the loss
# Logits z (N, 10) go through softmax p = e^z / sum e^z, and the loss is the
# cross-entropy L = -mean_n log p[n, y_n]. Its gradient has a famously simple
# form, dL/dz = (p - onehot(y)) / N, which `SparseCategoricalCrossentropy`
# computes with a numerically stable log-softmax. The tests gradient-check it.

# %%
model = mlp_classifier(np.random.default_rng(args.seed))
print(model.summary())

# %% [markdown]
# ## 3. One training step, by hand
# forward -> loss -> backward -> update. `backward` fills `model.grads`; the
# optimizer reads them and changes `model.params` in place. Here the update is
# plain SGD, p <- p - lr * g, so the loss on this batch must go down.

# %%
loss_fn = SparseCategoricalCrossentropy(from_logits=True)
xb, yb = x_train[:64], y_train[:64]
before = loss_fn.forward(model.forward(xb), yb)
model.backward(loss_fn.backward())
SGD(model, lr=0.1).step()
after = loss_fn.forward(model.forward(xb), yb)
print(f"one SGD step on one batch: loss {before:.4f} -> {after:.4f}")

# %% [markdown]
# ## 4. Train with SGD, then with Adam
# `train_epoch` (aigc_np/evaluation/classifier.py) repeats that step over shuffled
# minibatches. We train two copies of the same network from the same
# initial weights: one with SGD (lr 0.1), one with Adam (lr 1e-3).
#
# Adam keeps a running mean m and a running mean square v of each gradient
# and steps by lr * m_hat / (sqrt(v_hat) + eps): every parameter gets its own
# step size, and the bias correction (m_hat = m / (1 - beta1^t)) makes the
# first steps the right size. The tests check three Adam steps against values
# worked out by hand.


# %%
def run(name, make_optimizer):
    model = mlp_classifier(np.random.default_rng(args.seed))  # same init for both
    optimizer = make_optimizer(model)
    train_rng = np.random.default_rng(args.seed + 1)  # same batches for both
    history = {"train loss": [], "val loss": [], "val accuracy": []}
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        train_loss = train_epoch(model, optimizer, x_train, y_train, args.batch_size, train_rng,
                                 label=f"{name} epoch {epoch}/{args.epochs}")
        val_loss, val_acc = evaluate(model, x_val, y_val)
        history["train loss"].append(train_loss)
        history["val loss"].append(val_loss)
        history["val accuracy"].append(val_acc)
        print(f"  {name} epoch {epoch}: train loss {train_loss:.4f}  val loss {val_loss:.4f}  "
              f"val accuracy {val_acc:.2%}")
    print(f"  {name}: {time.perf_counter() - start:.1f} s")
    return model, history


sgd_model, sgd = run("SGD", lambda m: SGD(m, lr=0.1))
adam_model, adam = run("Adam", lambda m: Adam(m, lr=1e-3))

# %% [markdown]
# ## 5. Learning curves
# Training loss keeps falling; validation loss is what matters. When it
# turns up while training loss still falls, the model is starting to memorize
# its 4,500 images (overfitting): lesson 03 adds BatchNorm, Dropout and
# convolutions to generalize better.

# %%
epochs = np.arange(1, args.epochs + 1)
print("saved", plot_curves({"SGD train": (epochs, sgd["train loss"]), "SGD val": (epochs, sgd["val loss"]),
                            "Adam train": (epochs, adam["train loss"]), "Adam val": (epochs, adam["val loss"])},
                           os.path.join(args.out, "loss.png"), ylabel="cross-entropy", logy=True,
                           title="MLP on MNIST: SGD vs Adam"))
print("saved", plot_curves({"SGD": (epochs, sgd["val accuracy"]), "Adam": (epochs, adam["val accuracy"])},
                           os.path.join(args.out, "val_accuracy.png"), ylabel="validation accuracy"))

# %% [markdown]
# ## 6. What the model gets wrong
# The confusion counts show which digits are mistaken for which.

# %%
from aigc_np.evaluation.classifier import predict_logits  # noqa: E402

pred = np.argmax(predict_logits(adam_model, x_val), axis=1)
confusion = np.zeros((10, 10), dtype=int)
np.add.at(confusion, (y_val, pred), 1)  # 500 counts, once: not a hot path
fig, ax = plt.subplots(figsize=(5, 4.5))
ax.imshow(confusion, cmap="Blues")
for (i, j), c in np.ndenumerate(confusion):
    if c:
        ax.text(j, i, c, ha="center", va="center", fontsize=7)
ax.set_xlabel("predicted")
ax.set_ylabel("true")
ax.set_xticks(range(10))
ax.set_yticks(range(10))
ax.set_title("Adam MLP: validation confusion")
print("saved", save_figure(fig, os.path.join(args.out, "confusion.png")))

print_result(args, "02", f"validation accuracy SGD {sgd['val accuracy'][-1]:.2%}, "
             f"Adam {adam['val accuracy'][-1]:.2%} ({len(y_val)} validation images, {data.source})",
             f"python lessons/02_mlp_classifier.py --seed {args.seed}")

# %% [markdown]
# ## Summary
# * Training = forward, loss, backward, optimizer step, over shuffled minibatches.
# * A held-out validation split is the honest measure.
# * Adam adapts the step size per parameter; it is what our GANs and VAEs use.
# Next: a convolutional network, whose weights become the judge of generated digits.
#
# ## Suggested extensions
# 1. SGD with momentum 0.9 (`SGD(model, lr=0.05, momentum=0.9)`): add it as a
#    third curve; the measurement is validation accuracy per epoch against plain SGD.
# 2. Add `Dropout(0.3)` after each hidden layer and plot the train/validation
#    loss gap with and without it: dropout should shrink the gap.
# 3. Write `RMSprop`'s three hand-worked steps in a test like
#    tests/test_optimizers.py, then compare it with Adam here.
