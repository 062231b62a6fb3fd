#!/usr/bin/env python
"""Side-by-side timing: aigc_np's benchmark training steps against identical PyTorch models.

Not part of the package, and not run by the tests: PyTorch is only the yardstick here, in a
virtual environment of its own (the project itself never imports it):

    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch==2.13.0 numpy matplotlib
    /tmp/torchenv/bin/python docs/pytorch_side_by_side.py [--threads 2] [--rounds 15] [--only a,b] [--settle S]
                                             [--no-verify | --verify-only] [--torch-adam default|foreach|fused]
                                             [--gpt-attention sdpa|manual] [--json FILE] [--md FILE]

What it found, and how to read it: docs/performance.md, "Side by side with PyTorch".

The aigc_np side is exactly ``aigc_np.tools.bench.step_cases(dcgan_width, only=[case])`` (what
``make bench`` times). The PyTorch side is the same model (layer sizes, kernels, strides, TF-'same'
paddings, activations, normalization settings, dropout, loss, optimizer and its hyperparameters,
EMA) built from the aigc_np model's own layers and started from a copy of its initial weights.

Before timing, each case is checked for equivalence (``--no-verify`` skips it): one training step
runs on both sides from the same weights, with aigc_np's random draws (z, eps, t, dropout masks)
recorded and replayed into the PyTorch step; the losses, every gradient and every parameter
update are compared (docs/performance.md).

Timing: both sides float32, T threads (``--threads``; OPENBLAS/OMP/MKL_NUM_THREADS set before
NumPy is imported, torch.set_num_threads(T)). Per case: 3 warm-up steps per side, then R rounds,
the order of the two sides swapped every round. In a round each side runs steadily, as training
does: one untimed lead-in step (the other library's idle worker threads spin for ~0.1 s after its
last product and slow the first step that follows), then --block timed steps, whose median is the
round's time (time.perf_counter). --block 0 times one step per side per round instead, after
sleeping --settle s (default 0.3 with T > 1); a pause measures a step from a cold start (the
U-Net's took ~60 ms longer after 0.3 s of sleep). Reported: median and IQR of each side, median
and quartiles of the per-round ratio aigc_np / torch, the 1-minute load average at the start and
end of each case.
"""
from __future__ import annotations

import argparse
import os
import sys


def _early_threads(argv) -> int:
    """--threads, read before NumPy/torch are imported (their thread pools read the environment)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--threads", type=int, default=2)
    known, _ = p.parse_known_args(argv)
    return known.threads


THREADS = _early_threads(sys.argv[1:])
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)

import inspect  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # the repository
from aigc_np import layers as L  # noqa: E402
from aigc_np.kinds import KINDS  # noqa: E402
from aigc_np.tools import bench  # noqa: E402

torch.set_num_threads(THREADS)

CASES = ("mlp_gan", "vae", "dcgan_lesson", "dcgan_full", "cnn", "unet", "gpt", "lstm")
DEFAULT_ROUNDS = {"dcgan_full": 6}
WARMUP = 3


# =============================================================================== torch layers
class TFConv2d(nn.Conv2d):
    """nn.Conv2d with aigc_np's (TensorFlow's) 'same' padding: symmetric pads go to the conv itself,
    asymmetric ones (stride 2: one more row/column at the bottom/right) to an explicit F.pad first."""

    def __init__(self, cin, cout, kernel, stride, pads, bias):
        (top, bottom), (left, right) = pads
        self.tf_pad = None if (top == bottom and left == right) else (left, right, top, bottom)
        super().__init__(cin, cout, kernel, stride=stride, padding=(top, left) if self.tf_pad is None else 0,
                         bias=bias)

    def forward(self, x):
        if self.tf_pad is not None:
            x = F.pad(x, self.tf_pad)
        return super().forward(x)


class TFConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d cropped like aigc_np's Conv2DTranspose ('same'): crop `top` rows at the
    start (torch's padding) and `bottom` at the end (torch crops `top` there, the rest is sliced off)."""

    def __init__(self, cin, cout, kernel, stride, pads, out_hw, bias):
        (top, bottom), (left, right) = pads
        super().__init__(cin, cout, kernel, stride=stride, padding=(top, left), bias=bias)
        self.out_hw = tuple(out_hw)
        self.crop = bottom != top or right != left

    def forward(self, x):
        y = super().forward(x)
        return y[:, :, :self.out_hw[0], :self.out_hw[1]] if self.crop else y


def torch_layer(layer):
    """The PyTorch module equal to one aigc_np layer (its settings read from the layer itself)."""
    if isinstance(layer, L.Dense):
        return nn.Linear(layer.input_shape[-1], layer.units, bias=layer.use_bias)
    if isinstance(layer, L.LeakyReLU):
        return nn.LeakyReLU(layer.alpha)
    if isinstance(layer, L.ReLU):
        return nn.ReLU()
    if isinstance(layer, L.Tanh):
        return nn.Tanh()
    if isinstance(layer, L.SiLU):
        return nn.SiLU()
    if isinstance(layer, L.BatchNormalization):
        bn = nn.BatchNorm1d if len(layer.input_shape) == 1 else nn.BatchNorm2d
        # Keras momentum m (weight of the old value) is torch's 1 - m (weight of the new one)
        return bn(layer.input_shape[0], eps=layer.epsilon, momentum=1.0 - layer.momentum)
    if isinstance(layer, L.GroupNormalization):
        return nn.GroupNorm(layer.groups, layer.input_shape[0], eps=layer.epsilon)
    if isinstance(layer, L.Dropout):
        return nn.Dropout(layer.rate)
    if isinstance(layer, L.Flatten):
        return nn.Flatten()
    if isinstance(layer, L.Reshape):
        return nn.Unflatten(1, tuple(layer.target_shape))
    if isinstance(layer, L.Conv2DTranspose):
        return TFConvTranspose2d(layer.input_shape[0], layer.filters, layer.kernel_size, layer.strides,
                                 layer._pads, layer.output_shape[1:], layer.use_bias)
    if isinstance(layer, L.Conv2D):
        return TFConv2d(layer.input_shape[0], layer.filters, layer.kernel_size, layer.strides, layer._pads,
                        layer.use_bias)
    raise TypeError(f"no torch mirror for {type(layer).__name__}")


