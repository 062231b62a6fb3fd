"""Checkpoints that never lose data and never run code.

A checkpoint is one ``.npz`` file holding

* every parameter and buffer (BatchNorm running statistics): ``param/...``, ``buffer/...``;
* every optimizer's state (Adam moments and step counter): ``extra/<optimizer>/...``;
* ``extra/metadata``: a JSON string with the model kind and architecture
  config (enough to rebuild the model from the file alone), the aigc_np
  version, the format version, the number of optimizer steps done, the
  training settings, and the state of every random
  generator (model, layers, training loop), so a resumed run is bit-identical
  to an uninterrupted one.

It is written atomically (temporary file, then ``os.replace``) and read
without pickle. Reading trusts nothing in the file: ``read_metadata`` checks
the metadata against a schema, ``validate_checkpoint`` also checks that the
config describes exactly the arrays present (before a model is built from
it), and ``load_checkpoint`` checks every array's header (name, shape,
dtype) against the model before reading its data, and changes nothing in
the model unless the whole file is good. Every refusal is a ValueError that
names the file and what was wrong.
"""
from __future__ import annotations

import json
import math
import os
import re

import numpy as np

from . import __version__
from .io import copy_model_arrays, is_float_dtype, open_npz, read_float_array, read_model_arrays, save_weights
from .kinds import MAX_PARAMS, get_kind
from .kinds.schema import check_settings, shown as _shown

__all__ = ["FORMAT_VERSION", "save_checkpoint", "load_checkpoint", "read_metadata", "validate_checkpoint",
           "optimizers_of", "model_kind", "load_model"]

FORMAT_VERSION = 2   # 2: the position is "step" (optimizer steps) and the run's training settings are kept
METADATA_KEYS = ("kind", "config", "train", "aigc_np_version", "format_version", "step", "rng_states")
OPTIMIZER_NAMES = ("optimizer", "opt_g", "opt_d", "opt_ae")   # opt_ae: latent diffusion's autoencoder
MAX_METADATA_BYTES = 1 << 20   # about 2 KB for an image model; a 65,536-character vocabulary fits
MAX_EXTRA_BYTES = 1 << 16      # extra/<name> entries hold scores, not arrays of weights
MAX_STEPS = 10 ** 12
MAX_LIST = 64                  # layer widths in a config


def optimizers_of(model) -> dict:
    """The model's optimizers by name: 'optimizer' for a VAE, 'opt_g'/'opt_d' for a GAN."""
    return {name: getattr(model, name) for name in OPTIMIZER_NAMES if hasattr(model, name)}


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


def save_checkpoint(model, path, step: int = 0, rng: np.random.Generator | None = None, train: dict | None = None,
                    **extra) -> None:
    """Save everything needed to rebuild ``model`` and resume training exactly.

    ``step`` is the number of optimizer steps done; ``rng`` is the training
    loop's generator (batch order, augmentation); ``train`` the run's training
    settings (epochs or steps, batch size, ...), so a resumed run follows the
    same plan; ``extra`` holds additional scalars or small arrays (e.g. a
    score; at most ``MAX_EXTRA_BYTES`` each, as loading refuses larger ones).
    """
    for name, value in extra.items():
        if "/" in name or name in OPTIMIZER_NAMES or name == "metadata" or np.asarray(value).nbytes > MAX_EXTRA_BYTES:
            raise ValueError(f"save_checkpoint: extra {name!r}: expected a name without '/' (not an optimizer's "
                             f"or 'metadata') and at most {MAX_EXTRA_BYTES} bytes, got "
                             f"{np.asarray(value).nbytes} bytes")
    metadata = {
        "kind": model_kind(model),
        "config": getattr(model, "config", {}),
        "train": train,
        "aigc_np_version": __version__,
        "format_version": FORMAT_VERSION,
        "step": int(step),
        "rng_states": {name: g.bit_generator.state for name, g in _generators(model, rng).items()},
    }
    arrays = dict(extra)
    for name, opt in optimizers_of(model).items():
        for key, value in opt.state_dict().items():
            arrays[f"{name}/{key}"] = value
    # A str array is not an object array: it loads with allow_pickle=False.
    arrays["metadata"] = np.array(json.dumps(metadata))
    save_weights(model, path, **arrays)


