"""Lesson 08: DCGAN, the article's convolutional GAN, in NumPy.

Lesson 07's GAN drew digits with Dense layers, pixel by pixel, blind to the
fact that neighbouring pixels belong together. A DCGAN (Radford, Metz &
Chintala 2015) builds both players from convolutions: the discriminator is
a small CNN like lesson 03's judge, and the generator runs a CNN backwards,
growing a 7x7 feature map into a 28x28 digit with *transposed* convolutions.
This lesson explains that layer, maps the article's Keras code onto
aigc_np's layers, trains the model, and lets the judge score the result.

Run:  python lessons/08_dcgan.py [--quick] [--epochs 60] [--width 0.5] [--out out/08_dcgan]
"""
# %% [markdown]
# ## 1. Setup and data
# GANs end in tanh, so pixels are scaled to [-1, 1] (`to_tanh`), and images
# are NCHW: (N, 1, 28, 28). Training uses the 4,500 training images of the
# bundled subset (or full MNIST if downloaded); every random number comes
# from a seeded generator, so a run is reproducible.

# %%
import argparse
import os
import time

# The matrices here are small: one BLAS thread is as fast as two on an idle
# machine, and several times faster on a busy one (threads that wait for a
# core spin). Set before numpy is imported; an explicit setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from aigc_np.data import from_tanh, load_dataset, to_tanh  # noqa: E402
from aigc_np.judge import describe_sets, judge_scores, judge_sets, load_judge  # noqa: E402
from aigc_np.layers import Conv2D, Conv2DTranspose  # noqa: E402
from aigc_np.models import DCGAN  # noqa: E402
from aigc_np.models.registry import build_model  # noqa: E402
from aigc_np.plotting import image_grid, plot_curves, plt, save_figure, save_image_grid  # noqa: E402
from aigc_np.training import load_checkpoint, train  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="tiny run for smoke tests")
parser.add_argument("--plain", action="store_true",
                    help="the article's recipe: one width 0.25 for both, batch 64, LeakyReLU 0.3, "
                         "dropout 0.3, no learning-rate decay")
parser.add_argument("--epochs", type=int, default=60)
parser.add_argument("--width", type=float, default=0.5, help="G's channel multiplier (1 = the article's)")
parser.add_argument("--d-width", type=float, default=0.25, help="D's channel multiplier")
parser.add_argument("--batch-size", type=int, default=16)
parser.add_argument("--lr", type=float, default=4e-4, help="G's Adam learning rate (the article: 2e-4)")
parser.add_argument("--lr-d", type=float, default=8e-4, help="D's Adam learning rate (the article: 2e-4)")
parser.add_argument("--beta1", type=float, default=0.5)
parser.add_argument("--alpha", type=float, default=0.1, help="LeakyReLU slope (the article: 0.3)")
parser.add_argument("--dropout", type=float, default=0.0, help="D's dropout rate (the article: 0.3)")
parser.add_argument("--label-smoothing", type=float, default=0.0)
parser.add_argument("--r1", type=float, default=1.0,
                    help="gamma of the R1 penalty on D's input gradient at real images (lesson 07; needs "
                         "--dropout 0; 0: off)")
parser.add_argument("--r1-every", type=int, default=4, help="lazy R1: apply it every this many D steps")
parser.add_argument("--ema", type=float, default=0.0,
                    help="sample from a moving average of G's weights with this decay (lesson 07; 0: off)")
parser.add_argument("--decay-at", type=float, default=0.75,
                    help="divide both learning rates by 4 after this fraction of the epochs (1: never)")
parser.add_argument("--score-every", type=int, default=2, help="judge the samples every N epochs")
parser.add_argument("--out", default="out/08_dcgan", help="folder for figures and the training run")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_known_args()[0]
if args.quick and args.out == parser.get_default("out"):
    args.out = args.out.replace("out/", "out/quick/", 1)  # a smoke test never overwrites a real run
if args.plain:
    args.width, args.d_width, args.batch_size, args.alpha, args.dropout, args.decay_at, args.ema = \
        0.25, 0.25, 64, 0.3, 0.3, 1.0, 0.0
    args.r1, args.lr, args.lr_d = 0.0, 2e-4, 2e-4
