"""Lesson 16: diffusion on MNIST -- a U-Net, DDIM and classifier-free guidance.

Lesson 15 denoised 2-D points with an MLP. Images need a denoiser that sees
structure at every scale: a U-Net (Ronneberger et al. 2015), which shrinks
the image to see its shape, grows it back, and hands every fine detail
across from the way down to the way up. Sampling with 1,000 DDPM steps would
cost 1,000 U-Net calls per image, so we use DDIM (Song et al. 2021), which
jumps along a short subsequence of the steps. Then the label: one network,
trained with the label sometimes hidden, learns both "a digit" and "a 7", and
classifier-free guidance (Ho & Salimans 2022) pushes each step from the first
towards the second.

Run:  python lessons/16_diffusion_mnist.py [--quick] [--model ddpm|cddpm|both] [--epochs 25] [--prediction v|eps]
"""
# %% [markdown]
# ## 1. Data and the U-Net
# The bundled 4,500 training digits, in [-1, 1], as (N, 1, 28, 28) images.
# The U-Net (`aigc_np.models.unet.UNet`, width c = 16):
#
#     28x28, c     conv, ResBlock                         -> skip 1
#     14x14, 2c    stride-2 conv, ResBlock                -> skip 2
#      7x7,  2c    stride-2 conv, ResBlock (the middle)
#     14x14, 2c    upsample x2, conv, [ , skip 2], ResBlock
#     28x28, c     upsample x2, conv, [ , skip 1], ResBlock, GroupNorm, SiLU, conv -> eps
#
# A ResBlock is GroupNorm, SiLU, conv, *plus the embedding of t (and of the
# label)*, GroupNorm, SiLU, conv, plus its input. [a, b] joins channels; its
# backward splits the gradient by channels, and the skip's share is added to
# the gradient that reaches the same tensor along the way down.
# tests/test_diffusion.py proves the whole U-Net's gradient in float64.

# %%
import os
import time

import numpy as np

from aigc_np.data import load_dataset, to_tanh, to_unit
from aigc_np.evaluation.judge import label_accuracy, load_judge
from aigc_np.evaluation.metrics import evaluate_images
from aigc_np.models.diffusion import ddim_timesteps
from aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result
from aigc_np.kinds import KINDS, build_model, recipe
from aigc_np.kinds.diffusion import generate_diffusion_images
from aigc_np.plan import Plan
from aigc_np.plotting import plot_curves, plot_history, plot_panels, save_image_grid
from aigc_np.training import train

parser = lesson_parser(__doc__, out="out/16_diffusion_mnist")
parser.add_argument("--model", choices=["ddpm", "cddpm", "both"], default="both")
parser.add_argument("--epochs", type=int, default=recipe("ddpm")[1]["epochs"], help="epochs of each model")
parser.add_argument("--width", type=int, default=KINDS["ddpm"].defaults["width"], help="U-Net channels at 28x28")
parser.add_argument("--prediction", choices=["v", "eps"], default="v", help="what the U-Net predicts (section 2)")
parser.add_argument("--guidance", type=float, default=KINDS["cddpm"].defaults["guidance"], help="the cddpm's w")
parser.add_argument("--n-eval", type=int, default=1000, help="samples for the judge and FD")
parser.add_argument("--n-sweep", type=int, default=500, help="samples per point of the steps and guidance sweeps")
args = parse_lesson_args(parser)
config, steps_cap = {"width": args.width, "guidance": args.guidance, "prediction": args.prediction}, None
if args.quick:
    args.epochs, args.n_eval, args.n_sweep, steps_cap = 1, 40, 20, 3
    config = {"width": 4, "groups": 2, "T": 100, "steps": 3, "guidance": args.guidance, "prediction": args.prediction}
lesson_start = time.perf_counter()
data = load_dataset(seed=0)  # whatever --seed: the split the judge was trained on
judge, real, train_real = load_judge(), to_unit(data.x_val), to_unit(data.x_train)
print("data:", data.source)


