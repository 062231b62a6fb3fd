"""Lesson 04: the autoencoder: squeeze a digit through two numbers and back.

Lessons 02-03 learned to *read* digits. From here on the networks *make*
them. The first step is the autoencoder: an encoder network compresses a
784-pixel image into a tiny code (here just 2 numbers), and a decoder network
rebuilds the image from the code alone. Trained only to copy its input, it
still has to discover what digits have in common to get through the
bottleneck. At the end we ask it to draw a *new* digit from a random code, and
watch it fail: the reason the next lesson's VAE exists.

Run:  python lessons/04_autoencoder.py [--quick] [--epochs 30] [--out out/04_autoencoder]
"""
# %% [markdown]
# ## 1. Setup and data
# Pixels go to [0, 1]: the decoder ends in a sigmoid, and each pixel's
# intensity is read as the probability of "ink" (more on that in section 3).
# The validation split (50 images per digit) is never trained on; every
# number this lesson reports is measured on it.

# %%
import os
import time

import numpy as np

from aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result
from aigc_np.data import load_dataset, to_unit
from aigc_np.evaluation.judge import judge_scores, load_judge
from aigc_np.kinds import KINDS, build_model, recipe
from aigc_np.plan import Plan
from aigc_np.plotting import (image_grid, originals_over_reconstructions, plot_codes, plot_curves, plt, save_figure,
                              save_image_grid)
from aigc_np.training import spaced_rows, train

parser = lesson_parser(__doc__, out="out/04_autoencoder")
CONFIG, TRAIN = recipe("ae")  # the table of kinds' autoencoder recipe, the one `python -m aigc_np train ae` uses
parser.add_argument("--epochs", type=int, default=TRAIN["epochs"])
args = parse_lesson_args(parser)
rng = np.random.default_rng(args.seed)

data = load_dataset(seed=args.seed)
print("data:", data.source)
x_train, x_val, y_val = to_unit(data.x_train), to_unit(data.x_val), data.y_val
n_judge = 500
if args.quick:
    x_train, args.epochs, n_judge = x_train[:512], 2, 100
print(f"train {x_train.shape}, validation {x_val.shape}, pixels in [{x_train.min()}, {x_train.max()}]")

# %% [markdown]
# ## 2. Encoder, bottleneck, decoder
# Two multilayer perceptrons back to back (Dense + ReLU, as in lesson 02):
#
#     encoder:  784 -> 512 -> 256 -> 2          the code z, 2 numbers
#     decoder:    2 -> 256 -> 512 -> 784        one logit per pixel
#
# The 2-unit layer is the *bottleneck*. Everything the decoder knows about
# the image must pass through those two numbers, so the network cannot just
# copy pixels: it has to arrange the codes so that similar images get nearby
# codes. Two is far too few to rebuild every detail (the reconstructions
# will be blurry); we use two so that we can *plot* the code space. The
# decoder's last layer outputs logits, and sigmoid(logit) is the pixel.

# %%
ae = build_model("ae", CONFIG, rng=np.random.default_rng(args.seed))  # 784-512-256-2, Adam 1e-3
print(ae.summary())
print(f"{ae.num_params():,} parameters")

# %% [markdown]
# ## 3. The reconstruction loss, in nats per image
# Each pixel x_i in [0, 1] is treated as the probability of ink, and the
# decoder predicts p_i = sigmoid(logit_i). The loss is the binary
# cross-entropy, *summed* over the 784 pixels and averaged over the images:
#
#     L = -(1/N) sum_n sum_i [ x_ni log p_ni + (1 - x_ni) log(1 - p_ni) ]
#
# Summing (not averaging) over pixels makes L the negative log-likelihood of
# a whole image in nats, the unit the VAE literature reports, and the number
# lesson 05 builds on. It is computed from the logits in a stable form
# (`BinaryCrossentropy(from_logits=True, reduction="batch")`, lesson 01's
# losses). Before training every logit is near 0, so every p is near 1/2 and
# each pixel costs about log 2 nats: about 784 log 2 = 543 nats per image.

# %%
print(f"untrained: {ae.reconstruction_loss(x_val):.1f} nats/image on validation "
      f"(784 log 2 = {784 * np.log(2):.1f})")

