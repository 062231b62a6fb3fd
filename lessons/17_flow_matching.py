"""Lesson 17: flow matching -- straight lines from noise to data.

Lessons 15-16 built diffusion from a noising *process* and ran it backwards
step by step. Flow matching (rectified flow; Lipman et al. 2023, Liu et al.
2023, and Stable Diffusion 3, Esser et al. 2024) keeps only the part that
works: draw a data point x_0 and a noise eps, join them by a straight line
x_t = (1 - t) x_0 + t eps, and teach a network the velocity eps - x_0 of a
point moving along it. Sampling solves the ODE dx/dt = v_theta(x, t) from
t = 1 (noise) to t = 0 (data) with Euler's method. We train it on lesson
06's ring, put it beside a v-prediction DDPM trained the same way, count
the blobs at 1 to 32 sampling steps, and finish on MNIST digits in latent
space (the model lesson 18 builds).

Expected: 8/8 blobs on the ring (lesson 15's target) after 6,000 steps, in
about 20 s on an idle core; from 8 sampling steps on, Euler and Heun cover
8/8 with fewer points between the blobs than DDIM (7/8 at 8 steps). About
a minute in all.

Run:  python lessons/17_flow_matching.py [--quick] [--steps 6000] [--seed 0] [--out out/17_flow_matching]
"""
# %% [markdown]
# ## 1. The straight path and its velocity
# x_t = (1 - t) x_0 + t eps moves at the constant velocity v = eps - x_0. Many
# lines pass through one point x_t, so the best a network can predict there is
# their *average* velocity, E[eps - x_0 | x_t]; following that average field
# from noise carries the whole Gaussian onto the data. The loss is a plain
# regression, mean ||v_theta(x_t, t) - (eps - x_0)||^2 (``models/flow.py``).

# %%
import os
import time

import numpy as np

from aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result
from aigc_np.course.toy import mode_coverage, ring_of_gaussians
from aigc_np.models.diffusion import Diffusion, NoiseSchedule
from aigc_np.models.flow import FlowMatching, draw_times, flow_path
from aigc_np.models.unet import MLPDenoiser
from aigc_np.plotting import plt, save_figure

parser = lesson_parser(__doc__, out="out/17_flow_matching")
parser.add_argument("--steps", type=int, default=6000, help="training steps of each model on the ring")
args = parse_lesson_args(parser)
if args.quick:
    args.steps = 150
lesson_start = time.perf_counter()
STD, SCALE = 0.05, 0.5     # lesson 15's ring, trained at radius 1
STEP_COUNTS = (1, 2, 4, 8, 16, 32)

rng = np.random.default_rng(args.seed)
x0 = ring_of_gaussians(6, rng, std=STD) * SCALE
eps = rng.standard_normal(x0.shape)
t = np.linspace(0, 1, 11)
path = np.stack([flow_path(x0, eps, np.full(6, ti))[0] for ti in t])       # (11, 6, 2)
print("a point's path, at t = 0, 0.5, 1:", np.round(path[[0, 5, 10], 0], 3), "-- a straight line")

# %% [markdown]
# ## 2. Flow matching against the v-prediction DDPM
# Lesson 16's DDPM predicts v = sqrt(a) eps - sqrt(1 - a) x_0 (a = alpha_bar_t) on a
# quarter-circle path x_t = sqrt(a) x_0 + sqrt(1 - a) eps. Both networks
# predict a *velocity* of their path, and both carry the same information:
# knowing x_t, an error dv is an error in x_0. On the straight path x_0 =
# x_t - t v, so ||dv||^2 = ||dx_0||^2 / t^2; on the DDPM's, ||dv||^2 = ||dx_0||^2 / (1 - a).
# Written with the signal-to-noise ratio of x_t, SNR = (1 - t)^2 / t^2 or a / (1 - a):
#
#     flow matching: (1 + sqrt(SNR))^2 ||dx_0||^2        v-DDPM: (1 + SNR) ||dx_0||^2
#
# The weights coincide where noise dominates (SNR -> 0) and differ by at most 2x
# (at SNR = 1). What really differs is the path (straight, not variance
# preserving), which t the loss sees, and the sampler.

