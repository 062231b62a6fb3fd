"""Lesson 18: latent diffusion -- Stable Diffusion in miniature.

Lesson 16's pixel DDPM spends every step on 784 pixels and, after 17 minutes
on a CPU, still draws malformed digits. Stable Diffusion (Rombach et al.
2022) answers with a division of labour: a small autoencoder learns to
squeeze an image into a latent grid and back, and the diffusion model works
only in that latent space, where a step costs a fraction of a pixel step.
Here: a convolutional autoencoder 28x28x1 -> 7x7x4 (with a light KL term,
as SD's), then lesson 17's flow matching on the latents with a residual
MLP, sampled with 50 Euler steps, autoguided by an early copy of itself,
and decoded. It is the ``ldm`` kind: ``python -m aigc_np train ldm`` runs
the same recipe through the same loop.

Expected (docs/experiments.md): FD about 5 over 5 sets of 1,000 samples
(real digits 3.5; without the guidance about 10; lesson 07's GAN 13, the
pixel DDPM 90), 91% of them judge-confident, every digit >= 8%; about 13
minutes on an idle core (``--quick``: a few seconds, numbers meaningless).

Run:  python lessons/18_latent_diffusion.py [--quick] [--epochs E] [--ae-steps K] [--seed 0]
      python lessons/18_latent_diffusion.py --checkpoint runs/ldm/best.npz [--ddpm runs/ddpm/best.npz]
            (score a trained ldm instead, with a pixel DDPM's DDIM beside it)
"""
# %% [markdown]
# ## 1. The plan: one model, two phases
# ``LatentDiffusion.train_step`` trains the autoencoder for its first
# ``ae_steps`` steps (binary cross-entropy of the decoded draw plus 0.001 x KL),
# then freezes it and trains the flow-matching denoiser on the encoder's
# means, scaled by one number so that their standard deviation is 1 (SD's
# "scale factor"; the denoiser's noise has std 1, so the data should too).
# Each phase warms its learning rate up and decays it along a cosine.

# %%
import os
import time

import numpy as np

from aigc_np.checkpoint import load_model
from aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result
from aigc_np.data import load_dataset, to_unit
from aigc_np.evaluation.judge import label_accuracy  # noqa: F401  (used in the extensions)
from aigc_np.evaluation.quality import SampleScorer, describe_scores
from aigc_np.kinds import build_model, generate, recipe
from aigc_np.kinds.diffusion import DIFFUSION
from aigc_np.plotting import plot_history, save_image_grid
from aigc_np.training import train

config, train_settings = recipe("ldm")
parser = lesson_parser(__doc__, out="out/18_latent_diffusion")
parser.add_argument("--epochs", type=int, default=train_settings["epochs"], help="epochs of the denoiser")
parser.add_argument("--ae-steps", type=int, default=config["ae_steps"], help="steps of the autoencoder")
parser.add_argument("--n-eval", type=int, default=1000, help="samples scored (the project's yardstick: 1,000)")
parser.add_argument("--sets", type=int, default=5, help="sets of samples scored (FD varies between sets)")
parser.add_argument("--checkpoint", help="an ldm checkpoint (e.g. from python -m aigc_np train ldm) to score, "
                                         "instead of training one here")
parser.add_argument("--ddpm", help="a pixel DDPM checkpoint (python -m aigc_np train ddpm): its DDIM joins the "
                                   "steps sweep, on the same yardstick")
args = parse_lesson_args(parser)
config["ae_steps"], train_settings["epochs"], train_settings["eval_every"] = args.ae_steps, args.epochs, args.epochs
if args.quick:
    config, train_settings = DIFFUSION.quick(config, train_settings)
    args.n_eval, args.sets = 50, 1
lesson_start = time.perf_counter()
data = load_dataset(seed=0)
x = to_unit(data.x_train)[:, None]                   # (4500, 1, 28, 28) in [0, 1]: the AE's targets
model = build_model("ldm", config, rng=np.random.default_rng(args.seed + 1))
print(f"autoencoder: {model.ae.num_params():,} parameters, latent {model.ae.latent_shape}; denoiser MLP: "
      f"{model.flow.net.num_params():,} parameters ({config['depth']} residual blocks of {config['width']})")

