"""Lesson 09: is a generative model any good? Scoring AE, VAE, GANs and diffusion side by side.

Looking at a grid of samples is where evaluation starts, not where it ends.
The article's pipeline asks for *content evaluation*: quality, diversity and
consistency, measured, so that training can be steered by numbers. This
lesson scores the models of lessons 04-08, 16 and 18 with the metrics in
`aigc_np.evaluation.metrics`, each next to its real-data baseline; breaks a generator on
purpose (mode collapse) to see which metric notices; and shows why a GAN's
losses cannot tell you when to stop training, while the Frechet distance can.

Run:  python lessons/09_evaluation.py [--quick] [--n 1000] [--out out/09_evaluation]
"""
# %% [markdown]
# ## 1. Setup
# The models come from the checkpoints the earlier lessons wrote (`out/<lesson>/.../best.npz`). A
# missing one is trained briefly here, so the lesson always runs -- but the table then says so.

# %%
import os
import time

import numpy as np

from aigc_np.checkpoint import load_model
from aigc_np.data import load_dataset, to_tanh, to_unit
from aigc_np.evaluation.judge import load_judge
from aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result
from aigc_np.io import atomic_write
from aigc_np.evaluation.metrics import evaluate_images, judge_outputs, metrics_table
from aigc_np.kinds import KINDS, build_model, generate
from aigc_np.kinds.image import generate_images, prepare_images
from aigc_np.plan import Plan
from aigc_np.plotting import plot_panels, plt, save_figure, save_grid_panels
from aigc_np.evaluation.quality import SampleScorer
from aigc_np.training import train

parser = lesson_parser(__doc__, out="out/09_evaluation")
parser.add_argument("--n", type=int, default=1000, help="samples per model")
args = parse_lesson_args(parser)
args.n = min(args.n, 200) if args.quick else args.n

data = load_dataset(seed=0)  # whatever --seed: the split the judge and the lessons' checkpoints were trained on
real, train_images = to_unit(data.x_val), to_unit(data.x_train)
judge = load_judge()
print("data:", data.source, "| reference: the", len(real), "validation images")
# The yardstick that picks every GAN's best epoch (lessons 07, 08, the CLI): FD against 4,000
# training images' features, with 1,000 other real images as the baseline (aigc_np.evaluation.quality).
scorer = SampleScorer(data, n=args.n, judge=judge)

CHECKPOINTS = {
    "AE": "out/04_autoencoder/run/best.npz", "VAE": "out/05_vae/latent20/best.npz",
    "GAN": "out/07_gan_mnist/best.npz", "DCGAN": "out/08_dcgan/run/best.npz",
    "DDPM": "out/16_diffusion_mnist/ddpm/last.npz",
    "LDM": "out/18_latent_diffusion/ldm/last.npz",
}
KIND = {"AE": "ae", "VAE": "vae", "GAN": "gan", "DCGAN": "dcgan", "DDPM": "ddpm", "LDM": "ldm"}
BRIEF = {"ddpm": {"width": 4, "groups": 2, "T": 100, "steps": 3},
         "ldm": {"ae_width": 8, "width": 128, "ae_steps": 5 if args.quick else 300}}


def get_model(name):
    """The lesson's checkpoint if it exists (and not --quick), else a brief training run here."""
    path = CHECKPOINTS[name]
    if os.path.exists(path) and not args.quick:
        model, meta = load_model(path)
        return model, f"{path} (step {meta['step']})"
    kind = KIND[name]
    epochs = 1 if args.quick else {"ae": 10, "vae": 20, "gan": 20, "dcgan": 5, "ddpm": 2, "ldm": 10}[kind]
    print(f"  {path} not found: training {name} for {epochs} epochs here")
    model = build_model(kind, BRIEF.get(kind) if args.quick or kind == "ldm" else None,
                        rng=np.random.default_rng(args.seed))
    x = ((to_tanh if kind == "ddpm" else to_unit)(data.x_train)[:, None],) if kind in BRIEF else prepare_images(
        kind, data.x_train)   # an ldm's first ae_steps steps train its autoencoder
    train(model, x, Plan.epochs(epochs, 64, len(x[0]), max_steps_per_epoch=10 if args.quick else None),
          rng=np.random.default_rng(args.seed + 1), label=f"{name} ")
    return model.eval(), f"trained here for {epochs} epochs (brief: not the lesson's result)"