# %%
snr = np.array([0.01, 0.1, 1.0, 10.0, 100.0])
print("SNR        " + "  ".join(f"{s:7.2f}" for s in snr))
print("flow (x0)  " + "  ".join(f"{w:7.2f}" for w in (1 + np.sqrt(snr)) ** 2))
print("v-DDPM (x0)" + "  ".join(f"{w:7.2f}" for w in 1 + snr))

# %% [markdown]
# ## 3. Training both on the ring
# The same MLP as lesson 15 (3 x 128 SiLU, time embedding), Adam 1e-3 (a quarter
# of it for the last quarter), batches of 256 fresh points, an EMA of 0.995.
# Flow matching draws t uniformly in (0, 1). (Esser et al.'s logit-normal t,
# which SD3 uses for images, rarely visits t near 0, where these blobs of
# std 0.05 are sharpened: on the ring it left 0 to 8 blobs over 10 seeds at
# 3,000 steps, uniform t 8/8 on 10/10 at 6,000 -- docs/experiments.md.)


# %%
def train(model, label):
    data, losses, start = np.random.default_rng(args.seed + 2), [], time.perf_counter()
    for step in range(1, args.steps + 1):
        if step == int(0.75 * args.steps) + 1:
            model.optimizer.lr /= 4
        losses.append(model.train_step(ring_of_gaussians(256, data, std=STD) * SCALE)["loss"])
        if step % max(1, args.steps // 3) == 0:
            print(f"  {label} step {step:5d}: loss (mean of the last 100) {np.mean(losses[-100:]):.4f}")
    return time.perf_counter() - start


def mlp(seed):
    return MLPDenoiser(dim=2, hidden=128, depth=3, emb_dim=32, rng=np.random.default_rng(seed))


flow = FlowMatching(mlp(args.seed), (2,), lr=1e-3, ema=0.995, time_distribution="uniform",
                    rng=np.random.default_rng(args.seed))
flow_seconds = train(flow, "flow matching")
ddpm = Diffusion(mlp(args.seed), NoiseSchedule("cosine", 1000), (2,), lr=1e-3, ema=0.995, clip=False,
                 prediction="v", rng=np.random.default_rng(args.seed))
ddpm_seconds = train(ddpm, "v-DDPM")
print(f"trained {args.steps} steps each: flow matching {flow_seconds:.1f} s, v-DDPM {ddpm_seconds:.1f} s")

# %% [markdown]
# ## 4. Sampling in few steps
# Euler: x_{t-h} = x_t - h v_theta(x_t, t), ``S`` network calls. Heun averages the
# slopes at both ends of each step (2S - 1 calls). DDIM (lesson 16) is the
# DDPM's deterministic few-step sampler. We count blobs (>= 5% of 1,000
# samples within 3 std of a centre) and the share between blobs.

# %%
n = 300 if args.quick else 1000
table = {}
for name, draw in [("flow, Euler", lambda s: flow.sample(n, np.random.default_rng(9), "euler", s)),
                   ("flow, Heun", lambda s: flow.sample(n, np.random.default_rng(9), "heun", s)),
                   ("v-DDPM, DDIM", lambda s: ddpm.sample(n, np.random.default_rng(9), "ddim", s))]:
    table[name] = {}
    for s in STEP_COUNTS:
        cov = mode_coverage(draw(s) / SCALE, std=STD)
        table[name][s] = (cov["modes_covered"], cov["off_mode"])
print("modes covered / share between blobs, by sampling steps:")
print(f"{'':14s}" + "".join(f"{s:>12d}" for s in STEP_COUNTS))
for name, row in table.items():
    print(f"{name:14s}" + "".join(f"{m:>5d}/8 {off:4.0%}" for m, off in row.values()))

samples = flow.sample(n, np.random.default_rng(9), "euler", 50) / SCALE
cov = mode_coverage(samples, std=STD)
fig, axes = plt.subplots(1, 4, figsize=(13, 3.3), constrained_layout=True)
two_euler = flow.sample(n, np.random.default_rng(9), "euler", 2) / SCALE
two_ddim = ddpm.sample(n, np.random.default_rng(9), "ddim", 2) / SCALE
for ax, (title, pts) in zip(axes, [("flow, Euler 50 steps", samples), ("flow, Euler 2 steps", two_euler),
                                   ("v-DDPM, DDIM 2 steps", two_ddim)]):
    ax.scatter(pts[:, 0], pts[:, 1], s=1.5, c="k", alpha=0.5)
    ax.set_title(title, fontsize=9)
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    ax.set_aspect("equal")
# the straight training lines against the curved paths the ODE actually follows
traj_x = np.random.default_rng(5).standard_normal((40, 2)).astype(np.float32)
points = [traj_x]
grid_t = np.linspace(1, 0, 21).tolist()   # Python floats keep the points float32
for t_now, t_next in zip(grid_t[:-1], grid_t[1:]):
    points.append(points[-1] + (t_next - t_now) * flow.velocity(points[-1], t_now))
points = np.stack(points) / SCALE
axes[3].plot(points[:, :, 0], points[:, :, 1], lw=0.7, c="tab:blue")
axes[3].scatter(points[-1, :, 0], points[-1, :, 1], s=6, c="r")
axes[3].set_title("ODE paths from noise (20 Euler steps)", fontsize=9)
axes[3].set_aspect("equal")
print("saved", save_figure(fig, os.path.join(args.out, "ring_flow.png")))
print(f"flow matching, 50 Euler steps: {cov['modes_covered']}/8 modes, per-mode share "
      f"{cov['fractions'].min():.1%} to {cov['fractions'].max():.1%}, {cov['off_mode']:.1%} between blobs")
# The paths bend: the *average* of the straight training lines is not straight
# where lines to different blobs cross. Rectified flow (Liu et al.) straightens
# them further by retraining on the model's own (noise, sample) pairs.

# %% [markdown]
# ## 5. On MNIST: flow matching in a latent space
# Pixels are expensive on a CPU. Lesson 18 trains an autoencoder to a 7x7x4
# latent grid and a flow-matching MLP on those latents: `python -m aigc_np
# train ldm`. Here we time the logit-normal t that model trains with, which
# puts most of the training in the middle of the path where images are
# decided (median 0.5; 68% of draws in 0.27..0.73):

# %%
times = draw_times(100_000, np.random.default_rng(0), "logit-normal")
middle = np.mean((times > 0.27) & (times < 0.73))
print(f"logit-normal t: median {np.median(times):.2f}, share in 0.27..0.73 {middle:.0%} (uniform: 46%)"
      f", share below 0.05 {np.mean(times < 0.05):.1%} (uniform: 5%)")

euler = table["flow, Euler"]
ddim = table["v-DDPM, DDIM"]
print_result(args, "17", f"flow matching covers {cov['modes_covered']}/8 ring modes with 50 Euler steps "
             f"({cov['off_mode']:.0%} between blobs) after {args.steps} steps in {flow_seconds:.0f} s; "
             "at 1/2/4/8 steps "
             f"Euler covers {'/'.join(str(euler[s][0]) for s in (1, 2, 4, 8))} and the v-DDPM's DDIM "
             f"{'/'.join(str(ddim[s][0]) for s in (1, 2, 4, 8))}; {time.perf_counter() - lesson_start:.0f} s for the "
             "lesson", f"python lessons/17_flow_matching.py --seed {args.seed}")

# %% [markdown]
# ## Summary
# * Flow matching trains on straight lines x_t = (1 - t) x_0 + t eps with the target
#   velocity eps - x_0: a regression, like the DDPM's.
# * Knowing x_t, a velocity error is an x_0 error: its loss weighs x_0 errors by
#   (1 + sqrt(SNR))^2, the v-DDPM by 1 + SNR -- the same near pure noise, at most 2x apart.
# * Sampling is an ODE solve from noise, Euler or Heun, in as few steps as you can afford.
#
# ## Suggested extensions
# 1. Train with `time_distribution="logit-normal"` on the ring: where do the samples land?
# 2. Reflow: sample (noise, image) pairs from the trained model and train a second model on
#    those lines. How many Euler steps does it need for 8/8?
# 3. Heun with S steps costs 2S - 1 calls: compare it with Euler at the same number of calls.
