"""Checkpoints that never lose data and never run code.

A checkpoint is one ``.npz`` file holding

* every parameter and buffer (BatchNorm running statistics): ``param/...``, ``buffer/...``;
* every optimizer's state (Adam moments and step counter): ``extra/<optimizer>/...``;
* ``extra/metadata``: a JSON string with the model kind and architecture
  config (enough to rebuild the model from the file alone), the aigc_np
  version, the format version, the epoch, and the state of every random
  generator (model, layers, training loop), so a resumed run is bit-identical
  to an uninterrupted one.

It is written atomically (temporary file, then ``os.replace``) and read with
``allow_pickle=False``.
"""
from __future__ import annotations

import json
import os

import numpy as np

from . import __version__
from .io import load_weights, open_npz, save_weights

__all__ = ["FORMAT_VERSION", "save_checkpoint", "load_checkpoint", "read_metadata", "optimizers_of",
           "model_kind"]

FORMAT_VERSION = 1


def optimizers_of(model) -> dict:
    """The model's optimizers by name: 'optimizer' for a VAE, 'opt_g'/'opt_d' for a GAN."""
    return {name: getattr(model, name) for name in ("optimizer", "opt_g", "opt_d") if hasattr(model, name)}


def model_kind(model) -> str:
    return getattr(model, "kind", type(model).__name__.lower())


def _generators(model, rng=None) -> dict:
    gens = {}
    if isinstance(getattr(model, "rng", None), np.random.Generator):
        gens["model"] = model.rng
    for i, g in enumerate(model.rngs()):
        gens[f"layer{i}"] = g
    if rng is not None:
        gens["train"] = rng
    return gens


def save_checkpoint(model, path, epoch: int = 0, rng: np.random.Generator | None = None, **extra) -> None:
    """Save everything needed to rebuild ``model`` and resume training exactly.

    ``rng`` is the training loop's generator (batch order, augmentation);
    ``extra`` holds additional scalars or arrays (e.g. a score).
    """
    metadata = {
        "kind": model_kind(model),
        "config": getattr(model, "config", {}),
        "aigc_np_version": __version__,
        "format_version": FORMAT_VERSION,
        "epoch": int(epoch),
        "rng_states": {name: g.bit_generator.state for name, g in _generators(model, rng).items()},
    }
    arrays = dict(extra)
    for name, opt in optimizers_of(model).items():
        for key, value in opt.state_dict().items():
            arrays[f"{name}/{key}"] = value
    # A str array is not an object array: it loads with allow_pickle=False.
    arrays["metadata"] = np.array(json.dumps(metadata))
    save_weights(model, path, **arrays)


def read_metadata(path) -> dict:
    """The JSON metadata of a checkpoint, checked for format version."""
    path = os.fspath(path)
    with open_npz(path) as data:
        if "extra/metadata" not in data.files:
            raise ValueError(f"{path}: not an aigc_np checkpoint (no metadata entry)")
        try:
            metadata = json.loads(str(data["extra/metadata"]))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: unreadable checkpoint metadata ({e})") from e
    version = metadata.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format version {version!r} is newer than this aigc_np "
                         f"({__version__}) reads (<= {FORMAT_VERSION}); upgrade aigc_np")
    return metadata


def load_checkpoint(model, path, rng: np.random.Generator | None = None) -> dict:
    """Restore weights, optimizer states and generator states into ``model`` (and ``rng``).

    Raises ValueError naming the file if it is corrupted, holds pickled
    objects, was written by a newer format, or belongs to another model kind.
    Returns the metadata (``metadata["epoch"]`` is the last finished epoch).
    """
    path = os.fspath(path)
    metadata = read_metadata(path)
    if metadata["kind"] != model_kind(model):
        raise ValueError(f"{path}: this is a {metadata['kind']!r} checkpoint, "
                         f"cannot load it into a {model_kind(model)!r} model")
    extra = load_weights(model, path)
    for name, opt in optimizers_of(model).items():
        prefix = f"{name}/"
        state = {k[len(prefix):]: v for k, v in extra.items() if k.startswith(prefix)}
        if state:
            opt.load_state_dict({k: (int(v) if k == "t" else v) for k, v in state.items()})
    states = metadata.get("rng_states", {})
    for name, g in _generators(model, rng).items():
        if name in states:
            g.bit_generator.state = states[name]
    return metadata