os.makedirs(args.out, exist_ok=True)
rng = np.random.default_rng(args.seed)
lesson_start = time.perf_counter()

data = load_dataset(seed=args.seed)
print("data:", data.source)
x_train = to_tanh(data.x_train)[:, None]
n_judge = 1000
if args.quick:
    x_train, args.epochs, n_judge = x_train[:256], 2, 200
print(f"train {x_train.shape}, pixels in [{x_train.min():.0f}, {x_train.max():.0f}]")

# %% [markdown]
# ## 2. Transposed convolution: from 7x7 to 28x28
# A stride-2 Conv2D *shrinks* an image (28 -> 14 -> 7): each output pixel
# reads a 5x5 window, and the windows step by 2. The generator needs the
# opposite. A transposed convolution (`Conv2DTranspose`) lets every *input*
# pixel write: it stamps a copy of the 5x5 kernel, scaled by the pixel's
# value, onto the output, with the stamps 2 pixels apart, and overlapping
# stamps add up:
#
#     full[n, f, 2i + a, 2j + e] += x[n, c, i, j] * W[c, f, a, e]
#
# The full result of a 7x7 input is (7-1)*2 + 5 = 17 pixels wide; Keras's
# padding='same' crops it to exactly 7*2 = 14 (and 14*2 = 28 in the next
# layer). With stride 1 (the generator's first ConvT) the size stays 7x7.
#
# Its name comes from linear algebra: a convolution is a linear map y = A x,
# and this layer computes A^T y, the *transpose* of the same-shaped Conv2D.
# That is also exactly how Conv2D's backward pass sends gradients back to its
# input, so aigc_np implements the two layers with the same two helpers
# (im2col and col2im). The check below: <A x, y> = <x, A^T y>.

# %%
conv = Conv2D(3, 5, strides=2, padding="same")
conv.build((2, 14, 14), rng, np.float64)
convT = Conv2DTranspose(2, 5, strides=2, padding="same", use_bias=False)
convT.build((3, 7, 7), rng, np.float64)
convT.params["W"][...] = conv.params["W"]         # Conv2D's W is (out, in, 5, 5); ConvT's (in, out, 5, 5)
x_small, y_small = rng.standard_normal((1, 2, 14, 14)), rng.standard_normal((1, 3, 7, 7))
conv.params["b"][...] = 0.0
lhs = np.sum(conv.forward(x_small) * y_small)
rhs = np.sum(x_small * convT.forward(y_small))
print(f"Conv2D (1, 2, 14, 14) -> {conv.forward(x_small).shape};  Conv2DTranspose (1, 3, 7, 7) -> "
      f"{convT.forward(y_small).shape}")
print(f"<conv(x), y> = {lhs:.6f},  <x, convT(y)> = {rhs:.6f}  (the same map, transposed)")

# %% [markdown]
# How many stamps land on each output pixel? Feed an all-ones 7x7 image
# through an all-ones kernel: with kernel 5 and stride 2, a pixel away from
# the border is covered by 2 or 3 stamps along each axis, so by 4, 6 or 9 in
# total, in a regular pattern. A generator has to learn kernels that hide
# this unevenness; early in training it shows as a faint checkerboard
# (Odena et al. 2016, "Deconvolution and checkerboard artifacts"). A kernel
# size divisible by the stride (4 with stride 2) would cover every pixel equally.

# %%
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
    shown_image = ax.imshow(image, cmap="viridis")
    fig.colorbar(shown_image, ax=ax, fraction=0.046)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("Conv2DTranspose(kernel 5, stride 2, 'same'), all-ones kernel", fontsize=10)
print("saved", save_figure(fig, os.path.join(args.out, "transposed_conv.png")))

# %% [markdown]
# ## 3. The article's model, layer by layer
# The article's Keras code and the aigc_np model side by side (width w
# multiplies every channel count; w = 1 is the article's model exactly):
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
# The one real difference is the memory layout. Keras stores images
# channels-last (NHWC), so its Reshape((7, 7, 256)) reads the Dense layer's
# 12,544 outputs as 7x7 pixels of 256 channels; aigc_np is channels-first
# (NCHW) and reads them as 256 channels of 7x7 with Reshape((256, 7, 7)).
# The two are the same model: which Dense unit feeds which (channel, row,
# column) is only a fixed relabelling of the units, and a Dense layer's units
# can be relabelled freely (permute the columns of W). Only the weights of
# a *trained* Keras model would have to be permuted to be loaded here.
#
# Why no bias before BatchNorm: BN subtracts each feature's batch mean, so a
# constant bias would be cancelled exactly; its beta plays that role. The
# counts below match Keras's model.summary(): BN's moving mean and variance
# are Keras's "non-trainable params" and aigc_np's *buffers*.

