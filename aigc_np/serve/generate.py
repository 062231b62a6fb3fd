"""What a checked request makes: images (PNG data URLs) or text, from one served model.

Latent kinds draw codes u ~ N(0, I) from the request's own generator,
``np.random.default_rng(seed)``, map them to the model's codes (z = u for a
prior N(0, I); an autoencoder's fitted Gaussian otherwise) and decode. These
are the same draws ``aigc_np.kinds.generate`` makes, so a served grid equals
``python -m aigc_np sample`` with the same seed, and a walk from seed a
starts at the first image of seed a's grid. Diffusion and text kinds go
through ``aigc_np.kinds.generate`` as the command line does.
"""
from __future__ import annotations

import time

import numpy as np

from ..kinds import generate as kinds_generate
from ..text.data import Vocab
from ..text.poems import check_acrostic, sample_poems
from .fields import RequestError
from .models import ServedModel
from .png import png_data_url

__all__ = ["run_request", "latent_codes", "decode", "slerp"]


def latent_codes(served: ServedModel, u: np.ndarray) -> np.ndarray:
    """Standard-normal units u (N, D) -> the model's codes z (N, D), float32."""
    return (served.code_mean + u @ served.code_scale.T).astype(served.model.dtype)


def decode(served: ServedModel, z: np.ndarray, labels) -> np.ndarray:
    """Codes z (N, D) (and labels (N,) for a conditional kind) -> images float32 (N, 28, 28) in [0, 1]."""
    model, kind = served.model, served.kind.name
    if kind in ("gan", "dcgan", "wgan-gp"):
        x = (model.generate(z) + 1) / 2                    # the generators end in tanh
    elif kind == "cgan":
        x = (model.generate(z, labels) + 1) / 2
    elif kind == "cvae":
        x = model.decode(z, labels)
    else:                                                  # ae, vae: sigmoid outputs
        x = model.decode(z)
    return np.clip(x.reshape(len(z), 28, 28), 0, 1).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points along the great circle from a (D,) to b (D,) at fractions t (N,): (N, D).

    A straight line is the obvious walk, but its middle is atypical of N(0, I) in many
    dimensions: two independent draws are nearly orthogonal, so the midpoint's norm is
    about 0.71 of theirs, a region the model never saw. The arc keeps the norm."""
    cos = np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:                                       # the same direction: the line is the arc
        return (1 - t)[:, None] * a + t[:, None] * b
    return (np.sin((1 - t) * omega)[:, None] * a + np.sin(t * omega)[:, None] * b) / np.sin(omega)


def _labels(served: ServedModel, request: dict, n: int):
    """Every image the requested digit, or (label null) digits cycling 0..9; None if not conditional."""
    if not served.kind.conditional:
        return None
    label = request.get("label")
    return np.full(n, label) if label is not None else np.arange(n) % served.model.n_classes


def _images(served: ServedModel, request: dict) -> np.ndarray:
    mode, family = request["mode"], served.kind.family.name
    if family == "diffusion":
        n = request["n"]
        return kinds_generate(served.model, n, np.random.default_rng(request["seed"]),
                              labels=_labels(served, request, n),
                              sampling_steps=request["steps"], guidance=request.get("guidance"))
    d = served.latent_dim
    if mode == "samples":
        u = np.random.default_rng(request["seed"]).standard_normal((request["n"], d))
    elif mode == "walk":
        a = np.random.default_rng(request["seed"]).standard_normal(d)
        b = np.random.default_rng(request["seed2"]).standard_normal(d)
        u = slerp(a, b, np.linspace(0.0, 1.0, request["n"]))
    else:                                                  # decode: points of the 2-D plane, in prior units
        u = np.asarray(request["z"], dtype=np.float64)
    return decode(served, latent_codes(served, u), _labels(served, request, len(u)))


def _acrostic(served: ServedModel, request: dict) -> dict:
    """{"poems": [...], "text": the poems a line each}: line k of each begins with the k-th character asked."""
    vocab = Vocab(served.meta["config"]["vocab"])
    try:
        heads = check_acrostic(request["acrostic"], vocab, what="acrostic")
    except ValueError as e:
        raise RequestError("acrostic", "1 to 4 Han characters the model saw in training", request["acrostic"],
                           message=str(e)) from None
    poems = sample_poems(served.model, vocab, request["poems"], np.random.default_rng(request["seed"]),
                         temperature=request["temperature"], top_k=request["top_k"], acrostic=heads)
    return {"poems": poems, "text": "\n".join(poems), "prompt": ""}


def run_request(served: ServedModel, request: dict) -> dict:
    """The response body for a checked request: {"images": [data URL, ...], "shape": [N, 28, 28]} or
    {"text": prompt + continuation, "prompt": ...}, with the model's name, the mode and the seconds taken."""
    start = time.perf_counter()
    with served.lock:                                      # one request at a time per model (see models.py)
        if request["mode"] == "acrostic":
            out = _acrostic(served, request)
        elif served.kind.family.name == "text":
            text = kinds_generate(served.model, request["length"], np.random.default_rng(request["seed"]),
                                  prompt=request["prompt"], temperature=request["temperature"],
                                  top_k=request["top_k"])
            out = {"text": text, "prompt": request["prompt"]}
        else:
            images = _images(served, request)
            out = {"shape": list(images.shape)}
            if served.kind.conditional:
                out["labels"] = _labels(served, request, len(images)).tolist()
    if "shape" in out:                                     # encoding needs no lock
        out["images"] = [png_data_url(image) for image in images]
    return {"model": served.name, "kind": served.kind.name, "mode": request["mode"], **out,
            "seconds": round(time.perf_counter() - start, 4)}