def torch_sequential(seq) -> nn.Sequential:
    """An aigc_np Sequential as nn.Sequential, layer i <-> module i."""
    return nn.Sequential(*[torch_layer(layer) for layer in seq.layers])


class SinusoidalEmbedding(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.register_buffer("freqs", torch.from_numpy(layer.frequencies(np.float32)), persistent=False)

    def forward(self, t):                                   # t (N, 1) float
        a = t * self.freqs
        return torch.cat([torch.sin(a), torch.cos(a)], dim=1)


class ResBlock(nn.Module):
    """models/unet.py's ResBlock."""

    def __init__(self, np_block):
        super().__init__()
        p = np_block.parts
        for name in ("norm1", "act1", "conv1", "emb_act", "emb_proj", "norm2", "act2", "conv2"):
            setattr(self, name, torch_layer(p[name]))
        self.skip = torch_layer(p["skip"]) if "skip" in p else None

    def forward(self, x, e):
        h = self.conv1(self.act1(self.norm1(x)))
        h = h + self.emb_proj(self.emb_act(e))[:, :, None, None]
        out = self.conv2(self.act2(self.norm2(h)))
        return out + (self.skip(x) if self.skip is not None else x)


class UNet(nn.Module):
    """models/unet.py's UNet (unconditional): same parts, same names, same wiring."""

    def __init__(self, np_unet):
        super().__init__()
        p = np_unet.parts
        if "label" in p:
            raise ValueError("only the unconditional U-Net is mirrored")
        t = p["time"]
        self.time = nn.Sequential(SinusoidalEmbedding(t.layers[0]), *[torch_layer(x) for x in t.layers[1:]])
        for name in ("conv_in", "ds1", "ds2", "up2_conv", "up1_conv", "out_norm", "out_act", "conv_out"):
            setattr(self, name, torch_layer(p[name]))
        for name in ("down1", "down2", "mid", "up_block2", "up_block1"):
            setattr(self, name, ResBlock(p[name]))
        self.up2 = nn.Upsample(scale_factor=2, mode="nearest")
        self.up1 = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x, t):
        e = self.time(t.reshape(-1, 1))
        h1 = self.down1(self.conv_in(x), e)
        h2 = self.down2(self.ds1(h1), e)
        m = self.mid(self.ds2(h2), e)
        u2 = self.up_block2(torch.cat([self.up2_conv(self.up2(m)), h2], dim=1), e)
        u1 = self.up_block1(torch.cat([self.up1_conv(self.up1(u2)), h1], dim=1), e)
        return self.conv_out(self.out_act(self.out_norm(u1)))


class Positions(nn.Module):
    def __init__(self, block_size, dim):
        super().__init__()
        self.pos = nn.Parameter(torch.zeros(block_size, dim))

    def forward(self, x):
        return x + self.pos[:x.shape[1]]


class CausalSelfAttention(nn.Module):
    """nanoGPT's attention: one bias-free qkv projection, causal SDPA (or the explicit softmax), proj + bias."""

    def __init__(self, dim, n_head, manual=False):
        super().__init__()
        self.n_head, self.manual = n_head, manual
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
                   for z in self.qkv(x).split(c, dim=2))
        if self.manual:
            s = (q @ k.transpose(-2, -1)) * (1.0 / np.sqrt(c // self.n_head))
            s = s.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
            y = torch.softmax(s, dim=-1) @ v
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).contiguous().view(b, t, c))


class Block(nn.Module):
    def __init__(self, np_block, n_head, manual):
        super().__init__()
        ch = np_block.children
        c = ch["ln1"].params["gamma"].shape[0]
        self.ln1 = nn.LayerNorm(c, eps=ch["ln1"].epsilon)
        self.attn = CausalSelfAttention(c, n_head, manual)
        self.drop1 = nn.Dropout(ch["drop1"].rate)
        self.ln2 = nn.LayerNorm(c, eps=ch["ln2"].epsilon)
        self.mlp_in = nn.Linear(c, ch["mlp_in"].units)
        self.gelu = nn.GELU(approximate="tanh")            # aigc_np's GELU is the tanh approximation
        self.mlp_out = nn.Linear(ch["mlp_in"].units, c)
        self.drop2 = nn.Dropout(ch["drop2"].rate)

    def forward(self, x):
        x = x + self.drop1(self.attn(self.ln1(x)))
        return x + self.drop2(self.mlp_out(self.gelu(self.mlp_in(self.ln2(x)))))


class GPT(nn.Module):
    def __init__(self, np_gpt, manual=False):
        super().__init__()
        p = np_gpt.parts
        v, c = p["tok"].params["table"].shape
        self.n_layer = np_gpt.n_layer
        self.tok = nn.Embedding(v, c)
        self.pos = Positions(np_gpt.block_size, c)
        self.drop = nn.Dropout(p["drop"].rate)
        for i in range(self.n_layer):
            setattr(self, f"block{i}", Block(p[f"block{i}"], p[f"block{i}"].n_head, manual))
        self.ln_f = nn.LayerNorm(c, eps=p["ln_f"].epsilon)
        self.head = nn.Linear(c, v)

    def forward(self, ids):
        h = self.drop(self.pos(self.tok(ids)))
        for i in range(self.n_layer):
            h = getattr(self, f"block{i}")(h)
        return self.head(self.ln_f(h))


