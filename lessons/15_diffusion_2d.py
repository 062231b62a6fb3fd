"""Lesson 15: diffusion on the 2-D ring -- generating by removing noise.

A GAN (lesson 06) learns a map from noise to data in one jump, judged by an
opponent, and on the ring it can drop blobs for good. A diffusion model
(Ho et al. 2020) learns something far plainer: *which noise was added* to a
data point. Noising is a process we choose and know exactly; a network that
can undo one small step of it can be run backwards from pure noise, step
after step, into a sample. Its loss is a regression (mean squared error),
with no game and no opponent, so there is nothing for a mode to be dropped
in. We train one on lesson 06's ring of 8 Gaussians and count the blobs.

Run:  python lessons/15_diffusion_2d.py [--quick] [--steps 6000] [--seed 0] [--no-gan] [--out out/15_diffusion_2d]
"""
# %% [markdown]
# ## 1. The data and the forward process
# The ring of lesson 06: 8 blobs of std 0.05 on a circle of radius 2. We
# train on the points scaled by 1/2 (radius 1), so data and noise have about
# the same scale, and scale the samples back.
#
# The forward process adds a little Gaussian noise at each of T = 1000 steps,
# q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I). The sqrt(1 - beta_t)
# shrinks the signal just enough that the variance stays 1 once the data is
# gone. Composing t steps (a Gaussian of a Gaussian is a Gaussian, and the
# variances add) gives a closed form with alpha_bar_t = prod_{s <= t} (1 - beta_s):
#
#     x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps,   eps ~ N(0, I).
#
# We use Nichol & Dhariwal's cosine schedule, which destroys the signal
# evenly over the steps (Ho et al.'s linear schedule spends its last few
# hundred steps on points that are already pure noise).

# %%
import os
import time

import numpy as np

from aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result
from aigc_np.layers import Dense, LeakyReLU, Sequential
from aigc_np.models import GAN
from aigc_np.models.diffusion import Diffusion, NoiseSchedule
from aigc_np.models.unet import MLPDenoiser
from aigc_np.plotting import plot_curves, plt, save_figure
from aigc_np.course.toy import mode_coverage, ring_centres, ring_of_gaussians

parser = lesson_parser(__doc__, out="out/15_diffusion_2d")
parser.add_argument("--steps", type=int, default=6000, help="training steps of the denoiser")
parser.add_argument("--gan-steps", type=int, default=4000, help="steps of lesson 06's strong-D GAN, for comparison")
parser.add_argument("--no-gan", action="store_true", help="skip the GAN comparison")
args = parse_lesson_args(parser)
if args.quick:
    args.steps, args.gan_steps = 200, 100
lesson_start = time.perf_counter()
STD, SCALE, T = 0.05, 0.5, 1000

schedule = NoiseSchedule("cosine", T)
linear = NoiseSchedule("linear", T)
t_axis = np.arange(T)
print("saved", plot_curves({"cosine (this lesson)": (t_axis, schedule.alpha_bar),
                            "linear (Ho et al.)": (t_axis, linear.alpha_bar)},
                           os.path.join(args.out, "alpha_bar.png"), xlabel="t", ylabel="alpha_bar_t",
                           title="how much of x_0 is left in x_t: sqrt(alpha_bar_t)"))
x0 = ring_of_gaussians(1000, np.random.default_rng(args.seed + 100), std=STD) * SCALE
# The closed form is the t-fold step: check mean and variance of 50 steps applied one at a time.
chain, rng = x0.astype(np.float64), np.random.default_rng(args.seed + 1)
for t in range(50):
    chain = np.sqrt(1 - schedule.betas[t]) * chain + np.sqrt(schedule.betas[t]) * rng.standard_normal(chain.shape)
closed, _ = schedule.q_sample(x0.astype(np.float64), 49, rng)
print(f"x_49 by 50 single steps vs closed form: mean |x| {np.abs(chain).mean():.3f} vs {np.abs(closed).mean():.3f}, "
      f"std of x - sqrt(alpha_bar) x_0 {np.std(chain - np.sqrt(schedule.alpha_bar[49]) * x0):.4f} vs "
      f"{np.std(closed - np.sqrt(schedule.alpha_bar[49]) * x0):.4f} (theory {np.sqrt(1 - schedule.alpha_bar[49]):.4f})")

SNAP_T = [0, 100, 250, 500, 750, 999]


def scatter_row(points_by_t, path, title):
    fig, axes = plt.subplots(1, len(points_by_t), figsize=(2.4 * len(points_by_t), 2.6))
    for ax, (label, pts) in zip(axes, points_by_t):
        ax.scatter(pts[:, 0] / SCALE, pts[:, 1] / SCALE, s=1.5, c="k", alpha=0.5)
        ax.set_title(label, fontsize=9)
        ax.set_xlim(-4, 4)
        ax.set_ylim(-4, 4)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


