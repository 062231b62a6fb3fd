"""Checkpoints that never lose data and never run code.

A checkpoint is one ``.npz`` file holding

* every parameter and buffer (BatchNorm running statistics): ``param/...``, ``buffer/...``;
* every optimizer's state (Adam moments and step counter): ``extra/<optimizer>/...``;
* ``extra/metadata``: a JSON string with the model kind and architecture
  config (enough to rebuild the model from the file alone), the aigc_np
  version, the format version, the epoch, and the state of every random
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
from .models.registry import DEFAULT_CONFIGS
from .models.sizes import buffer_count, param_count

__all__ = ["FORMAT_VERSION", "save_checkpoint", "load_checkpoint", "read_metadata", "validate_checkpoint",
           "check_config", "optimizers_of", "model_kind"]

FORMAT_VERSION = 1
METADATA_KEYS = ("kind", "config", "aigc_np_version", "format_version", "epoch", "rng_states")
OPTIMIZER_NAMES = ("optimizer", "opt_g", "opt_d")
MAX_METADATA_BYTES = 1 << 20   # the JSON of a registry model's metadata is about 2 KB
MAX_EXTRA_BYTES = 1 << 16      # extra/<name> entries hold scores, not arrays of weights
MAX_EPOCH = 10 ** 9
MAX_STEPS = 10 ** 12
# Bounds on a config read from a file: generous for coursework, far below what exhausts memory.
MAX_PARAMS = 50_000_000        # 200 MB in float32; the largest registry default (gan) has 3.0 M
MAX_WIDTH = 1 << 16            # units of one layer, latent size, classes
MAX_LAYERS = 64
MAX_CHANNEL_WIDTH = 16.0       # the DCGAN's width multiplier (1 = the article's model)


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


def save_checkpoint(model, path, epoch: int = 0, rng: np.random.Generator | None = None, **extra) -> None:
    """Save everything needed to rebuild ``model`` and resume training exactly.

    ``rng`` is the training loop's generator (batch order, augmentation);
    ``extra`` holds additional scalars or small arrays (e.g. a score; at
    most ``MAX_EXTRA_BYTES`` each, as loading refuses larger ones).
    """
    for name, value in extra.items():
        if "/" in name or name in OPTIMIZER_NAMES or name == "metadata" or np.asarray(value).nbytes > MAX_EXTRA_BYTES:
            raise ValueError(f"save_checkpoint: extra {name!r}: expected a name without '/' (not an optimizer's "
                             f"or 'metadata') and at most {MAX_EXTRA_BYTES} bytes, got "
                             f"{np.asarray(value).nbytes} bytes")
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


# ------------------------------------------------------------ reading: the metadata
def _shown(value, limit: int = 60) -> str:
    """repr(value), cut short: a message must not repeat a megabyte of bad input."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _no_constants(name: str):
    raise ValueError(f"{name} is not a number")


def _check_json_config(config, path: str) -> None:
    """The shape every stored config has: a flat object of scalars and lists of numbers."""
    if not isinstance(config, dict) or len(config) > 64:
        raise ValueError(f"{path}: checkpoint metadata: expected config an object of at most 64 settings, "
                         f"got {_shown(config)}")
    for key, value in config.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", key):
            raise ValueError(f"{path}: checkpoint metadata: config key {_shown(key)} is not a setting name")
        scalar = value is None or isinstance(value, (bool, str)) or _is_number(value)
        numbers = isinstance(value, list) and len(value) <= MAX_LAYERS and all(_is_number(v) for v in value)
        if not (scalar or numbers) or (isinstance(value, str) and len(value) > 200):
            raise ValueError(f"{path}: checkpoint metadata: config[{key!r}] must be a number, bool, short "
                             f"string, null or a list of at most {MAX_LAYERS} numbers, got {_shown(value)}")


def _check_metadata(metadata, path: str) -> dict:
    """Types and ranges of every metadata field; returns ``metadata``."""
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: checkpoint metadata must be a JSON object, got {type(metadata).__name__}")
    version = metadata.get("format_version")
    if not _is_int(version) or version < 1:
        raise ValueError(f"{path}: checkpoint metadata: expected format_version an int >= 1, got {_shown(version)}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format version {version!r} is newer than this aigc_np "
                         f"({__version__}) reads (<= {FORMAT_VERSION}); upgrade aigc_np")
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
    if not isinstance(metadata["aigc_np_version"], str) or len(metadata["aigc_np_version"]) > 64:
        raise ValueError(f"{path}: checkpoint metadata: expected aigc_np_version a version string, "
                         f"got {_shown(metadata['aigc_np_version'])}")
    epoch = metadata["epoch"]
    if not _is_int(epoch) or not 0 <= epoch <= MAX_EPOCH:
        raise ValueError(f"{path}: checkpoint metadata: expected epoch an int in 0..{MAX_EPOCH}, got {_shown(epoch)}")
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
# Allowed ranges of the registry's settings: (low, high, low included, high included).
CONFIG_RANGES = {
    "latent_dim": (1, MAX_WIDTH, True, True), "n_classes": (1, MAX_WIDTH, True, True),
    "lr": (0.0, 10.0, False, True), "lr_d": (0.0, 10.0, False, True),
    "beta1": (0.0, 1.0, True, False), "beta2": (0.0, 1.0, True, False),
    "label_smoothing": (0.0, 0.5, True, False), "ema": (0.0, 1.0, True, False),
    "d_dropout": (0.0, 1.0, True, False), "dropout": (0.0, 1.0, True, False),
    "alpha": (0.0, 10.0, True, True), "width": (0.0, MAX_CHANNEL_WIDTH, False, True),
    "d_width": (0.0, MAX_CHANNEL_WIDTH, False, True), "r1": (0.0, 1e6, True, True),
    "gp_weight": (0.0, 1e6, True, True), "r1_every": (1, 10 ** 6, True, True), "n_critic": (1, 1000, True, True),
}
_ANY_INT, _ANY_FLOAT = (0, 10 ** 9, True, True), (-1e9, 1e9, True, True)   # settings without a row above