class CharLSTM(nn.Module):
    def __init__(self, np_lstm):
        super().__init__()
        p = np_lstm.parts
        v, e = p["tok"].params["table"].shape
        self.n_layer = np_lstm.n_layer
        d = e
        self.tok = nn.Embedding(v, e)
        for i in range(self.n_layer):
            h = p[f"lstm{i}"].units
            lstm = nn.LSTM(d, h, batch_first=True)
            # aigc_np's LSTM has one bias b; torch has b_ih + b_hh: b_hh is held at 0 and frozen
            lstm.bias_hh_l0.requires_grad_(False)
            setattr(self, f"lstm{i}", lstm)
            d = h
        self.head = nn.Linear(d, v)

    def forward(self, ids):
        h = self.tok(ids)
        for i in range(self.n_layer):
            h, _ = getattr(self, f"lstm{i}")(h)
        return self.head(h)


# =============================================================================== weights
def torch_param(module: nn.Module, np_key: str):
    """(torch parameter, transpose?) that holds aigc_np parameter ``np_key`` ("path.to.layer.name")."""
    path, _, name = np_key.rpartition(".")
    m = module.get_submodule(path) if path else module
    if isinstance(m, nn.Linear):
        return {"W": (m.weight, True), "b": (m.bias, False)}[name]
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        return {"W": (m.weight, False), "b": (m.bias, False)}[name]     # same layouts as aigc_np
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)):
        return {"gamma": (m.weight, False), "beta": (m.bias, False)}[name]
    if isinstance(m, nn.Embedding):
        return {"table": (m.weight, False)}[name]
    if isinstance(m, Positions):
        return {"pos": (m.pos, False)}[name]
    if isinstance(m, CausalSelfAttention):
        return {"Wqkv": (m.qkv.weight, True), "Wo": (m.proj.weight, True), "bo": (m.proj.bias, False)}[name]
    if isinstance(m, nn.LSTM):                                            # gate order i, f, g, o on both sides
        return {"Wx": (m.weight_ih_l0, True), "Wh": (m.weight_hh_l0, True), "b": (m.bias_ih_l0, False)}[name]
    raise KeyError(f"no torch parameter for {np_key} ({type(m).__name__})")


class Mapping:
    """aigc_np parameters <-> torch parameters: copy np -> torch, read torch in np's layout."""

    def __init__(self, np_params: dict, np_grads, module: nn.Module):
        self.np_params, self.np_grads = np_params, np_grads        # dicts (grads: a callable giving the dict)
        self.pairs = {k: torch_param(module, k) for k in np_params}
        mapped = {id(p) for p, _ in self.pairs.values()}
        extra = [n for n, p in module.named_parameters() if p.requires_grad and id(p) not in mapped]
        if extra:
            raise AssertionError(f"torch parameters with no aigc_np counterpart: {extra}")
        if len(mapped) != len(self.pairs):
            raise AssertionError("two aigc_np parameters map to one torch parameter")

    @staticmethod
    def _np_layout(t, transpose):
        a = t.detach().numpy()
        return a.T if transpose else a

    def copy_to_torch(self):
        with torch.no_grad():
            for k, (p, tr) in self.pairs.items():
                a = self.np_params[k]
                p.copy_(torch.from_numpy(np.ascontiguousarray(a.T if tr else a)))

    def torch_params(self) -> dict:
        return {k: self._np_layout(p, tr).copy() for k, (p, tr) in self.pairs.items()}

    def torch_grads(self) -> dict:
        return {k: None if p.grad is None else self._np_layout(p.grad, tr).copy() for k, (p, tr) in self.pairs.items()}


# =============================================================================== the cases
def closure(fn) -> dict:
    return inspect.getclosurevars(fn).nonlocals


def adam(params, opt, fused_or_foreach):
    """torch.optim.Adam with aigc_np Adam's lr, betas, eps (torch's default implementation unless asked)."""
    kw = {} if fused_or_foreach == "default" else {fused_or_foreach: True}
    return torch.optim.Adam(params, lr=opt.lr, betas=(opt.beta1, opt.beta2), eps=opt.eps, **kw)


