"""Every config setting's type and range, checked before anything is built from it.

A config comes from a recipe, a command line or a checkpoint file; the last
may have been edited by anyone. Each kind declares its settings as
``{name: Setting}``; :func:`check_settings` refuses the first one that is
missing, unknown, of the wrong type or out of range, naming who asked, the
kind, the setting, what it expects and what it got. Settings that drive an
allocation (widths, layers, steps, vocabulary) have bounds far below what
exhausts memory.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["Setting", "Int", "Float", "Flag", "Choice", "Text", "Widths", "check_settings", "shown"]


def shown(value, limit: int = 60) -> str:
    """repr(value), cut short: a message must not repeat a megabyte of bad input."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


@dataclass(frozen=True)
class Setting:
    """One setting: ``ok(value)`` says whether a value is allowed, ``expected`` says what is."""
    nullable: bool = field(default=False, kw_only=True)   # None is also allowed ("lr_d: None = lr's value")

    def accepts(self, value) -> bool:
        return (self.nullable and value is None) or self.ok(value)

    def describe(self) -> str:
        return self.expected() + (" or null" if self.nullable else "")

    def ok(self, value) -> bool:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def expected(self) -> str:  # pragma: no cover
        raise NotImplementedError


@dataclass(frozen=True)
class Int(Setting):
    low: int = 0
    high: int = 10 ** 9

    def ok(self, value) -> bool:
        return _is_int(value) and self.low <= value <= self.high

    def expected(self) -> str:
        return f"an int in {self.low}..{self.high}"


@dataclass(frozen=True)
class Float(Setting):
    """A finite number in [low, high], with either end open when ``open_low``/``open_high``."""
    low: float = -1e9
    high: float = 1e9
    open_low: bool = False
    open_high: bool = False

    def ok(self, value) -> bool:
        if not _is_number(value):
            return False
        above = self.low < value if self.open_low else self.low <= value
        below = value < self.high if self.open_high else value <= self.high
        return above and below

    def expected(self) -> str:
        return (f"a number in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}"
                f"{')' if self.open_high else ']'}")


@dataclass(frozen=True)
class Flag(Setting):
    def ok(self, value) -> bool:
        return isinstance(value, bool)

    def expected(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class Choice(Setting):
    options: tuple = ()

    def ok(self, value) -> bool:
        return isinstance(value, str) and value in self.options

    def expected(self) -> str:
        return f"one of {list(self.options)}"


@dataclass(frozen=True)
class Text(Setting):
    """A string of min_len..max_len characters (a vocabulary, a corpus name or path)."""
    min_len: int = 1
    max_len: int = 4096

    def ok(self, value) -> bool:
        return isinstance(value, str) and self.min_len <= len(value) <= self.max_len

    def expected(self) -> str:
        return f"a string of {self.min_len}..{self.max_len} characters"


@dataclass(frozen=True)
class Widths(Setting):
    """Layer widths: a list of 0..max_layers ints in 1..max_width (no hidden layer is a valid model)."""
    max_layers: int = 64
    max_width: int = 1 << 16

    def ok(self, value) -> bool:
        return (isinstance(value, list) and len(value) <= self.max_layers
                and all(_is_int(v) and 1 <= v <= self.max_width for v in value))

    def expected(self) -> str:
        return f"a list of 0..{self.max_layers} layer widths in 1..{self.max_width}"


def check_settings(kind: str, settings: dict, config, who: str) -> dict:
    """``config`` holds exactly ``settings``' names, each with an allowed value; returns it.

    Raises a ValueError beginning with ``who`` (a file, a flag, a function)
    that names the kind and the setting.
    """
    if not isinstance(config, dict):
        raise ValueError(f"{who}: expected the {kind} config as an object, got {shown(config)}")
    unknown = sorted(set(config) - set(settings), key=str)
    if unknown:
        raise ValueError(f"{who}: unknown {kind} config keys {shown(unknown)}; known: {sorted(settings)}")
    missing = [name for name in settings if name not in config]
    if missing:
        raise ValueError(f"{who}: the {kind} config lacks {missing}")
    for name, setting in settings.items():
        if not setting.accepts(config[name]):
            raise ValueError(f"{who}: {kind} config[{name!r}]: expected {setting.describe()}, "
                             f"got {shown(config[name])}")
    return config
