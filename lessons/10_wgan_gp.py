"""Lesson 10: WGAN-GP -- a critic, a gradient penalty, and a backward pass over the backward pass.

Lesson 06 broke a GAN twice: a G faster than D gathers every sample in one
hopping clump, and a D with 5 steps per G step makes G drop blobs for good.
In WGAN-GP (Gulrajani et al. 2017) the discriminator becomes a *critic*
whose linear output estimates the Wasserstein distance between data and
samples, kept 1-Lipschitz by a penalty on its input gradient: a loss on a
*gradient*, whose training needs a hand-written "double backward".
Part A plays on lesson 06's ring of 8 Gaussians; Part B on MNIST, scored
with lesson 09's metrics against a plain GAN trained for the same wall-clock time.

Run:  python lessons/10_wgan_gp.py [--quick] [--steps 8000] [--budget-seconds 120] [--out out/10_wgan_gp]
"""
# %% [markdown]
# ## 1. The Wasserstein game
# A plain GAN's D outputs a probability. Once D separates real from fake,
# sigmoid saturates and G's gradient fades; G then chases wherever D is
# momentarily unsure. WGAN's critic D outputs an unbounded score, and the
# players optimize
#
#     critic:     L_D = mean D(G(z)) - mean D(x) + P
#     generator:  L_G = -mean D(G(z))
#
# If D is 1-Lipschitz (|D(a) - D(b)| <= |a - b|), the best critic's
# mean D(x) - mean D(G(z)) is the Wasserstein-1 ("earth mover's") distance
# between the data and G's samples: how far the sample mass must move to
# become the data. It does not saturate, so G is always told which way to move.
#
# The Lipschitz condition is imposed softly. An optimal critic has gradient
# norm 1 almost everywhere between the two distributions, so WGAN-GP
# penalizes deviations on random points between real and fake samples:
#
#     x_hat = eps x + (1 - eps) G(z),   eps ~ U[0, 1) per example
#     P     = lambda * mean_i (||dD/dx_hat_i|| - 1)^2,   lambda = 10
#
# Recipe (the paper's): no BatchNorm in the critic (it would mix the examples
# of a batch, so "the gradient of D at x_hat_i" would not be one example's),
# n_critic = 5 critic steps per generator step, Adam lr 1e-4 with betas
# (0.0, 0.9) (`aigc_np.models.WGANGP`).
#
# ## 2. The double backward, on paper
# P needs g = dD/dx_hat: a forward pass and an ordinary backward pass with
# dy = 1. Training the critic needs dP/dtheta, the gradient of something a
# backward pass computed: so we differentiate the backward pass.
#
# Take one Dense layer followed by an activation f, h = f(a), a = x W + b.
# Its backward pass, given the upstream gradient dh, is
#
#     da = dh * f'(a)                  (activation backward)
#     dx = da W^T                      (Dense backward)
#
# Now suppose a loss L depends on dx, and we know v = dL/d(dx). Walk the
# backward computation *forwards*, applying the chain rule to each line:
#
#   Dense: dx = da W^T is linear in da and in W, and does not involve x.
#     dL/d(da) = v W                   (what the next line needs)
#     dL/dW   += v^T da                (a term of the weight gradient!)
#     dL/db    = 0, dL/dx = 0 (no direct dependence)
#   Activation: da = dh * f'(a) depends on dh *and on a*.
#     dL/d(dh) = dL/d(da) * f'(a)      (passed on up the network)
#     dL/da   += dL/d(da) * dh * f''(a)
#
# A hurried derivation drops the last line: f'' = 0 for ReLU and LeakyReLU
# (away from the kink), so code without it "works" for ReLU critics and is
# silently wrong for tanh (f'' = -2 tanh (1 - tanh^2)) or sigmoid (s (1-s)(1-2s)).
#
# dL/da is a gradient with respect to a *forward* activation, so it flows
# back through ordinary backward passes, adding every parameter's
# forward-path terms. `Sequential.backward_backward(v, dy)` is
#   1. a forward sweep of each layer's `backward_backward`, collecting the
#      direct x-terms (the f'' terms) and the direct parameter terms;
#   2. a reverse sweep of ordinary `backward` that carries the x-terms back
#      and adds the forward-path parameter terms to the direct ones.
# Each layer's method sits next to its `backward`, checked against a
# numerical derivative of it; the penalty's gradients against the model's P.
#
# `backward` *assigns* gradients, so `WGANGP.critic_loss` saves the
# Wasserstein term's gradient and adds the penalty's to it, explicitly.

# %%
import os
import time

import numpy as np

from aigc_np.data import load_dataset, minibatches, to_tanh, to_unit
from aigc_np.evaluation.judge import load_judge
from aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result
from aigc_np.evaluation.metrics import evaluate_images
from aigc_np.models import GAN, WGANGP
from aigc_np.kinds import build_model, recipe
from aigc_np.plotting import save_grid_panels
from aigc_np.course.toy import mode_coverage
from aigc_np.course.toy_gan import plot_ring_samples, ring_players, train_on_ring