def fit(kind):
    """Train a ``kind`` model (the kind's defaults + ours) with the shared loop; last.npz in out/<kind>."""
    model = build_model(kind, {k: v for k, v in config.items() if kind == "cddpm" or k != "guidance"},
                        rng=np.random.default_rng(args.seed + 1))
    x = to_tanh(data.x_train)[:, None]                                        # (N, 1, 28, 28) in [-1, 1]
    grid_labels = np.repeat(np.arange(10), 2) if kind == "cddpm" else None   # a glance per epoch: 20 digits, 5 steps
    plan = Plan.epochs(args.epochs, recipe(kind)[1]["batch_size"], len(x), max_steps_per_epoch=steps_cap)
    print(f"\n{kind}: U-Net of width {model.net.width}, {model.net.num_params():,} parameters; schedule "
          f"{model.schedule.kind}, T = {model.schedule.T}; {args.epochs} epochs of batch {plan.batch_size}")
    start = time.perf_counter()
    history = train(model, (x, data.y_train) if kind == "cddpm" else (x,), plan, rng=np.random.default_rng(args.seed),
                    out_dir=os.path.join(args.out, kind), label=f"{kind} ", grid=lambda m: generate_diffusion_images(
                        m, 20, np.random.default_rng(args.seed + 3), grid_labels, steps=5))
    seconds = time.perf_counter() - start
    print(f"{kind}: trained in {seconds:.0f} s ({seconds / 60:.1f} min); final loss {history[-1]['loss']:.4f}")
    return model, history, seconds


def scores(images, labels=None) -> dict:
    r = evaluate_images(images, real, train_images=train_real, judge=judge, seed=args.seed)
    if labels is not None:
        r["label_accuracy"] = label_accuracy(images, labels, judge)
    return r


# %% [markdown]
# ## 2. Training: the ring's loss, with a better-conditioned target
# Each step: a batch x_0, a timestep t ~ U{0..999} and a noise eps per image,
# x_t = sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps (ab = alpha_bar), and one Adam
# step (lr 1e-3). On the ring the network predicted eps. Here it predicts
# v = sqrt(ab_t) eps - sqrt(1 - ab_t) x_0, because of what the sampler does
# with the prediction: it turns it into an image,
#
#     from eps:  x_0 = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)
#     from v:    x_0 = sqrt(ab_t) x_t - sqrt(1 - ab_t) v
#
# At the first DDIM step ab_t is about 2e-9, so an error in eps reaches x_0
# multiplied by 1 / sqrt(ab_t), about 20,000; an error in v reaches it
# multiplied by at most 1. A small network trained for minutes gets eps
# almost right, and that is not enough: its samples start from a wrong x_0
# and keep its grey background (docs/experiments.md, lesson 16). The loss is
# mean ||v_theta(x_t, t) - v||^2; at t near 0, v is about eps, at t near T,
# about -x_0. The samples come from an exponential moving average of the
# weights (decay 0.999, warmed up over the first steps). The shared training
# loop draws a grid per epoch.

