"""What a kind of model is: one entry of the table in ``aigc_np.kinds``.

A :class:`Kind` holds everything the command line, the training loop and
the checkpoint reader need to know about one kind of model: its family, its
settings (types, ranges and defaults), how to build it and count its
parameters without building it, how "best" is chosen, and its recipes. The
family (``kinds.image``, ``kinds.diffusion``, ``kinds.text``) holds what a
whole family shares: its training settings, how to prepare data, score,
draw a sample grid and generate.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .schema import check_settings

__all__ = ["Kind", "Recipe", "MAX_PARAMS"]

MAX_PARAMS = 50_000_000   # 200 MB in float32; the largest default (gan) has 3.0 M


@dataclass(frozen=True)
class Recipe:
    """A named set of settings, each with the one line that says why: ``{name: (value, why)}``.

    A setting is a config setting of the kind or a training setting of its family.
    """
    about: str
    settings: dict = field(default_factory=dict)

    def values(self) -> dict:
        return {name: value for name, (value, _) in self.settings.items()}


@dataclass(frozen=True)
class Kind:
    name: str
    family: object                     # kinds.image.IMAGE, kinds.diffusion.DIFFUSION or kinds.text.TEXT
    about: str                         # one line for --help and docs/cli.md
    settings: dict                     # {name: schema.Setting}
    defaults: dict                     # {name: value}: the model's config before any recipe
    build: Callable                    # (config, rng) -> model
    counts: Callable                   # config -> (parameters, buffer values), nothing built
    select: tuple                      # (score name, higher is better): what picks best.npz
    recipes: dict                      # {name: Recipe}; "default" is used when none is named
    architecture: tuple = ()           # settings that fix the model's shape: a resume may not change them
    relations: Callable | None = None  # config -> an error message for settings that disagree, or None
    conditional: bool = False          # samples are drawn for requested labels (--label)
    added: dict = field(default_factory=dict)   # settings added after the kind's first checkpoints:
    #                                   {name: the value a checkpoint without it was trained with}

    def completed(self, config):
        """A checkpoint's config with every ``added`` setting it lacks filled in (what it was trained
        with), so checkpoints written before a setting existed still load; anything else unchanged."""
        if not isinstance(config, dict):
            return config
        return {**{k: v for k, v in self.added.items() if k not in config}, **config}

    def check(self, config, who: str) -> dict:
        """``config`` is a complete, valid config of this kind (types, ranges, relations, size),
        or a ValueError beginning with ``who``. Nothing is built."""
        check_settings(self.name, self.settings, config, who)
        problem = self.relations(config) if self.relations else None
        if problem:
            raise ValueError(f"{who}: {self.name} config: {problem}")
        n_params = self.counts(config)[0]
        if n_params > MAX_PARAMS:
            raise ValueError(f"{who}: the {self.name} config describes {n_params:,} parameters, more than the "
                             f"{MAX_PARAMS:,} a checkpoint may hold")
        return config

    def recipe(self, name: str = "default") -> tuple[dict, dict]:
        """(config, training settings) of recipe ``name``: the defaults with the recipe on top."""
        if name not in self.recipes:
            raise ValueError(f"{self.name} has no recipe {name!r}; expected one of {list(self.recipes)}")
        values = self.recipes[name].values()
        config = {**self.defaults, **{k: v for k, v in values.items() if k in self.settings}}
        train = {**self.family.train_defaults, **{k: v for k, v in values.items() if k not in self.settings}}
        return config, train

    def build_model(self, config: dict, rng):
        """A fresh model for a checked config; ``model.kind`` and ``model.config`` say what it is."""
        model = self.build(self.check(dict(config), f"build {self.name}"), rng)
        model.kind, model.config = self.name, dict(config)
        return model