# %% [markdown]
# ## 2. Training through the one loop
# The plan is the kind's: ``ae_steps`` autoencoder steps, then ``epochs`` passes
# of the denoiser over the 4,500 latents in batches of 256. The loss column is
# the autoencoder's for the first rows, then the flow's velocity MSE.

# %%
plan = DIFFUSION.plan(train_settings, (x,), config, quick=args.quick)
start, cpu_start = time.perf_counter(), time.process_time()
if args.checkpoint:
    model, meta = load_model(args.checkpoint)
    config = model.config
    print(f"loaded {args.checkpoint}: step {meta['step']} (not trained here)")
else:
    history = train(model, (x,), plan, rng=np.random.default_rng(args.seed), out_dir=os.path.join(args.out, "ldm"),
                    label="ldm ")
    print("saved", plot_history(history, {"loss": "loss"}, os.path.join(args.out, "loss.png"), x="step",
                                title="loss: the autoencoder's, then the denoiser's"))
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
print(f"{plan.steps} steps ({config['ae_steps']} autoencoder, {plan.steps - config['ae_steps']} denoiser) in "
      f"{seconds:.0f} s ({cpu:.0f} s of CPU time); latent scale {model.ae.latent_scale[0]:.3f}")

# %% [markdown]
# ## 3. What the autoencoder keeps
# The decoder's reconstructions bound everything the denoiser can reach: a
# perfect denoiser would sample exactly the distribution of decoded latents.
# Scoring the reconstructions of held-out digits on the yardstick shows
# that bound (FD in the judge's features against 4,000 training images).

# %%
scorer = SampleScorer(data, n=args.n_eval)
held_out = to_unit(data.x_val)[:min(args.n_eval, len(data.x_val))][:, None]
model.eval()
recon = model.ae.decode(model.ae.encode(held_out))[:, 0]
pairs = np.concatenate([held_out[:50, 0], recon[:50]])
print("saved", save_image_grid(pairs, os.path.join(args.out, "reconstructions.png"), value_range=(0.0, 1.0),
                               title="top: held-out digits; bottom: decoded from 7x7x4 latents"))
r = SampleScorer(data, n=len(recon)).score(recon)
print(f"reconstructions of {len(recon)} validation digits: FD {r['fd']:.1f}, judge confident {r['confident']:.1%}")
z = model.to_latent(x[:1000])
print(f"scaled latents: mean {z.mean():+.3f}, std {z.std():.3f} (the noise the flow starts from: 0, 1)")

# %% [markdown]
# ## 4. Sampling: noise -> latent -> image, with autoguidance
# 50 Euler steps of the flow's ODE on (N, 4, 7, 7) latents, then one pass of
# the decoder. Each step follows the autoguided velocity (Karras et al. 2024)
#
#     v = (1 + w) v_theta(z, t) - w v_guide(z, t),
#
# where v_guide is the same network as it was after a quarter of its
# training (``guide_step``), kept in the checkpoint. Both err where digits are
# hard to draw, the weak one more, so stepping away from it pulls each sample
# towards what the finished model has learned well: classifier-free guidance
# without labels. It costs a second network call per step. We time 1,000
# images and score several sets against the real baseline (FD varies from set
# to set), then the first set's noise without guidance (w = 0).

# %%
w = config.get("guidance", 0.0) if model.has_guide else 0.0
t0, c0 = time.perf_counter(), time.process_time()
samples = generate(model, args.n_eval, np.random.default_rng(args.seed), guidance=w)
sample_seconds, sample_cpu = time.perf_counter() - t0, time.process_time() - c0
sets = [scorer.score(samples)] + [scorer.score(generate(model, args.n_eval, np.random.default_rng(args.seed + k),
                                                        guidance=w)) for k in range(1, args.sets)]
for k, one in enumerate(sets):
    print(f"set {k} (seed {args.seed + k}): {describe_scores(one, scorer.baseline)}")
s = {key: float(np.mean([one[key] for one in sets])) for key in ("fd", "confident")}
s["min_class"], s["classes"] = min(one["min_class"] for one in sets), min(one["classes"] for one in sets)
fds = [one["fd"] for one in sets]
print(f"{args.n_eval} samples (w = {w}) in {sample_seconds:.1f} s ({sample_cpu:.1f} s CPU); over {len(sets)} sets: "
      f"FD {s['fd']:.1f} ({min(fds):.1f}-{max(fds):.1f}), confident {s['confident']:.1%}")
