"""Lesson 03: a convolutional classifier with BatchNormalization and Dropout.

Lesson 02's MLP sees an image as 784 unrelated numbers. A convolution slides
a small kernel over the image instead, so the same stroke detector works
everywhere: far fewer weights, and a built-in sense of locality. This lesson
adds the three layers the article's DCGAN is made of -- Conv2D,
BatchNormalization and Dropout -- and trains a CNN whose weights are saved:
later lessons use it as the *judge* that scores generated digits.

Run:  python lessons/03_cnn_classifier.py [--quick] [--epochs 12] [--out out/03_cnn_classifier]
"""
# %% [markdown]
# ## 1. Setup and data (as in lesson 02)
# Images are NCHW: (batch, channels, height, width), so MNIST becomes
# (N, 1, 28, 28). The training set is augmented with small random shifts and
# rotations, drawn from the same seeded generator, so the network sees a
# slightly different digit every epoch.

# %%
import os
import time

import numpy as np

from aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result
from aigc_np.evaluation.classifier import cnn_classifier, evaluate, predict_logits, train_epoch
from aigc_np.data import Compose, RandomRotation, RandomShift, load_dataset, to_unit
from aigc_np.gradcheck import check_layer
from aigc_np.io import save_weights
from aigc_np.layers import BatchNormalization, Conv2D, Dropout
from aigc_np.optimizers import Adam
from aigc_np.plotting import image_grid, plot_curves, plt, save_figure

parser = lesson_parser(__doc__, out="out/03_cnn_classifier")
parser.add_argument("--epochs", type=int, default=12)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--lr", type=float, default=2e-3)
args = parse_lesson_args(parser)
rng = np.random.default_rng(args.seed)

data = load_dataset(seed=args.seed)
print("data:", data.source)
x_train, y_train = to_unit(data.x_train)[:, None], data.y_train.astype(np.int64)
x_val, y_val = to_unit(data.x_val)[:, None], data.y_val.astype(np.int64)
if args.quick:
    x_train, y_train, args.epochs = x_train[:500], y_train[:500], 1
augment = Compose([RandomRotation(10), RandomShift(2)])
print(f"train {x_train.shape}, validation {x_val.shape}")

# %% [markdown]
# ## 2. Convolution as one matrix product
# Conv2D(filters, kernel_size, strides, padding) computes
#     y[n, f, i, j] = b[f] + sum_{c,a,e} x[n, c, i*s + a, j*s + e] * W[f, c, a, e]
# with W of shape (filters, in_channels, kh, kw). aigc_np does this without a
# loop over pixels: `im2col` lays every kh x kw window out as a row of a matrix
# (a strided *view* of the input, then one copy), and one matmul with W applies
# every filter to every window. The backward pass is the same trick in reverse
# (`col2im` adds the rows back onto their windows). padding='same' with
# stride 2 halves the image: 28 -> 14 -> 7, exactly as in the DCGAN
# discriminator. The tests compare both passes with a naive loop version.

# %%
conv = Conv2D(4, 5, strides=2, padding="same")
conv.build((1, 28, 28), rng, np.float64)
print("Conv2D(4, 5, strides=2, padding='same'):", x_val[:2].shape, "->",
      conv.forward(x_val[:2].astype(np.float64)).shape, " W:", conv.params["W"].shape)
small = Conv2D(3, 3, strides=2, padding="same")
small.build((2, 6, 6), rng, np.float64)
errors = check_layer(small, rng.standard_normal((2, 2, 6, 6)), rng=rng)
print("gradcheck Conv2D:", {k: f"{v:.1e}" for k, v in errors.items()})

# %% [markdown]
# ## 3. BatchNormalization and Dropout: two modes
# In **train** mode BatchNormalization normalizes each channel with the
# statistics of the current batch and updates running estimates; in **eval**
# mode it uses the running estimates, so a prediction does not depend on the
# other images in the batch. Dropout zeroes a random 30% of features in train
# mode (scaling the rest by 1/0.7) and does nothing in eval mode. Forgetting to
# switch modes is a classic bug, so aigc_np makes the mode explicit:
# `model.train()` and `model.eval()`.

# %%
bn = BatchNormalization(momentum=0.8)
bn.build((3,), rng, np.float64)
batch = rng.normal(5.0, 2.0, size=(32, 3))
print("BN train output mean/std:", bn.train().forward(batch).mean(0).round(3), bn.forward(batch).std(0).round(3))
print("BN running mean after one step (momentum 0.8 keeps 80%):", bn.buffers["moving_mean"].round(3))
drop = Dropout(0.3, rng=np.random.default_rng(args.seed))
ones = np.ones((1, 10))
print("Dropout train:", drop.train().forward(ones).round(2)[0], " eval:", drop.eval().forward(ones)[0])