# %%
results = {}
if args.model in ("ddpm", "both"):
    ddpm, history, train_seconds = fit("ddpm")
    print("saved", plot_history(history, {"simple loss": "loss"}, os.path.join(args.out, "ddpm_loss.png"),
                                ylabel=f"mean squared error of {ddpm.prediction}", title="ddpm: the denoising loss"))

    # %% [markdown]
    # ## 3. DDIM: 20 steps instead of 1,000 (the cddpm below: 10 guided steps, as many U-Net calls)
    # DDIM keeps the predicted x_0 and re-adds the predicted noise at the next,
    # lower level: x_s = sqrt(alpha_bar_s) x_0 + sqrt(1 - alpha_bar_s) eps (with
    # eta = 0 no fresh noise at all). It is the same trained network; only the
    # sampler changes. The images below: a 10x10 grid, then the trajectory, x_t
    # at several t for 8 samples (each row one sample, from noise to digit).

    # %%
    start, steps = time.perf_counter(), ddpm.config["steps"]
    images = generate_diffusion_images(ddpm, args.n_eval, np.random.default_rng(args.seed + 7))
    sample_seconds = time.perf_counter() - start
    print(f"ddpm: {args.n_eval:,} samples by DDIM ({steps} steps) in {sample_seconds:.0f} s")
    print("saved", save_image_grid(images[:100], os.path.join(args.out, "ddpm_samples.png"),
                                   title=f"ddpm, DDIM {steps} steps"))
    r = scores(images)
    print(f"ddpm: FD {r['fd']:.2f} (real {r['fd_real_baseline']:.2f}), judge confident {r['confident']:.1%}, "
          f"digit shares " + " ".join(f"{h:.1%}" for h in r["class_histogram"]))
    results["ddpm"] = {**r, "train_seconds": train_seconds, "sample_seconds": sample_seconds}
    visited = ddim_timesteps(ddpm.schedule.T, steps)                      # the S timesteps DDIM visits
    times = visited[:: max(1, len(visited) // 6)]
    final, path = ddpm.sample(8, np.random.default_rng(args.seed + 8), steps=steps, keep=tuple(times))
    frames = np.stack([path[int(t)] for t in times] + [final], axis=1)[:, :, 0]          # (8, frames, 28, 28)
    print("saved", save_image_grid(np.clip((frames.reshape(-1, 28, 28) + 1) / 2, 0, 1),
                                   os.path.join(args.out, "ddpm_trajectory.png"), nrow=frames.shape[1],
                                   title="x_t along DDIM: t = " + ", ".join(map(str, times)) + ", then x_0"))

    # %% [markdown]
    # ## 4. How many steps?
    # Fewer steps are faster but each jump is larger, so the path strays from
    # the one the network was trained along. FD (lesson 09; lower is better)
    # against S, on --n-sweep samples (FD grows as the sample set shrinks, so
    # compare these points with each other, not with the FD above):

    # %%
    step_counts = [3, 5] if args.quick else [5, 10, 20, 50]
    fds = []
    for s in step_counts:
        start = time.perf_counter()
        imgs = generate_diffusion_images(ddpm, args.n_sweep, np.random.default_rng(args.seed + 9), steps=s)
        fds.append(scores(imgs)["fd"])
        print(f"  DDIM {s:3d} steps: FD {fds[-1]:.2f} ({time.perf_counter() - start:.0f} s)")
    print("saved", plot_curves({"FD": (step_counts, fds)}, os.path.join(args.out, "steps_vs_fd.png"),
                               xlabel="DDIM steps S", ylabel="Frechet distance", title="fewer steps, worse samples"))
    results["ddpm"]["steps_fd"] = dict(zip(step_counts, fds))

# %% [markdown]
# ## 5. Asking for a digit: classifier-free guidance
# The cddpm's U-Net adds a label embedding to the time embedding. In
# training, one label in ten is replaced by the "null" label 10, so the same
# network also learns eps(x, t, null), the unconditional model. Sampling with
#
#     eps = (1 + w) eps(x, t, y) - w eps(x, t, null)
#
# follows eps(x, t, y) and then w times further along the difference: away
# from "any digit", towards "this digit". Both predictions go through the
# network as one batch, so a guided step costs two U-Net calls. Rows below:
# row k asks for digit k.

# %%
if args.model in ("cddpm", "both"):
    cddpm, history, train_seconds = fit("cddpm")
    grid = generate_diffusion_images(cddpm, 100, np.random.default_rng(args.seed + 7), np.repeat(np.arange(10), 10))
    print("saved", save_image_grid(grid, os.path.join(args.out, "cddpm_rows_are_digits.png"),
                                   title=f"cddpm, w = {args.guidance}: row k asks for digit k"))
    labels = np.arange(args.n_eval) % 10
    start = time.perf_counter()
    images = generate_diffusion_images(cddpm, args.n_eval, np.random.default_rng(args.seed + 7), labels)
    sample_seconds = time.perf_counter() - start
    r = scores(images, labels)
    print(f"cddpm, w = {args.guidance}, DDIM {cddpm.config['steps']} steps: judge accuracy on the requested labels "
          f"{r['label_accuracy']:.1%}, FD {r['fd']:.2f}, {args.n_eval:,} samples in {sample_seconds:.0f} s")
    results["cddpm"] = {**r, "train_seconds": train_seconds, "sample_seconds": sample_seconds}

    # %% [markdown]
    # ## 6. The guidance sweep: quality against diversity
    # Larger w: digits more typical of their class (higher label accuracy and
    # precision), but less varied (lower recall) -- and past some w, FD rises.

    # %%
    sweep, sweep_labels = {}, np.arange(args.n_sweep) % 10
    for w in [0.0, 1.0, 3.0, 5.0]:
        sweep[w] = scores(generate_diffusion_images(cddpm, args.n_sweep, np.random.default_rng(args.seed + 9),
                                                    sweep_labels, guidance=w), sweep_labels)
        print(f"  w = {w:.0f}: label accuracy {sweep[w]['label_accuracy']:.1%}, FD {sweep[w]['fd']:.2f}, "
              f"precision {sweep[w]['precision']:.2f}, recall {sweep[w]['recall']:.2f}")
    ws = list(sweep)
    trade = {name: (ws, [sweep[w][key] for w in ws]) for name, key in
             [("label accuracy", "label_accuracy"), ("precision", "precision"), ("recall", "recall")]}
    print("saved", plot_panels([{"curves": trade, "xlabel": "guidance weight w", "marker": "o"},
                                {"curves": {"FD": (ws, [sweep[w]["fd"] for w in ws])}, "xlabel": "guidance weight w",
                                 "ylabel": "Frechet distance", "marker": "o"}],
                               os.path.join(args.out, "guidance_sweep.png"), panel_size=(4.5, 3.4),
                               title="classifier-free guidance: more w, more typical digits, less variety"))
    results["cddpm"]["sweep"] = sweep

parts = []
if "ddpm" in results:
    r = results["ddpm"]
    parts.append(f"ddpm: judge confident {r['confident']:.1%} of {r['n']:,} DDIM-{ddpm.config['steps']} samples, "
                 f"rarest digit {min(r['class_histogram']):.1%}, FD {r['fd']:.2f} (real {r['fd_real_baseline']:.2f}), "
                 f"{r['train_seconds'] / 60:.1f} min training, {r['sample_seconds']:.0f} s to sample")
if "cddpm" in results:
    r = results["cddpm"]
    parts.append(f"cddpm: label accuracy {r['label_accuracy']:.1%} at w = {args.guidance} and "
                 f"DDIM-{cddpm.config['steps']}, FD {r['fd']:.2f}, {r['train_seconds'] / 60:.1f} min training, "
                 f"{r['sample_seconds']:.0f} s to sample")
print_result(args, "16", "; ".join(parts) + f"; {time.perf_counter() - lesson_start:.0f} s for the lesson",
             f"python lessons/16_diffusion_mnist.py --model {args.model} --epochs {args.epochs} "
             f"--prediction {args.prediction} --n-sweep {args.n_sweep}")

# %% [markdown]
# ## Summary
# * A diffusion model on images is the ring's recipe with a U-Net: mean
#   squared error, uniform t; predicting v instead of eps keeps the few-step
#   sampler's first jumps sane.
# * DDIM samples with the same network in S << T steps; fewer steps cost quality.
# * Classifier-free guidance needs no classifier: one network, trained with
#   the label sometimes dropped, and a weight w that trades variety for
#   typical, label-faithful digits.
#
# ## Suggested extensions
# 1. DDIM with eta = 1 (`--eta` on `python -m aigc_np sample`): at the same
#    steps, is FD better or worse than eta = 0?
# 2. Width 24 or 32 (`--width`): how much FD does each doubling of the
#    training time buy?
# 3. The linear schedule (config `"schedule": "linear"`): how does FD at 20
#    DDIM steps compare with the cosine schedule's?
# 4. Train with `--prediction eps` for the same epochs and look at the
#    samples: where does the grey background come from?