class Pair:
    """One benchmark case on both sides.

    np_step(): bench's step. torch_step(**inject): the mirror; without arguments it draws its own
    noise with torch's generator (the timed form), with them it uses the given noise / masks.
    record(): run one aigc_np step recording its random draws -> (draws, losses).
    """
    notes: list

    def __init__(self, name, case, args):
        self.name, self.case, self.args = name, case, args
        self.batch = case["batch"]
        self.np_step = case["step"]
        self.notes = []
        getattr(self, "_build_" + ("gan" if name in ("mlp_gan", "dcgan_lesson", "dcgan_full") else name))()

    # ------------------------------------------------------------------ GANs
    def _build_gan(self):
        cv = closure(self.np_step)
        gan = cv.get("gan") or cv.get("m")
        x = cv.get("x_gan") if "x_gan" in cv else cv["x_img"]
        if gan.r1_weight or gan.G_ema is not None:
            raise NotImplementedError("R1 / EMA GAN variants are not mirrored (bench uses neither)")
        self.np_model = gan
        self.model = nn.Module()
        self.model.generator, self.model.discriminator = torch_sequential(gan.G), torch_sequential(gan.D)
        self.G, self.D = self.model.generator, self.model.discriminator
        self.model.train()
        self.map = Mapping(gan.params, lambda: gan.grads, self.model)
        self.map.copy_to_torch()
        self.x = torch.from_numpy(x)
        self.latent = gan.latent_dim
        n = len(x)
        self.d_targets = torch.cat([torch.full((n, 1), 1.0 - gan.label_smoothing), torch.zeros(n, 1)])
        self.ones = torch.ones(n, 1)
        self.opt_d = adam(self.D.parameters(), gan.opt_d, self.args.torch_adam)
        self.opt_g = adam(self.G.parameters(), gan.opt_g, self.args.torch_adam)
        self.g_buffers = list(self.G.buffers())
        self.torch_step = self._gan_step
        self.np_dropouts = [layer for layer in gan.D.layers if isinstance(layer, L.Dropout)]
        self.t_dropouts = [m for m in self.D if isinstance(m, nn.Dropout)]

    def _gan_step(self, z_d=None, z_g=None):
        n = len(self.x)
        # D step: G(z) as a constant (no graph), G's BatchNorm statistics restored as aigc_np does;
        # real and fake through D as one batch of 2N; L_D = 2 * mean BCE
        z_d = torch.randn(n, self.latent) if z_d is None else z_d
        with torch.no_grad():
            saved = [b.clone() for b in self.g_buffers]
            fake = self.G(z_d)
            for b, s in zip(self.g_buffers, saved):
                b.copy_(s)
        d_loss = 2.0 * F.binary_cross_entropy_with_logits(self.D(torch.cat([self.x, fake])), self.d_targets)
        self.opt_d.zero_grad()
        d_loss.backward()
        self.opt_d.step()
        # G step: non-saturating loss through a frozen D (no D weight gradients, as aigc_np's input_gradient)
        z_g = torch.randn(n, self.latent) if z_g is None else z_g
        self.D.requires_grad_(False)
        g_loss = F.binary_cross_entropy_with_logits(self.D(self.G(z_g)), self.ones)
        self.opt_g.zero_grad()
        g_loss.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}

    def _record_gan(self):
        gan, zs = self.np_model, []
        orig_z = gan.sample_z
        gan.sample_z = lambda n: (lambda z: (zs.append(z.copy()), z)[1])(orig_z(n))
        try:
            with record_dropout(self.np_dropouts) as masks:
                out = self.np_step()
        finally:
            del gan.sample_z
        return {"z": zs, "masks": masks}, out

    def _replay_gan(self, draws):
        with replay_dropout(self.t_dropouts, draws["masks"]):
            return self._gan_step(*(torch.from_numpy(z) for z in draws["z"]))

    # ------------------------------------------------------------------ VAE
    def _build_vae(self):
        cv = closure(self.np_step)
        vae, x = cv["vae"], cv["x_vae"]
        self.np_model = vae
        self.model = nn.Module()
        self.model.encoder, self.model.decoder = torch_sequential(vae.encoder), torch_sequential(vae.decoder)
        self.model.train()
        self.map = Mapping(vae.params, lambda: vae.grads, self.model)
        self.map.copy_to_torch()
        self.x, self.latent = torch.from_numpy(x), vae.latent_dim
        self.opt = adam(self.model.parameters(), vae.optimizer, self.args.torch_adam)
        self.torch_step = self._vae_step

    def _vae_step(self, eps=None):
        n, d = len(self.x), self.latent
        h = self.model.encoder(self.x)
        mu, logvar = h[:, :d], h[:, d:]
        eps = torch.randn(n, d) if eps is None else eps
        z = mu + torch.exp(0.5 * logvar) * eps
        recon = F.binary_cross_entropy_with_logits(self.model.decoder(z), self.x, reduction="sum") / n
        kl = 0.5 * torch.sum(mu * mu + torch.exp(logvar) - logvar - 1) / n
        loss = recon + kl
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss": loss.item()}

    def _record_vae(self):
        vae, eps = self.np_model, []
        orig = vae.sample_eps
        vae.sample_eps = lambda n: (lambda e: (eps.append(e.copy()), e)[1])(orig(n))
        try:
            out = self.np_step()
        finally:
            del vae.sample_eps
        return {"eps": eps}, {"loss": out["loss"]}

    def _replay_vae(self, draws):
        return self._vae_step(torch.from_numpy(draws["eps"][0]))

    # ------------------------------------------------------------------ CNN classifier
    def _build_cnn(self):
        cv = closure(self.np_step)
        cnn, opt = cv["cnn"], cv["opt"]
        self.np_model, self.np_loss = cnn, cv["loss"]
        self.model = torch_sequential(cnn)
        self.model.train()
        self.map = Mapping(cnn.params, lambda: cnn.grads, self.model)
        self.map.copy_to_torch()
        self.x, self.y = torch.from_numpy(cv["x_cnn"]), torch.from_numpy(cv["y_cnn"].astype(np.int64))
        self.opt = adam(self.model.parameters(), opt, self.args.torch_adam)
        self.torch_step = self._cnn_step
        self.np_dropouts = [layer for layer in cnn.layers if isinstance(layer, L.Dropout)]
        self.t_dropouts = [m for m in self.model if isinstance(m, nn.Dropout)]

    def _cnn_step(self):
        loss = F.cross_entropy(self.model(self.x), self.y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss": loss.item()}

    def _record_cnn(self):
        losses = []
        orig_loss = self.np_loss.forward
        self.np_loss.forward = lambda p, y: (lambda v: (losses.append(v), v)[1])(orig_loss(p, y))
        try:
            with record_dropout(self.np_dropouts) as masks:
                self.np_step()
        finally:
            del self.np_loss.forward
        return {"masks": masks}, {"loss": losses[0]}

    def _replay_cnn(self, draws):
        with replay_dropout(self.t_dropouts, draws["masks"]):
            return self._cnn_step()

    # ------------------------------------------------------------------ U-Net (DDPM)
    def _build_unet(self):
        cv = closure(self.np_step)
        ddpm, x = cv["ddpm"], cv["x_ddpm"]
        if ddpm.conditional or ddpm.min_snr:
            raise NotImplementedError("only the unconditional, unweighted loss is mirrored (bench's ddpm)")
        self.np_model = ddpm
        self.model = UNet(ddpm.net)
        self.model.train()
        self.map = Mapping(ddpm.net.params, lambda: ddpm.net.grads, self.model)
        self.map.copy_to_torch()
        self.ema = None
        if ddpm.net_ema is not None:
            self.ema = UNet(ddpm.net_ema)
            self.ema_map = Mapping(ddpm.net_ema.params, lambda: ddpm.net_ema.grads, self.ema)
            self.ema_map.copy_to_torch()
            self.ema.requires_grad_(False)
            self.ema_pairs = [(self.ema_map.pairs[k][0], self.map.pairs[k][0]) for k in self.map.pairs]
        self.x0 = torch.from_numpy(x.reshape((len(x),) + ddpm.data_shape))
        s = ddpm.schedule
        self.T, self.prediction, self.ema_decay = s.T, ddpm.prediction, ddpm.ema_decay
        self.sqrt_ab = torch.from_numpy(np.sqrt(s.alpha_bar).astype(np.float32))
        self.sqrt_1m_ab = torch.from_numpy(np.sqrt(1.0 - s.alpha_bar).astype(np.float32))
        self.opt = adam(self.model.parameters(), ddpm.optimizer, self.args.torch_adam)
        self.steps_done = 0
        self.torch_step = self._unet_step

    def _unet_step(self, t=None, eps=None):
        x0, n = self.x0, len(self.x0)
        t = torch.randint(0, self.T, (n,)) if t is None else t
        eps = torch.randn_like(x0) if eps is None else eps
        a, b = self.sqrt_ab[t].view(n, 1, 1, 1), self.sqrt_1m_ab[t].view(n, 1, 1, 1)
        x_t = a * x0 + b * eps
        target = eps if self.prediction == "eps" else a * eps - b * x0      # v = sqrt(ab) eps - sqrt(1-ab) x0
        loss = F.mse_loss(self.model(x_t, t.to(x0.dtype)), target)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.steps_done += 1
        if self.ema is not None:                      # aigc_np's per-step EMA, with its warm-up
            k = self.steps_done
            rate = 1.0 - min(self.ema_decay, (1.0 + k) / (10.0 + k))
            with torch.no_grad():
                torch._foreach_lerp_([e for e, _ in self.ema_pairs], [w for _, w in self.ema_pairs], rate)
        return {"loss": loss.item()}

    def _record_unet(self):
        ddpm = self.np_model
        rng = np.random.default_rng(123)
        n = len(self.x0)
        t = rng.integers(0, ddpm.schedule.T, n)
        eps = rng.standard_normal(tuple(self.x0.shape)).astype(np.float32)
        orig = ddpm.loss
        ddpm.loss = lambda x0, labels=None: orig(x0, labels, t=t, eps=eps)
        try:
            out = self.np_step()
        finally:
            del ddpm.loss
        return {"t": t, "eps": eps}, out

    def _replay_unet(self, draws):
        return self._unet_step(torch.from_numpy(draws["t"].astype(np.int64)), torch.from_numpy(draws["eps"]))

    # ------------------------------------------------------------------ text models
    def _build_text(self, module):
        cv = closure(self.np_step)
        m = cv["model"]
        self.np_model = m
        self.model = module
        self.model.train()
        self.map = Mapping(m.params, lambda: m.grads, self.model)
        self.map.copy_to_torch()
        self.x, self.y = torch.from_numpy(cv["x"].astype(np.int64)), torch.from_numpy(cv["y"].astype(np.int64))
        o = m.optimizer
        decay = [self.map.pairs[k][0] for k, p in m.params.items() if o.decays(k, p)]
        rest = [self.map.pairs[k][0] for k, p in m.params.items() if not o.decays(k, p)]
        kw = {} if self.args.torch_adam == "default" else {self.args.torch_adam: True}
        # AdamW, decoupled decay on the matrices aigc_np decays (AdamW.decays), none on the rest
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": o.weight_decay},
                                      {"params": rest, "weight_decay": 0.0}],
                                     lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps, **kw)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.grad_clip = m.grad_clip
        self.vocab = m.vocab_size
        self.torch_step = self._text_step

    def _build_gpt(self):
        self._build_text(GPT(closure(self.np_step)["model"], manual=self.args.gpt_attention == "manual"))

    def _build_lstm(self):
        m = closure(self.np_step)["model"]
        self._build_text(CharLSTM(m))
        with torch.no_grad():
            for i in range(m.n_layer):
                getattr(self.model, f"lstm{i}").bias_hh_l0.zero_()

    def _text_step(self):
        self.model.train()
        logits = self.model(self.x)
        loss = F.cross_entropy(logits.view(-1, self.vocab), self.y.view(-1))
        self.opt.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip) if self.grad_clip else torch.tensor(0.)
        self.opt.step()
        return {"loss": loss.item(), "grad_norm": float(norm)}

    def _record_text(self):
        out = self.np_step()
        return {}, out

    def _replay_text(self, draws):
        return self._text_step()

    _record_gpt = _record_lstm = _record_text
    _replay_gpt = _replay_lstm = _replay_text

    def batchnorm_check(self) -> list:
        """After ONE step from fresh statistics: np moving stats vs torch running stats. torch's running_var
        takes the unbiased batch variance (x n/(n-1)), aigc_np's the biased one; undo that factor."""
        seqs = []
        if self.kind == "gan":
            seqs = [(self.np_model.G, self.G), (self.np_model.D, self.D)]
        elif self.kind == "cnn":
            seqs = [(self.np_model, self.model)]
        out = []
        for np_seq, t_seq in seqs:
            for i, layer in enumerate(np_seq.layers):
                if not isinstance(layer, L.BatchNormalization):
                    continue
                bn, m = t_seq[i], layer.momentum
                n = self.batch * int(np.prod(layer.input_shape[1:]))   # values per channel in the batch
                mean_np, var_np = layer.buffers["moving_mean"], layer.buffers["moving_variance"]
                var_b = (var_np - m) / (1 - m)                       # fresh buffers: var was 1 before
                expect_t = m + (1 - m) * var_b * n / (n - 1)
                out.append({"layer": f"{np_seq.name}.{i}", "mean_rel": rel(mean_np, bn.running_mean.numpy()),
                            "var_rel_bessel": rel(expect_t, bn.running_var.numpy()),
                            "var_rel_raw": rel(var_np, bn.running_var.numpy())})
        return out

    # ------------------------------------------------------------------ dispatch
    @property
    def kind(self):
        return "gan" if self.name in ("mlp_gan", "dcgan_lesson", "dcgan_full") else self.name

    def record(self):
        return getattr(self, "_record_" + self.kind)()

    def replay(self, draws):
        return getattr(self, "_replay_" + self.kind)(draws)


