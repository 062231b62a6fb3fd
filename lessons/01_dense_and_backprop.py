"""Lesson 01: a Dense layer and an activation, forward and backward by hand.

Every generative model in this course (autoencoder, VAE, GAN, DCGAN) is trained
by gradient descent, and every gradient is computed by backpropagation: the
chain rule applied layer by layer, from the loss back to the input. There is
no autograd here. Each layer writes its own backward pass, and we *prove* it
correct by comparing it with a numerical derivative.

Run:  python lessons/01_dense_and_backprop.py [--quick] [--out out/01_dense_and_backprop]
"""
# %% [markdown]
# ## 1. Setup
# Every random number comes from one explicit generator, so a seed reproduces
# the whole lesson. Figures go to PNG files in the output folder.

# %%
import os
import time

import numpy as np

from aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result
from aigc_np.gradcheck import check_layer, numerical_gradient, rel_error
from aigc_np.layers import Dense, LeakyReLU, Sequential, Sigmoid, Tanh
from aigc_np.plotting import plot_curves, plt, save_figure

args = parse_lesson_args(lesson_parser(__doc__, out="out/01_dense_and_backprop"))
rng = np.random.default_rng(args.seed)

# %% [markdown]
# ## 2. The forward pass of a Dense layer
# A Dense layer maps a batch x of shape (N, in) to y = x W + b of shape
# (N, units). W has shape (in, units) and b has shape (units,). Keras calls it
# `Dense(units)`, and so do we; `build` creates W and b once the input size is known.

# %%
dense = Dense(3)
dense.build(input_shape=(4,), rng=rng, dtype=np.float64)  # float64 for exact checks
x = rng.standard_normal((2, 4))
y = dense.forward(x)
print("x:", x.shape, " W:", dense.params["W"].shape, " b:", dense.params["b"].shape, " y:", y.shape)
assert np.allclose(y, x @ dense.params["W"] + dense.params["b"])

# %% [markdown]
# ## 3. The backward pass, derived
# Backward receives dL/dy (same shape as y) and must return dL/dx. For one
# output element y_nj = sum_i x_ni W_ij + b_j, so
#
#     dL/dx_ni = sum_j dL/dy_nj W_ij    ->  dx = dy W^T        (N, in)
#     dL/dW_ij = sum_n x_ni dL/dy_nj    ->  dW = x^T dy        (in, units)
#     dL/db_j  = sum_n dL/dy_nj         ->  db = dy.sum(0)     (units,)
#
# Check the shapes: each gradient has the shape of what it differentiates.
# `backward` returns dx and *stores* dW and db in `dense.grads`; it never
# changes W (only an optimizer does that).

# %%
dy = rng.standard_normal(y.shape)
dx = dense.backward(dy)
assert np.allclose(dx, dy @ dense.params["W"].T)
assert np.allclose(dense.grads["W"], x.T @ dy)
assert np.allclose(dense.grads["b"], dy.sum(axis=0))
print("dx:", dx.shape, " dW:", dense.grads["W"].shape, " db:", dense.grads["b"].shape)

# %% [markdown]
# ## 4. Activations
# An activation f is applied element by element, so its backward pass is the
# element-wise product dx = dy * f'(x). Writing f' in terms of the *output*
# saves recomputing: tanh' = 1 - y^2 and sigmoid' = y (1 - y). LeakyReLU(0.2),
# the GAN's activation, has slope 1 for x > 0 and 0.2 otherwise.
#
# We plot each activation with its analytic derivative (from `backward` with
# dy = 1) and the numerical derivative (f(x+h) - f(x-h)) / 2h on top.

# %%
grid = np.linspace(-4, 4, 41 if args.quick else 401)
grid = grid[np.abs(grid) > 1e-3]  # the kink of LeakyReLU at 0 has no derivative
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
for ax, act in zip(axes, [Tanh(), Sigmoid(), LeakyReLU(0.2)]):
    xs = grid[None, :].copy()
    ys = act.forward(xs)
    analytic = act.backward(np.ones_like(ys))
    numeric = numerical_gradient(lambda: act.forward(xs), xs, np.ones_like(ys))
    ax.plot(grid, ys[0], label="f(x)")
    ax.plot(grid, analytic[0], label="f'(x) from backward")
    ax.plot(grid, numeric[0], "k:", lw=2, label="f'(x) numerical")
    ax.set_title(f"{act.name}: max rel. error {rel_error(analytic, numeric):.1e}")
    ax.grid(alpha=0.3)
axes[0].legend(fontsize=8)
print("saved", save_figure(fig, os.path.join(args.out, "activations.png")))