parser = lesson_parser(__doc__, out="out/10_wgan_gp")
parser.add_argument("--steps", type=int, default=8000, help="toy: generator steps of both runs")
parser.add_argument("--budget-seconds", type=float, default=150.0, help="MNIST: training seconds per model")
args = parse_lesson_args(parser)
STD, n_eval = 0.05, 1000  # the blobs' standard deviation (lesson 06's); MNIST samples scored per model
if args.quick:
    args.steps, args.budget_seconds, n_eval = 200, 3.0, 200
lesson_start = time.perf_counter()

# %% [markdown]
# ## 3. Part A: the ring of 8 Gaussians
# Lesson 06's data, networks, batch 128, schedule and measurement (a mode
# holds >= 5% of 1,000 samples; `aigc_np.course.toy_gan`), in its strong-D setting
# (section 7): lr 1e-3 for both, 5 D updates per G update on the same real
# batch. That makes the plain GAN drop modes; for WGAN-GP it is its recipe,
# n_critic = 5 (`WGANGP.train_step`). The runs differ only in the loss (and
# WGAN-GP's Adam betas, (0.5, 0.9) instead of (0.5, 0.999)). Both get 8,000
# generator steps, twice lesson 06's budget: WGAN-GP's coverage grows slowly.

# %%
LATENT, D_STEPS = 2, 5
fixed_z = np.random.default_rng(args.seed + 9).standard_normal((1000, LATENT)).astype(np.float32)


