"""The models a server holds: each checkpoint named at start, loaded once, with what its requests may ask.

A served model is addressed by its name (the run folder's name, or the
file's stem) or its index in the list, never by a path from a request. Its
request fields and their bounds depend on its kind (``fields_of``):

* image kinds with a latent code (ae, vae, cvae, gan, dcgan, cgan, wgan-gp):
  mode "samples" (n, seed, label), "walk" (n frames from seed to seed2) and,
  for a 2-D latent, "decode" (points z of the plane);
* diffusion kinds (ddpm, cddpm, ldm, cldm): mode "samples" (n, seed, steps; label, and guidance
  where the kind has it);
* text kinds: mode "samples" (prompt, length, temperature, top_k, seed); a character model of
  the Tang poems also mode "acrostic" (acrostic, poems, temperature, top_k, seed): poems whose
  line k begins with the k-th character asked (lesson 20).

Generation takes the model's lock: a layer keeps its forward pass's inputs
(for backward) and a GPT its keys and values in the layer objects, so two
threads in one model would overwrite each other's. One lock per model
serializes requests to that model while different models run side by side;
a copy of the model per thread would multiply the memory for little gain,
as BLAS already spreads one request's products over the cores.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

import numpy as np

from ..checkpoint import load_model
from ..kinds import KINDS
from ..kinds.text import start_text
from ..text.poems import MAX_ACROSTIC
from .fields import Float, Int, Points, RequestError, Text

__all__ = ["ServedModel", "load_served", "resolve_path", "find_model", "LATENT_KINDS", "LIMITS"]

LATENT_KINDS = ("ae", "vae", "cvae", "gan", "dcgan", "cgan", "wgan-gp")
SEED = Int(0, 2 ** 32 - 1, 0)
LIMITS = {
    "images": 100,          # a 10 x 10 grid: a latent kind decodes it in milliseconds
    "diffusion_images": 16,  # each costs steps U-Net calls (twice with guidance)
    "steps": 100,           # sampling steps: 16 x 100 x 2 guided U-Net calls is the largest request, a few seconds
    "guidance": 20.0,       # classifier-free guidance weight: samples fall apart long before 20
    "points": 100,          # a 10 x 10 manifold of the plane in one request
    "plane": 4.0,           # the plane spans +-4 prior standard deviations
    "prompt": 500,          # characters of prompt
    "length": 1000,         # characters generated, one model call each
    "temperature": 5.0,     # logits / 5 is close to uniform already
    "poems": 20,            # acrostic poems per request, at most 64 characters each
}
ACROSTIC_DEFAULT = "春眠不觉"   # the first characters of Meng Haoran's 春晓


@dataclass
class ServedModel:
    name: str
    index: int
    path: str
    model: object
    meta: dict
    lock: threading.Lock = field(default_factory=threading.Lock)
    code_mean: np.ndarray | None = None     # latent kinds: z = code_mean + code_scale @ u for u ~ N(0, I)
    code_scale: np.ndarray | None = None

    @property
    def kind(self):
        return KINDS[self.meta["kind"]]

    @property
    def writes_poems(self) -> bool:
        """A character model of the Tang quatrains: it can write acrostic poems."""
        cfg = self.meta["config"]
        return cfg.get("corpus") == "tang" and cfg.get("tokenizer", "char") == "char"

    @property
    def guided(self) -> bool:
        """It samples with guidance: classifier-free (cddpm, cldm), or autoguidance (an ldm whose guide
        has been taken)."""
        return "guidance" in self.kind.settings and (self.kind.conditional or getattr(self.model, "has_guide", False))

    @property
    def latent_dim(self) -> int | None:
        return self.model.latent_dim if self.kind.name in LATENT_KINDS else None

    def modes(self) -> dict:
        """{mode: the fields it reads}."""
        family = self.kind.family.name
        if family == "text":
            modes = {"samples": ("prompt", "length", "temperature", "top_k", "seed")}
            if self.writes_poems:
                modes["acrostic"] = ("acrostic", "poems", "temperature", "top_k", "seed")
            return modes
        label = ("label",) if self.kind.conditional else ()
        if family == "diffusion":
            return {"samples": ("n", "seed", "steps", *label, *(("guidance",) if self.guided else ()))}
        modes = {"samples": ("n", "seed", *label), "walk": ("n", "seed", "seed2", *label)}
        if self.latent_dim == 2:
            modes["decode"] = ("z", *label)
        return modes

    def fields(self) -> dict:
        """{name: field} of every field this model's requests may hold."""
        family, cfg = self.kind.family.name, self.meta["config"]
        if family == "text":
            vocab = cfg["vocab"]
            out = {"prompt": Text(LIMITS["prompt"], start_text(cfg), chars=vocab),
                   "length": Int(1, LIMITS["length"], 200),
                   "temperature": Float(0.0, LIMITS["temperature"], 1.0),
                   "top_k": Int(1, len(vocab), None, nullable=True), "seed": SEED}
            if self.writes_poems:       # which characters may start a line is checked when it runs
                heads = "".join(c for c in ACROSTIC_DEFAULT if c in vocab) or vocab[0]
                out.update(acrostic=Text(MAX_ACROSTIC, heads, chars=vocab), poems=Int(1, LIMITS["poems"], 4))
            return out
        out = {"n": Int(1, LIMITS["diffusion_images" if family == "diffusion" else "images"],
                        8 if family == "diffusion" else 16),
               "seed": SEED, "seed2": Int(0, 2 ** 32 - 1, 1),
               "z": Points(LIMITS["points"], LIMITS["plane"])}
        if self.kind.conditional:
            out["label"] = Int(0, self.model.n_classes - 1, None, nullable=True)
        if family == "diffusion":       # a DDPM samples in at most T steps; a flow (ldm, cldm) in any number
            most = min(cfg.get("T", LIMITS["steps"]), LIMITS["steps"])
            out["steps"] = Int(1, most, min(cfg["steps"], most))
            if self.guided:
                out["guidance"] = Float(0.0, LIMITS["guidance"], min(cfg["guidance"], LIMITS["guidance"]))
        modes = self.modes()
        return {name: f for name, f in out.items() if any(name in reads for reads in modes.values())}

    def describe(self) -> dict:
        """What GET /api/models says about this model: enough for a page to build its panel."""
        return {"name": self.name, "index": self.index, "kind": self.kind.name, "family": self.kind.family.name,
                "about": self.kind.about, "step": self.meta["step"], "conditional": self.kind.conditional,
                "latent_dim": self.latent_dim, "modes": {m: list(f) for m, f in self.modes().items()},
                "fields": {name: f.describe() for name, f in self.fields().items()}}


