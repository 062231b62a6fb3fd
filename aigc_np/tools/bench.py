"""``python -m aigc_np.tools.bench [--json FILE] [--steps N]``: how fast is a training step?

For each model it measures a full training step (forward, backward and
optimizer update) and compares it with the *matmul limit*: the time the
matrix products that step NEEDS take alone, with the same shapes and dtype,
back to back (``matmul_needed``). A step needs the forward products, the
input gradients where they flow into something that learns, and the weight
gradients of the networks it updates; each step case below lists them.
``step / matmul_needed`` is the distance to that limit: everything else
(activations, im2col/col2im, Adam, temporaries, products whose result is
unused) is overhead on top of it. A looser limit, every product the step's
code path runs in full, is kept beside it as ``matmul_all``. Steps and both
matmul runs are timed in turns, so that all three see the same load.

Rates: a 2048^3 float32 product measured in the same run is the BLAS
``peak`` (GFLOP/s); each step's ``gflops_needed`` (2MKN summed over its
needed products, per second of step) is reported as a share of it. A
table lists every conv layer of the DCGAN, CNN and U-Net cases with its
product shapes, the products' rate alone and the layer's, each also as a
share of the peak (``--no-convs``: left out).

``--ab`` times every step with the reference code (``aigc_np.layers.backend.reference``)
and with the fast paths, in turns in one process, three runs, with the load
average beside each: what the fast paths buy.

Text models: ``gpt`` is the default recipe (nanoGPT's CPU configuration (batch 12 x 64 characters),
``lstm`` the Shakespeare default; their rate is ``tokens_per_s`` (characters
per second of training). Attention's products are batches of G products
(B * heads of them), written (G, M, K, N). ``--no-sampling`` skips the
sampling table: ``generate``'s characters per second with the cache (the
GPT's keys and values, the LSTM's state) and without it (the whole context
run again for every character).

Also: forward/backward of the convolution layers at the article's DCGAN
shapes, Adam's update cost per million parameters, and the environment
(numpy, BLAS, threads).

Memory: ``peak_mb`` is the most memory a step holds beyond what existed
before it (tracemalloc's peak over one step, numpy buffers included) plus
the work buffers that layers and optimizers keep and reuse between steps
(``workspace_mb``, allocated by earlier steps). ``model_mb`` is the
parameters plus the activations of the step's largest pass (every layer's
output; a GAN's D at batch 2B; for the text models, measured: what a
forward of a fresh model keeps), and ``peak_ratio`` = peak_mb / model_mb.
Timings are medians over repeated steps after a warm-up; the spread is the interquartile range. Nothing here is asserted:
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

from ..layers import backend
from ..optimizers import fast as fast_optimizers
from ..evaluation.classifier import cnn_classifier
from ..layers import LSTM, CausalSelfAttention, Conv2D, Conv2DTranspose, Dense, Sequential, fast_conv
from ..losses import SparseCategoricalCrossentropy
from ..models import DCGAN, VAE
from ..kinds import KINDS, build_model
from ..models.unet import leaf_layers
from ..optimizers import Adam

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
def _leaf_products(layer, batch: int) -> tuple[list, list, list]:
    """(forward, weight-gradient, input-gradient) products of one layer: shapes
    (M, K, N) meaning (M, K) @ (K, N), or (G, M, K, N) for G such products at
    once (attention's per-head ones). Layers without products give empty lists."""
    if isinstance(layer, Dense):
        m = batch * int(np.prod(layer.input_shape[:-1]))
        k, n = layer.input_shape[-1], layer.units
        return [(m, k, n)], [(k, m, n)], [(m, n, k)]  # y = xW; dW = x^T dy; dx = dy W^T
    # Convolutions work on cols^T (C*kh*kw, Ho*Wo*N) (see layers/conv.py).
    if isinstance(layer, Conv2D):
        c, (f, ho, wo) = layer.input_shape[0], layer.output_shape
        m, k = batch * ho * wo, c * layer.kernel_size[0] * layer.kernel_size[1]
        return [(f, k, m)], [(f, m, k)], [(k, f, m)]  # y = W cols; dW = dY cols^T; dcols = W^T dY
    if isinstance(layer, Conv2DTranspose):
        c, h, w = layer.input_shape
        m, k = batch * h * w, layer.filters * layer.kernel_size[0] * layer.kernel_size[1]
        return [(k, c, m)], [(c, m, k)], [(c, k, m)]  # cols = W^T X; dW = X dcols^T; dX = W dcols
    if isinstance(layer, CausalSelfAttention):
        t, c = layer.input_shape
        g, d, m = batch * layer.n_head, c // layer.n_head, batch * t
        return ([(m, c, 3 * c), (g, t, d, t), (g, t, t, d), (m, c, c)],   # qkv = xWqkv; S = QK^T; PV; merged Wo
                [(c, m, c), (c, m, 3 * c)],                               # dWo; dWqkv
                [(m, c, c), (g, t, d, t), (g, t, t, d),                   # dheads = dy Wo^T; dP = dY V^T; dV = P^T dY
                 (g, t, t, d), (g, t, t, d), (m, 3 * c, c)])              # dQ = dS K; dK = dS^T Q; dx = dqkv Wqkv^T
    if isinstance(layer, LSTM):
        t, e = layer.input_shape
        h, m = layer.units, batch * t
        return ([(m, e, 4 * h)] + [(batch, h, 4 * h)] * t,              # x Wx for all steps; h_{t-1} Wh per step
                [(e, m, 4 * h), (h, m, 4 * h)],                           # dWx; dWh
                [(batch, 4 * h, h)] * t + [(m, 4 * h, e)])                # dh_{t-1} = da Wh^T per step; dx
    return [], [], []


def _double_backward_products(layer, batch: int) -> list:
    """The products of a Dense's or Conv2D's ``backward_backward`` (WGAN-GP, R1)."""
    if not isinstance(layer, (Dense, Conv2D)):
        return []
    (fwd,), (wgrad,), _ = _leaf_products(layer, batch)
    if isinstance(layer, Dense):
        return [fwd, wgrad]                            # dL/d(dy) = V W; dL/dW = V^T dY
    f, k, m = fwd
    return [(m, k, f), wgrad]                          # dL/d(dy) = V_cols W^T; dL/dW = dY^T V_cols


def layer_matmuls(layer, batch: int) -> tuple[list, list]:
    """(forward, backward) lists of matmul shapes (M, K, N) meaning (M, K) @ (K, N): every
    product a layer's full backward runs (dW, then dx, per layer)."""
    fwd, bwd = [], []
    for leaf in _layers(layer):
        f, w, x = _leaf_products(leaf, batch)
        fwd += f
        bwd += w + x
    return fwd, bwd


def forward_products(net, batch: int) -> list:
    """The forward pass's products."""
    return [p for leaf in _layers(net) for p in _leaf_products(leaf, batch)[0]]


def weight_grads(net, batch: int) -> list:
    """dW of every layer: needed for a network the step updates."""
    return [p for leaf in _layers(net) for p in _leaf_products(leaf, batch)[1]]


def input_grads(net, batch: int, into_input: bool) -> list:
    """dx of every layer after the first one with products, and the first's too if
    ``into_input``: only then does the gradient flow out into something that learns."""
    per_layer = [_leaf_products(leaf, batch)[2] for leaf in _layers(net)]
    per_layer = [x for x in per_layer if x]
    return [p for i, x in enumerate(per_layer) if i > 0 or into_input for p in x]


def double_backward(net, batch: int) -> list:
    """The products of ``net.backward_backward`` beyond its (input-gradient) backward sweep."""
    return [p for leaf in _layers(net) for p in _double_backward_products(leaf, batch)]


def gan_step_matmuls(model, batch: int) -> list:
    """Every product GAN.train_step runs with full backwards (the reference code): D step (G
    forward, D on 2B), then G step."""
    g_f, g_b = layer_matmuls(model.G, batch)
    d2_f, d2_b = layer_matmuls(model.D, 2 * batch)
    d_f, d_b = layer_matmuls(model.D, batch)
    return g_f + d2_f + d2_b + g_f + d_f + d_b + g_b


def gan_step_needed(model, batch: int) -> list:
    """The products GAN.train_step needs (also DCGAN's):

    D step, on real + fake (2B):  G forward (the fakes, B); D forward; D's dW;
        D's dx inside D (not into the images: nothing before D learns here).
    G step (B):  G forward; D forward; D's dx, all of them (dL/d(fake) flows into G),
        no D dW (D is not updated); G's dW; G's dx inside G (not into z).
    """
    g, d = model.G, model.D
    return (forward_products(g, batch)
            + forward_products(d, 2 * batch) + weight_grads(d, 2 * batch) + input_grads(d, 2 * batch, False)
            + forward_products(g, batch) + forward_products(d, batch) + input_grads(d, batch, True)
            + weight_grads(g, batch) + input_grads(g, batch, False))


def wgan_step_matmuls(model, batch: int) -> list:
    """Every product WGANGP.train_step runs with full backwards (the reference code): n_critic critic steps
    (G forward; critic on 2B; the penalty: forward, backward, and ``backward_backward``,
    whose first sweep is a second backward), then the G step."""
    g_f, g_b = layer_matmuls(model.G, batch)
    c2_f, c2_b = layer_matmuls(model.D, 2 * batch)
    c_f, c_b = layer_matmuls(model.D, batch)
    critic = g_f + c2_f + c2_b + c_f + c_b + c_b + double_backward(model.D, batch)
    return model.n_critic * critic + g_f + c_f + c_b + g_b


def wgan_step_needed(model, batch: int) -> list:
    """The products WGANGP.train_step needs:

    n_critic critic steps, each:  G forward (B); critic forward, dW and dx inside it on
        real + fake (2B); the penalty on x_hat (B): critic forward, every dx (the
        gradient g_i is the penalty's input), then the double backward's own products
        (dL/d(dy) and dL/dW per layer). Its upstream sweep recomputes g: not needed.
    G step (B):  G forward; critic forward; every critic dx; G's dW and dx inside G.
    """
    g, c = model.G, model.D
    critic = (forward_products(g, batch)
              + forward_products(c, 2 * batch) + weight_grads(c, 2 * batch) + input_grads(c, 2 * batch, False)
              + forward_products(c, batch) + input_grads(c, batch, True) + double_backward(c, batch))
    return (model.n_critic * critic
            + forward_products(g, batch) + forward_products(c, batch) + input_grads(c, batch, True)
            + weight_grads(g, batch) + input_grads(g, batch, False))


def text_step_needed(model, batch: int) -> list:
    """The products a text model's train_step needs: every forward product, every dW, and
    every dx, down to the embedding's output (its table learns from it: no product into
    the ids). Not needed in the LSTM: step 0's h0 Wh and dh0 = da Wh^T (training starts
    from h0 = 0, and dh0 flows into nothing that learns)."""
    leaves = Sequential(leaf_layers(model))
    needed = forward_products(leaves, batch) + weight_grads(leaves, batch) + input_grads(leaves, batch, True)
    for lstm in (leaf for leaf in leaves.layers if isinstance(leaf, LSTM)):
        h = lstm.units
        needed.remove((batch, h, 4 * h))                   # h0 Wh
        needed.remove((batch, 4 * h, h))                   # dh0 = da_0 Wh^T
    return needed


def _product_flops(shape) -> float:
    g, m, k, n = shape if len(shape) == 4 else (1,) + tuple(shape)
    return 2.0 * g * m * k * n


def gflop(shapes: list) -> float:
    """2 M K N (times G for a batch of G products) summed over the products, in GFLOP."""
    return sum(_product_flops(p) for p in shapes) / 1e9


def matmul_runner(shapes: list):
    """A function that runs all the products once, back to back, in DTYPE.

    Operands are contiguous; where a layer passes a transposed view instead,
    BLAS reads it without a copy (docs/performance.md).
    """
    rng = np.random.default_rng(0)
    pairs = [(rng.standard_normal(p[:-1]).astype(DTYPE), rng.standard_normal(p[:-3] + p[-2:]).astype(DTYPE))
             for p in map(tuple, shapes)]

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


def _timeit_turns(fns: list, n_steps: int, warmup: int = 3) -> list:
    """ms of each function, timed in turns: f0, f1, ..., f0, f1, ... (one array per function)."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = np.empty((n_steps, len(fns)))
    for i in range(n_steps):
        for j, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            times[i, j] = time.perf_counter() - start
    return [times[:, j] * 1e3 for j in range(len(fns))]


def _peak_mb(step) -> float:
    """Peak traced memory (numpy buffers included) during one step, in MB."""
    tracemalloc.start()
    step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def _layers(net) -> list:
    return [leaf for layer in net.layers for leaf in _layers(layer)] if isinstance(net, Sequential) else [net]


def workspace_mb(nets=None, optimizers=None) -> float:
    """Work buffers the fast paths keep between steps: the conv layers' shared workspace
    and Adam's scratch (one each per dtype, for every network; the arguments are ignored)."""
    arrays = list(fast_conv.WORKSPACE.values()) + list(fast_optimizers._SCRATCH.values())
    return sum(a.nbytes for a in arrays) / 2**20


def activations_mb(forward) -> float:
    """What one forward keeps for its backward (tracemalloc's memory still held after it, the
    output included), in MB: run it on a freshly built model, whose caches are empty."""
    tracemalloc.start()
    out = forward()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del out
    return held / 2**20


def model_mb(passes) -> float:
    """Parameters plus activations: ``passes`` is [(net, batch)], each net once at its largest batch."""
    total = 0
    for net, batch in passes:
        total += sum(p.nbytes for p in net.params.values())
        total += sum(batch * int(np.prod(layer.output_shape)) * net.dtype.itemsize for layer in _layers(net))
    return total / 2**20


def step_cases(dcgan_width: float, only=None) -> list:
    """One dict per benchmarked training step: name, batch, step (a function), ``needed``
    (the products the step needs, listed next to each case), ``all`` (every product its
    code runs with every weight gradient computed), passes and optimizers (for memory).
    ``only``: build just these cases (None: all)."""
    rng = np.random.default_rng(0)
    cases = []

    def want(name):
        return only is None or name in only

    if want("mlp_gan"):
        gan = build_model("gan", rng=np.random.default_rng(1))
        x_gan = rng.uniform(-1, 1, (64, 784)).astype(DTYPE)
        cases.append({"name": "mlp_gan", "batch": 64, "step": lambda: gan.train_step(x_gan), "model": gan,
                      "needed": gan_step_needed(gan, 64),      # see gan_step_needed
                      "all": gan_step_matmuls(gan, 64),
                      "passes": [(gan.G, 64), (gan.D, 128)], "optimizers": [gan.opt_g, gan.opt_d]})

    if want("vae"):
        vae = VAE(latent_dim=20, hidden=(512, 256), rng=np.random.default_rng(2))
        x_vae = rng.uniform(0, 1, (128, 28, 28)).astype(DTYPE)
        enc, dec = vae.encoder, vae.decoder
        enc_f, enc_b = layer_matmuls(enc, 128)
        dec_f, dec_b = layer_matmuls(dec, 128)
        cases.append({"name": "vae", "batch": 128, "step": lambda: vae.train_step(x_vae), "model": vae,
                      # encoder and decoder forward; both are updated: every dW; every dx
                      # except the encoder's first (into the images)
                      "needed": (forward_products(enc, 128) + forward_products(dec, 128)
                                 + weight_grads(dec, 128) + input_grads(dec, 128, True)
                                 + weight_grads(enc, 128) + input_grads(enc, 128, False)),
                      "all": enc_f + dec_f + dec_b + enc_b,
                      "passes": [(enc, 128), (dec, 128)], "optimizers": [vae.optimizer]})

    x_img = rng.uniform(-1, 1, (64, 1, 28, 28)).astype(DTYPE)
    for name, width in (("dcgan_lesson", dcgan_width), ("dcgan_full", 1.0)):
        if not want(name):
            continue
        dc = DCGAN(width=width, rng=np.random.default_rng(3))
        cases.append({"name": name, "batch": 64, "step": (lambda m: lambda: m.train_step(x_img))(dc), "model": dc,
                      "needed": gan_step_needed(dc, 64),       # see gan_step_needed
                      "all": gan_step_matmuls(dc, 64),
                      "passes": [(dc.G, 64), (dc.D, 128)], "optimizers": [dc.opt_g, dc.opt_d]})

    if want("wgan_gp"):
        wgan = build_model("wgan-gp", rng=np.random.default_rng(6))
        x_w = rng.uniform(-1, 1, (64, 784)).astype(DTYPE)
        cases.append({"name": "wgan_gp", "batch": 64, "step": lambda: wgan.train_step(x_w), "model": wgan,
                      "needed": wgan_step_needed(wgan, 64),    # see wgan_step_needed
                      "all": wgan_step_matmuls(wgan, 64),
                      "passes": [(wgan.G, 64), (wgan.D, 128)], "optimizers": [wgan.opt_g, wgan.opt_d]})

    if want("cnn"):
        cnn = cnn_classifier(np.random.default_rng(4))
        opt, loss = Adam(cnn, lr=1e-3), SparseCategoricalCrossentropy()
        x_cnn = rng.uniform(0, 1, (128, 1, 28, 28)).astype(DTYPE)
        y_cnn = rng.integers(0, 10, 128)

        def cnn_step():                                    # as evaluation/classifier.py trains it
            loss.forward(cnn.forward(x_cnn), y_cnn)
            cnn.param_gradients(loss.backward())
            opt.step()
        f, b = layer_matmuls(cnn, 128)
        cases.append({"name": "cnn", "batch": 128, "step": cnn_step, "model": cnn,
                      # forward, every dW, every dx but the first layer's (into the images)
                      "needed": forward_products(cnn, 128) + weight_grads(cnn, 128) + input_grads(cnn, 128, False),
                      "all": f + b, "passes": [(cnn, 128)], "optimizers": [opt]})

    if want("unet"):
        # Lesson 16's diffusion U-Net (its width, its batch): one step of the denoising loss.
        ddpm = build_model("ddpm", rng=np.random.default_rng(5))
        x_ddpm = rng.uniform(-1, 1, (32, 784)).astype(DTYPE)
        leaves = Sequential(leaf_layers(ddpm.net))                # the U-Net's layers, for shapes and memory
        f, b = layer_matmuls(leaves, 32)
        cases.append({"name": "unet", "batch": 32, "step": lambda: ddpm.train_step(x_ddpm), "model": ddpm,
                      # approximately: forward, every dW, every dx but the first listed layer's
                      # (the U-Net's skip connections and time embedding are not traced here)
                      "needed": f + weight_grads(leaves, 32) + input_grads(leaves, 32, False),
                      "all": f + b, "passes": [(leaves, 32)], "optimizers": [ddpm.optimizer]})

    for kind in ("gpt", "lstm"):
        if want(kind):
            cases.append(text_case(kind))
    return cases


def text_model(kind: str, seed: int = 7):
    """(the default recipe's Shakespeare model of ``kind`` over a 65-character vocabulary (Shakespeare's),
    the recipe's batch size)."""
    config, train = KINDS[kind].recipe("default")
    config["vocab"] = "".join(chr(32 + i) for i in range(TEXT_VOCAB))
    return KINDS[kind].build_model(config, np.random.default_rng(seed)), train["batch_size"]


def text_case(name: str) -> dict:
    """A text model's train_step on random windows: gpt = the default recipe, nanoGPT's CPU model (batch 12 x 64
    characters), lstm = the Shakespeare default (batch 32 x 64). Activations are measured
    (what a forward keeps), since a block's inner outputs have no layer shape to count."""
    model, batch = text_model(name)
    t = model.config["block_size"]
    rng = np.random.default_rng(8)
    x, y = rng.integers(0, TEXT_VOCAB, (batch, t)), rng.integers(0, TEXT_VOCAB, (batch, t))
    params = sum(p.nbytes for p in model.params.values()) / 2**20
    model.train()
    activations = activations_mb(lambda: model.forward(x))     # before any step: the caches are empty
    f, b = layer_matmuls(Sequential(leaf_layers(model)), batch)
    return {"name": name, "batch": batch, "tokens": batch * t, "step": lambda: model.train_step(x, y),
            "needed": text_step_needed(model, batch), "all": f + b, "model_mb": params + activations,
            "passes": [], "optimizers": [model.optimizer]}


TEXT_VOCAB = 65
STEP_NAMES = ("mlp_gan", "vae", "dcgan_lesson", "dcgan_full", "wgan_gp", "cnn", "unet", "gpt", "lstm")


def peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of one large square float32 product, n^3 (the BLAS's best case), median of ``repeats``."""
    return gflop([(n, n, n)]) / (time_matmuls([(n, n, n)], repeats) / 1e3)


def bench_steps(n_steps: int, dcgan_width: float, only=STEP_NAMES, peak: float | None = None) -> list:
    results = []
    for case in step_cases(dcgan_width, only):
        name, batch, step = case["name"], case["batch"], case["step"]
        text = "tokens" in case                                   # a text model: tokens, not images
        # Steps and their matmuls alternate, so that on a shared machine all three
        # see the same load and their ratios stay meaningful.
        ms, needed_ms, all_ms = _timeit_turns([step, matmul_runner(case["needed"]), matmul_runner(case["all"])],
                                              n_steps)
        median, needed, every = float(np.median(ms)), float(np.median(needed_ms)), float(np.median(all_ms))
        q1, q3 = np.percentile(ms, [25, 75])
        rate = gflop(case["needed"]) / (median / 1e3)
        results.append({
            "name": name, "batch": batch, "ms_median": median, "ms_iqr": [float(q1), float(q3)],
            "matmul_needed_ms": needed, "matmul_needed_ratio": median / needed,
            "matmul_all_ms": every, "matmul_all_ratio": median / every,
            "products_needed": len(case["needed"]), "products_all": len(case["all"]),
            "gflop_needed": gflop(case["needed"]), "gflops_needed": rate,
            "share_of_peak": rate / peak if peak else None,
            "images_per_s": None if text else batch / median * 1e3,
            "tokens_per_s": case["tokens"] / median * 1e3 if text else None,
            "s_per_epoch_bundled": None if text else BUNDLED_TRAIN / batch * median / 1e3,
            "s_per_epoch_full": None if text else FULL_TRAIN / batch * median / 1e3,
            "load_1min": os.getloadavg()[0],
            "needed_shapes": [list(p) for p in case["needed"]],
        })
        work = workspace_mb([net for net, _ in case["passes"]], case["optimizers"])
        peak_mb, model = _peak_mb(step) + work, case.get("model_mb") or model_mb(case["passes"])
        results[-1].update({"peak_mb": peak_mb, "workspace_mb": work, "model_mb": model,
                            "peak_ratio": peak_mb / model})
        share = f"  {rate:5.1f} GFLOP/s = {rate / peak:4.0%} of peak" if peak else ""
        print(f"  {name:<13} {median:8.1f} ms  (IQR {q1:.1f}-{q3:.1f})  needed {needed:7.1f} ms  "
              f"ratio {median / needed:4.2f}  (all {every:7.1f} ms, ratio {median / every:4.2f}){share}", flush=True)
    return results


def bench_ab(n_steps: int, dcgan_width: float, runs: int = 3, only=STEP_NAMES) -> list:
    """Step ms with the reference code and with the fast paths, timed in turns, ``runs`` times."""
    results = []
    for case in step_cases(dcgan_width, only):
        step = case["step"]

        def reference():
            with backend.reference():
                step()
        for run in range(runs):
            load = os.getloadavg()[0]
            ref_ms, fast_ms = _timeit_turns([reference, step], n_steps)
            r, f = float(np.median(ref_ms)), float(np.median(fast_ms))
            results.append({"name": case["name"], "run": run + 1, "reference_ms": r, "fast_ms": f,
                            "fast_over_reference": f / r, "load_1min": load})
            print(f"  {case['name']:<13} run {run + 1}: reference {r:8.1f} ms  fast {f:8.1f} ms  "
                  f"fast/reference {f / r:5.3f}  load {load:.2f}", flush=True)
    return results


def bench_convs(dcgan_width: float, repeats: int = 5, only=STEP_NAMES, peak: float | None = None) -> list:
    """Every conv layer of the DCGAN cases, the lesson-03 CNN and the U-Net: its product
    shapes (forward, dW, dx), their GFLOP/s alone, and the layer's forward + full backward
    GFLOP/s (the same products' flops over the layer's time), at the batch the step runs it
    (G, the CNN and the U-Net at the step's batch, D at 2B, its D-step batch); with
    ``peak``, both rates as shares of it too."""
    rng = np.random.default_rng(0)
    nets = []
    for name, width in (("dcgan_lesson", dcgan_width), ("dcgan_full", 1.0)):
        if name in only:
            dc = DCGAN(width=width, rng=np.random.default_rng(3))
            nets += [(name, "G", dc.G, 64), (name, "D", dc.D, 128)]
    if "cnn" in only:
        nets.append(("cnn", "", cnn_classifier(np.random.default_rng(4)), 128))
    if "unet" in only:
        unet = build_model("ddpm", rng=np.random.default_rng(5)).net
        nets.append(("unet", "", Sequential(leaf_layers(unet)), 32))
    results = []
    for case, part, net, batch in nets:
        for i, layer in enumerate(_layers(net)):
            if not isinstance(layer, (Conv2D, Conv2DTranspose)):
                continue
            f, w, x = _leaf_products(layer, batch)
            shapes = f + w + x
            products_ms = time_matmuls(shapes, repeats)
            inp = rng.standard_normal((batch,) + layer.input_shape).astype(DTYPE)

            def run(layer=layer, inp=inp):
                y = layer.forward(inp)
                layer.backward(np.ones_like(y))
            layer_ms = float(np.median(_timeit(run, repeats, warmup=1)))
            kind = "Conv2DTranspose" if isinstance(layer, Conv2DTranspose) else "Conv2D"
            label = f"{case} {part}{i} {kind} {layer.input_shape[0]}->{layer.output_shape[0]} " \
                    f"{layer.input_shape[1]}->{layer.output_shape[1]} batch {batch}"
            results.append({"case": case, "layer": label, "batch": batch, "shapes": [list(p) for p in shapes],
                            "products_ms": products_ms, "products_gflops": gflop(shapes) / (products_ms / 1e3),
                            "layer_ms": layer_ms, "layer_gflops": gflop(shapes) / (layer_ms / 1e3)})
            if peak:
                results[-1].update({"products_share_of_peak": results[-1]["products_gflops"] / peak,
                                    "layer_share_of_peak": results[-1]["layer_gflops"] / peak})
    return results


# --------------------------------------------------------------- sampling
def bench_sampling(n_chars: int = 500, repeats: int = 3) -> list:
    """Characters per second of ``generate`` with the cache (GPT: each block's keys and values;
    LSTM: its (h, c)) and without it (the whole context again for every character), batch 1,
    from a one-character prompt, median of ``repeats`` runs; the same rng draws the same text."""
    results = []
    for name in ("gpt", "lstm"):
        model, _ = text_model(name)
        rates = {}
        for use_cache in (True, False):
            def run():
                model.generate([0], n_chars, rng=np.random.default_rng(0), use_cache=use_cache)
            rates[use_cache] = n_chars / (float(np.median(_timeit(run, repeats, warmup=1))) / 1e3)
        results.append({"name": name, "chars": n_chars, "cached_chars_per_s": rates[True],
                        "cacheless_chars_per_s": rates[False], "speedup": rates[True] / rates[False]})
        print(f"  sampling {name:<5} {rates[True]:8,.0f} chars/s with the cache, {rates[False]:8,.0f} without "
              f"({rates[True] / rates[False]:.1f}x), {n_chars} characters", flush=True)
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
    parser = argparse.ArgumentParser(prog="python -m aigc_np.tools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per model (after 3 warm-up steps)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--dcgan-width", type=float, default=KINDS["dcgan"].defaults["width"])
    parser.add_argument("--only", default=",".join(STEP_NAMES), help="comma-separated steps to time")
    parser.add_argument("--no-layers", action="store_true", help="skip the layer micro-benchmarks")
    parser.add_argument("--no-convs", action="store_true", help="skip the per-conv-layer GFLOP/s table")
    parser.add_argument("--no-sampling", action="store_true", help="skip the text models' sampling speed")
    parser.add_argument("--sampling-chars", type=int, default=500, help="characters per sampling run")
    parser.add_argument("--peak-n", type=int, default=2048, help="size n of the n^3 product that measures the peak")
    parser.add_argument("--ab", action="store_true",
                        help="also time every step with the reference code and the fast paths, in turns (3 runs)")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be positive")
    if args.sampling_chars < 1:
        parser.error("--sampling-chars must be positive")

    env = environment()
    print("environment: " + ", ".join(f"{k}={v}" for k, v in env.items()))
    only = tuple(args.only.split(","))
    unknown = set(only) - set(STEP_NAMES)
    if unknown:
        parser.error(f"--only: unknown steps {sorted(unknown)}; choose from {','.join(STEP_NAMES)}")
    peak = peak_gflops(args.peak_n)
    print(f"peak: a {args.peak_n}^3 float32 product runs at {peak:.1f} GFLOP/s (load {os.getloadavg()[0]:.2f})")
    print("training steps (float32):")
    steps = bench_steps(args.steps, args.dcgan_width, only, peak)
    ab = bench_ab(args.steps, args.dcgan_width, only=only) if args.ab else []
    convs = [] if args.no_convs else bench_convs(args.dcgan_width, only=only, peak=peak)
    layers = [] if args.no_layers else bench_layers(args.steps)
    sampling = [] if args.no_sampling else bench_sampling(args.sampling_chars)
    peak_after = peak_gflops(args.peak_n)

    print(f"\n{'step':<14}{'batch':>6}{'ms (median)':>12}{'IQR ms':>14}{'needed ms':>10}{'ratio':>7}"
          f"{'all ms':>9}{'ratio':>7}{'GFLOP/s':>9}{'of peak':>8}{'img/s':>9}{'tok/s':>9}{'s/ep 4.5k':>10}"
          f"{'s/ep 60k':>9}{'peak MB':>9}{'model MB':>10}{'peak/model':>11}")

    def cell(value, width, spec):                      # "-" where a figure does not apply (text: no epochs)
        return f"{'-' if value is None else format(value, spec):>{width}}"
    for r in steps:
        iqr = f"{r['ms_iqr'][0]:.1f}-{r['ms_iqr'][1]:.1f}"
        print(f"{r['name']:<14}{r['batch']:>6}{r['ms_median']:>12.1f}{iqr:>14}{r['matmul_needed_ms']:>10.1f}"
              f"{r['matmul_needed_ratio']:>7.2f}{r['matmul_all_ms']:>9.1f}{r['matmul_all_ratio']:>7.2f}"
              f"{r['gflops_needed']:>9.1f}{r['share_of_peak']:>8.0%}{cell(r['images_per_s'], 9, ',.0f')}"
              f"{cell(r['tokens_per_s'], 9, ',.0f')}{cell(r['s_per_epoch_bundled'], 10, '.1f')}"
              f"{cell(r['s_per_epoch_full'], 9, '.1f')}{r['peak_mb']:>9.1f}"
              f"{r['model_mb']:>10.1f}{r['peak_ratio']:>11.2f}")
    if steps:
        print("(needed: the products the step needs, listed beside each case in aigc_np/tools/bench.py; all: every "
              "product with every weight gradient computed; GFLOP/s counts needed products "
              f"only; peak {peak:.1f} GFLOP/s before the steps, {peak_after:.1f} after; peak MB: one step's "
              "peak allocation plus the reused work buffers; model MB: parameters plus the activations of "
              "the largest pass)")
    if convs:
        print(f"\n{'conv layer':<52}{'products (M, K, N): fwd, dW, dx':<52}{'ms':>7}{'GFLOP/s':>9}{'of peak':>8}"
              f"{'layer ms':>10}{'GFLOP/s':>9}{'of peak':>8}")
        for r in convs:
            shapes = ", ".join("x".join(map(str, p)) for p in r["shapes"])
            print(f"{r['layer']:<52}{shapes:<52}{r['products_ms']:>7.2f}{r['products_gflops']:>9.1f}"
                  f"{r['products_share_of_peak']:>8.0%}{r['layer_ms']:>10.2f}{r['layer_gflops']:>9.1f}"
                  f"{r['layer_share_of_peak']:>8.0%}")
        print("(products: the three alone, back to back; layer: forward + full backward, the same flops "
              f"over the layer's time; of peak: of the {peak:.1f} GFLOP/s of the {args.peak_n}^3 product before the steps)")
    if layers:
        print(f"\n{'layer (batch 64)':<36}{'fwd ms':>8}{'matmul':>8}{'bwd ms':>8}{'matmul':>8}")
    for r in layers:
        if "forward_ms" in r:
            print(f"{r['name']:<36}{r['forward_ms']:>8.2f}{r['forward_matmul_ms']:>8.2f}"
                  f"{r['backward_ms']:>8.2f}{r['backward_matmul_ms']:>8.2f}")
        else:
            print(f"{r['name']:<36}{r['ms']:>8.2f} ms = {r['us_per_million_params']:,.0f} us per million params")
    if args.json:
        from ..io import atomic_write
        with atomic_write(args.json, "w") as f:
            json.dump({"env": env, "peak_gflops": [peak, peak_after], "steps": steps, "ab": ab,
                       "convs": convs, "layers": layers, "sampling": sampling}, f, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
