"""Lesson 06: a GAN on a 2-D toy problem -- the adversarial game you can watch.

A GAN has no reconstruction: the generator G turns noise z into samples, the
discriminator D tells them from real data, and G learns only from D's
verdicts. Here the game is played in 2-D, on a ring of 8 Gaussian blobs,
where D's opinion is a contour plot. Then we break it twice: a G 10x faster
than D shows *mode collapse*; a D with 5 steps per G step, *mode dropping*.

Run:  python lessons/06_gan_2d_toy.py [--quick] [--steps 4000] [--out out/06_gan_2d_toy]
"""
# %% [markdown]
# ## 1. The data: a ring of 8 Gaussians
# x = 2 (cos theta_k, sin theta_k) + 0.05 N(0, I), theta_k = 2 pi k / 8, every
# blob equally likely (`aigc_np.course.toy.ring_of_gaussians`), a fresh batch every
# step. Neighbouring centres are 30 standard deviations apart: clearly
# separate modes. A sample covers blob k if it is within 3 std of centre k
# (`aigc_np.course.toy.mode_coverage`); real data puts 12.4% in each blob and 1.1% in
# none. Target: each of the 8 blobs holds at least 5% of 1,000 samples.

# %%
import os
import time

import numpy as np

from aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result
from aigc_np.models import GAN
from aigc_np.plotting import plot_curves, plot_history
from aigc_np.course.toy import mode_coverage, ring_of_gaussians
from aigc_np.course.toy_gan import plot_game_snapshots, ring_players, watch_game

parser = lesson_parser(__doc__, out="out/06_gan_2d_toy")
parser.add_argument("--steps", type=int, default=4000, help="training steps (one D and one G update each)")
args = parse_lesson_args(parser)
if args.quick:
    args.steps = 300
lesson_start = time.perf_counter()

LATENT, STD, BATCH, LR = 2, 0.05, 128, 1e-3  # LR: Adam's, both players
real = ring_of_gaussians(1000, np.random.default_rng(args.seed + 100), std=STD)
real_cov = mode_coverage(real, std=STD)
print(f"real data: {len(real)} points; per blob "
      + " ".join(f"{f:.1%}" for f in real_cov["fractions"]) + f"; between blobs {real_cov['off_mode']:.1%}")

# %% [markdown]
# ## 2. The two players
# Small MLPs with LeakyReLU(0.2) (D must pass gradient for every input;
# `aigc_np.course.toy_gan.ring_players`):
#   G: z (2) -> 64 -> 64 -> 2, a *linear* output (the ring reaches radius 2);
#   D: x (2) -> 64 -> 64 -> 1 logit, D(x) = sigmoid(logit) = P(x is real).
# Each `GAN.train_step(x_real)` is a D step on
# L_D = -[mean log D(x) + mean log(1 - D(G(z)))] (G frozen), then a G step on
# L_G = -mean log D(G(z)), whose gradient reaches G *through* D's backward
# pass (only G's Adam steps). This "non-saturating" loss replaces minimizing
# log(1 - D(G(z))), whose gradient vanishes exactly when G is bad and D sure.
# At the balance D says 1/2 everywhere: L_D = 2 log 2 = 1.39, L_G = log 2 = 0.69.


# %%
def make_gan(seed, lr_g, lr_d):
    rng = np.random.default_rng(seed)
    G, D = ring_players(rng)
    return GAN(G, D, latent_dim=LATENT, rng=rng, lr=lr_g, lr_d=lr_d, beta1=0.5)


gan = make_gan(args.seed, LR, LR)
print(gan.summary())

# %% [markdown]
# ## 3. Training: watch the game
# A fresh real batch, one `train_step` (`aigc_np.course.toy_gan.train_on_ring`), and
# every 100 steps 1,000 samples of a *fixed* z: blobs covered, mean D(x) on
# real and fake points. The game never quite settles, so both learning rates
# drop to a quarter for the last quarter of the steps (docs/experiments.md, lesson 06).

# %%
fixed_z = np.random.default_rng(args.seed + 7).standard_normal((1000, LATENT)).astype(np.float32)
gx, gy = np.meshgrid(np.linspace(-3, 3, 121), np.linspace(-3, 3, 121))  # where D's surface is drawn


def train_gan(model, steps, label, snap_at, d_steps=1):
    """Train and watch (`aigc_np.course.toy_gan.watch_game`): a log row per 100 steps, snapshots at
    ``snap_at``; the same real batches (seed + 1) for every run. Returns (log, snaps, seconds)."""
    return watch_game(model, steps, np.random.default_rng(args.seed + 1), STD, real, fixed_z, (gx, gy), snap_at,
                      label, BATCH, d_steps)


