"""Lesson 05: the variational autoencoder (VAE): an autoencoder you can sample.

Lesson 04's random codes decoded to one digit over and over. In a VAE
(Kingma & Welling 2014) the encoder outputs a Gaussian cloud of codes and the
loss pulls every cloud towards N(0, I), so a draw from N(0, I) decodes to a
new digit. The loss, the negative ELBO, bounds an image's negative
log-likelihood in nats.

Run:  python lessons/05_vae.py [--quick] [--epochs 100] [--out out/05_vae]
"""
# %% [markdown]
# ## 1. Setup and data
# As in lesson 04: pixels in [0, 1], a fixed 4,500 / 500 split, seeded randomness.

# %%
import os
import time

import numpy as np

from aigc_np.data import load_dataset, to_unit
from aigc_np.gradcheck import numerical_gradient, rel_error
from aigc_np.evaluation.judge import describe_judge_scores, judge_scores, load_judge
from aigc_np.course.latent import interpolation_rows, normal_manifold, traversal_rows
from aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result
from aigc_np.losses import GaussianKL
from aigc_np.models import VAE, reparameterize, reparameterize_backward
from aigc_np.kinds import KINDS, build_model, recipe
from aigc_np.plan import Plan
from aigc_np.plotting import (originals_over_reconstructions, plot_codes, plot_history, save_image_grid,
                              save_labelled_grid)
from aigc_np.training import spaced_rows, train

parser = lesson_parser(__doc__, out="out/05_vae")
CONFIG, TRAIN = recipe("vae")  # the table of kinds' VAE recipe, the one `python -m aigc_np train vae` uses
parser.add_argument("--epochs", type=int, default=TRAIN["epochs"], help="epochs for the latent-20 VAE")
args = parse_lesson_args(parser)
rng = np.random.default_rng(args.seed)
lesson_start = time.perf_counter()
LATENT, epochs_2d, n_judge = CONFIG["latent_dim"], 30, 1000  # section 9 trains a latent-2 VAE

data = load_dataset(seed=args.seed)
x_train, x_val, y_val = to_unit(data.x_train), to_unit(data.x_val), data.y_val
if args.quick:
    x_train, args.epochs, epochs_2d, n_judge = x_train[:512], 2, 1, 100
print("data:", data.source, f"| train {x_train.shape}, validation {x_val.shape}")

# %% [markdown]
# ## 2. From codes to distributions
# Three changes turn lesson 04's autoencoder into a VAE: (1) the encoder
# outputs mu and logvar, a Gaussian q(z|x) = N(mu, diag(exp(logvar))) over
# codes (exp makes any real output a valid variance); (2) the decoder reads a
# *random* z from q(z|x), so it must decode well everywhere in the cloud;
# (3) the loss adds a KL term pulling each cloud towards the prior N(0, I).
# The networks are PyTorch's reference VAE: 784 -> 400 -> (20 + 20), 20 -> 400 -> 784.

# %%
vae = build_model("vae", CONFIG, rng=np.random.default_rng(args.seed))
print(vae.summary())
print(f"{vae.num_params():,} parameters")

# %% [markdown]
# ## 3. The reparameterization trick
# We cannot backpropagate *through* "draw z from N(mu, sigma^2)", so the
# randomness moves into an input, eps ~ N(0, I):
#
#     z = mu + exp(0.5 * logvar) * eps,   dz/dmu = 1,   dz/dlogvar = 0.5 * sigma * eps.
#
# sigma = sqrt(exp(logvar)): writing exp(logvar) is the classic VAE bug (it
# squares sigma, and still trains, to the wrong distribution). We check the
# statistics of 200,000 draws and the gradients.

# %%
mu, logvar = np.array([1.5, -0.5]), np.array([np.log(0.25), np.log(4.0)])  # sigma = 0.5 and 2
eps = rng.standard_normal((200_000, 2))
z = reparameterize(mu, logvar, eps)
print(f"z mean {z.mean(0).round(3)} (mu {mu}),  z variance {z.var(0).round(3)} (exp(logvar) {np.exp(logvar)})")
mu_b, logvar_b, eps_b, dz = (rng.standard_normal((3, 2)) for _ in range(4))
dmu, dlogvar = reparameterize_backward(dz, logvar_b, eps_b)
z_b = lambda: reparameterize(mu_b, logvar_b, eps_b)  # noqa: E731  (z as a function of mu_b, logvar_b)
print(f"gradcheck reparameterize: mu {rel_error(dmu, numerical_gradient(z_b, mu_b, dz)):.1e}, "
      f"logvar {rel_error(dlogvar, numerical_gradient(z_b, logvar_b, dz)):.1e}")

