"""Lesson 08: DCGAN, the article's convolutional GAN, in NumPy.

Lesson 07's GAN drew digits with Dense layers, blind to the fact that
neighbouring pixels belong together. A DCGAN (Radford, Metz & Chintala 2015)
builds both players from convolutions: D is a small CNN like lesson 03's
judge, and G grows a 7x7 feature map into a 28x28 digit with *transposed*
convolutions. This lesson explains that layer, maps the article's Keras code
onto aigc_np, trains the model and scores it.

Run:  python lessons/08_dcgan.py [--quick] [--epochs 72] [--width 0.5] [--out out/08_dcgan]
      python lessons/08_dcgan.py --recipe article   (the article's recipe at width 1/4, for comparison)
The same run from the command line: python -m aigc_np train dcgan --out out/dcgan --threads 1
"""
# %% [markdown]
# ## 1. Setup and data
# Pixels in [-1, 1] (`to_tanh`, for G's tanh), images NCHW (N, 1, 28, 28),
# the 4,500 training images, every random number from a seeded generator.

# %%
import os
import time

import numpy as np

from aigc_np.checkpoint import load_checkpoint
from aigc_np.data import from_tanh, load_dataset, to_tanh
from aigc_np.layers import Conv2D, Conv2DTranspose
from aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result
from aigc_np.models import DCGAN
from aigc_np.kinds import KINDS, build_model, recipe
from aigc_np.plan import Plan
from aigc_np.plotting import plot_history, plt, save_figure, save_image_grid, save_labelled_grid
from aigc_np.evaluation.quality import (SampleScorer, describe_scores, describe_sets, epoch_score_fn, meets_target, plot_scores,
                             score_fresh)
from aigc_np.training import train

# Small matrices: one BLAS thread is as fast as two, and far faster on a busy machine.
parser = lesson_parser(__doc__, out="out/08_dcgan", threads="1")
parser.add_argument("--recipe", default="default", help="a recipe of the table of kinds: default or article")
parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
parser.add_argument("--width", type=float, help="override G's channel multiplier (1 = the article's)")
args = parse_lesson_args(parser, by_recipe=True)  # --recipe article writes to out/08_dcgan_article
config, schedule = recipe("dcgan", args.recipe)  # the networks' config, and the training settings
schedule["epochs"] = args.epochs or schedule["epochs"]  # the options override the recipe
config["width"] = args.width or config["width"]
rng = np.random.default_rng(args.seed)
lesson_start = time.perf_counter()

data = load_dataset(seed=args.seed)
print("data:", data.source)
x_train = to_tanh(data.x_train)[:, None]
n_judge = 1000
if args.quick:
    x_train, n_judge = x_train[:256], 200
    schedule.update(epochs=2, eval_every=1)
print(f"train {x_train.shape}, pixels in [{x_train.min():.0f}, {x_train.max():.0f}]")

# %% [markdown]
# ## 2. Transposed convolution: from 7x7 to 28x28
# A stride-2 Conv2D *shrinks* an image (28 -> 14 -> 7): each output pixel
# reads a 5x5 window. A transposed convolution (`Conv2DTranspose`) lets every
# *input* pixel write: it stamps the 5x5 kernel, scaled by the pixel, onto
# the output, stamps 2 pixels apart, overlaps adding up:
#
#     full[n, f, 2i + a, 2j + e] += x[n, c, i, j] * W[c, f, a, e]
#
# A 7x7 input gives (7-1)*2 + 5 = 17 pixels; padding='same' crops to 7*2 = 14.
# A convolution is a linear map y = A x, and this layer computes A^T y: the
# *transpose*, which is also how Conv2D's backward sends gradients to its
# input, so both layers share im2col and col2im. Check: <A x, y> = <x, A^T y>.
# Then the stamps: with kernel 5 and stride 2 a pixel is covered by 2 or 3
# along each axis, 4, 6 or 9 in all; G must learn to hide this, and early on
# it shows as a faint checkerboard (Odena et al. 2016). Kernel 4 would not.