plain = scorer.score(generate(model, args.n_eval, np.random.default_rng(args.seed), guidance=0.0))
print(f"set 0 without guidance (w = 0): {describe_scores(plain, scorer.baseline)}")
print("saved", save_image_grid(samples[:100], os.path.join(args.out, "samples.png"), value_range=(0.0, 1.0),
                               title=f"ldm: 100 samples, {config['steps']} Euler steps, autoguidance w = {w}"))

# %% [markdown]
# ## 5. Quality against sampling steps
# A straight-path model needs few steps. Each row: FD and the judge's
# confidence at S Euler steps and at S Heun steps (2S - 1 velocities), with
# the autoguidance of section 4, on the first set's noise; with ``--ddpm``, a
# pixel DDPM's DDIM at S steps (S U-Net calls) beside them.

# %%
sweep = {}
counts = (1, 2, 4) if args.quick else (1, 2, 4, 8, 16, 32)
samplers = {"euler": model, "heun": model}
if args.ddpm:
    samplers["ddim"] = load_model(args.ddpm)[0]
for sampler, sampled in samplers.items():
    for steps in counts:
        t0 = time.perf_counter()
        images = generate(sampled, args.n_eval, np.random.default_rng(args.seed), sampler=sampler,
                          sampling_steps=steps, **({} if sampler == "ddim" else {"guidance": w}))
        sweep[sampler, steps] = scorer.score(images)
        print(f"  {sampler:5s} {steps:2d} steps: FD {sweep[sampler, steps]['fd']:6.1f}, confident "
              f"{sweep[sampler, steps]['confident']:.1%}, rarest digit {sweep[sampler, steps]['min_class']:.1%} "
              f"({time.perf_counter() - t0:.1f} s)")
euler = " / ".join(f"{sweep['euler', k]['fd']:.0f}" for k in counts)
if args.ddpm:
    euler += "; the pixel DDPM's DDIM: " + " / ".join(f"{sweep['ddim', k]['fd']:.0f}" for k in counts)

print_result(args, "18", f"ldm FD {s['fd']:.1f} over {len(sets)} sets of {args.n_eval} (real "
             f"{scorer.baseline['fd']:.1f}), judge confident "
             f"{s['confident']:.1%}, rarest digit {s['min_class']:.1%}, {s['classes']}/10 digits (autoguidance "
             f"w = {w}; set 0 without it: FD {plain['fd']:.1f}, {plain['confident']:.1%}); reconstructions "
             f"FD {r['fd']:.1f}; {args.n_eval} samples in {sample_seconds:.1f} s ({sample_cpu:.1f} s CPU); Euler FD at "
             f"{counts} steps: {euler}; " + ("scored " + args.checkpoint if args.checkpoint else
                                            f"trained in {seconds / 60:.1f} min ({cpu / 60:.1f} min CPU)"),
             f"python lessons/18_latent_diffusion.py --seed {args.seed}")

# %% [markdown]
# ## Summary
# * Latent diffusion splits the work: an autoencoder draws the strokes, the
#   denoiser only decides *which* digit, in 196 numbers instead of 784 pixels.
# * The autoencoder's reconstructions bound the samples' quality: train it first, well.
# * The latents are scaled to unit variance so that the flow starts from the right noise.
# * A residual MLP over the flattened latent is enough at 7x7x4: at width 512 it trains
#   on about 3,900 latents per CPU second, where lesson 16's U-Net trains on 111 images.
# * Autoguidance halves the FD for one more network call per step: the guide is
#   the same network a quarter of the way through training, kept in the checkpoint.
#
# ## Suggested extensions
# 1. ``python -m aigc_np train cldm``: the same with labels and classifier-free guidance;
#    sample a row of each digit with ``--label``.
# 2. Set ``kl`` to 0 (a plain autoencoder) or 0.1: how do the latents' smoothness and the samples change?
# 3. Diffuse the latents with lesson 16's DDPM (``models.diffusion.Diffusion`` around the same MLP).