noised = [(f"t = {t}", schedule.q_sample(x0, t, np.random.default_rng(args.seed + t))[0]) for t in SNAP_T]
print("saved", scatter_row(noised, os.path.join(args.out, "forward_noising.png"),
                           "forward process q(x_t | x_0): the ring dissolves into N(0, I)"))

# %% [markdown]
# ## 2. The denoiser and its loss
# eps_theta(x_t, t) is an MLP on [x_t, embed(t)]: the timestep t becomes 32
# sines and cosines of t at frequencies from 1 down to 1/10000 (so the net
# can tell t = 3 from t = 30 from t = 300), then a small MLP; three hidden
# layers of 128 SiLU units follow. The "simple" loss of Ho et al. is
#
#     L = mean || eps_theta(sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, t) - eps ||^2,
#
# with t drawn uniformly from 0..T-1 and a fresh eps for every point. It is
# a plain regression: every data point, and so every blob, pulls on the loss
# in proportion to how often it occurs. Adam at lr 1e-3 (a quarter of it for
# the last quarter of the steps), batches of 256 fresh points; the points
# that sample are an exponential moving average of the weights (decay 0.995).

# %%
rng = np.random.default_rng(args.seed)
model = Diffusion(MLPDenoiser(dim=2, hidden=128, depth=3, emb_dim=32, rng=rng), schedule, (2,), clip=False,
                  lr=1e-3, ema=0.995, rng=rng)
print(f"denoiser: {model.net.num_params():,} parameters")
data_rng, losses, start = np.random.default_rng(args.seed + 2), [], time.perf_counter()
for step in range(1, args.steps + 1):
    if step == int(0.75 * args.steps) + 1:
        model.optimizer.lr /= 4
    losses.append(model.train_step(ring_of_gaussians(256, data_rng, std=STD) * SCALE)["loss"])
    if step % max(1, args.steps // 6) == 0:
        print(f"  step {step:5d}: loss (mean of the last 100) {np.mean(losses[-100:]):.4f}")
train_seconds = time.perf_counter() - start
print(f"trained {args.steps} steps in {train_seconds:.1f} s")
smooth = np.convolve(losses, np.ones(100) / 100, mode="valid") if len(losses) >= 100 else np.array(losses)
print("saved", plot_curves({"simple loss (running mean of 100 steps)": (np.arange(len(smooth)) + 1, smooth)},
                           os.path.join(args.out, "loss.png"), xlabel="step", ylabel="mean squared error of eps",
                           title="the denoiser's loss: a regression that goes down"))
# The loss does not go to 0: at small t the added noise is far smaller than a
# blob, and no network can tell it from the blob's own spread.

# %% [markdown]
# ## 3. Sampling: the reverse process
# Start from x_999 ~ N(0, I). At each step the net's eps gives a guess of
# the clean point, x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t),
# and DDPM draws x_{t-1} from the true posterior q(x_{t-1} | x_t, x_0), a
# Gaussian that is a blend of x_0 and x_t plus fresh noise of variance
# beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t). 1,000 network calls per
# batch: cheap for points. (DDIM, lesson 16, takes far fewer steps.)

# %%
sample_rng = np.random.default_rng(args.seed + 9)
start = time.perf_counter()
samples, trajectory = model.sample(300 if args.quick else 1000, sample_rng, sampler="ddpm", keep=SNAP_T[1:][::-1])
sample_seconds = time.perf_counter() - start
reverse = [(f"t = {t}", trajectory[t]) for t in SNAP_T[::-1][:-1]] + [("sample (t = 0)", samples)]
print("saved", scatter_row(reverse, os.path.join(args.out, "reverse_denoising.png"),
                           "reverse process: 1,000 points of noise become the ring"))
samples = samples / SCALE
cov = mode_coverage(samples, std=STD)
print(f"sampled {len(samples):,} points in {sample_seconds:.1f} s; share within 3 std of each centre:")
for k, f in enumerate(cov["fractions"]):
    print(f"  mode {k} (angle {45 * k:3d} deg): {f:6.1%}  {'ok' if f >= 0.05 else 'MISSED (< 5%)'}")
print(f"  between blobs: {cov['off_mode']:.1%}")

# %% [markdown]
# ## 4. Against lesson 06's GAN
# Lesson 06's plain GAN in its strong-D setting (5 D steps per G step, lr 1e-3
# both, 4,000 steps) ended with 6, 8, 3, 5 and 5 of the 8 blobs over seeds
# 0-4. We train it again here on the same seed and put the two side by side.

# %%
gan_cov = None
if not args.no_gan:
    g_rng = np.random.default_rng(args.seed)
    G = Sequential([Dense(64), LeakyReLU(0.2), Dense(64), LeakyReLU(0.2), Dense(2)], input_shape=(2,), rng=g_rng)
    D = Sequential([Dense(64), LeakyReLU(0.2), Dense(64), LeakyReLU(0.2), Dense(1)], input_shape=(2,), rng=g_rng)
    gan = GAN(G, D, latent_dim=2, rng=g_rng, lr=1e-3, beta1=0.5)
    gan_data, start = np.random.default_rng(args.seed + 1), time.perf_counter()
    for step in range(1, args.gan_steps + 1):
        if step == int(0.75 * args.gan_steps) + 1:
            gan.opt_g.lr, gan.opt_d.lr = gan.opt_g.lr / 4, gan.opt_d.lr / 4
        x_real = ring_of_gaussians(128, gan_data, std=STD)
        for _ in range(4):  # the extra D steps of lesson 06's strong-D run
            gan.discriminator_loss(x_real, gan.sample_z(len(x_real)))
            gan.opt_d.step()
        gan.train_step(x_real)
    gan_samples = gan.sample(z=np.random.default_rng(args.seed + 9).standard_normal((1000, 2)).astype(np.float32))
    gan_cov = mode_coverage(gan_samples, std=STD)
    print(f"strong-D GAN ({args.gan_steps} steps, {time.perf_counter() - start:.0f} s): {gan_cov['modes_covered']}/8 "
          "modes, per blob " + " ".join(f"{f:.1%}" for f in gan_cov["fractions"]))
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), constrained_layout=True)
    centres = ring_centres()
    for ax, (name, pts) in zip(axes[:2], [("diffusion (DDPM)", samples), ("GAN, strong D (lesson 06)", gan_samples)]):
        ax.scatter(pts[:, 0], pts[:, 1], s=1.5, c="k", alpha=0.5)
        ax.scatter(centres[:, 0], centres[:, 1], s=25, c="r", marker="x")
        ax.set_title(f"{name}: {mode_coverage(pts, std=STD)['modes_covered']}/8 modes", fontsize=9)
        ax.set_xlim(-3, 3)
        ax.set_ylim(-3, 3)
        ax.set_aspect("equal")
    width = 0.4
    axes[2].bar(np.arange(8) - width / 2, cov["fractions"], width, label="diffusion")
    axes[2].bar(np.arange(8) + width / 2, gan_cov["fractions"], width, label="GAN")
    axes[2].axhline(0.05, color="r", lw=0.8, ls="--", label="5% target")
    axes[2].set_xlabel("mode")
    axes[2].set_ylabel("share of 1,000 samples")
    axes[2].legend(fontsize=8)
    print("saved", save_figure(fig, os.path.join(args.out, "coverage_vs_gan.png")))