# %%
conv = Conv2D(3, 5, strides=2, padding="same")
conv.build((2, 14, 14), rng, np.float64)
convT = Conv2DTranspose(2, 5, strides=2, padding="same", use_bias=False)
convT.build((3, 7, 7), rng, np.float64)
convT.params["W"][...] = conv.params["W"]         # Conv2D's W is (out, in, 5, 5); ConvT's (in, out, 5, 5)
x_small, y_small = rng.standard_normal((1, 2, 14, 14)), rng.standard_normal((1, 3, 7, 7))
conv.params["b"][...] = 0.0
print(f"Conv2D (1, 2, 14, 14) -> {conv.forward(x_small).shape};  Conv2DTranspose (1, 3, 7, 7) -> "
      f"{convT.forward(y_small).shape}")
print(f"<conv(x), y> = {np.sum(conv.forward(x_small) * y_small):.6f},  "
      f"<x, convT(y)> = {np.sum(x_small * convT.forward(y_small)):.6f}  (the same map, transposed)")

stamp = Conv2DTranspose(1, 5, strides=2, padding="same", use_bias=False, kernel_initializer="zeros")
stamp.build((1, 7, 7), rng, np.float64)
stamp.params["W"][...] = 1.0
coverage = stamp.forward(np.ones((1, 1, 7, 7)))[0, 0]
print("stamps per output pixel, top-left 6x6 of the 14x14 output:\n", coverage[:6, :6].astype(int))
three = np.zeros((1, 1, 7, 7))
three[0, 0, 3, 2] = three[0, 0, 3, 3] = three[0, 0, 4, 3] = 1.0
fig, axes = plt.subplots(1, 3, figsize=(11, 3.8))
panels = [(three[0, 0], "input 7x7: three pixels"),
          (stamp.forward(three)[0, 0], "output 14x14: their stamps add up"),
          (coverage, "stamps per pixel for an all-ones input")]
for ax, (image, title) in zip(axes, panels):
    fig.colorbar(ax.imshow(image, cmap="viridis"), ax=ax, fraction=0.046)
    ax.set_title(title, fontsize=9)
    ax.set(xticks=[], yticks=[])
fig.suptitle("Conv2DTranspose(kernel 5, stride 2, 'same'), all-ones kernel", fontsize=10)
print("saved", save_figure(fig, os.path.join(args.out, "transposed_conv.png")))

# %% [markdown]
# ## 3. The article's model, layer by layer
# The article's Keras code and aigc_np side by side (width w scales every
# channel count; w = 1 is the article's model):
#
#     Keras (NHWC)                                  aigc_np (NCHW)
#     Dense(7*7*256, use_bias=False, (100,))        Dense(7*7*256w, use_bias=False)
#     BatchNormalization(), LeakyReLU()             BatchNormalization(), LeakyReLU(0.3)
#     Reshape((7, 7, 256))                          Reshape((256w, 7, 7))
#     Conv2DTranspose(128, 5, 1, 'same', no bias)   Conv2DTranspose(128w, 5, strides=1, ...)  7x7
#     BatchNormalization(), LeakyReLU()             BatchNormalization(), LeakyReLU(0.3)
#     Conv2DTranspose(64, 5, 2, 'same', no bias)    Conv2DTranspose(64w, 5, strides=2, ...)  14x14
#     BatchNormalization(), LeakyReLU()             BatchNormalization(), LeakyReLU(0.3)
#     Conv2DTranspose(1, 5, 2, 'same', no bias,     Conv2DTranspose(1, 5, strides=2, ...),   28x28
#                     activation='tanh')            Tanh()
#
#     Conv2D(64, 5, 2, 'same', (28, 28, 1))         Conv2D(64w, 5, strides=2, padding='same')  14x14
#     LeakyReLU(), Dropout(0.3)                     LeakyReLU(0.3), Dropout(0.3)
#     Conv2D(128, 5, 2, 'same')                     Conv2D(128w, 5, strides=2, padding='same')  7x7
#     LeakyReLU(), Dropout(0.3)                     LeakyReLU(0.3), Dropout(0.3)
#     Flatten(), Dense(1)                           Flatten(), Dense(1)   (a logit: D(x) = sigmoid)
#
# Channels-last (Keras) versus channels-first only relabels the Dense units
# (permutes W's columns): the same model. No bias before BatchNorm: BN
# subtracts the batch mean, and its beta plays that role. The counts match
# Keras's summary (BN's moving statistics: its "non-trainable", our *buffers*).