# %%
article = DCGAN(latent_dim=100, width=1, rng=np.random.default_rng(args.seed))
for name, net in (("generator", article.G), ("discriminator", article.D)):
    n_buffers = sum(b.size for b in net.buffers.values())
    print(f"article {name}: {net.num_params():,} trainable + {n_buffers:,} BatchNorm statistics = "
          f"{net.num_params() + n_buffers:,} (Keras: {2_330_944 if name == 'generator' else 212_865:,})")
del article

# %% [markdown]
# This lesson trains the same architecture at a fraction of the width (a
# full-width step costs ~15x more). The generator gets width 0.5 (128, 64,
# 32 channels) and the discriminator 0.25 (16, 32). Why unequal? The
# generator's capacity is what limits how clean its digits can be, while a
# small discriminator is cheap and, on only 4,500 images, slower to learn
# them by heart. In place of the article's Dropout, D is kept in check by
# lesson 07's R1 penalty on its input gradient at real images (lazily: every
# 4th D step, with 4 times the weight); R1 differentiates D's backward pass,
# so it runs through Conv2D's double backward of lesson 10, and it needs a D
# without Dropout. Both players also learn faster than the article's 2e-4,
# D twice as fast as G (4e-4 / 8e-4), as in lesson 07. Measured on this data
# (seed 0, 60 epochs, 10 sets of 1,000 fresh samples of the best epoch):
# 69.7% confident on average, against 65.7% with 2e-4 for both; a wider D
# (up to the article's), batch 32, other R1 weights and longer training all
# ended between 69% and 74% too (the README lists them). `--plain`
# trains the article's recipe (both at 0.25, batch 64, LeakyReLU 0.3,
# dropout 0.3, no R1, 2e-4 for both) for comparison; extension 1 asks you to
# measure the difference.


def build_dcgan(seed):
    """The lesson's DCGAN, built through the registry so that its checkpoints
    record the config (``python -m aigc_np sample/evaluate`` rebuild it from the file)."""
    return build_model("dcgan", {"width": args.width, "d_width": args.d_width, "alpha": args.alpha,
                                 "dropout": args.dropout, "lr": args.lr, "lr_d": args.lr_d, "beta1": args.beta1,
                                 "label_smoothing": args.label_smoothing, "ema": args.ema,
                                 "r1": args.r1, "r1_every": args.r1_every},
                       rng=np.random.default_rng(seed))


model = build_dcgan(args.seed)
recipe = (f"G width {args.width:g}, D width {args.d_width:g}, batch {args.batch_size}, Adam lr G {args.lr:g} / D {args.lr_d:g}, "
          f"beta1 {args.beta1:g}, LeakyReLU {args.alpha:g}, D dropout {args.dropout:g}"
          + (f", label smoothing {args.label_smoothing:g}" if args.label_smoothing else "")
          + (f", R1 gamma {args.r1:g} every {args.r1_every} D steps" if args.r1 else "")
          + (f", lr / 4 after {args.decay_at:.0%} of the epochs" if args.decay_at < 1 else "")
          + (f", samples from the weight average (EMA {args.ema:g})" if args.ema else ""))
print(f"\nthis lesson's model: {recipe}")
print(model.summary())

# %% [markdown]
# ## 4. Training
# The game is lesson 07's (`GAN.train_step`): one discriminator step on a
# real batch and a fake one, then one generator step through the
# discriminator, each player with its own Adam. Only the networks changed.
# (tests/test_dcgan.py checks both players' gradients numerically, with
# BatchNorm in train mode and Dropout masks replayed, and D's loss with R1
# added.) After 75% of the epochs both learning rates drop to a quarter: big
# steps to find digits, small ones to settle them (`train` runs twice; the
# second call continues the same run, history and best.npz).
#
# How good is a GAN? Its losses do not say (they measure the players against
# each other, not against the data). Every second epoch the judge (lesson
# 03's CNN) labels 1,000 samples:
#
# * confident: the share of samples it labels with probability >= 0.9 --
#   blurry or broken digits lower it;
# * rarest digit: the share of the least frequent label -- mode collapse
#   (a generator that forgot some digits) drives it to 0.
#
# best.npz keeps the epoch with the most confident samples *among the
# epochs where every digit holds at least 4%*: score = confident there, and
# (rarest share - 1) < 0 elsewhere, so a sharp but collapsed epoch never
# wins (the judge is "confident" about blank images, too).