gan_text = (f"; lesson 06's strong-D GAN on the same seed covers {gan_cov['modes_covered']}/8" if gan_cov else "")
print_result(args, "15", f"diffusion (DDPM, T={T}, cosine) covers {cov['modes_covered']}/8 modes (per-mode share "
             f"of 1,000 samples {cov['fractions'].min():.1%} to {cov['fractions'].max():.1%}, target >= 5% each; "
             f"{cov['off_mode']:.1%} between blobs) after {args.steps} steps in {train_seconds:.0f} s of training"
             f"{gan_text}; {time.perf_counter() - lesson_start:.0f} s for the lesson",
             f"python lessons/15_diffusion_2d.py --seed {args.seed}")

# %% [markdown]
# ## Summary
# * The forward process is fixed: x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps,
#   in closed form for any t. Nothing about it is learned.
# * The network only learns to predict eps: a mean squared error, with no
#   opponent. Every blob contributes to that loss, so none is given up.
# * Sampling runs the process backwards, one posterior step at a time, from
#   pure noise; here 1,000 small network calls per point.
# * The price: where a GAN draws a sample in one call, DDPM takes T calls.
#   Lesson 16 cuts that with DDIM and moves to images with a U-Net.
#
# ## Suggested extensions
# 1. Train with the linear schedule (`NoiseSchedule("linear", T)`): how many
#    training steps does it need for 8/8 modes?
# 2. Sample with DDIM (`model.sample(..., sampler="ddim", steps=S)`) for S = 10, 50, 200:
#    at what S do the blobs blur and the coverage drop?
# 3. The 25-Gaussian grid of lesson 06's extension: does the diffusion model
#    still cover every mode with the same recipe?