class record_dropout:
    """Record every mask the aigc_np Dropout layers draw, per layer in drawing order (``as masks``)."""

    def __init__(self, layers):
        self.layers, self.masks = layers, [[] for _ in layers]

    def __enter__(self):
        for layer, rec in zip(self.layers, self.masks):
            def forward(x, layer=layer, rec=rec, orig=layer.forward):
                y = orig(x)
                rec.append(np.array(layer._cache, dtype=x.dtype))
                return y
            layer.forward = forward
        return self.masks

    def __exit__(self, *exc):
        for layer in self.layers:
            del layer.forward


class replay_dropout:
    """Make torch Dropout modules multiply by recorded aigc_np masks (in the order they were drawn)."""

    def __init__(self, modules, masks):
        self.modules, self.masks = modules, [list(m) for m in masks]

    def __enter__(self):
        for mod, queue in zip(self.modules, self.masks):
            mod.forward = lambda x, q=queue: x * torch.from_numpy(q.pop(0))
        return self

    def __exit__(self, *exc):
        for mod in self.modules:
            del mod.forward
        left = sum(len(q) for q in self.masks)
        if left and exc[0] is None:
            raise AssertionError(f"{left} recorded dropout masks were not used")


def build_pair(name, args) -> Pair:
    width = args.dcgan_width
    cases = bench.step_cases(width, only=[name])
    if len(cases) != 1:
        raise ValueError(f"bench.step_cases gave {len(cases)} cases for {name}")
    return Pair(name, cases[0], args)


