"""``python -m aigc_np.bench [--json FILE] [--steps N]``: how fast is a training step?

For each model it measures a full training step (forward, backward and
optimizer update) and compares it with the *matmul limit*: the time the same
matrix products take alone, with the same shapes and dtype, back to back.
``step / matmul`` is the distance to that limit: everything else a step does
(activations, im2col/col2im, Adam, temporaries) is overhead on top of it.
Steps and matmul runs are timed in turns, so that both see the same load.

Also: forward/backward of the convolution layers at the article's DCGAN
shapes, Adam's update cost per million parameters, and the environment
(numpy, BLAS, threads).

Memory: ``peak_mb`` is the most memory a step holds beyond what existed
before it (tracemalloc's peak over one step, numpy buffers included) plus
the work buffers that layers and optimizers keep and reuse between steps
(``workspace_mb``, allocated by earlier steps). ``model_mb`` is the
parameters plus the activations of the step's largest pass (every layer's
output; a GAN's D at batch 2B), and ``peak_ratio`` = peak_mb / model_mb. Timings are medians over repeated steps after a
warm-up; the spread is the interquartile range. Nothing here is asserted:
numbers vary with the machine and its load.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
import tracemalloc

import numpy as np

from .classifier import cnn_classifier
from .layers import Conv2D, Conv2DTranspose, Dense, Sequential
from .losses import SparseCategoricalCrossentropy
from .models import DCGAN, VAE
from .models.diffusion_registry import build_diffusion
from .models.registry import DEFAULT_CONFIGS, build_model
from .models.unet import leaf_layers
from .optimizers import Adam

BUNDLED_TRAIN, FULL_TRAIN = 4500, 60000
DTYPE = np.float32


# ------------------------------------------------------------ environment
def environment() -> dict:
    env = {"numpy": np.__version__, "python": platform.python_version(), "machine": platform.machine(),
           "cpu_count": os.cpu_count(), "dtype": np.dtype(DTYPE).name,
           "threads_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                      "MKL_NUM_THREADS") if k in os.environ}}
    try:
        config = np.show_config(mode="dicts")
        blas = config.get("Build Dependencies", {}).get("blas", {})
        env["blas"] = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except TypeError:  # numpy < 1.25 has no mode="dicts"
        env["blas"] = "unknown (numpy < 1.25)"
    return env


# ------------------------------------------------- the matmuls of a model
def layer_matmuls(layer, batch: int) -> tuple[list, list]:
    """(forward, backward) lists of matmul shapes (M, K, N) meaning (M, K) @ (K, N)."""
    if isinstance(layer, Sequential):
        fwd, bwd = [], []
        for child in layer.layers:
            f, b = layer_matmuls(child, batch)
            fwd += f
            bwd += b
        return fwd, bwd
    if isinstance(layer, Dense):
        m = batch * int(np.prod(layer.input_shape[:-1]))
        k, n = layer.input_shape[-1], layer.units
        return [(m, k, n)], [(k, m, n), (m, n, k)]  # y = xW; dW = x^T dy; dx = dy W^T
    # Convolutions work on cols^T (C*kh*kw, Ho*Wo*N) (see layers/conv.py).
    if isinstance(layer, Conv2D):
        c, (f, ho, wo) = layer.input_shape[0], layer.output_shape
        m, k = batch * ho * wo, c * layer.kernel_size[0] * layer.kernel_size[1]
        return [(f, k, m)], [(f, m, k), (k, f, m)]  # y = W cols; dW = dY cols^T; dcols = W^T dY
    if isinstance(layer, Conv2DTranspose):
        c, h, w = layer.input_shape
        m, k = batch * h * w, layer.filters * layer.kernel_size[0] * layer.kernel_size[1]
        return [(k, c, m)], [(c, m, k), (c, k, m)]  # cols = W^T X; dW = X dcols^T; dX = W dcols
    return [], []


def gan_step_matmuls(model, batch: int) -> list:
    """The products of GAN.train_step: D step (G forward, D on 2B), then G step."""
    g_f, g_b = layer_matmuls(model.G, batch)
    d2_f, d2_b = layer_matmuls(model.D, 2 * batch)
    d_f, d_b = layer_matmuls(model.D, batch)
    return g_f + d2_f + d2_b + g_f + d_f + d_b + g_b


def matmul_runner(shapes: list):
    """A function that runs all the products once, back to back, in DTYPE.

    Operands are contiguous; where a layer passes a transposed view instead,
    BLAS reads it without a copy (docs/performance.md).
    """
    rng = np.random.default_rng(0)
    pairs = [(rng.standard_normal((m, k)).astype(DTYPE), rng.standard_normal((k, n)).astype(DTYPE))
             for m, k, n in shapes]

    def run():
        for a, b in pairs:
            a @ b
    return run


def time_matmuls(shapes: list, repeats: int = 7) -> float:
    """Median ms to run all the products once, back to back, in DTYPE."""
    return float(np.median(_timeit(matmul_runner(shapes), repeats, warmup=1)))


# ---------------------------------------------------------- step timings
def _timeit(step, n_steps: int, warmup: int = 3) -> np.ndarray:
    for _ in range(warmup):
        step()
    times = np.empty(n_steps)
    for i in range(n_steps):
        start = time.perf_counter()
        step()
        times[i] = time.perf_counter() - start
    return times * 1e3


def _timeit_alternating(step, other, n_steps: int, warmup: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """ms of ``step`` and of ``other``, timed in turns: step, other, step, other, ..."""
    for _ in range(warmup):
        step()
        other()
    times = np.empty((n_steps, 2))
    for i in range(n_steps):
        for j, fn in enumerate((step, other)):
            start = time.perf_counter()
            fn()
            times[i, j] = time.perf_counter() - start
    return times[:, 0] * 1e3, times[:, 1] * 1e3


def _peak_mb(step) -> float:
    """Peak traced memory (numpy buffers included) during one step, in MB."""
    tracemalloc.start()
    step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def _layers(net) -> list:
    return [leaf for layer in net.layers for leaf in _layers(layer)] if isinstance(net, Sequential) else [net]


def workspace_mb(nets, optimizers) -> float:
    """Work buffers kept between steps: conv layers' ``_workspace``, optimizers' ``_work``."""
    arrays = [a for net in nets for layer in _layers(net) for a in getattr(layer, "_workspace", {}).values()]
    arrays += [o._work for o in optimizers if getattr(o, "_work", None) is not None]
    return sum(a.nbytes for a in arrays) / 2**20


def model_mb(passes) -> float:
    """Parameters plus activations: ``passes`` is [(net, batch)], each net once at its largest batch."""
    total = 0
    for net, batch in passes:
        total += sum(p.nbytes for p in net.params.values())
        total += sum(batch * int(np.prod(layer.output_shape)) * net.dtype.itemsize for layer in _layers(net))
    return total / 2**20


def step_cases(dcgan_width: float) -> list:
    """(name, batch, step function, matmul shapes) for every benchmarked training step."""
    rng = np.random.default_rng(0)
    cases = []

    gan = build_model("gan", rng=np.random.default_rng(1))
    x_gan = rng.uniform(-1, 1, (64, 784)).astype(DTYPE)
    cases.append(("mlp_gan", 64, lambda: gan.train_step(x_gan), gan_step_matmuls(gan, 64),
                  [(gan.G, 64), (gan.D, 128)], [gan.opt_g, gan.opt_d]))

    vae = VAE(latent_dim=20, hidden=(512, 256), rng=np.random.default_rng(2))
    x_vae = rng.uniform(0, 1, (128, 28, 28)).astype(DTYPE)
    enc_f, enc_b = layer_matmuls(vae.encoder, 128)
    dec_f, dec_b = layer_matmuls(vae.decoder, 128)
    cases.append(("vae", 128, lambda: vae.train_step(x_vae), enc_f + dec_f + dec_b + enc_b,
                  [(vae.encoder, 128), (vae.decoder, 128)], [vae.optimizer]))

    x_img = rng.uniform(-1, 1, (64, 1, 28, 28)).astype(DTYPE)
    for name, width in (("dcgan_lesson", dcgan_width), ("dcgan_full", 1.0)):
        dc = DCGAN(width=width, rng=np.random.default_rng(3))
        cases.append((name, 64, (lambda m: lambda: m.train_step(x_img))(dc), gan_step_matmuls(dc, 64),
                      [(dc.G, 64), (dc.D, 128)], [dc.opt_g, dc.opt_d]))

    cnn = cnn_classifier(np.random.default_rng(4))
    opt, loss = Adam(cnn, lr=1e-3), SparseCategoricalCrossentropy()
    x_cnn = rng.uniform(0, 1, (128, 1, 28, 28)).astype(DTYPE)
    y_cnn = rng.integers(0, 10, 128)

    def cnn_step():
        loss.forward(cnn.forward(x_cnn), y_cnn)
        cnn.backward(loss.backward())
        opt.step()
    f, b = layer_matmuls(cnn, 128)
    cases.append(("cnn", 128, cnn_step, f + b, [(cnn, 128)], [opt]))

    # Lesson 16's diffusion U-Net (its width, its batch): one step of the denoising loss.
    ddpm = build_diffusion("ddpm", rng=np.random.default_rng(5))
    x_ddpm = rng.uniform(-1, 1, (32, 784)).astype(DTYPE)
    leaves = Sequential(leaf_layers(ddpm.net))                    # the U-Net's layers, for shapes and memory
    f, b = layer_matmuls(leaves, 32)
    cases.append(("unet", 32, lambda: ddpm.train_step(x_ddpm), f + b, [(leaves, 32)], [ddpm.optimizer]))
    return cases


STEP_NAMES = ("mlp_gan", "vae", "dcgan_lesson", "dcgan_full", "cnn", "unet")


def bench_steps(n_steps: int, dcgan_width: float, only=STEP_NAMES) -> list:
    results = []
    for name, batch, step, shapes, passes, optimizers in step_cases(dcgan_width):
        if name not in only:
            continue
        # Steps and their matmuls alternate, so that on a shared machine both
        # see the same load and their ratio stays meaningful.
        run_matmuls = matmul_runner(shapes)
        ms, mm = _timeit_alternating(step, run_matmuls, n_steps)
        median, matmul_ms = float(np.median(ms)), float(np.median(mm))
        q1, q3 = np.percentile(ms, [25, 75])
        results.append({
            "name": name, "batch": batch, "ms_median": median, "ms_iqr": [float(q1), float(q3)],
            "matmul_ms": matmul_ms, "matmul_ratio": median / matmul_ms,
            "images_per_s": batch / median * 1e3,
            "s_per_epoch_bundled": BUNDLED_TRAIN / batch * median / 1e3,
            "s_per_epoch_full": FULL_TRAIN / batch * median / 1e3,
            "matmuls": len(shapes),
        })
        work = workspace_mb([net for net, _ in passes], optimizers)
        peak, model = _peak_mb(step) + work, model_mb(passes)
        results[-1].update({"peak_mb": peak, "workspace_mb": work, "model_mb": model, "peak_ratio": peak / model})
        print(f"  {name:<13} {median:8.1f} ms  (IQR {q1:.1f}-{q3:.1f})  matmul {matmul_ms:7.1f} ms  "
              f"ratio {median / matmul_ms:4.2f}", flush=True)
    return results


# ---------------------------------------------------------- layer timings
def bench_layers(n_steps: int) -> list:
    """Conv layers at the article's full-width DCGAN shapes (batch 64), and Adam."""
    rng = np.random.default_rng(0)
    cases = [("Conv2D 1->64 28x28 s2", Conv2D(64, 5, strides=2, padding="same"), (1, 28, 28)),
             ("Conv2D 64->128 14x14 s2", Conv2D(128, 5, strides=2, padding="same"), (64, 14, 14)),
             ("Conv2DTranspose 256->128 7x7 s1", Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False),
              (256, 7, 7)),
             ("Conv2DTranspose 128->64 7->14 s2", Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False),
              (128, 7, 7)),
             ("Conv2DTranspose 64->1 14->28 s2", Conv2DTranspose(1, 5, strides=2, padding="same", use_bias=False),
              (64, 14, 14))]
    results = []
    for name, layer, shape in cases:
        layer.build(shape, rng, DTYPE)
        x = rng.standard_normal((64,) + shape).astype(DTYPE)
        y = layer.forward(x)
        dy = rng.standard_normal(y.shape).astype(DTYPE)
        fwd = float(np.median(_timeit(lambda: layer.forward(x), n_steps)))
        bwd = float(np.median(_timeit(lambda: layer.backward(dy), n_steps)))
        f, b = layer_matmuls(layer, 64)
        results.append({"name": name, "forward_ms": fwd, "backward_ms": bwd,
                        "forward_matmul_ms": time_matmuls(f), "backward_matmul_ms": time_matmuls(b)})
    gan = build_model("gan", rng=np.random.default_rng(1))
    for part in (gan.G, gan.D):
        for k, g in part.grads.items():
            g[...] = rng.standard_normal(g.shape)
    n_params = gan.num_params()
    both = [gan.opt_g, gan.opt_d]
    adam_ms = float(np.median(_timeit(lambda: [o.step() for o in both], n_steps)))
    results.append({"name": f"Adam step, MLP GAN ({n_params / 1e6:.2f} M params)", "ms": adam_ms,
                    "us_per_million_params": adam_ms * 1e3 / (n_params / 1e6)})
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aigc_np.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per model (after 3 warm-up steps)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--dcgan-width", type=float, default=DEFAULT_CONFIGS["dcgan"]["width"])
    parser.add_argument("--only", default=",".join(STEP_NAMES), help="comma-separated steps to time")
    parser.add_argument("--no-layers", action="store_true", help="skip the layer micro-benchmarks")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be positive")

    env = environment()
    print("environment: " + ", ".join(f"{k}={v}" for k, v in env.items()))
    print("training steps (float32):")
    only = tuple(args.only.split(","))
    unknown = set(only) - set(STEP_NAMES)
    if unknown:
        parser.error(f"--only: unknown steps {sorted(unknown)}; choose from {','.join(STEP_NAMES)}")
    steps = bench_steps(args.steps, args.dcgan_width, only)
    layers = [] if args.no_layers else bench_layers(args.steps)

    print(f"\n{'step':<14}{'batch':>6}{'ms (median)':>12}{'IQR ms':>14}{'matmul ms':>11}{'ratio':>7}"
          f"{'img/s':>9}{'s/epoch 4.5k':>13}{'s/epoch 60k':>12}{'peak MB':>9}{'model MB':>10}{'peak/model':>11}")
    for r in steps:
        iqr = f"{r['ms_iqr'][0]:.1f}-{r['ms_iqr'][1]:.1f}"
        print(f"{r['name']:<14}{r['batch']:>6}{r['ms_median']:>12.1f}{iqr:>14}{r['matmul_ms']:>11.1f}"
              f"{r['matmul_ratio']:>7.2f}{r['images_per_s']:>9,.0f}{r['s_per_epoch_bundled']:>13.1f}"
              f"{r['s_per_epoch_full']:>12.1f}{r['peak_mb']:>9.1f}{r['model_mb']:>10.1f}{r['peak_ratio']:>11.2f}")
    if steps:
        print("(peak MB: one step's peak allocation plus the reused work buffers; model MB: parameters plus "
              "the activations of the largest pass)")
    print(f"\n{'layer (batch 64)':<36}{'fwd ms':>8}{'matmul':>8}{'bwd ms':>8}{'matmul':>8}")
    for r in layers:
        if "forward_ms" in r:
            print(f"{r['name']:<36}{r['forward_ms']:>8.2f}{r['forward_matmul_ms']:>8.2f}"
                  f"{r['backward_ms']:>8.2f}{r['backward_matmul_ms']:>8.2f}")
        else:
            print(f"{r['name']:<36}{r['ms']:>8.2f} ms = {r['us_per_million_params']:,.0f} us per million params")
    if args.json:
        from .io import atomic_write
        with atomic_write(args.json, "w") as f:
            json.dump({"env": env, "steps": steps, "layers": layers}, f, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