# %% [markdown]
# ## 4. The KL term, in closed form
# How far is the cloud q = N(mu, sigma^2) from the prior p = N(0, 1)? Per
# latent dimension, summed over them:
#
#     KL = 0.5 * (mu^2 + sigma^2 - log sigma^2 - 1) = 0.5 * (mu^2 + exp(logvar) - logvar - 1)
#
# It is 0 exactly at mu = 0, sigma = 1, and grows as the cloud moves away
# (mu^2) or shrinks to a point (-log sigma^2 blows up): no tiny, isolated codes.
# dKL/dmu = mu, dKL/dlogvar = 0.5 (exp(logvar) - 1) (`GaussianKL`). Check: the
# mean of log q(z) - log p(z) over the 200,000 draws above.

# %%
kl = GaussianKL()
closed = kl.forward(mu[None], logvar[None])
log_q = -0.5 * (((z - mu) / np.exp(0.5 * logvar)) ** 2 + np.log(2 * np.pi) + logvar)  # sigma = exp(logvar / 2)
log_p = -0.5 * (z ** 2 + np.log(2 * np.pi))
print(f"KL closed form {closed:.4f} nats, Monte Carlo {np.mean(np.sum(log_q - log_p, axis=1)):.4f}; "
      f"at the prior: {kl.forward(np.zeros((1, 2)), np.zeros((1, 2)))}")

# %% [markdown]
# ## 5. The ELBO, and how we measure it
# For any q, log p(x) >= E_q[log p(x|z)] - KL(q(z|x) || p(z)) = ELBO(x), the
# *evidence lower bound*. The VAE minimizes, averaged over the batch,
#
#     loss = -ELBO = BCE(decoder(z), x) summed over the 784 pixels   (z = mu + sigma eps)
#                  + 0.5 sum_j (mu_j^2 + exp(logvar_j) - logvar_j - 1).
#
# One z per image estimates the expectation: noisy but unbiased. We report
# `VAE.elbo` on the validation images with one fixed z each: reproducible, not
# a true log-likelihood (nor comparable with binarized MNIST's 85-100).
# `VAE.loss` splits dL/dz into mu and logvar (`reparameterize_backward`), adds
# the KL gradients and goes back through the encoder. Checked on a tiny float64 VAE:

# %%
tiny = VAE(latent_dim=2, hidden=(5,), input_shape=(6,), rng=np.random.default_rng(args.seed + 1), dtype=np.float64)
x_tiny, eps_tiny = rng.uniform(0.05, 0.95, (4, 6)), rng.standard_normal((4, 2))
tiny.loss(x_tiny, eps_tiny)
analytic = {k: g.copy() for k, g in tiny.grads.items()}
errors = {k: rel_error(analytic[k], numerical_gradient(lambda: tiny.loss(x_tiny, eps_tiny)["loss"], p))
          for k, p in tiny.params.items()}
print(f"gradcheck VAE loss, {len(errors)} parameter tensors: max relative error {max(errors.values()):.1e}")

# %% [markdown]
# ## 6. Training
# The shared loop of lesson 04; after each epoch `score` measures the
# validation ELBO (best.npz keeps the highest) and 100 fixed prior draws are decoded.

# %%
fixed_z = np.random.default_rng(args.seed + 3).standard_normal((100, LATENT)).astype(np.float32)
validation_scores = lambda m: {f"val_{k}": v for k, v in m.elbo(x_val).items()}  # noqa: E731  val_elbo, _recon, _kl
run_dir = os.path.join(args.out, f"latent{LATENT}")
start = time.perf_counter()
history = train(vae, (x_train,), Plan.epochs(args.epochs, TRAIN["batch_size"], len(x_train)),
                rng=np.random.default_rng(args.seed + 1), out_dir=run_dir, grid=lambda m: m.sample(z=fixed_z),
                score=validation_scores, select=KINDS["vae"].select, label=f"VAE-{LATENT} ")