snap_steps = sorted({0, max(1, args.steps // 20), args.steps // 8, args.steps // 4, args.steps // 2, args.steps})
log, snaps, seconds = train_gan(gan, args.steps, "good", set(snap_steps))
print(f"trained {args.steps} steps (batch {BATCH}) in {seconds:.1f} s")

# %% [markdown]
# ## 4. Pictures of the game
# Background: D(x) (yellow: "real", purple: "fake") and its 0.5 contour; red
# crosses: the centres; dots: G's samples. D first marks the samples' region
# fake and the ring real; the samples slide along D's gradient to the blobs,
# and D flattens towards 1/2 near the data (far away, D is arbitrary).

# %%
print("saved", plot_game_snapshots(snaps, gx, gy, STD, os.path.join(args.out, "game_snapshots.png"),
                                   f"GAN on the ring: G and D both at lr {LR}"))
print("saved", plot_history(log, {"L_D": "d_loss", "L_G": "g_loss",
                                  "2 log 2 (L_D at equilibrium)": lambda r: 2 * np.log(2),
                                  "log 2 (L_G at equilibrium)": lambda r: np.log(2)},
                             os.path.join(args.out, "losses.png"), x="step", ylabel="loss (mean per 100 steps)",
                             title="the two losses: neither goes to 0"))
print("saved", plot_history(log, {"mean D(real)": "D(real)", "mean D(fake)": "D(fake)"},
                             os.path.join(args.out, "d_outputs.png"), x="step", ylabel="D(x)",
                             title="D's average verdicts stay near 1/2: neither player wins"))

# %% [markdown]
# ## 5. Did G cover every mode?
# 1,000 *fresh* samples (new z, not the fixed ones), counted per blob.

# %%
fresh_z = np.random.default_rng(args.seed + 9).standard_normal((1000, LATENT)).astype(np.float32)
final = gan.sample(z=fresh_z)
good_cov = mode_coverage(final, std=STD)
print("good run, share of 1,000 samples within 3 std of each centre:")
for k, f in enumerate(good_cov["fractions"]):
    print(f"  mode {k} (angle {45 * k:3d} deg): {f:6.1%}  {'ok' if f >= 0.05 else 'MISSED (< 5%)'}")
print(f"  between blobs: {good_cov['off_mode']:.1%}   (real data: {real_cov['off_mode']:.1%})")
# G maps one connected cloud of z onto 8 blobs: a few samples always land on the "bridges".

# %% [markdown]
# ## 6. Breaking it: mode collapse
# Only the learning rates change: G gets 3e-3 and D 3e-4, so G adapts 10x
# faster than D can respond. G moves *all* its samples to wherever D now
# believes "real" is most likely -- one spot; by the time D marks it fake, G
# has jumped to the next: one tight clump hopping from snapshot to snapshot.
# The losses stay as "healthy" as the good run's (near 1.39 and 0.69): only
# the samples reveal the collapse. Once the learning rates drop, G can find
# its way back (the seeds' results: docs/experiments.md, lesson 06).

# %%
collapse = make_gan(args.seed, lr_g=3e-3, lr_d=3e-4)
collapse_snap_steps = set(np.linspace(args.steps / 8, args.steps, 8).astype(int).tolist())
c_log, c_snaps, c_seconds = train_gan(collapse, args.steps, "collapse", collapse_snap_steps)
print("saved", plot_game_snapshots(c_snaps, gx, gy, STD, os.path.join(args.out, "collapse_snapshots.png"),
                                   "mode collapse: G at lr 3e-3, D at lr 3e-4 -- one clump hopping around"))


def clump_angle(samples):
    """Where most samples are: the angle (degrees) of the samples' median point."""
    m = np.median(samples, axis=0)
    return np.degrees(np.arctan2(m[1], m[0])) % 360, float(np.mean(np.linalg.norm(samples - m, axis=1)))


print(f"collapse run, per snapshot: where the samples' median is, and how far the samples are from it "
      f"(real data: {clump_angle(real)[1]:.2f})")
for snap in c_snaps:
    angle, spread = clump_angle(snap["samples"])
    cov = mode_coverage(snap["samples"], std=STD)
    print(f"  step {snap['step']:5d}: clump at {angle:5.1f} deg, mean distance to it {spread:.2f}, "
          f"modes covered {cov['modes_covered']}/8")
print(f"  (the good run's samples: mean distance to their median {clump_angle(final)[1]:.2f})")


def curve(run_log, key):
    """(steps, values) of one key of a run's log, for plot_curves."""
    return [r["step"] for r in run_log], [r[key] for r in run_log]


def last_quarter(run_log, key):
    return np.mean([r[key] for r in run_log[-len(run_log) // 4:]])


print("saved", plot_curves({"L_D good run": curve(log, "d_loss"), "L_D collapse run": curve(c_log, "d_loss"),
                            "L_G good run": curve(log, "g_loss"), "L_G collapse run": curve(c_log, "g_loss")},
                           os.path.join(args.out, "collapse_losses.png"), xlabel="step",
                           ylabel="loss (mean per 100 steps)", title="the losses do not reveal the collapse"))
print(f"mean losses over the last quarter: good run L_D {last_quarter(log, 'd_loss'):.2f} "
      f"L_G {last_quarter(log, 'g_loss'):.2f}; collapse run L_D {last_quarter(c_log, 'd_loss'):.2f} "
      f"L_G {last_quarter(c_log, 'g_loss'):.2f}")
collapse_cov = mode_coverage(collapse.sample(z=fresh_z), std=STD)
best_collapse = max(r["modes"] for r in c_log)

# %% [markdown]
# ## 7. Breaking it the other way: a discriminator that is too strong
# Back to lr 1e-3 for both; now D takes 5 updates (fresh z, the same real
# batch) per update of G and stays close to the best D for G's samples. It
# marks each empty blob "real" only on a small island; between it and G's
# samples its surface is flat near 0, so G gets no push (Arjovsky and Bottou
# 2017). The symptom is *mode dropping*: G settles early on some blobs, the
# others stay empty (no hopping, mostly no recovery), the kept ones look good.
# Seeds' results: docs/experiments.md; lesson 10 trains WGAN-GP in this setting.

# %%
D_STEPS = 5  # D updates per G update; WGAN-GP's n_critic in lesson 10
strong = make_gan(args.seed, LR, LR)
s_log, s_snaps, s_seconds = train_gan(strong, args.steps, "strong D", collapse_snap_steps, d_steps=D_STEPS)
print("saved", plot_game_snapshots(s_snaps, gx, gy, STD, os.path.join(args.out, "strong_d_snapshots.png"),
                                   f"mode dropping: D takes {D_STEPS} steps per G step (lr {LR} both) "
                                   "-- the blobs G misses stay empty"))
strong_cov = mode_coverage(strong.sample(z=fresh_z), std=STD)
print(f"strong-D run, share of 1,000 samples per blob: "
      + " ".join(f"{f:.1%}" for f in strong_cov["fractions"]) + f"; between blobs {strong_cov['off_mode']:.1%}")
print("saved", plot_curves({"good run": curve(log, "modes"), "collapse run (G lr 10x D lr)": curve(c_log, "modes"),
                            f"strong-D run ({D_STEPS} D steps per G step)": curve(s_log, "modes")},
                           os.path.join(args.out, "modes_covered.png"), xlabel="step",
                           ylabel="modes with >= 5% of samples", title="mode coverage during training"))

print_result(args, "06", f"good GAN covers {good_cov['modes_covered']}/8 modes after {args.steps} steps "
             f"(per-mode share of 1,000 samples {good_cov['fractions'].min():.1%} to "
             f"{good_cov['fractions'].max():.1%}, target >= 5% each; {good_cov['off_mode']:.1%} between blobs; "
             f"std {STD}); collapse run (lr_g 3e-3, lr_d 3e-4) covers {collapse_cov['modes_covered']}/8 at the end "
             f"and at most {best_collapse}/8 at any check; strong-D run ({D_STEPS} D steps per G step, lr {LR} both) covers "
             f"{strong_cov['modes_covered']}/8 at the end; {time.perf_counter() - lesson_start:.0f} s for the lesson",
             f"python lessons/06_gan_2d_toy.py --seed {args.seed}")

# %% [markdown]
# ## Summary
# * Two networks, two optimizers; each step updates only its own player, and
#   G learns only through D's gradient. The losses sit near 2 log 2 and log 2
#   at the balance: they do not go to 0 and do not measure the samples.
# * Mode collapse: a G that outpaces D gathers all samples where D is weakest
#   and hops from mode to mode (keep D at least as quick as G). Mode dropping:
#   a D far ahead of G lets G lose blobs for good (WGAN-GP, lesson 10, is for that).
# Next: the same game on MNIST digits, where collapse is harder to see.
#
# ## Suggested extensions
# 1. Instance noise: add N(0, s^2) (s from 0.1 down to 0) to D's inputs; report
#    the modes covered at the end of both collapse-prone settings.
# 2. 2 D steps per G step in section 6's setting: does coverage recover? How
#    many D steps per G step (1, 2, 3, 5) start dropping modes at lr 1e-3?
# 3. A ring of 25 Gaussians on a 5x5 grid: how many modes does the recipe cover?