# ------------------------------------------------------------ reading: the metadata
def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _no_constants(name: str):
    raise ValueError(f"{name} is not a number")


def _check_json_config(config, path: str, what: str = "config") -> None:
    """The shape every stored config has: a flat object of scalars, strings and lists of numbers
    (each kind's own types and ranges are checked by its table entry)."""
    if not isinstance(config, dict) or len(config) > 64:
        raise ValueError(f"{path}: checkpoint metadata: expected {what} an object of at most 64 settings, "
                         f"got {_shown(config)}")
    for key, value in config.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", key):
            raise ValueError(f"{path}: checkpoint metadata: {what} key {_shown(key)} is not a setting name")
        scalar = value is None or isinstance(value, (bool, str)) or _is_number(value)
        numbers = isinstance(value, list) and len(value) <= MAX_LIST and all(_is_number(v) for v in value)
        if not (scalar or numbers):
            raise ValueError(f"{path}: checkpoint metadata: {what}[{key!r}] must be a number, bool, string, "
                             f"null or a list of at most {MAX_LIST} numbers, got {_shown(value)}")


def _check_metadata(metadata, path: str) -> dict:
    """Types and ranges of every metadata field; returns ``metadata``."""
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: checkpoint metadata must be a JSON object, got {type(metadata).__name__}")
    version = metadata.get("format_version")
    if not _is_int(version) or version < 1:
        raise ValueError(f"{path}: checkpoint metadata: expected format_version an int >= 1, got {_shown(version)}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format version {version!r} is newer than this aigc_np "
                         f"({__version__}) reads ({FORMAT_VERSION}); upgrade aigc_np")
    if version < FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format version {version!r} was written by an earlier aigc_np; "
                         f"this one ({__version__}) reads version {FORMAT_VERSION}: train the model again")
    missing = [k for k in METADATA_KEYS if k not in metadata]
    unknown = sorted(set(metadata) - set(METADATA_KEYS))
    if missing or unknown:
        raise ValueError(f"{path}: checkpoint metadata: expected the fields {list(METADATA_KEYS)}, "
                         f"got {'no ' + ', '.join(missing) if missing else ''}"
                         f"{' and ' if missing and unknown else ''}"
                         f"{'unknown ' + _shown(unknown) if unknown else ''}")
    kind = metadata["kind"]
    if not isinstance(kind, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", kind):
        raise ValueError(f"{path}: checkpoint metadata: expected kind a model name such as 'vae', "
                         f"got {_shown(kind)}")
    _check_json_config(metadata["config"], path)
    if metadata["train"] is not None:
        _check_json_config(metadata["train"], path, "train")
    if not isinstance(metadata["aigc_np_version"], str) or len(metadata["aigc_np_version"]) > 64:
        raise ValueError(f"{path}: checkpoint metadata: expected aigc_np_version a version string, "
                         f"got {_shown(metadata['aigc_np_version'])}")
    step = metadata["step"]
    if not _is_int(step) or not 0 <= step <= MAX_STEPS:
        raise ValueError(f"{path}: checkpoint metadata: expected step an int in 0..{MAX_STEPS}, got {_shown(step)}")
    states = metadata["rng_states"]
    if not isinstance(states, dict) or len(states) > 1000 or not all(
            isinstance(name, str) and isinstance(state, dict) and isinstance(state.get("bit_generator"), str)
            for name, state in states.items()):
        raise ValueError(f"{path}: checkpoint metadata: expected rng_states an object of generator states "
                         f"(each with a 'bit_generator' name), got {_shown(states)}")
    return metadata


def _read_metadata(archive) -> dict:
    path = archive.path
    if "extra/metadata" not in archive:
        raise ValueError(f"{path}: not an aigc_np checkpoint (no metadata entry)")
    h = archive.headers["extra/metadata"]
    if h.dtype.kind != "U" or h.shape != () or h.nbytes > 4 * MAX_METADATA_BYTES:
        raise ValueError(f"{path}: extra/metadata must be one JSON string of at most {MAX_METADATA_BYTES} "
                         f"characters, got shape {h.shape} of {h.dtype}")
    try:
        metadata = json.loads(str(archive["extra/metadata"]), parse_constant=_no_constants)
    # JSONDecodeError and too-long integers are ValueErrors; "[[[[..." nested deep is a RecursionError.
    except (ValueError, RecursionError) as e:
        if str(e).startswith(path):
            raise
        raise ValueError(f"{path}: unreadable checkpoint metadata ({type(e).__name__}: {str(e)[:120]})") from None
    return _check_metadata(metadata, path)


def read_metadata(path) -> dict:
    """The JSON metadata of a checkpoint, checked against the schema (see ``_check_metadata``)."""
    with open_npz(os.fspath(path)) as archive:
        return _read_metadata(archive)


# ----------------------------------------------- reading: config and layout
def _check_layout(archive) -> None:
    """Every member is one a checkpoint holds: param/*, buffer/*, extra/metadata,
    extra/<optimizer>/..., or a small extra/<name> (a score)."""
    for name, h in archive.headers.items():
        group, _, rest = name.partition("/")
        if group in ("param", "buffer") and rest:
            continue
        if name == "extra/metadata" or (group == "extra" and rest.partition("/")[0] in OPTIMIZER_NAMES
                                        and "/" in rest):
            continue
        if group == "extra" and rest and "/" not in rest:
            if h.nbytes > MAX_EXTRA_BYTES:
                raise ValueError(f"{archive.path}: member {name!r} declares {h.nbytes} bytes; extra entries "
                                 f"hold scores (at most {MAX_EXTRA_BYTES} bytes)")
            continue
        raise ValueError(f"{archive.path}: unexpected member {name!r}; a checkpoint holds param/, buffer/ "
                         f"and extra/ arrays")


def _check_train(metadata: dict, path: str) -> None:
    """The training settings a resumed run would follow are valid for the kind's family."""
    if metadata["train"] is not None:
        kind = get_kind(metadata["kind"], path)
        check_settings(f"{kind.name} training", kind.family.train_settings, metadata["train"], path)


def validate_checkpoint(path) -> dict:
    """Check a checkpoint before a model is built from it; returns its metadata.

    On top of ``read_metadata``: the kind must be in the table of kinds
    and the config valid for it (every setting's type and range, and at
    most ``MAX_PARAMS`` parameters: ``Kind.check``), the training settings
    valid for its family, the members must be those a checkpoint holds,
    every param/ and buffer/ member must be float32 or float64, and the
    number of values their .npy headers declare must be exactly what the
    config describes (``Kind.counts``), so that building the model never
    allocates what the file does not hold. Only headers are read.
    """
    path = os.fspath(path)
    with open_npz(path) as archive:
        metadata = _read_metadata(archive)
        kind = get_kind(metadata["kind"], path)
        config = metadata["config"] = kind.check(kind.completed(metadata["config"]), path)
        _check_train(metadata, path)
        counts = kind.counts(config)
        kind_name = kind.name
        _check_layout(archive)
        n_params = counts[0]
        for prefix, expected in (("param/", n_params), ("buffer/", counts[1])):
            members = {k: h for k, h in archive.headers.items() if k.startswith(prefix)}
            for key, h in members.items():
                if not is_float_dtype(h.dtype):
                    raise ValueError(f"{path}: {key!r} holds {h.dtype} values, expected float32 or float64")
            found = sum(h.size for h in members.values())
            if found != expected:
                what = "parameters" if prefix == "param/" else "buffer values"
                raise ValueError(f"{path}: the {kind_name} config describes {expected:,} {what}, but "
                                 f"the file's {prefix} arrays hold {found:,}; the config or the arrays were "
                                 f"changed")
        for name in OPTIMIZER_NAMES:
            held = sum(h.size for k, h in archive.headers.items() if k.startswith(f"extra/{name}/"))
            if held > 2 * n_params + 1:   # Adam: two moments per parameter, and the step counter
                raise ValueError(f"{path}: the extra/{name}/ arrays hold {held:,} values, more than the "
                                 f"optimizer state of {n_params:,} parameters")
    return metadata


# ------------------------------------------------------------ loading
def _optimizer_state(opt, name: str, archive) -> dict | None:
    """The checked ``state_dict`` of optimizer ``name`` in ``archive`` (None if it has none)."""
    path, prefix = archive.path, f"extra/{name}/"
    keys = [k for k in archive.files if k.startswith(prefix)]
    if not keys:
        return None
    params, state = opt.model.params, {}
    for key in keys:
        entry, h = key[len(prefix):], archive.headers[key]
        if entry == "t":
            if h.shape != () or h.dtype.kind not in "iu":
                raise ValueError(f"{path}: {key!r} must be one integer step count, got shape {h.shape} of {h.dtype}")
            state["t"] = int(archive[key])
            if not 0 <= state["t"] <= MAX_STEPS:
                raise ValueError(f"{path}: {key!r}: expected a step count in 0..{MAX_STEPS}, got {state['t']}")
            continue
        param, _, slot = entry.rpartition("/")
        if param not in params or slot not in opt.slots:
            raise ValueError(f"{path}: {key!r} is no state of {opt.name} (its slots are {list(opt.slots)}, "
                             f"for parameters such as {sorted(params)[:3]})")
        state[entry] = read_float_array(archive, key, params[param].shape, "the parameter has")
    if "t" not in state:
        raise ValueError(f"{path}: {prefix}t (the step counter of {opt.name}) is missing")
    slots = {}
    for entry in state:
        if entry != "t":
            param, _, slot = entry.rpartition("/")
            slots.setdefault(param, set()).add(slot)
    for param, found in slots.items():
        if found != set(opt.slots):
            raise ValueError(f"{path}: {prefix}{param} has slots {sorted(found)}, expected {sorted(opt.slots)}")
    return state


def _generator_states(model, rng, states: dict, path: str) -> list:
    """(generator, state) pairs, each state tried on a fresh bit generator of the same type first."""
    pairs = []
    for name, g in _generators(model, rng).items():
        if name not in states:
            continue
        bit_generator = type(g.bit_generator)
        trial = bit_generator()
        try:
            trial.state = states[name]
            same = trial.state == states[name]
        except (TypeError, ValueError, KeyError, OverflowError, AttributeError) as e:
            raise ValueError(f"{path}: rng_states[{name!r}] is not a {bit_generator.__name__} state "
                             f"({type(e).__name__}: {str(e)[:80]})") from None
        if not same:   # e.g. a 200-bit integer silently cut to 128 bits
            raise ValueError(f"{path}: rng_states[{name!r}] holds values out of range for {bit_generator.__name__}")
        pairs.append((g, states[name]))
    return pairs


def load_checkpoint(model, path, rng: np.random.Generator | None = None) -> dict:
    """Restore weights, optimizer states and generator states into ``model`` (and ``rng``).

    Raises ValueError naming the file if it is not a regular file, is
    corrupted, holds pickled objects or unexpected members, was written by a
    newer format, belongs to another model kind, or holds an array whose
    shape or dtype differs from the model's. Every check runs before the
    model changes, so a refused file leaves the model as it was.
    Returns the metadata (``metadata["step"]`` is the number of optimizer steps done).
    """
    path = os.fspath(path)
    with open_npz(path) as archive:
        metadata = _read_metadata(archive)
        _check_train(metadata, path)
        if metadata["kind"] != model_kind(model):
            raise ValueError(f"{path}: this is a {metadata['kind']!r} checkpoint, "
                             f"cannot load it into a {model_kind(model)!r} model")
        _check_layout(archive)
        arrays = read_model_arrays(model, archive)
        optimizer_states = {name: _optimizer_state(opt, name, archive) for name, opt in optimizers_of(model).items()}
    generator_states = _generator_states(model, rng, metadata["rng_states"], path)
    # Everything is checked: only now does the model change.
    copy_model_arrays(model, arrays)
    for name, opt in optimizers_of(model).items():
        if optimizer_states[name] is not None:
            opt.load_state_dict(optimizer_states[name])
    for g, state in generator_states:
        g.bit_generator.state = state
    return metadata


def load_model(path):
    """Rebuild the model a checkpoint describes, from the file alone, and load it (eval mode).

    Returns (model, metadata). The file is validated before anything is built.
    """
    meta = validate_checkpoint(path)
    kind = get_kind(meta["kind"], os.fspath(path))
    model = kind.build_model(meta["config"], np.random.default_rng(0))
    load_checkpoint(model, path)
    return model.eval(), meta