# %% [markdown]
# ## 2. The metrics, in one paragraph each
# * **Frechet distance (FD)**: fit a Gaussian to the judge's 128-d features
#   of the samples and another to those of real digits; FD is the distance
#   between the two Gaussians. It sees quality *and* diversity at once.
# * **Inception score (IS)**: high when each sample is confidently one digit
#   and the digits are varied; 10 at best.
# * **Classes covered and class KL**: the judge's label histogram of the
#   samples against the real one: the mode-collapse alarm.
# * **Precision and recall**: the share of samples that land near real digits
#   (realism), and the share of real digits that have samples near them
#   (coverage), with k-nearest-neighbour balls in feature space.
# * **Memorization**: how close each sample is to its nearest training image,
#   compared with how close *new* real digits are. A model that copies its
#   training set scores suspiciously low.
# Every one is printed next to real data scored the same way.

# %%
results, grids, models = {}, {}, {}
start = time.perf_counter()
for name in CHECKPOINTS:
    model, source = models[name] = get_model(name)
    samples = generate(model, args.n, np.random.default_rng(args.seed), train_images=data.x_train)  # any kind
    r = evaluate_images(samples, real, train_images=train_images, judge=judge, seed=args.seed)
    if name == "VAE":
        r.update(model.elbo(real))
    r["source"] = source
    y = scorer.score(samples)
    r["fd_train"], r["rarest"] = y["fd"], y["min_class"]
    results[name], grids[name] = r, samples[:20]
    print(f"  scored {name}: FD {r['fd']:.1f}, {r['classes_covered']} classes  [{source}]")
baseline = results["VAE"]  # the real-data columns are the same for every model

# %% [markdown]
# ## 3. A deliberately mode-collapsed generator
# Take the best model's samples and keep only those the judge calls "1".
# Each sample is still a fine digit, so the per-image metrics barely move.
# The set-level metrics must catch it.

# %%
best = min(("GAN", "DCGAN", "VAE"), key=lambda k: results[k]["fd"])
pool = generate_images(models[best][0], 4 * args.n, np.random.default_rng(args.seed + 7), data.x_train)
labels = np.argmax(judge_outputs(pool, judge)[1], axis=1)
ones = pool[labels == 1]
collapsed = ones[np.random.default_rng(args.seed).integers(0, len(ones), args.n)] if len(ones) else pool[:args.n]
results["collapsed"] = evaluate_images(collapsed, real, train_images=train_images, judge=judge, seed=args.seed)
results["collapsed"]["source"] = f"{best} samples that the judge calls '1'"
y = scorer.score(collapsed)
results["collapsed"]["fd_train"], results["collapsed"]["rarest"] = y["fd"], y["min_class"]
grids["collapsed"] = collapsed[:20]

# %% [markdown]
# ## 4. The table
# Lower FD and class KL are better; higher IS, confidence, precision and
# recall are better. Read each column against the "real data" row. "FD" uses
# half the 500 validation images as the reference (250 against 250: noisy,
# and biased upwards by the small sets); "FD train" is the GANs' yardstick,
# against 4,000 training images, with "rarest" the rarest digit's share.

# %%
columns = [("FD", "fd"), ("FD train", "fd_train"), ("rarest", "rarest"), ("IS", "inception_score"),
           ("confident", "confident"), ("covered", "classes_covered"), ("class KL", "class_kl"),
           ("precision", "precision"), ("recall", "recall"), ("NN dist", "nn_dist_samples")]
real_row = {"fd": baseline["fd_real_baseline"], "fd_train": scorer.baseline["fd"],
            "rarest": scorer.baseline["min_class"], "inception_score": baseline["inception_score_real"],
            "confident": baseline["confident_real"], "classes_covered": 10,
            "class_kl": baseline["class_kl_real_baseline"], "precision": baseline["precision_real_baseline"],
            "recall": baseline["recall_real_baseline"], "nn_dist_samples": baseline["nn_dist_heldout"]}
table = metrics_table({**results, "real data": real_row}, columns)
print("\n" + table)
print(f"\nVAE validation ELBO: {results['VAE']['elbo']:.1f} nats/image "
      f"(reconstruction {results['VAE']['recon']:.1f} + KL {results['VAE']['kl']:.1f})")
for name, row in results.items():
    print(f"  {name}: {row['source']}")
with atomic_write(os.path.join(args.out, "table.txt"), "w") as f:
    f.write(table + "\n")

panels = {f"{name}: FD {results[name]['fd']:.1f}, {results[name]['classes_covered']} classes": imgs
          for name, imgs in grids.items()}
print("saved", save_grid_panels(panels, os.path.join(args.out, "samples_side_by_side.png"), nrow=20, across=False,
                                panel_size=(10, 1.2)))

fig, axes = plt.subplots(1, 4, figsize=(14, 3.2))
names = list(results)
for ax, (title, key, base) in zip(axes, [("Frechet distance", "fd", real_row["fd"]),
                                         ("Inception score", "inception_score", real_row["inception_score"]),
                                         ("precision", "precision", real_row["precision"]),
                                         ("recall", "recall", real_row["recall"])]):
    ax.bar(names, [results[n][key] for n in names], color=["C0", "C1", "C2", "C3", "C4", "C5", "C7"])
    ax.axhline(base, color="k", ls="--", lw=1, label="real data")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=30)