train_seconds = time.perf_counter() - start
for row in spaced_rows(history):
    print(f"  epoch {row['epoch']:3d}: train -ELBO {row['loss']:6.1f}   validation -ELBO {-row['val_elbo']:6.1f} "
          f"= recon {row['val_recon']:6.1f} + KL {row['val_kl']:5.1f}")
final, best = history[-1], max(history, key=lambda r: r["val_elbo"])
print(f"trained {args.epochs} epochs in {train_seconds:.1f} s; best validation -ELBO {-best['val_elbo']:.1f} "
      f"at epoch {best['epoch']}; run folder {run_dir}")

print("saved", plot_history(history, {"train -ELBO (mean over the epoch)": "loss",
                                      "validation -ELBO (end of epoch)": lambda r: -r["val_elbo"]},
                             os.path.join(args.out, "elbo_curve.png"), ylabel="nats / image", logy=True,
                             title=f"VAE 784-400-{LATENT}: negative ELBO"))
print("saved", plot_history(history, {"validation reconstruction": "val_recon", "validation KL": "val_kl"},
                             os.path.join(args.out, "recon_kl_curve.png"), ylabel="nats / image", logy=True,
                             title="the two terms of the negative ELBO"))

# %% [markdown]
# ## 7. New digits from the prior, and reconstructions
# Draw z ~ N(0, I) and decode: digits nobody wrote (the decoder's Bernoulli
# *means*, hence smooth), which the judge of lesson 03 labels. Then
# reconstruct: encode, take mu (no noise), decode; 20 numbers keep far more than 2.

# %%
print("saved", save_image_grid(vae.sample(z=fixed_z), os.path.join(args.out, "samples.png"),
                               title=f"100 samples from the prior, latent {LATENT}"))
judge = load_judge()
z_judge = rng.standard_normal((n_judge, LATENT)).astype(np.float32)
print(f"judge on {n_judge} prior samples: {describe_judge_scores(judge_scores(vae.sample(z=z_judge), judge))}")
print("saved", save_image_grid(originals_over_reconstructions(x_val[:40], vae.reconstruct(x_val[:40])),
                               os.path.join(args.out, "reconstructions.png"),
                               title="validation digits (odd rows) and reconstructions (even rows)"))

# %% [markdown]
# ## 8. Walking through the latent space
# The codes are packed densely, so a straight line from one posterior mean to
# another morphs one digit into the other (outer columns: the originals).
# A dimension's mean KL counts the nats it carries (KL ~ 0: ignored). For the
# most active ones, hold the rest at one "8" and sweep one from -3 to 3.

# %%
mu_val, logvar_val = (a.astype(np.float64) for a in vae.encode(x_val))
first = {d: int(np.flatnonzero(y_val == d)[0]) for d in range(10)}
ia = np.array([first[d] for d in (1, 2, 3, 4, 5, 7)])  # from these digits ...
ib = np.array([first[d] for d in (0, 7, 8, 9, 6, 1)])  # ... to these, in 10 steps, the originals at both ends
rows = interpolation_rows(vae.decode, mu_val[ia], mu_val[ib], 10, ends=(x_val[ia], x_val[ib]))  # (6, 12, 28, 28)
print("saved", save_image_grid(rows.reshape(-1, 28, 28), os.path.join(args.out, "interpolation.png"), nrow=12,
                               title="interpolating between posterior means"))
kl_per_dim = 0.5 * np.mean(mu_val ** 2 + np.exp(logvar_val) - logvar_val - 1, axis=0)
order = np.argsort(kl_per_dim)[::-1]
print("KL per latent dimension (nats, validation mean):", np.round(kl_per_dim[order], 2))
print(f"active dimensions (KL > 0.1 nats): {int(np.sum(kl_per_dim > 0.1))} of {LATENT}")
top, values = order[:min(10, LATENT)], np.linspace(-3, 3, 11)
traversal = traversal_rows(vae.decode, mu_val[first[8]], top, values)  # row i sweeps dimension top[i]
print("saved", save_image_grid(traversal.reshape(-1, 28, 28), os.path.join(args.out, "traversals.png"), nrow=11,
                               title="one latent dimension per row (most active first), from -3 to +3"))