def resolve_path(path: str) -> str:
    """A run folder means its best.npz; a file is itself."""
    if os.path.isdir(path):
        best = os.path.join(path, "best.npz")
        if not os.path.isfile(best):
            raise ValueError(f"{path}: a folder without best.npz; give a run folder or a checkpoint file")
        return best
    return path


def _name(path: str, taken: set) -> str:
    """The run folder's name for DIR/best.npz or DIR/last.npz, else the file's stem; made unique."""
    stem = os.path.splitext(os.path.basename(path))[0]
    parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
    base = parent if stem in ("best", "last") and parent else stem
    name, k = base, 2
    while name in taken:
        name, k = f"{base}-{k}", k + 1
    return name


def _fit_codes(served: ServedModel) -> None:
    """An autoencoder has no prior: its codes come from a Gaussian fitted to the training images' codes
    (as ``kinds.image.generate_images`` draws them), fitted here once. Every other latent kind samples N(0, I)."""
    d = served.latent_dim
    if served.kind.name != "ae":
        served.code_mean, served.code_scale = np.zeros(d), np.eye(d)
        return
    from ..data import load_dataset, to_unit
    codes = served.model.encode(to_unit(load_dataset(seed=0).x_train)).astype(np.float64)
    cov = np.cov(codes, rowvar=False) + 1e-6 * np.eye(d)
    served.code_mean, served.code_scale = codes.mean(axis=0), np.linalg.cholesky(cov)


def load_served(paths) -> list[ServedModel]:
    """Load every checkpoint (or run folder) once, through the checkpoint reader's validation;
    the first bad file is a ValueError naming it, before anything is served."""
    if not paths:
        raise ValueError("serve: name at least one checkpoint or run folder")
    served, taken = [], set()
    for index, given in enumerate(paths):
        path = resolve_path(given)
        model, meta = load_model(path)
        if not getattr(model, "can_sample", True):
            raise ValueError(f"{path}: this {meta['kind']} model has not trained its denoiser yet (it is saved "
                             f"at step {meta['step']}, before its first denoiser step), so it cannot sample; "
                             f"serve a later checkpoint")
        name = _name(path, taken)
        taken.add(name)
        one = ServedModel(name, index, path, model, meta)
        if one.kind.name in LATENT_KINDS:
            _fit_codes(one)
        served.append(one)
    return served


def find_model(models: list, key) -> ServedModel:
    """The served model a request names: by its name (a string) or its index (an integer)."""
    names = [m.name for m in models]
    if isinstance(key, str) and key in names:
        return models[names.index(key)]
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < len(models):
        return models[key]
    allowed = f"a served model's name ({', '.join(map(repr, names))}) or index 0..{len(models) - 1}"
    well_typed = isinstance(key, str) or (isinstance(key, int) and not isinstance(key, bool))
    raise RequestError("model", allowed, key, status=404 if well_typed else 400)   # 404: no such model