# %%
fixed_z = np.random.default_rng(args.seed + 3).standard_normal((100, model.latent_dim)).astype(np.float32)
judge_z = np.random.default_rng(args.seed + 4).standard_normal((n_judge, model.latent_dim)).astype(np.float32)
judge = load_judge()
frames = {}  # epoch -> the first 10 samples of fixed_z, for the evolution figure


def grid(m):
    images = m.sample(z=fixed_z)
    frames[len(frames) + 1] = images[:10]
    return images


def judge_epoch(m):
    scores = judge_scores(from_tanh(m.sample(z=judge_z)), judge)
    confident, rarest = scores["confident"], scores["min_class_fraction"]
    print(f"  judge: confident {confident:.1%}, rarest digit {rarest:.1%}, "
          f"per digit {np.round(scores['class_fractions'] * 100).astype(int)} %")
    return {"confident": confident, "min_class": rarest, "classes": scores["classes_covered"],
            "score": confident if rarest >= 0.04 else rarest - 1.0}


run_dir = os.path.join(args.out, "run")
decay_epoch = args.epochs if args.decay_at >= 1 else min(args.epochs, max(1, round(args.decay_at * args.epochs)))
options = dict(batch_size=args.batch_size, rng=np.random.default_rng(args.seed + 1), out_dir=run_dir,
               grid_fn=grid, score_fn=judge_epoch, eval_every=args.score_every, best_key="score",
               label="DCGAN ")
start = time.perf_counter()
history = train(model, x_train, epochs=decay_epoch, **options)
if decay_epoch < args.epochs:
    # The second phase continues the same run (history, best.npz, batch order).
    model.opt_g.lr /= 4
    model.opt_d.lr /= 4
    print(f"after epoch {decay_epoch}: learning rates now {model.opt_g.lr:g}")
    history = train(model, x_train, epochs=args.epochs, start_epoch=decay_epoch + 1, history=history, **options)
train_seconds = time.perf_counter() - start
print(f"trained {args.epochs} epochs in {train_seconds:.0f} s ({train_seconds / args.epochs:.1f} s per epoch); "
      f"run folder {run_dir}")

# %% [markdown]
# ## 5. Curves
# The loss curves of a GAN do not go down together: D's loss near
# 2 ln 2 = 1.39 and G's near ln 2 = 0.69 mean D can barely tell real from
# fake, which is what the game aims at. The judge's curves are the ones to
# watch.

# %%
epochs = [r["epoch"] for r in history]
print("saved", plot_curves({"D loss": (epochs, [r["d_loss"] for r in history]),
                            "G loss": (epochs, [r["g_loss"] for r in history])},
                           os.path.join(args.out, "losses.png"), ylabel="binary cross-entropy",
                           title="DCGAN losses (mean over each epoch)"))
judged = [r for r in history if "confident" in r]
print("saved", plot_curves({"confident (max softmax >= 0.9)": ([r["epoch"] for r in judged],
                                                               [r["confident"] for r in judged]),
                            "rarest digit's share x 10": ([r["epoch"] for r in judged],
                                                          [10 * r["min_class"] for r in judged])},
                           os.path.join(args.out, "judge_scores.png"), ylabel="fraction",
                           title="the judge on 1,000 samples"))

# %% [markdown]
# ## 6. Watching the generator learn
# The same 10 latent vectors, decoded after selected epochs (one row per
# epoch): blobs first, then strokes, then digits that keep their identity
# from row to row as G refines them.

