"""The table of kinds: every model the command line trains, samples and evaluates, by name.

Each kind is one :class:`~aigc_np.kinds.kind.Kind` entry, written in its
family's module (``image``, ``diffusion``, ``text``); this table gathers
them. The checkpoint reader, the command line, ``make demo`` and the lessons
all read kinds from here, so a new kind is one new entry plus its model code.
"""
from __future__ import annotations

from .diffusion import DIFFUSION_KINDS
from .image import IMAGE_KINDS
from .kind import MAX_PARAMS, Kind, Recipe
from .text import TEXT_KINDS

__all__ = ["KINDS", "FAMILIES", "Kind", "Recipe", "MAX_PARAMS", "get_kind", "build_model", "recipe", "generate"]

KINDS = {kind.name: kind for kind in (*IMAGE_KINDS, *DIFFUSION_KINDS, *TEXT_KINDS)}
FAMILIES = {kind.family.name: kind.family for kind in KINDS.values()}


def get_kind(name, who: str = "kind") -> Kind:
    """The table's entry for ``name``, or a ValueError beginning with ``who`` that lists the kinds."""
    if not isinstance(name, str) or name not in KINDS:
        raise ValueError(f"{who}: unknown model kind {name!r}; expected one of {list(KINDS)}")
    return KINDS[name]


def build_model(name: str, config: dict | None = None, rng=None):
    """A fresh ``name`` model: its defaults with ``config`` on top (a text config must hold ``vocab``)."""
    import numpy as np
    kind = get_kind(name, "build_model")
    unknown = sorted(set(config or {}) - set(kind.settings))
    if unknown:
        raise ValueError(f"build_model: unknown {name} config keys {unknown}; known: {sorted(kind.settings)}")
    return kind.build_model({**kind.defaults, **(config or {})}, np.random.default_rng(0) if rng is None else rng)


def recipe(name: str, recipe_name: str = "default") -> tuple[dict, dict]:
    """(config, training settings) of a kind's recipe."""
    return get_kind(name, "recipe").recipe(recipe_name)


def generate(model, n: int, rng, **options):
    """n samples of a model of any kind, through its family: images float32 (n, 28, 28) in [0, 1]
    (options: labels, train_images, and the sampler's for diffusion), or text (options: prompt, ...)."""
    return get_kind(getattr(model, "kind", None), "generate").family.generate(model, n, rng, **options)