axes[0].legend()
print("saved", save_figure(fig, os.path.join(args.out, "metrics.png")))

fig, ax = plt.subplots(figsize=(7, 3))
width = 0.8 / len(names)
for i, n in enumerate(names):
    ax.bar(np.arange(10) + i * width, results[n]["class_histogram"], width, label=n)
ax.axhline(0.1, color="k", ls="--", lw=1)
ax.set_xticks(np.arange(10) + 0.4, [str(d) for d in range(10)])
ax.set(xlabel="digit (judge's label)", ylabel="share of samples")
ax.legend(fontsize=7)
print("saved", save_figure(fig, os.path.join(args.out, "class_histograms.png")))

# %% [markdown]
# ## 5. What reacted to the collapse
# Compare the "collapsed" row with the model it came from: confidence and
# precision stay high (each image is a good "1"); IS falls towards 1, only one
# class is covered, the class KL jumps to about ln 10 = 2.3, recall falls,
# and FD grows. A single-number "quality" score would have been fooled.

# %%
c, src = results["collapsed"], results[best]
for label, key in [("confident", "confident"), ("precision", "precision"), ("IS", "inception_score"),
                   ("classes", "classes_covered"), ("class KL", "class_kl"), ("recall", "recall"), ("FD", "fd")]:
    print(f"  {label:<10} {src[key]:>8.3f} -> {c[key]:>8.3f}")

# %% [markdown]
# ## 6. Evaluation-driven training: when to stop a GAN
# A GAN's two losses describe a game, not the quality of G: when G improves,
# D's task gets harder and the losses just trade places. Below, a short GAN
# run is scored with FD after every epoch, next to its losses. The training
# loop uses the yardstick to keep `best.npz` (the lowest FD among epochs
# that keep every digit >= 4%: `select=("selection", False)`) and can stop
# early (`Plan.epochs(..., patience=p)`, or `python -m aigc_np train gan
# --eval-every k --patience p`).

# %%
epochs = 2 if args.quick else 25
gan = build_model("gan", rng=np.random.default_rng(args.seed))


def fd_score(model):
    return scorer.score(generate_images(model, args.n, np.random.default_rng(args.seed), None))


plan = Plan.epochs(epochs, 64, len(data.x_train), max_steps_per_epoch=10 if args.quick else None)
history = train(gan, prepare_images("gan", data.x_train), plan, rng=np.random.default_rng(args.seed + 1),
                score=fd_score, select=KINDS["gan"].select, out_dir=os.path.join(args.out, "gan_run"), label="GAN ")
ep = [h["epoch"] for h in history]
print("saved", plot_panels([{"curves": {"D loss": (ep, [h["d_loss"] for h in history]),
                                        "G loss": (ep, [h["g_loss"] for h in history])},
                             "xlabel": "epoch", "title": "GAN losses: no sign of when samples are best"},
                            {"curves": {"FD (samples vs real)": (ep, [h["fd"] for h in history])}, "xlabel": "epoch",
                             "baseline": (scorer.baseline["fd"], "real-data baseline"),
                             "title": "Frechet distance: lower is better"}],
                           os.path.join(args.out, "fd_vs_losses.png"), panel_size=(5.5, 3.5)))
best_epoch = min(history, key=lambda h: h["selection"])
print(f"  best FD {best_epoch['fd']:.1f} (rarest digit {best_epoch['min_class']:.1%}) at epoch {best_epoch['epoch']} "
      f"of {epochs} (saved as {os.path.join(args.out, 'gan_run', 'best.npz')})")

print_result(args, "09", f"FD against 4,000 training images (real digits {scorer.baseline['fd']:.1f}): "
             + ", ".join(f"{name} {results[name]['fd_train']:.1f}" for name in CHECKPOINTS)
             + f"; the full table above ({args.n} samples per model); {time.perf_counter() - start:.0f} s",
             f"python lessons/09_evaluation.py --seed {args.seed}")

# %% [markdown]
# ## Summary
# * Score generated content with several metrics, each against real data.
# * Mode collapse hides from per-image quality scores; coverage, class KL,
#   recall and FD expose it.
# * Let a metric, not the losses, choose the checkpoint and the stopping point.
#
# ## Suggested extensions
# 1. Compute FD with 250, 500 and 2,000 samples and plot how it shrinks with
#    the sample size: why must two models be compared at the same size?
# 2. Add a "sharpness" metric (mean gradient magnitude of the images) and
#    check it ranks the blurry VAE below the GANs.
# 3. Use the memorization metric on a GAN trained for 500 epochs on 500
#    images: does near_copies rise above the real baseline?