# %% [markdown]
# ## 4. Training with the shared loop
# `aigc_np.training.train` (used by every generative model from here on)
# follows a `Plan` (here `Plan.epochs`: epochs of shuffled minibatches),
# calls `model.train_step(batch)` (forward, loss, backward, Adam step), and
# after each epoch writes into the run folder: `history.csv` (one row per
# epoch), a 10x10 picture `samples_epoch_NNN.png` (here: 50 fixed validation
# digits, each above its reconstruction), `last.npz` (weights and optimizer
# state, to resume), and `best.npz`, the epoch with the best score `score` reports.


# %%
shown = x_val[:50]  # in each grid, a row of 10 of them above their reconstructions
run_dir = os.path.join(args.out, "run")
start = time.perf_counter()
plan = Plan.epochs(args.epochs, TRAIN["batch_size"], len(x_train))
history = train(ae, (x_train,), plan, rng=np.random.default_rng(args.seed + 1), out_dir=run_dir,
                grid=lambda m: originals_over_reconstructions(shown, m.reconstruct(shown)),
                score=lambda m: {"val_recon": m.reconstruction_loss(x_val)},
                select=KINDS["ae"].select, label="AE ")  # ("val_recon", False): lower is better
train_seconds = time.perf_counter() - start
for row in spaced_rows(history):
    print(f"  epoch {row['epoch']:3d}: train {row['loss']:6.1f}  validation {row['val_recon']:6.1f} nats/image")
val_recon = history[-1]["val_recon"]
print(f"trained {args.epochs} epochs in {train_seconds:.1f} s; run folder {run_dir}")

epochs = [row["epoch"] for row in history]
print("saved", plot_curves({"train": (epochs, [r["loss"] for r in history]),
                            "validation": (epochs, [r["val_recon"] for r in history])},
                           os.path.join(args.out, "loss.png"), ylabel="BCE (nats / image)",
                           title="autoencoder 784-512-256-2: reconstruction loss"))

# %% [markdown]
# ## 5. Reconstructions
# Rows alternate: validation digits, then what comes back out of the
# 2-number bottleneck. The digit identity and the slant mostly survive; the
# details do not. The training loss drops much further with a wider
# bottleneck (try `Autoencoder(latent_dim=16)`), but then we could not plot it.

# %%
print("saved", save_image_grid(originals_over_reconstructions(x_val[:40], ae.reconstruct(x_val[:40])),
                               os.path.join(args.out, "reconstructions.png"),
                               title="validation digits (odd rows) and reconstructions (even rows)"))

# %% [markdown]
# ## 6. The code space
# Each validation image becomes a point z = encoder(x) in the plane. Nobody
# told the network about digit classes, yet the points of one digit gather
# together: to reconstruct well, the encoder has to put similar images near
# each other. But look at the axes: the codes spread wherever the training
# happened to push them, in oddly shaped arms with empty space between.

# %%
codes = ae.encode(x_val).astype(np.float64)
train_codes = ae.encode(x_train).astype(np.float64)
print("saved", plot_codes(codes, y_val, os.path.join(args.out, "latent_scatter.png"),
                          title="autoencoder: 2-D codes of the validation digits"))
print(f"training codes span z1 in [{train_codes[:, 0].min():.1f}, {train_codes[:, 0].max():.1f}], "
      f"z2 in [{train_codes[:, 1].min():.1f}, {train_codes[:, 1].max():.1f}]")

# %% [markdown]
# ## 7. Can the decoder draw a new digit from a random code?
# A generative model must turn *random numbers* into new images, and not
# just any images: all ten digits, in the proportions real data has. The
# decoder maps any code to an image, so try two natural ways of picking a code:
#
# * z ~ N(0, I), the standard normal (exactly what the VAE will do);
# * z uniform over the box the training codes occupy.
#
# Lesson 03's CNN, the *judge*, labels every decoded image and says whether
# it is sure (max softmax >= 0.9). Real validation digits give the reference:
# about 10% of each digit.
#
# The autoencoder was never asked to make its codes fill any particular
# region. Its codes span tens of units, so N(0, I) draws all land in one
# small patch of the plane and decode to the *same* digit over and over.
# Uniform draws land mostly in the empty space between the clusters, where
# the decoder was never trained: a lopsided mix, heavy in a few digits,
# plus blends that are no digit at all. Either way, there is no recipe for
# "a random code that decodes to a typical digit": that is what the VAE
# (lesson 05) adds, by *training* the codes to follow N(0, I).