# %%
shown = sorted({e for e in (1, 2, 3, 5, 8, 12, 20, 30, 45, 60) if e <= len(frames)} | {len(frames)})
fig, ax = plt.subplots(figsize=(7, 0.72 * len(shown) + 0.4))
ax.imshow(image_grid(np.concatenate([from_tanh(frames[e]) for e in shown]), nrow=10), cmap="gray",
          vmin=0, vmax=1)
ax.set_xticks([])
ax.set_yticks(np.arange(len(shown)) * 29 + 14, [f"epoch {e}" for e in shown])
ax.set_title("the same 10 z, epoch after epoch")
print("saved", save_figure(fig, os.path.join(args.out, "evolution.png")))

# %% [markdown]
# ## 7. The best epoch, judged
# Rebuild the model, load best.npz, draw 1,000 fresh samples (BatchNorm in
# eval mode, with its running statistics, as `GAN.sample` does), and let
# the judge score them.

# %%
best_model = build_dcgan(args.seed)
best_epoch = load_checkpoint(best_model, os.path.join(run_dir, "best.npz"))["epoch"]
final_z = np.random.default_rng(args.seed + 5).standard_normal((n_judge, 100)).astype(np.float32)
final_images = from_tanh(best_model.sample(z=final_z))
final = judge_scores(final_images, judge)
print(f"best epoch {best_epoch}: confident {final['confident']:.1%}, rarest digit "
      f"{final['min_class_fraction']:.1%}, per digit {np.round(final['class_fractions'] * 100).astype(int)} %")
# One set of 1,000 is good to about 1.3 points (lesson 07, section 4), so score 10 more.
n_sets = 2 if args.quick else 10
more_z = np.random.default_rng(args.seed + 6).standard_normal((n_sets, n_judge, 100)).astype(np.float32)
more = judge_sets(lambda z: from_tanh(best_model.sample(z=z)), more_z, judge)
print(f"  {n_sets} more sets of {n_judge:,} fresh samples: {describe_sets(more)}")
print("saved", save_image_grid(final_images[:100], os.path.join(args.out, "best_samples.png"),
                               title=f"100 samples, best epoch ({best_epoch})"))
fig, ax = plt.subplots(figsize=(6, 3))
ax.bar(range(10), final["class_fractions"] * 100)
ax.axhline(4, color="red", ls="--", lw=1, label="4%")
ax.set_xticks(range(10))
ax.set_xlabel("digit (the judge's label)")
ax.set_ylabel("% of samples")
ax.legend()
ax.set_title(f"{n_judge} samples of the best epoch")
print("saved", save_figure(fig, os.path.join(args.out, "class_histogram.png")))

total_seconds = time.perf_counter() - lesson_start
print(("\n(--quick smoke test: numbers are not results)" if args.quick else "")
      + f"\nRESULT lesson 08: DCGAN ({recipe}), {n_judge} samples of the best epoch ({best_epoch} of "
      f"{args.epochs}): {final['confident']:.1%} confident (max softmax >= 0.9), rarest digit "
      f"{final['min_class_fraction']:.1%}, {final['classes_covered']}/10 digits ({n_sets} more sets: "
      f"{describe_sets(more)}); "
      f"{data.source}; "
      f"total time {total_seconds / 60:.1f} min. "
      f"Reproduce: python lessons/08_dcgan.py --seed {args.seed}" + (" --plain" if args.plain else "")
      + (" --quick" if args.quick else ""))

# %% [markdown]
# ## Summary
# * A transposed convolution stamps its kernel once per input pixel: it is
#   the transpose (and the backward pass) of a convolution, and grows
#   7x7 -> 14x14 -> 28x28 with stride 2.
# * The article's Keras DCGAN maps layer for layer onto aigc_np; NHWC vs
#   NCHW only relabels the Dense layer's units.
# * Judge GANs by their samples, not their losses, and keep the best epoch
#   by a criterion that rejects mode collapse.
#
# ## Suggested extensions
# 1. Width 0.5 against 0.25: the judge's scores of the best epoch and the
#    seconds per epoch (from history.csv), side by side.
# 2. Replace the generator's Conv2DTranspose with nearest-neighbour upsampling
#    followed by Conv2D (a new Upsampling2D layer with an example spec is
#    gradient-checked by tests/test_every_layer.py); compare the grids for
#    checkerboard artefacts and the Frechet distance (lesson 09).
# 3. Spectral or weight normalization for D: does the rarest digit's share rise?