# =============================================================================== verification
def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def verify(name, args) -> dict:
    """One step on both sides from the same weights with the same random draws: losses, gradients, updates."""
    torch.manual_seed(0)
    pair = build_pair(name, args)
    mp = pair.map
    w0_np = {k: v.copy() for k, v in mp.np_params.items()}
    w0_t = mp.torch_params()
    init = max(float(np.max(np.abs(w0_np[k] - w0_t[k]))) for k in w0_np)
    ema0 = {k: v.copy() for k, v in pair.ema_map.np_params.items()} if getattr(pair, "ema", None) is not None else None
    draws, np_out = pair.record()
    t_out = pair.replay(draws)
    losses = {k: (float(np_out[k]), float(t_out[k]), abs(float(np_out[k]) - float(t_out[k])) / max(abs(float(t_out[k])), 1e-30))
              for k in t_out if k in np_out}
    g_np, g_t = mp.np_grads(), mp.torch_grads()
    grads = {k: rel(g_np[k], g_t[k]) for k in g_np if g_t[k] is not None}
    missing = [k for k in g_np if g_t[k] is None]
    # Adam's first update is lr * g / (|g| + eps), eps = 1e-8, about lr * sign(g): an element whose gradient
    # is a float32 cancellation residue (|g| ~ 1e-6 of the tensor's largest, differing between the sides in
    # its leading digits) may get any update in [-lr, lr]. So the updates (and the EMA) are compared on the
    # elements whose own gradient agrees to 0.1% between the sides; the others are counted, with their size.
    w1_np, w1_t = mp.np_params, mp.torch_params()
    updates, good_masks, ill, off, ill_size, off_g = {}, {}, 0, 0, 0.0, 0.0
    for k in w1_np:
        d_np, d_t = w1_np[k] - w0_np[k], w1_t[k] - w0_t[k]
        scale = max(float(np.max(np.abs(d_t))), 1e-30)
        if g_t[k] is None:
            good = np.ones(d_t.shape, bool)
        else:
            good = np.abs(g_np[k] - g_t[k]) <= 1e-3 * (np.abs(g_t[k]) + 1e-8)
            if (~good).any():
                ill_size = max(ill_size, float(np.max(np.abs(g_t[k][~good]))) / max(float(np.max(np.abs(g_t[k]))), 1e-30))
        good_masks[k] = good
        err = np.abs(d_np - d_t) / scale
        updates[k] = float(np.max(err[good])) if good.any() else 0.0
        ill += int(np.sum(~good))
        offs = (~good) & (err > 1e-2)
        off += int(np.sum(offs))
        if offs.any():
            off_g = max(off_g, float(np.max(np.abs(g_t[k][offs]))))
    n_elem = sum(v.size for v in w1_np.values())
    result = {"initial_weights_max_abs_diff": init, "losses": losses,
              "grad_rel_l2_worst": max(grads.values()), "grad_worst_param": max(grads, key=grads.get),
              "grads_compared": len(grads), "grads_missing_in_torch": missing,
              "update_rel_worst": max(updates.values()), "update_worst_param": max(updates, key=updates.get),
              "elements": n_elem, "residue_elements": ill, "residue_max_grad_share": ill_size,
              "residue_elements_update_off_by_1pct": off, "residue_off_max_abs_grad": off_g}
    bn = pair.batchnorm_check()
    if bn:
        result["batchnorm"] = bn
    if ema0 is not None:
        e1_np, e1_t = pair.ema_map.np_params, pair.ema_map.torch_params()
        worst = 0.0
        for k in e1_np:
            d_np, d_t = e1_np[k] - ema0[k], e1_t[k] - ema0[k]
            err = np.abs(d_np - d_t)[good_masks[k]]
            if err.size:
                worst = max(worst, float(np.max(err)) / max(float(np.max(np.abs(d_t))), 1e-30))
        result["ema_update_rel_worst"] = worst
    loss_ok = all(v[2] < 1e-4 for v in losses.values())
    result["pass"] = bool(loss_ok and result["grad_rel_l2_worst"] < 1e-3 and result["update_rel_worst"] < 1e-2
                          and not missing and init == 0.0
                          and all(b["mean_rel"] < 1e-3 and b["var_rel_bessel"] < 1e-3 for b in bn)
                          and result.get("ema_update_rel_worst", 0.0) < 1e-2)
    return result