def toy_run(model, label, steps, d_steps=1):
    """Lesson 06's rounds (`aigc_np.course.toy_gan.train_on_ring`), reporting the modes covered 8 times."""
    def report(step, losses):
        if step % max(1, steps // 8) == 0 or step == steps:
            cov = mode_coverage(model.sample(z=fixed_z), std=STD)
            print(f"  {label} step {step:5d}: modes covered {cov['modes_covered']}/8, "
                  f"{cov['off_mode']:.0%} between blobs")

    start = time.perf_counter()  # the same real batches (seed + 1) for every run
    train_on_ring(model, steps, np.random.default_rng(args.seed + 1), STD, 128, d_steps, on_step=report)
    samples = model.sample(z=fixed_z)
    return samples, mode_coverage(samples, std=STD), time.perf_counter() - start


rng = np.random.default_rng(args.seed)
plain = GAN(*ring_players(rng), latent_dim=LATENT, rng=rng, lr=1e-3, beta1=0.5)
rng = np.random.default_rng(args.seed)
wgan = WGANGP(*ring_players(rng, "critic"), LATENT, rng=rng, lr=1e-3, beta1=0.5, beta2=0.9, n_critic=D_STEPS)

toy = {}
for name, model, d_steps in [(f"plain GAN, {D_STEPS} D steps per G step", plain, D_STEPS),
                             (f"WGAN-GP, n_critic {D_STEPS}", wgan, 1)]:  # WGANGP.train_step takes its own 5
    toy[name] = toy_run(model, name, args.steps, d_steps)
    print(f"{name}: {toy[name][1]['modes_covered']}/8 modes in {toy[name][2]:.0f} s")

# %% [markdown]
# ## 4. One figure: collapse versus coverage
# Red crosses are the blob centres; black dots are 1,000 samples from a fixed z.

# %%
panels = {f"{name}\n{cov['modes_covered']}/8 modes, {cov['off_mode']:.0%} between": samples
          for name, (samples, cov, _) in toy.items()}
print("saved", plot_ring_samples(panels, os.path.join(args.out, "ring_plain_vs_wgan_gp.png"),
                                 f"ring of 8 Gaussians, lr 1e-3 both, {D_STEPS} D/critic steps per G step, "
                                 f"{args.steps} G steps"))
for name, (_, cov, _) in toy.items():
    print(f"{name}: per-mode share " + " ".join(f"{f:.1%}" for f in cov["fractions"]))

# %% [markdown]
# Over seeds 0-9 WGAN-GP covers all 8 blobs, the plain GAN loses some for
# good on 9 of 10. The critic's surface is smooth (gradient norm ~1), so it
# pushes less sharply into each blob: more samples lie on the "bridges". It
# does *not* cure lesson 06's other failure, a G at 10x the critic's rate: a
# critic gives good directions only once (nearly) trained for G's current
# samples, and a G that fast leaves it behind. Seeds, variants: docs/experiments.md.

# %% [markdown]
# ## 5. Part B: MNIST at equal wall-clock time
# The same seconds for both. The plain GAN: lesson 07's MLP (the article's G
# and D, lr G 2e-4 / D 4e-4, beta1 0.5, batch 64). WGAN-GP: its kind's
# recipe (the same G, a 784-512-256-1 critic, section 1's); each of its steps
# costs ~5 critic steps with a double backward, so it makes far fewer G
# updates. Scores: lesson 09's metrics beside real data.

# %%
data = load_dataset(seed=0)  # whatever --seed: the split the judge was trained on
x_train = to_tanh(data.x_train).reshape(len(data.x_train), -1)
real = to_unit(data.x_val)
judge = load_judge()
print("MNIST:", data.source, f"{len(x_train)} training images; budget {args.budget_seconds:.0f} s per model")


def train_for(model, seconds, label, batch_size=64):
    rng = np.random.default_rng(args.seed + 1)
    start, steps, epoch = time.perf_counter(), 0, 0
    while time.perf_counter() - start < seconds:
        epoch += 1
        for xb in minibatches(x_train, batch_size=batch_size, rng=rng, drop_last=True):
            losses = model.train_step(xb)
            steps += 1
            if time.perf_counter() - start >= seconds:
                break
        print(f"  {label}: epoch {epoch}, {steps} generator steps, {time.perf_counter() - start:.0f} s, "
              + ", ".join(f"{k} {v:.3f}" for k, v in losses.items()))
    return steps, time.perf_counter() - start


mrng = np.random.default_rng(args.seed + 2)
gan_mnist = build_model("gan", {"lr": 2e-4, "lr_d": 4e-4, "beta1": 0.5}, rng=mrng)
wgan_mnist = build_model("wgan-gp", recipe("wgan-gp")[0], rng=np.random.default_rng(args.seed + 3))
grids, mnist_results = {}, {}
for name, model in [("plain GAN", gan_mnist), ("WGAN-GP", wgan_mnist)]:
    steps, seconds = train_for(model, args.budget_seconds, name)
    samples = (model.sample(n_eval) + 1) / 2
    r = evaluate_images(samples.reshape(-1, 28, 28), real, judge=judge, seed=args.seed)
    mnist_results[name] = {**r, "steps": steps, "seconds": seconds}
    grids[name] = samples[:100].reshape(-1, 28, 28)
    print(f"{name}: {steps} generator steps in {seconds:.0f} s; FD {r['fd']:.1f} (real baseline "
          f"{r['fd_real_baseline']:.1f}), classes covered {r['classes_covered']}/10, "
          f"judge-confident {r['confident']:.1%}")

print("saved", save_grid_panels({f"{name}, {r['seconds']:.0f} s: FD {r['fd']:.1f}, {r['classes_covered']} classes":
                                 grids[name] for name, r in mnist_results.items()},
                                os.path.join(args.out, "mnist_plain_vs_wgan_gp.png")))

# %% [markdown]
# ## 6. Results

# %%
a = {name: cov for name, (_, cov, _) in toy.items()}
names = list(a)
g, w = mnist_results["plain GAN"], mnist_results["WGAN-GP"]
print_result(args, "10", f"ring of 8 Gaussians, lr 1e-3 both, {D_STEPS} D steps per G step, {args.steps} "
             f"G steps: {names[0]} covers {a[names[0]]['modes_covered']}/8, {names[1]} covers "
             f"{a[names[1]]['modes_covered']}/8 (per-mode {a[names[1]]['fractions'].min():.1%} to "
             f"{a[names[1]]['fractions'].max():.1%}, target >= 5% each); MNIST at {args.budget_seconds:.0f} s "
             f"each: plain GAN FD {g['fd']:.1f}, {g['classes_covered']}/10 classes, {g['confident']:.0%} confident "
             f"({g['steps']} steps) vs WGAN-GP FD {w['fd']:.1f}, {w['classes_covered']}/10 classes, "
             f"{w['confident']:.0%} confident ({w['steps']} steps); real-data FD baseline "
             f"{g['fd_real_baseline']:.1f}; {time.perf_counter() - lesson_start:.0f} s for the lesson",
             f"python lessons/10_wgan_gp.py --seed {args.seed}"
             + ("" if args.quick else f" --budget-seconds {args.budget_seconds:g}"))

# %% [markdown]
# ## Summary
# * The gradient penalty is a loss on a gradient; its exact gradient needs a
#   backward pass over the backward pass, with the f'' terms of smooth
#   activations, all checked in float64 against central differences.
# * WGAN-GP's critic gives G a non-saturating signal: where a plain GAN's
#   discriminator 5 steps ahead of G makes G drop modes, a critic 5 steps
#   ahead is what WGAN-GP wants, and it covers all 8. It is not magic: G must
#   not outrun the critic (lesson 06's G at 10x D's learning rate defeats it).
#
# ## Suggested extensions
# 1. Drop the f'' terms (return None as Tanh's x-term): which checks of
#    tests/test_wgan_gp.py fail, and by how much?
# 2. A Tanh critic on the ring (`make_critic` in tests/test_wgan_gp.py).
# 3. G at lr 3e-3, critic at 3e-4: n_critic 5, 10, 20, modes covered, two seeds.
# 4. A Conv2D critic for MNIST (no BatchNorm; Conv2D has its double backward).
