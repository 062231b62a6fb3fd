"""Text model configs, presets and builders: a checkpoint's config alone rebuilds its model.

A text config holds the architecture, the vocabulary (``vocab``: the
characters, in id order), the corpus and the training recipe (steps, batch,
learning-rate schedule), so that ``build_text_model(kind, config)`` makes
the same model again and a resumed run follows the same schedule.
"""
from __future__ import annotations

import numpy as np

from .models import GPT, CharLSTM, gpt_param_count, lstm_param_count

__all__ = ["TEXT_KINDS", "TEXT_CONFIGS", "CORPUS_DEFAULTS", "PRESETS", "text_config", "build_text_model",
           "param_count"]

TEXT_KINDS = ("lstm", "gpt")

_RECIPE = {"lr": 1e-3, "min_lr": 1e-4, "warmup": 100, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.99,
           "grad_clip": 1.0, "batch_size": 12, "steps": 2000, "eval_every": 250, "eval_batches": 20}

TEXT_CONFIGS = {
    # Shakespeare defaults; GPT = nanoGPT's CPU configuration.
    "gpt": {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64, "dropout": 0.0, **_RECIPE},
    "lstm": {"n_layer": 1, "n_embd": 64, "hidden": 256, "block_size": 64,
             **{**_RECIPE, "lr": 2e-3, "min_lr": 2e-4, "weight_decay": 0.0, "batch_size": 32}},
}
for _cfg in TEXT_CONFIGS.values():
    _cfg.update(vocab="", corpus="shakespeare")

# Names are at most 15 letters: a context of 16 sees a whole name; a smaller model suffices.
CORPUS_DEFAULTS = {
    "names": {"gpt": {"n_layer": 4, "n_head": 4, "n_embd": 64, "block_size": 16, "batch_size": 32,
                      "steps": 9000, "eval_every": 500, "lr": 3e-3, "min_lr": 3e-4, "weight_decay": 0.1,
                      "dropout": 0.1},
              "lstm": {"n_embd": 32, "hidden": 128, "block_size": 16, "batch_size": 32, "steps": 3000}},
}

PRESETS = {
    # nanoGPT's README: 4 layers, 4 heads, 128 embedding, context 64, batch 12, 2,000 iterations, no dropout
    # (with its Shakespeare-char recipe: lr 1e-3 decaying to 1e-4, 100 warm-up steps, beta2 0.99, clip 1).
    "nanogpt-cpu": ("gpt", {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64, "batch_size": 12,
                            "steps": 2000, "dropout": 0.0, "lr": 1e-3, "min_lr": 1e-4, "warmup": 100}),
}


def text_config(kind: str, corpus: str = "shakespeare", preset: str | None = None, **overrides) -> dict:
    """The defaults for ``kind`` on ``corpus``, then the preset, then ``overrides`` (None values skipped)."""
    if kind not in TEXT_CONFIGS:
        raise ValueError(f"text_config: unknown text model kind {kind!r}; expected one of {list(TEXT_KINDS)}")
    config = {**TEXT_CONFIGS[kind], **CORPUS_DEFAULTS.get(corpus, {}).get(kind, {}), "corpus": corpus}
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"--preset {preset}: unknown; expected one of {sorted(PRESETS)}")
        preset_kind, values = PRESETS[preset]
        if preset_kind != kind:
            raise ValueError(f"--preset {preset}: is a {preset_kind} preset, not for {kind}")
        config.update(values)
    unknown = {k for k, v in overrides.items() if v is not None} - set(config)
    if unknown:
        raise ValueError(f"text_config: unknown {kind} config keys {sorted(unknown)}; known: {sorted(config)}")
    config.update({k: v for k, v in overrides.items() if v is not None})
    return config


def _checked(kind: str, config: dict) -> dict:
    if kind not in TEXT_CONFIGS:
        raise ValueError(f"build_text_model: unknown text model kind {kind!r}; expected one of {list(TEXT_KINDS)}")
    unknown = set(config) - set(TEXT_CONFIGS[kind])
    if unknown:
        raise ValueError(f"build_text_model: unknown {kind} config keys {sorted(unknown)}; "
                         f"known: {sorted(TEXT_CONFIGS[kind])}")
    config = {**TEXT_CONFIGS[kind], **config}
    if not config["vocab"]:
        raise ValueError(f"build_text_model: the {kind} config has no vocabulary ('vocab' is empty)")
    return config


def param_count(kind: str, config: dict) -> int:
    """The number of parameters of the model ``config`` describes, without building it."""
    config = _checked(kind, config)
    vocab_size = len(config["vocab"])
    if kind == "gpt":
        return gpt_param_count(config["n_layer"], config["n_embd"], config["block_size"], vocab_size)
    return lstm_param_count(config["n_layer"], config["n_embd"], config["hidden"], vocab_size)


def build_text_model(kind: str, config: dict, rng: np.random.Generator | None = None, dtype=np.float32):
    """A fresh GPT or CharLSTM for ``config`` (which must hold ``vocab``); ``model.config`` keeps it."""
    cfg = _checked(kind, config)
    rng = np.random.default_rng(0) if rng is None else rng
    training = {k: cfg[k] for k in ("lr", "weight_decay", "beta1", "beta2", "grad_clip")}
    if kind == "gpt":
        model = GPT(cfg["n_layer"], cfg["n_head"], cfg["n_embd"], cfg["block_size"], len(cfg["vocab"]),
                    dropout=cfg["dropout"], rng=rng, dtype=dtype, **training)
    else:
        model = CharLSTM(len(cfg["vocab"]), cfg["n_embd"], cfg["hidden"], cfg["n_layer"], cfg["block_size"],
                         rng=rng, dtype=dtype, **training)
    model.config = cfg
    return model