def describe_verification(v: dict) -> str:
    losses = "; ".join(f"{k} {a:.6g} vs {b:.6g} (rel {r:.1e})" for k, (a, b, r) in v["losses"].items())
    s = (f"{'PASS' if v['pass'] else 'FAIL'}: {losses}; grads: worst rel L2 {v['grad_rel_l2_worst']:.1e} "
         f"({v['grad_worst_param']}, {v['grads_compared']} tensors); updates: worst max-abs diff "
         f"{v['update_rel_worst']:.1e} of the tensor's largest update ({v['update_worst_param']}) over the elements "
         f"whose gradients agree to 0.1%; the other {v['residue_elements']} of {v['elements']} elements "
         f"(|g| <= {v['residue_max_grad_share']:.1e} of their tensor's largest: cancellation residue): "
         f"{v['residue_elements_update_off_by_1pct']} updated >1% differently, all with |g| <= "
         f"{v['residue_off_max_abs_grad']:.1e} (Adam eps 1e-8)")
    if v.get("batchnorm"):
        s += ("; BatchNorm running mean worst rel " + f"{max(b['mean_rel'] for b in v['batchnorm']):.1e}"
              + ", running var (after Bessel's n/(n-1)) worst rel "
              + f"{max(b['var_rel_bessel'] for b in v['batchnorm']):.1e}")
    if "ema_update_rel_worst" in v:
        s += f"; EMA update worst {v['ema_update_rel_worst']:.1e}"
    return s


# =============================================================================== timing
def quartiles(a) -> tuple:
    q1, med, q3 = np.percentile(np.asarray(a, dtype=np.float64), [25, 50, 75])
    return float(q1), float(med), float(q3)


def time_case(name, args) -> dict:
    torch.manual_seed(0)
    pair = build_pair(name, args)
    rounds = args.rounds if args.rounds is not None else DEFAULT_ROUNDS.get(name, 15)
    load_start = os.getloadavg()
    for _ in range(WARMUP):
        pair.np_step()
    for _ in range(WARMUP):
        pair.torch_step()
    np_ms, t_ms, np_first = [], [], []
    for r in range(rounds):
        order = (("np", pair.np_step), ("torch", pair.torch_step))
        if r % 2:
            order = order[::-1]
        got = {}
        for side, fn in order:
            if args.settle:
                time.sleep(args.settle)       # let the other library's worker threads stop spinning
            if args.block:
                fn()                          # a lead-in step, untimed: the other library's threads stop spinning
            times = []
            for _ in range(max(1, args.block)):
                start = time.perf_counter()
                fn()
                times.append((time.perf_counter() - start) * 1e3)
            got[side] = float(np.median(times))
        np_ms.append(got["np"])
        t_ms.append(got["torch"])
        np_first.append(r % 2 == 0)
    load_end = os.getloadavg()
    ratio = np.asarray(np_ms) / np.asarray(t_ms)
    first = np.asarray(np_first)
    res = {"name": name, "batch": pair.batch, "rounds": rounds,
           "np_ms": quartiles(np_ms), "torch_ms": quartiles(t_ms), "ratio": quartiles(ratio),
           "ratio_np_first": float(np.median(ratio[first])) if first.any() else None,
           "ratio_torch_first": float(np.median(ratio[~first])) if (~first).any() else None,
           "load_start": load_start[0], "load_end": load_end[0],
           "raw": {"np_ms": np_ms, "torch_ms": t_ms, "np_first": np_first}}
    del pair
    return res


