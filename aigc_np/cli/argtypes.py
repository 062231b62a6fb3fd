"""argparse types for numeric flags: a bad value is a usage error (exit 2) naming the flag and its range.

argparse adds the flag's name: ``--epochs: expected an integer >= 1, got '0'``.
"""
from __future__ import annotations

import argparse

import numpy as np

__all__ = ["POSITIVE", "NON_NEGATIVE", "FINITE", "NON_NEGATIVE_FLOAT", "positive_float", "threads"]


def _number(kind, low=None, what="a number"):
    """An argparse type: ``kind`` (int or float), finite, >= ``low``; the message names the range."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if kind is float and not np.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"expected {what} >= {low}, got {text!r}")
        return value
    return parse


def positive_float(text):
    value = _number(float)(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


POSITIVE = _number(int, 1, "an integer")
NON_NEGATIVE = _number(int, 0, "an integer")


def threads(text):
    return text if text == "auto" else _number(int, 1, "'auto' or an integer")(text)


FINITE = _number(float)
NON_NEGATIVE_FLOAT = _number(float, 0.0, "a number")