# %%
judge = load_judge()
draw_rng = np.random.default_rng(args.seed + 2)
lo, hi = train_codes.min(axis=0), train_codes.max(axis=0)
random_codes = {
    "N(0, I)": draw_rng.standard_normal((n_judge, 2)),
    "uniform over the code box": draw_rng.uniform(lo, hi, (n_judge, 2)),
}
decoded = {name: ae.decode(z.astype(np.float32)) for name, z in random_codes.items()}
scores = {"real validation digits": judge_scores(x_val[:n_judge], judge),
          "reconstructions": judge_scores(ae.reconstruct(x_val[:n_judge]), judge)}
scores.update({f"decoded {name}": judge_scores(images, judge) for name, images in decoded.items()})
for name, s in scores.items():
    top = int(np.argmax(s["class_fractions"]))
    print(f"  {name:34s} most common digit {top} ({s['class_fractions'][top]:5.1%}), "
          f"digits present {s['classes_covered']:2d}/10, judged confident {s['confident']:6.1%}")


def describe(s):
    top = int(np.argmax(s["class_fractions"]))
    return f"{s['class_fractions'][top]:.0%} are '{top}', {s['classes_covered']} of 10 digits present"


fig, axes = plt.subplots(1, 3, figsize=(15, 5.2))
axes[0].scatter(train_codes[:, 0], train_codes[:, 1], c=data.y_train[: len(train_codes)], cmap="tab10", s=2,
                vmin=-0.5, vmax=9.5, alpha=0.4)
for (name, z), marker, color in zip(random_codes.items(), ("x", "+"), ("black", "red")):
    axes[0].scatter(z[:100, 0], z[:100, 1], marker=marker, color=color, s=18, label=f"{name} (100 draws)")
axes[0].legend(loc="best", fontsize=8)
axes[0].set_title("training codes (colour = digit) and random codes", fontsize=10)
for ax, (name, images) in zip(axes[1:], decoded.items()):
    ax.imshow(image_grid(images[:100]), cmap="gray", vmin=0, vmax=1)
    ax.axis("off")
    ax.set_title(f"decoded {name}\njudge: {describe(scores['decoded ' + name])}", fontsize=10)
print("saved", save_figure(fig, os.path.join(args.out, "random_codes.png")))

normal = scores["decoded N(0, I)"]
print_result(args, "04", f"autoencoder 784-512-256-2, validation reconstruction loss {val_recon:.1f} "
             f"nats/image (BCE summed over 784 pixels, {len(x_val)} validation images, {args.epochs} epochs, "
             f"{train_seconds:.0f} s); decoded N(0, I) codes: {describe(normal)} ({data.source})",
             f"python lessons/04_autoencoder.py --seed {args.seed}")

# %% [markdown]
# ## Summary
# * An autoencoder = encoder -> bottleneck code -> decoder, trained to copy
#   its input; the loss is the per-pixel BCE summed over pixels (nats/image).
# * The bottleneck forces a code space where similar digits sit together.
# * But the codes fill an arbitrary, gappy region, so random codes decode to
#   one digit over and over, or to blends: an autoencoder compresses, it does
#   not generate.
# Next: the variational autoencoder, which makes the codes follow N(0, I).
#
# ## Suggested extensions
# 1. A denoising autoencoder: corrupt inputs with Gaussian noise (std 0.3) but
#    reconstruct the clean image; measure the validation loss on noisy inputs
#    against this lesson's model.
# 2. Latent size 2, 8 and 32: plot validation reconstruction loss against the
#    latent size.
# 3. Swap the BCE for `MeanSquaredError(reduction="batch")` and compare the
#    reconstructions side by side (the judge's accuracy on them is the measurement).