def _in_range(value, bounds) -> bool:
    low, high, low_in, high_in = bounds
    return (low <= value if low_in else low < value) and (value <= high if high_in else value < high)


def _range_text(bounds) -> str:
    low, high, low_in, high_in = bounds
    return f"{'[' if low_in else '('}{low}, {high}{']' if high_in else ')'}"


def check_config(kind: str, config: dict, who: str) -> None:
    """``config`` is a valid config of the registry's ``kind``, or a ValueError naming ``who``.

    Every key must be a registry setting of ``kind``; every value must have
    the type of the registry default (an int where the default is an int;
    a number where it is a float; a number or null where it is null; a list
    of layer widths in 1..MAX_WIDTH, at most MAX_LAYERS long, where it is a
    list) and lie in its range (``CONFIG_RANGES``).
    """
    if kind not in DEFAULT_CONFIGS:
        raise ValueError(f"{who}: unknown model kind {kind!r}; expected one of {list(DEFAULT_CONFIGS)}")
    defaults = DEFAULT_CONFIGS[kind]
    if not isinstance(config, dict):
        raise ValueError(f"{who}: expected the {kind} config as an object, got {_shown(config)}")
    unknown = sorted(set(config) - set(defaults))
    if unknown:
        raise ValueError(f"{who}: unknown {kind} config keys {_shown(unknown)}; known: {sorted(defaults)}")
    for key, value in config.items():
        default = defaults[key]
        if isinstance(default, bool):
            ok, expected = isinstance(value, bool), "true or false"
        elif isinstance(default, list):
            ok = (isinstance(value, list) and len(value) <= MAX_LAYERS
                  and all(_is_int(v) and 1 <= v <= MAX_WIDTH for v in value))
            expected = f"a list of at most {MAX_LAYERS} layer widths in 1..{MAX_WIDTH}"
        elif isinstance(default, str):
            ok, expected = isinstance(value, str) and len(value) <= 200, "a short string"
        else:
            bounds = CONFIG_RANGES.get(key, _ANY_INT if _is_int(default) else _ANY_FLOAT)
            kind_ok = _is_int(value) if _is_int(default) else _is_number(value)
            ok = (default is None and value is None) or (kind_ok and _in_range(value, bounds))
            expected = (f"{'an int' if _is_int(default) else 'a number'} in {_range_text(bounds)}"
                        + (" or null" if default is None else ""))
        if not ok:
            raise ValueError(f"{who}: {kind} config[{key!r}]: expected {expected}, got {_shown(value)}")


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


def _other_kind_counts(kind: str, config, path) -> tuple[int, int] | None:
    """(parameters, buffer values) for the language-model and diffusion kinds, from their own
    registries' checked configs and formulas (no buffers: they use no BatchNorm); None for the rest."""
    from .models.diffusion_registry import DIFFUSION_KINDS, param_count as diffusion_count
    from .text.registry import TEXT_KINDS, param_count as text_count

    if kind not in TEXT_KINDS + DIFFUSION_KINDS:
        return None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: expected the {kind} config as an object, got {_shown(config)}")
    try:
        n = (text_count if kind in TEXT_KINDS else diffusion_count)(kind, config)
    except (TypeError, KeyError, ValueError, OverflowError) as e:
        raise ValueError(f"{path}: the {kind} config is not valid ({e})") from None
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"{path}: the {kind} config describes no parameters")
    return n, 0


def validate_checkpoint(path) -> dict:
    """Check a checkpoint before a model is built from it; returns its metadata.

    On top of ``read_metadata``: the kind must be a registry kind and the
    config valid for it (``check_config``), the members must be those a
    checkpoint holds, every param/ and buffer/ member must be float32 or
    float64, and the number of values their .npy headers declare must be
    exactly ``models.sizes.param_count`` / ``buffer_count`` of the config
    (at most ``MAX_PARAMS``), so that ``build_model(kind, config)`` never
    allocates a model the file does not hold. Only headers are read.
    """
    path = os.fspath(path)
    with open_npz(path) as archive:
        metadata = _read_metadata(archive)
        kind, config = metadata["kind"], metadata["config"]
        counts = _other_kind_counts(kind, config, path)
        if counts is None:
            check_config(kind, config, path)
            counts = param_count(kind, config), buffer_count(kind, config)
        _check_layout(archive)
        n_params = counts[0]
        if n_params > MAX_PARAMS:
            raise ValueError(f"{path}: the {kind} config describes {n_params:,} parameters, more than the "
                             f"{MAX_PARAMS:,} a checkpoint may hold")
        for prefix, expected in (("param/", n_params), ("buffer/", counts[1])):
            members = {k: h for k, h in archive.headers.items() if k.startswith(prefix)}
            for key, h in members.items():
                if not is_float_dtype(h.dtype):
                    raise ValueError(f"{path}: {key!r} holds {h.dtype} values, expected float32 or float64")
            found = sum(h.size for h in members.values())
            if found != expected:
                what = "parameters" if prefix == "param/" else "buffer values"
                raise ValueError(f"{path}: the {kind} config describes {expected:,} {what}, but "
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
    Returns the metadata (``metadata["epoch"]`` is the last finished epoch).
    """
    path = os.fspath(path)
    with open_npz(path) as archive:
        metadata = _read_metadata(archive)
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