# %%
article = DCGAN(latent_dim=100, width=1, rng=np.random.default_rng(args.seed))
for name, net in (("generator", article.G), ("discriminator", article.D)):
    n_buffers = sum(b.size for b in net.buffers.values())
    print(f"article {name}: {net.num_params():,} trainable + {n_buffers:,} BatchNorm statistics = "
          f"{net.num_params() + n_buffers:,} (Keras: {2_330_944 if name == 'generator' else 212_865:,})")
del article

# %% [markdown]
# We train it narrower (a full-width step costs ~15x more): G at width 0.5,
# whose capacity limits how clean the digits are, D at 0.25, slower to learn
# 4,500 images by heart; lesson 07's lazy R1 penalty (Conv2D's double backward,
# lesson 10) instead of Dropout; lr G 4e-4 / D 8e-4, a quarter after 75% of the
# epochs: the table of kinds' "default" (`--recipe article`: the article's). Tried: docs/experiments.md.

# %%
model = build_model("dcgan", config, rng=np.random.default_rng(args.seed))  # the config goes into checkpoints
print(f"\nthis lesson's model, recipe {args.recipe!r}: {KINDS['dcgan'].recipes[args.recipe].about}; "
      f"{schedule['epochs']} epochs, batch {schedule['batch_size']}"
      + (f" (G width {config['width']:g})" if args.width else ""))
print(model.summary())

# %% [markdown]
# ## 4. Training
# Lesson 07's game (`GAN.train_step`; tests/test_dcgan.py checks both
# players' gradients, R1 included) and yardstick, every second epoch: best.npz
# keeps the lowest FD among the epochs where every digit holds >= 4%.

# %%
fixed_z = np.random.default_rng(args.seed + 3).standard_normal((100, model.latent_dim)).astype(np.float32)
judge_z = np.random.default_rng(args.seed + 2).standard_normal((n_judge, model.latent_dim)).astype(np.float32)
scorer = SampleScorer(data, n=n_judge)
print(f"real held-out digits: {describe_scores(scorer.baseline, scorer.baseline)}")
frames = {}  # epoch -> the first 10 samples of fixed_z, for the evolution figure


def grid(m):
    images = m.sample(z=fixed_z)
    frames[len(frames) + 1] = images[:10]
    return from_tanh(images)  # the loop's grids are in [0, 1]


def images_of(m, z):
    return from_tanh(m.sample(z=z)).reshape(-1, 28, 28)


score_epoch = epoch_score_fn(scorer, images_of, judge_z)  # scores and prints each judged epoch
run_dir = os.path.join(args.out, "run")
epochs = schedule["epochs"]
plan = Plan.epochs(epochs, schedule["batch_size"], len(x_train), eval_every=schedule["eval_every"],
                   decay_at=schedule["decay_at"])  # every learning rate / 4 after that fraction of the epochs
start = time.perf_counter()
history = train(model, (x_train,), plan, rng=np.random.default_rng(args.seed + 1), out_dir=run_dir, grid=grid,
                score=score_epoch, select=KINDS["dcgan"].select, label="DCGAN ")  # best.npz: the lowest "selection"
train_seconds = time.perf_counter() - start
print(f"trained {epochs} epochs in {train_seconds:.0f} s ({train_seconds / epochs:.1f} s per epoch); "
      f"run folder {run_dir}")

# %% [markdown]
# ## 5. Curves, and the generator learning
# D's loss near 2 ln 2 = 1.39 and G's near ln 2 = 0.69 mean D can barely tell
# real from fake, as the game aims; the judge's curves are the ones to watch.
# Then the same 10 z after selected epochs (a row each): blobs, strokes, digits.

