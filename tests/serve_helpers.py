"""Tiny untrained checkpoints of every kind in the table, and urllib calls to a running server
(tests/test_serve*.py)."""
import json
import urllib.error
import urllib.request

import numpy as np

from aigc_np.checkpoint import save_checkpoint
from aigc_np.kinds import KINDS, build_model

VOCAB = "\n .abcdefghijklmnopqrstuvwxyz"
TINY = {   # a few thousand parameters each: built and saved in milliseconds
    "ae": {"latent_dim": 2, "hidden": [8]},
    "vae": {"latent_dim": 2, "hidden": [8]},
    "cvae": {"latent_dim": 2, "hidden": [8]},
    "gan": {"latent_dim": 4, "g_hidden": [8], "d_hidden": [8]},
    "dcgan": {"latent_dim": 4, "width": 0.05},
    "cgan": {"latent_dim": 4, "g_hidden": [8], "d_hidden": [8]},
    "wgan-gp": {"latent_dim": 4, "g_hidden": [8], "critic_hidden": [8]},
    "ddpm": {"T": 20, "steps": 2, "width": 4, "groups": 2},
    "cddpm": {"T": 20, "steps": 2, "width": 4, "groups": 2},
    "ldm": {"ae_width": 4, "width": 16, "depth": 1, "emb_dim": 8, "steps": 2},
    "cldm": {"ae_width": 4, "width": 16, "depth": 1, "emb_dim": 8, "steps": 2},
    "gpt": {"n_layer": 1, "n_head": 2, "n_embd": 8, "block_size": 8, "vocab": VOCAB, "corpus": "names"},
    "lstm": {"n_layer": 1, "n_embd": 8, "hidden": 8, "block_size": 8, "vocab": VOCAB, "corpus": "names"},
}


POEM_VOCAB = "\n，。春眠不觉晓处闻啼鸟"


def tiny_poem_checkpoint(folder):
    """A tiny untrained character GPT of the Tang corpus: the kind of model that writes acrostics."""
    config = {**TINY["gpt"], "vocab": POEM_VOCAB, "corpus": "tang", "block_size": 16}
    path = folder / "poems" / "best.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(build_model("gpt", config, rng=np.random.default_rng(0)), path)
    return path


def tiny_checkpoints(folder, kinds=None) -> dict:
    """{kind: path of a tiny untrained checkpoint in folder/kind/best.npz}, one per kind (default: all)."""
    paths = {}
    for kind in kinds or KINDS:
        model = build_model(kind, TINY[kind], rng=np.random.default_rng(0))
        if not getattr(model, "can_sample", True):   # ldm, cldm: the scale the first denoiser step fixes
            model.fix_latent_scale(np.random.default_rng(1).uniform(0, 1, (4, 1, 28, 28)).astype(np.float32))
        path = folder / kind / "best.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(model, path)
        paths[kind] = path
    return paths


def call(url, body=None, method=None, headers=None, data=None, timeout=30):
    """(status, parsed JSON or text) of one request; ``body`` is sent as JSON, ``data`` as raw bytes."""
    if body is not None:
        data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **(headers or {})} if data is not None else (headers or {})
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            status, raw, kind = r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        status, raw, kind = e.code, e.read(), e.headers.get("Content-Type", "")
    return status, json.loads(raw) if kind.startswith("application/json") else raw.decode("utf-8")