# %% [markdown]
# ## 4. The network
# Two stride-2 convolutions (each with BatchNorm and ReLU), then Dropout, a
# 128-unit feature layer and 10 logits. The feature layer is what the judge
# will report when we compare real and generated digits (Frechet distance).

# %%
model = cnn_classifier(np.random.default_rng(args.seed))
print(model.summary())

# %% [markdown]
# ## 5. Training
# The same loop as lesson 02 (`train_epoch`), now with augmentation and Adam.
# The learning rate is halved for the last third of the epochs: big steps
# early to get close, small steps late to settle.

# %%
optimizer = Adam(model, lr=args.lr)
train_rng = np.random.default_rng(args.seed + 1)
history = {"train loss": [], "val loss": [], "val accuracy": []}
start = time.perf_counter()
for epoch in range(1, args.epochs + 1):
    if epoch > args.epochs * 2 // 3:
        optimizer.lr = args.lr / 4
    t0 = time.perf_counter()
    train_loss = train_epoch(model, optimizer, x_train, y_train, args.batch_size, train_rng,
                             augment=augment, label=f"epoch {epoch}/{args.epochs}")
    val_loss, val_acc = evaluate(model, x_val, y_val)
    for key, value in zip(history, (train_loss, val_loss, val_acc)):
        history[key].append(value)
    print(f"  epoch {epoch}: train loss {train_loss:.4f}  val loss {val_loss:.4f}  "
          f"val accuracy {val_acc:.2%}  ({len(x_train) / (time.perf_counter() - t0):,.0f} img/s)")
train_seconds = time.perf_counter() - start

# %% [markdown]
# ## 6. Save the weights: this network becomes the judge
# `save_weights` writes parameters *and* BatchNorm running statistics to an
# .npz atomically (a temporary file, then a rename), and `load_weights` reads
# them back with allow_pickle=False.

# %%
weights_path = os.path.join(args.out, "cnn.npz")
save_weights(model, weights_path, val_accuracy=history["val accuracy"][-1], seed=args.seed)
print("saved", weights_path)

epochs = np.arange(1, args.epochs + 1)
print("saved", plot_curves({"train": (epochs, history["train loss"]), "validation": (epochs, history["val loss"])},
                           os.path.join(args.out, "loss.png"), ylabel="cross-entropy", logy=True,
                           title="CNN on MNIST"))
print("saved", plot_curves({"validation accuracy": (epochs, history["val accuracy"])},
                           os.path.join(args.out, "val_accuracy.png"), ylabel="accuracy"))

# %% [markdown]
# ## 7. What the network learned
# The first layer's 5x5 kernels are stroke detectors; below them, the
# validation digits the network gets wrong, with its guesses.

# %%
kernels = model.layers[0].params["W"][:, 0]
fig, ax = plt.subplots(figsize=(8, 2))
ax.imshow(image_grid(kernels / np.abs(kernels).max(axis=(1, 2), keepdims=True), nrow=16, pad_value=0),
          cmap="RdBu", vmin=-1, vmax=1)
ax.axis("off")
ax.set_title("first-layer kernels (red +, blue -)")
print("saved", save_figure(fig, os.path.join(args.out, "kernels.png")))

pred = np.argmax(predict_logits(model, x_val), axis=1)
wrong = np.flatnonzero(pred != y_val)[:20]
fig, axes = plt.subplots(2, 10, figsize=(10, 2.6))
for ax in axes.ravel():
    ax.axis("off")
for ax, i in zip(axes.ravel(), wrong):
    ax.imshow(x_val[i, 0], cmap="gray")
    ax.set_title(f"{y_val[i]} as {pred[i]}", fontsize=8)
print("saved", save_figure(fig, os.path.join(args.out, "mistakes.png")))

print_result(args, "03", f"validation accuracy {history['val accuracy'][-1]:.2%} "
             f"({len(y_val)} validation images, {data.source}); training took {train_seconds:.0f} s",
             f"python lessons/03_cnn_classifier.py --seed {args.seed}")

# %% [markdown]
# ## Summary
# * Convolution = im2col + one matmul; its backward = matmul + col2im.
# * BatchNorm and Dropout behave differently in train and eval mode.
# * The saved CNN scores generated digits in the lessons to come.
# Next: generative models, starting with an autoencoder.
#
# ## Suggested extensions
# 1. Add a `MaxPooling2D` layer (reshape trick, no loops) with an example spec:
#    tests/test_every_layer.py checks its gradient (keep the maximum unique);
#    then measure accuracy with pooling instead of stride-2 convolutions.
# 2. Turn augmentation off (`augment=None`) and report the validation accuracy
#    and the train/validation gap after 12 epochs.
# 3. Train with BatchNormalization in eval mode throughout (a classic bug) and
#    measure what happens to the validation accuracy.