# %%
print("saved", plot_history(history, {"D loss": "d_loss", "G loss": "g_loss"}, os.path.join(args.out, "losses.png"),
                             ylabel="binary cross-entropy", title="DCGAN losses (mean over each epoch)"))
print("saved", plot_scores(history, scorer.baseline, os.path.join(args.out, "judge_scores.png")))
shown = sorted({e for e in (1, 2, 3, 5, 8, 12, 20, 30, 45, 60) if e <= len(frames)} | {len(frames)})
print("saved", save_labelled_grid(np.concatenate([from_tanh(frames[e]) for e in shown]),
                                  os.path.join(args.out, "evolution.png"), nrow=10,
                                  figsize=(7, 0.72 * len(shown) + 0.4), title="the same 10 z, epoch after epoch",
                                  rows={i: f"epoch {e}" for i, e in enumerate(shown)}))

# %% [markdown]
# ## 6. The best epoch, judged
# Load best.npz, score 1,000 fresh samples (BatchNorm in eval mode, as
# `GAN.sample` does), then 10 more sets (one set is good to about 1.3 points).

# %%
best_model = build_model("dcgan", config, rng=np.random.default_rng(args.seed))
best_epoch = load_checkpoint(best_model, os.path.join(run_dir, "best.npz"))["step"] // plan.epoch_steps
n_sets = 2 if args.quick else 10
final_images, final, more = score_fresh(lambda z: images_of(best_model, z), scorer, args.seed + 4, n_sets)
print(f"best epoch {best_epoch}, {n_judge:,} fresh samples: {describe_scores(final, scorer.baseline)}")
print(f"  {n_sets} more sets of {n_judge:,} fresh samples: {describe_sets(more)}")
print("saved", save_image_grid(final_images[:100], os.path.join(args.out, "best_samples.png"),
                               title=f"100 samples, best epoch ({best_epoch})"))
fig, ax = plt.subplots(figsize=(6, 3))
ax.bar(range(10), np.bincount(scorer.judge_labels(final_images), minlength=10) / n_judge * 100)
ax.axhline(4, color="red", ls="--", lw=1, label="4%")
ax.set(xticks=range(10), xlabel="digit (the judge's label)", ylabel="% of samples",
       title=f"{n_judge} samples of the best epoch")
ax.legend()
print("saved", save_figure(fig, os.path.join(args.out, "class_histogram.png")))

met = meets_target(final, scorer.baseline)
total_seconds = time.perf_counter() - lesson_start
print_result(args, "08", f"DCGAN, recipe {args.recipe!r}, best epoch {best_epoch} of {epochs}: "
             f"{n_judge:,} fresh samples: {describe_scores(final, scorer.baseline)}; target (FD <= 1.5x real, "
             f"every digit >= 4%, confident >= 80%) {'met' if met else 'NOT met'}; {n_sets} more sets: "
             f"{describe_sets(more)}; {data.source}; total time {total_seconds / 60:.1f} min",
             f"python lessons/08_dcgan.py --seed {args.seed}"
             + (f" --recipe {args.recipe}" if args.recipe != "default" else ""))

# %% [markdown]
# ## Summary
# * A transposed convolution stamps its kernel once per input pixel: the
#   transpose (and backward pass) of a convolution; stride 2 grows 7 -> 14 -> 28.
# * The article's Keras DCGAN maps layer for layer onto aigc_np.
# * Keep the epoch with the lowest FD among those that keep every digit.
#
# ## Suggested extensions
# 1. `--width 0.25` against 0.5: the best epoch's scores and the seconds per epoch.
# 2. Nearest-neighbour upsampling + Conv2D instead of Conv2DTranspose (an
#    Upsampling2D layer with an example spec, checked by tests/test_every_layer.py):
#    checkerboard artefacts and FD.
# 3. Spectral or weight normalization for D: does the rarest digit's share rise?