# %% [markdown]
# ## 5. Proving a backward pass: the gradient check
# `check_layer` computes the gradient of sum(forward(x) * dy) for a *random*
# dy twice: once with backward, once numerically by nudging every input and
# every parameter by +-h. It reports the largest relative error per tensor,
#     max_i |a_i - n_i| / max(1e-8, |a_i| + |n_i|).
# In float64 a correct backward pass scores about 1e-9 or better; a wrong one
# scores 1e-2 or worse. Our tests require <= 1e-6 for every layer.

# %%
model = Sequential([Dense(8), Tanh(), Dense(3), LeakyReLU(0.2)], input_shape=(5,), rng=rng, dtype=np.float64)
errors = check_layer(model, rng.standard_normal((4, 5)), rng=rng)
for name, err in errors.items():
    print(f"  gradcheck {name:>4}: max relative error {err:.2e}")
assert max(errors.values()) < 1e-6

# %% [markdown]
# What does a bug look like? Below, a Tanh whose backward forgot the square
# (1 - y instead of 1 - y^2). The check catches it at once.

# %%


class BuggyTanh(Tanh):
    def backward(self, dy):
        return dy * (1 - self._cache)


buggy = check_layer(BuggyTanh(), rng.standard_normal((4, 5)))["x"]
print(f"  buggy tanh: max relative error {buggy:.2e}  <- caught")

# %% [markdown]
# ## 6. Backprop in action: fit a curve
# Stacking layers and running backward from the loss gives every parameter's
# gradient in one sweep. With plain gradient descent (W <- W - lr * dW) a tiny
# Dense-Tanh-Dense network learns y = sin(x). The loss is the mean squared
# error L = mean((yhat - y)^2), whose gradient is dL/dyhat = 2 (yhat - y) / N.

# %%
net = Sequential([Dense(32), Tanh(), Dense(1)], input_shape=(1,), rng=rng, dtype=np.float64)
xs = np.linspace(-3, 3, 128)[:, None]
target = np.sin(xs)
steps = 300 if args.quick else 3000
lr = 0.05
losses = []
start = time.perf_counter()
for step in range(1, steps + 1):
    pred = net.forward(xs)
    loss = np.mean((pred - target) ** 2)
    net.backward(2 * (pred - target) / pred.size)
    for name, p in net.params.items():
        p -= lr * net.grads[name]  # the simplest optimizer, written in place
    losses.append(loss)
    if step % (steps // 5) == 0:
        rate = step * len(xs) / (time.perf_counter() - start)
        print(f"  step {step}/{steps}  loss={loss:.5f}  {rate:,.0f} samples/s")
fit_seconds = time.perf_counter() - start

print("saved", plot_curves({"MSE": losses}, os.path.join(args.out, "fit_loss.png"), xlabel="step",
                           ylabel="loss", title="Gradient descent on sin(x)", logy=True))
fig, ax = plt.subplots(figsize=(5, 3.4))
ax.plot(xs, target, label="sin(x)")
ax.plot(xs, net.forward(xs), "--", label="network")
ax.legend()
ax.set_title(f"after {steps} steps: MSE {losses[-1]:.4f}")
print("saved", save_figure(fig, os.path.join(args.out, "fit.png")))

print_result(args, "01", f"backward passes agree with finite differences (max relative error "
             f"{max(errors.values()):.1e}; the buggy Tanh {buggy:.1e}); Dense(32)-Tanh-Dense(1) fits sin(x) to "
             f"MSE {losses[-1]:.4f} after {steps} steps of gradient descent ({fit_seconds:.1f} s)",
             f"python lessons/01_dense_and_backprop.py --seed {args.seed}")

# %% [markdown]
# ## Summary
# * forward caches what backward needs; backward returns dx and stores dW, db.
# * A numerical gradient check proves each backward pass.
# * Chaining backward passes in reverse order is backpropagation.
# Next lesson: an MLP that classifies MNIST digits, with SGD and then Adam.
#
# ## Suggested extensions
# 1. Add a `Softplus` layer (y = log(1 + e^x), y' = sigmoid(x)) in a new module
#    under aigc_np/ with an `example_input_shape`: `make test` gradient-checks it
#    automatically (tests/test_every_layer.py). Passing that check is the test.
# 2. Replace the Tanh of section 6 with ReLU and with LeakyReLU(0.2);
#    measure the final MSE after 3,000 steps for each (print it) and explain the ranking.
# 3. Break `Dense.backward` on purpose (drop the transpose in dx) and record
#    the relative error `check_layer` reports: a wrong gradient must score >= 1e-2.