# %% [markdown]
# ## 9. A VAE with a 2-D latent space
# To *see* the KL term, train with latent_dim = 2 (the article's): the codes
# form a round cloud of radius ~2-3 with no gaps between digits, and the
# *manifold* decodes a 20 x 20 grid of z at the normal quantiles 0.01 ... 0.99
# (Kingma & Welling's figure; `aigc_np.course.latent.normal_manifold`).
# Two numbers give a worse ELBO than 20, and the KL term is only a *pull*:
# an easy digit can sit in the prior's tail (the 1s), and similar digits
# overlap in the middle as blends (the judge counts few 1s, many "8"s).

# %%
vae2 = build_model("vae", {**CONFIG, "latent_dim": 2}, rng=np.random.default_rng(args.seed))
start2 = time.perf_counter()
history2 = train(vae2, (x_train,), Plan.epochs(epochs_2d, TRAIN["batch_size"], len(x_train)),
                 rng=np.random.default_rng(args.seed + 1), out_dir=os.path.join(args.out, "latent2"),
                 score=validation_scores, select=KINDS["vae"].select, label="VAE-2 ")
print(f"latent-2 VAE: validation -ELBO {-history2[-1]['val_elbo']:.1f} nats/image after {epochs_2d} epochs "
      f"({time.perf_counter() - start2:.1f} s)")

manifold, quantiles = normal_manifold(vae2.decode, 20, 0.01, 0.99)  # z1 to the right, z2 upwards
ticks = {i: f"{quantiles[i]:.2f}" for i in range(0, 20, 3)}
print("saved", save_labelled_grid(manifold, os.path.join(args.out, "manifold_2d.png"), nrow=20, figsize=(8.5, 8.5),
                                  title="2-D VAE: decoded manifold at normal quantiles 0.01 ... 0.99", cols=ticks,
                                  rows={i: f"{quantiles[::-1][i]:.2f}" for i in ticks}, xlabel="z1", ylabel="z2"))
mu2, _ = vae2.encode(x_val)
print("saved", plot_codes(mu2, y_val, os.path.join(args.out, "latent_scatter_2d.png"), circles=(1, 2, 3),
                          title="2-D VAE: validation codes (circles: 1, 2, 3 prior std)",
                          xlabel="z1 (posterior mean)", ylabel="z2 (posterior mean)"))
inside = np.mean(np.all(np.abs(mu2) <= quantiles[-1], axis=1))
print(f"{inside:.0%} of the validation codes lie inside the manifold's square |z| <= {quantiles[-1]:.2f}")
scores2 = judge_scores(vae2.sample(z=rng.standard_normal((n_judge, 2)).astype(np.float32)), judge)
print(f"judge on {n_judge} prior samples of the 2-D VAE: {describe_judge_scores(scores2)}")

print_result(args, "05", f"VAE 784-400-{LATENT}, validation negative ELBO {-final['val_elbo']:.1f} "
             f"nats/image (recon {final['val_recon']:.1f} + KL {final['val_kl']:.1f}; continuous pixels, Bernoulli BCE "
             f"summed over pixels, {len(x_val)} validation images, one z per image) after {args.epochs} epochs "
             f"in {train_seconds:.0f} s of training ({time.perf_counter() - lesson_start:.0f} s for the lesson); "
             f"latent-2 VAE {-history2[-1]['val_elbo']:.1f} after {epochs_2d} epochs; {data.source}",
             f"python lessons/05_vae.py --seed {args.seed}")

# %% [markdown]
# ## Summary
# * The encoder outputs N(mu, exp(logvar)); z = mu + exp(0.5 logvar) * eps backpropagates.
# * -ELBO = reconstruction (BCE summed over pixels) + KL(q || N(0, I)), in nats
#   per image: an honest, reproducible validation score.
# * The KL term makes the codes fill N(0, I): prior samples decode to digits,
#   and the latent space is smooth enough to interpolate and explore.
# The samples are blurry, the price of a pixel-wise decoder. Next: GANs, sharper, with no likelihood.
#
# ## Suggested extensions
# 1. beta-VAE: scale the KL by beta (2, 4) in a subclass's `loss`, gradient-
#    check it (tests/test_vae.py), and measure the KL per dimension and the ELBO.
# 2. Importance-weighted ELBO with k = 5 samples per image: a tighter bound,
#    which must be >= the ELBO on the validation split (test that).
# 3. A conditional VAE (lesson 11 does it): the judge's accuracy on requested digits.