# =============================================================================== report
def environment() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    blas = None
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"].get("openblas configuration")
    except Exception:  # noqa: BLE001
        pass
    from aigc_np.threads import blas_threads
    return {"python": platform.python_version(), "numpy": np.__version__, "numpy_blas": blas,
            "numpy_blas_threads": blas_threads(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads(),
            "torch_mkldnn": torch.backends.mkldnn.is_available(), "cpu": cpu, "cpu_count": os.cpu_count(),
            "threads_env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                           "MKL_NUM_THREADS")}}


def markdown(results, env, verification, args) -> str:
    lines = [f"threads {args.threads} (numpy BLAS {env['numpy_blas_threads']}, torch {env['torch_threads']}); "
             f"numpy {env['numpy']}, torch {env['torch']}; {env['cpu']} ({env['cpu_count']} cores); "
             f"torch optimizer: {args.torch_adam}; GPT attention: {args.gpt_attention}; "
             f"block {args.block} (a lead-in step, then {args.block} timed, per side and round); "
             f"settle {args.settle} s",
             "",
             "| case | batch | rounds | aigc_np ms median (IQR) | torch ms median (IQR) | aigc_np/torch median "
             "(q1-q3) | np-first / torch-first | load 1-min start -> end | verified |",
             "|---|---:|---:|---|---|---|---|---|---|"]
    for r in results:
        v = verification.get(r["name"])
        ver = "-" if v is None else ("yes" if v["pass"] else "NO")
        n, t, q = r["np_ms"], r["torch_ms"], r["ratio"]
        lines.append(f"| {r['name']} | {r['batch']} | {r['rounds']} | {n[1]:.1f} ({n[0]:.1f}-{n[2]:.1f}) | "
                     f"{t[1]:.1f} ({t[0]:.1f}-{t[2]:.1f}) | {q[1]:.2f} ({q[0]:.2f}-{q[2]:.2f}) | "
                     f"{r['ratio_np_first']:.2f} / {r['ratio_torch_first']:.2f} | "
                     f"{r['load_start']:.2f} -> {r['load_end']:.2f} | {ver} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="BLAS / torch threads (env set before imports)")
    ap.add_argument("--rounds", type=int, default=None,
                    help="timed rounds per case (default 15; dcgan_full 6)")
    ap.add_argument("--only", default=",".join(CASES), help="comma-separated cases: " + ",".join(CASES))
    ap.add_argument("--dcgan-width", type=float, default=KINDS["dcgan"].defaults["width"],
                    help="width of dcgan_lesson (bench's default: the dcgan kind's default width)")
    ap.add_argument("--block", type=int, default=2,
                    help="steady state: each side runs one untimed lead-in step, then BLOCK timed steps "
                         "(their median is the round's time); 0: one timed step per side per round")
    ap.add_argument("--settle", type=float, default=None,
                    help="seconds to sleep before each side's turn (default: 0.3 if --threads > 1 and --block 0, "
                         "else 0): with "
                         "more than one thread, OpenBLAS's idle workers spin for ~0.1 s after NumPy's last "
                         "product and slow down the torch step that follows (docs/performance.md)")
    ap.add_argument("--no-verify", action="store_true", help="skip the equivalence checks")
    ap.add_argument("--verify-only", action="store_true", help="only the equivalence checks, no timing")
    ap.add_argument("--torch-adam", choices=("default", "foreach", "fused"), default="default",
                    help="torch optimizer implementation (default: torch's own default choice, on CPU the "
                         "per-tensor loop)")
    ap.add_argument("--gpt-attention", choices=("sdpa", "manual"), default="sdpa",
                    help="torch GPT attention: F.scaled_dot_product_attention (nanoGPT) or explicit softmax")
    ap.add_argument("--json", default="pytorch_side_by_side.json", help="JSON output file")
    ap.add_argument("--md", default="pytorch_side_by_side.md", help="markdown output file")
    args = ap.parse_args(argv)
    only = [c for c in args.only.split(",") if c]
    bad = set(only) - set(CASES)
    if bad:
        ap.error(f"unknown cases {sorted(bad)}; choose from {','.join(CASES)}")
    if args.threads < 1:
        ap.error("--threads must be >= 1")
    if args.settle is None:
        args.settle = 0.3 if args.threads > 1 and not args.block else 0.0

    env = environment()
    print("environment: " + json.dumps(env), flush=True)
    verification, results = {}, []
    for name in only:
        if not args.no_verify:
            v = verify(name, args)
            verification[name] = v
            print(f"[verify] {name}: {describe_verification(v)}", flush=True)
        if args.verify_only:
            continue
        r = time_case(name, args)
        results.append(r)
        n, t, q = r["np_ms"], r["torch_ms"], r["ratio"]
        print(f"[time] {name}: aigc_np {n[1]:.1f} ms (IQR {n[0]:.1f}-{n[2]:.1f}), torch {t[1]:.1f} ms "
              f"(IQR {t[0]:.1f}-{t[2]:.1f}), ratio {q[1]:.2f} (q1-q3 {q[0]:.2f}-{q[2]:.2f}); "
              f"load {r['load_start']:.2f} -> {r['load_end']:.2f}", flush=True)
    md = markdown(results, env, verification, args) if results else ""
    if md:
        print("\n" + md)
        with open(args.md, "w") as f:
            f.write(md + "\n")
    with open(args.json, "w") as f:
        json.dump({"env": env, "args": vars(args), "verification": verification, "results": results}, f, indent=2)
    print(f"\nwrote {args.json}" + (f" and {args.md}" if md else ""))
    return 0 if all(v["pass"] for v in verification.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
